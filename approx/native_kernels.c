/* Fused CPU kernels for the learnable activations of stacked models (approx/native_kernels.py).
 *
 * Layout: x, h, g, y are (M, N, w) float64, contiguous, read as R = M*N rows of w; row `row` belongs
 * to model row / N. Coefficients are (M, r+1, W): W = 1 (shared per model) or W = w (per neuron),
 * coefficient i of neuron j at [m, i, j], so that a loop over j reads them contiguously.
 *
 * Each kernel is one loop over the elements (two per row for PolyNorm: its moments, then its
 * values), with the order r a compile-time constant (DISPATCH) so that the Horner loop over i
 * unrolls and the loop over elements vectorises: one read and one write of each (M, N, w) tensor,
 * where the autograd form makes 10-40 passes. THEORY.md §1 defines the activations; the Python
 * docstrings of approx/fused_horner.py and approx/fused_polynorm.py derive the backward formulas.
 */
#include <math.h>

#define MAXR 16
#define INLINE static inline __attribute__((always_inline))
/* fn(R, ...) with R a literal for r ≤ 8, so each case compiles to its own unrolled loops */
#define DISPATCH(r, fn, ...)                                                                                           \
    switch (r) {                                                                                                       \
    case 1: fn(1, __VA_ARGS__); break;                                                                                 \
    case 2: fn(2, __VA_ARGS__); break;                                                                                 \
    case 3: fn(3, __VA_ARGS__); break;                                                                                 \
    case 4: fn(4, __VA_ARGS__); break;                                                                                 \
    case 5: fn(5, __VA_ARGS__); break;                                                                                 \
    case 6: fn(6, __VA_ARGS__); break;                                                                                 \
    case 7: fn(7, __VA_ARGS__); break;                                                                                 \
    case 8: fn(8, __VA_ARGS__); break;                                                                                 \
    default: fn(r, __VA_ARGS__);                                                                                       \
    }

/* ---------------------------------------------------------------- PolyNorm (shared coefficients per model) */

/* y = a_0 + Σ_{i=1}^R k_i x^i, k_i = a_i r_i, r_i = (mean_j x_j^{2i} + eps)^{-1/2}; rinv[row, i-1] = r_i. */
INLINE void polynorm_fwd_r(const int R, const double *restrict x, const double *restrict a, double *restrict y,
                           double *restrict rinv, long N, long w, double eps, long rows) {
    for (long row = 0; row < rows; row++) {
        const double *restrict xr = x + row * w, *c = a + (row / N) * (R + 1);
        double *restrict yr = y + row * w, s[MAXR + 1] = {0}, k[MAXR + 1];
        for (long j = 0; j < w; j++) {
            double x2 = xr[j] * xr[j], p = x2;
            for (int i = 1; i <= R; i++, p *= x2) s[i] += p;
        }
        for (int i = 1; i <= R; i++) {
            double ri = 1.0 / sqrt(s[i] / w + eps);
            rinv[row * R + i - 1] = ri;
            k[i] = c[i] * ri;
        }
        k[0] = c[0];
        for (long j = 0; j < w; j++) {
            double v = k[R];
            for (int i = R - 1; i >= 0; i--) v = v * xr[j] + k[i];
            yr[j] = v;
        }
    }
}

/* gx = g Σ i k_i x^{i-1} − x Σ i e_i (x²)^{i-1}, e_i = a_i r_i³ D_i / w, D_i = Σ_j g_j x_j^i;
 * ga[model] += (Σ_j g_j, r_1 D_1, …, r_R D_R): the row's share of ∂L/∂a (ga (M, R+1), zeroed by the caller). */
INLINE void polynorm_bwd_r(const int R, const double *restrict g, const double *restrict x, const double *restrict a,
                           const double *restrict rinv, double *restrict gx, long N, long w, double *restrict ga,
                           long rows) {
    for (long row = 0; row < rows; row++) {
        const double *restrict xr = x + row * w, *restrict gr = g + row * w, *c = a + (row / N) * (R + 1);
        const double *ri = rinv + row * R;
        double *restrict out = gx + row * w, *gm = ga + (row / N) * (R + 1), D[MAXR + 1] = {0}, k[MAXR + 1],
                         e[MAXR + 1];
        for (long j = 0; j < w; j++) {
            double p = gr[j];
            for (int i = 0; i <= R; i++, p *= xr[j]) D[i] += p;
        }
        gm[0] += D[0];
        for (int i = 1; i <= R; i++) {
            gm[i] += ri[i - 1] * D[i];
            k[i] = i * c[i] * ri[i - 1];
            e[i] = k[i] * ri[i - 1] * ri[i - 1] * D[i] / w;
        }
        for (long j = 0; j < w; j++) {
            double x1 = xr[j], xx = x1 * x1, P = k[R], Q = e[R];
            for (int i = R - 1; i >= 1; i--) {
                P = P * x1 + k[i];
                Q = Q * xx + e[i];
            }
            out[j] = gr[j] * P - x1 * Q;
        }
    }
}

void polynorm_fwd(const double *x, const double *a, double *y, double *rinv, long N, long w, int r, double eps,
                  long rows) {
    DISPATCH(r, polynorm_fwd_r, x, a, y, rinv, N, w, eps, rows)
}

void polynorm_bwd(const double *g, const double *x, const double *a, const double *rinv, double *gx, long N, long w,
                  int r, double *ga, long rows) {
    DISPATCH(r, polynorm_bwd_r, g, x, a, rinv, gx, N, w, ga, rows)
}

/* ---------------------------------------------------------------- Horner: polynomial and PolyReLU */

/* A run of n elements that share their coefficients' row: c[i * W + j·dj], dj = 1 per neuron, 0 shared. */

/* y = Σ_i c_i t^i, t = relu(h) or h. */
INLINE void horner_fwd_run(const int R, const double *restrict h, const double *restrict c, double *restrict y,
                           long n, long W, int per_neuron, int relu) {
    if (per_neuron) {
        for (long j = 0; j < n; j++) {
            double t = relu && h[j] < 0.0 ? 0.0 : h[j], v = c[R * W + j];
            for (int i = R - 1; i >= 0; i--) v = v * t + c[i * W + j];
            y[j] = v;
        }
    } else {
        double k[MAXR + 1];
        for (int i = 0; i <= R; i++) k[i] = c[i];
        for (long j = 0; j < n; j++) {
            double t = relu && h[j] < 0.0 ? 0.0 : h[j], v = k[R];
            for (int i = R - 1; i >= 0; i--) v = v * t + k[i];
            y[j] = v;
        }
    }
}

/* gh = g p'(t) ρ'(h); ga (R+1, W) += Σ over the run of g t^i. */
INLINE void horner_bwd_run(const int R, const double *restrict g, const double *restrict h, const double *restrict c,
                           double *restrict gh, double *restrict ga, long n, long W, int per_neuron, int relu) {
    if (per_neuron) {
        for (long j = 0; j < n; j++) {
            int off = relu && h[j] <= 0.0;
            double t = off ? 0.0 : h[j], dp = R * c[R * W + j], p = g[j];
            for (int i = R - 1; i >= 1; i--) dp = dp * t + i * c[i * W + j];
            gh[j] = off ? 0.0 : g[j] * dp;
            for (int i = 0; i <= R; i++, p *= t) ga[i * W + j] += p;
        }
    } else {
        double k[MAXR + 1], s[MAXR + 1] = {0};
        for (int i = 0; i <= R; i++) k[i] = i * c[i];
        for (long j = 0; j < n; j++) {
            int off = relu && h[j] <= 0.0;
            double t = off ? 0.0 : h[j], dp = k[R], p = g[j];
            for (int i = R - 1; i >= 1; i--) dp = dp * t + k[i];
            gh[j] = off ? 0.0 : g[j] * dp;
            for (int i = 0; i <= R; i++, p *= t) s[i] += p;
        }
        for (int i = 0; i <= R; i++) ga[i] += s[i];
    }
}

/* The rows as runs that share coefficients: a model's N rows when shared, one row when per neuron. */
#define RUNS(body)                                                                                                     \
    for (long row = 0; row < rows;) {                                                                               \
        long m = row / N, end = per_neuron ? row + 1 : (m + 1) * N, n = (end - row) * w; \
        const double *c = a + m * (R + 1) * W;                                                                         \
        body;                                                                                                          \
        row = end;                                                                                                     \
    }

INLINE void horner_fwd_r(const int R, const double *h, const double *a, double *y, long N, long w, int per_neuron,
                         int relu, long rows) {
    long W = per_neuron ? w : 1;
    RUNS(horner_fwd_run(R, h + row * w, c, y + row * w, n, W, per_neuron, relu))
}

INLINE void horner_bwd_r(const int R, const double *g, const double *h, const double *a, double *gh, long N, long w,
                         int per_neuron, int relu, double *ga, long rows) {
    long W = per_neuron ? w : 1;
    RUNS(horner_bwd_run(R, g + row * w, h + row * w, c, gh + row * w, ga + m * (R + 1) * W, n, W, per_neuron, relu))
}

void horner_fwd(const double *h, const double *a, double *y, long N, long w, int r, int per_neuron, int relu,
                long rows) {
    DISPATCH(r, horner_fwd_r, h, a, y, N, w, per_neuron, relu, rows)
}

/* ga (M, r+1, W), zeroed by the caller, receives ∂L/∂a. */
void horner_bwd(const double *g, const double *h, const double *a, double *gh, long N, long w, int r, int per_neuron,
                int relu, double *ga, long rows) {
    DISPATCH(r, horner_bwd_r, g, h, a, gh, N, w, per_neuron, relu, ga, rows)
}

/* ---------------------------------------------------------------- GELU (compiled where glibc has libmvec) */
#ifdef POLYLAB_GELU
/* glibc's vector erf and exp (libmvec, glibc ≥ 2.35): without them these loops would call scalar libm */
double erf(double) __attribute__((simd("notinbranch")));
double exp(double) __attribute__((simd("notinbranch")));

/* y = x Φ(x) and d = dy/dx = Φ(x) + x φ(x), Φ(x) = (1 + erf(x/√2))/2, φ(x) = exp(−x²/2)/√(2π), in one pass:
 * the backward is then g·d, where torch's gelu_backward evaluates erf and exp again. */
void gelu_fwd(const double *restrict x, double *restrict y, double *restrict d, long n) {
    const double inv_sqrt_2pi = 0.5 * M_2_SQRTPI * M_SQRT1_2;
    for (long j = 0; j < n; j++) {
        double cdf = 0.5 * (1.0 + erf(x[j] * M_SQRT1_2)), pdf = exp(-0.5 * x[j] * x[j]) * inv_sqrt_2pi;
        y[j] = x[j] * cdf;
        d[j] = cdf + x[j] * pdf;
    }
}
#endif
