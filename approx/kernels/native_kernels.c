/* Fused CPU kernels for the activations of stacked models (approx/native_kernels.py).
 *
 * Layout: x, h, g, y are (M, N, w) float64, contiguous, read as M*N rows of w; row `row` belongs
 * to model row / N. Coefficients are (M, r+1, W): W = 1 (shared per model) or W = w (per neuron),
 * coefficient i of neuron j at [m, i, j], so that a loop over j reads them contiguously.
 *
 * Each kernel makes one loop over the elements (two per row for PolyNorm: its moments, then its
 * values) with the order R a compile-time constant (DISPATCH), so that the Horner loop over i
 * unrolls and the loop over elements vectorises: one read and one write of each (M, N, w) tensor
 * where the autograd form makes 10-40 passes. THEORY.md §1 defines the activations; the docstrings
 * of approx/fused_horner.py and approx/fused_polynorm.py derive the backward formulas.
 *
 * Threads: the exported functions share work items (rows, or blocks of rows) out over OpenMP.
 * Compiled with -fopenmp, this file binds to the libgomp that torch has already loaded, so it runs
 * on torch's threads and follows torch.set_num_threads; compiled without, the pragmas are ignored.
 * The parallel loop sits outside DISPATCH: an OpenMP body is outlined before inlining, and R must
 * still be a constant where the element loops are.
 */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_thread_num(void) { return 0; }
#endif

#define MAXR 16
#define PAR_MIN 32768 /* elements below which a kernel stays on one thread (torch's grain size) */
#define BLOCK 16      /* rows per work item in the Horner kernels */
#define INLINE static inline __attribute__((always_inline))
/* fn(R, ...) with R a literal for r ≤ 8, so that each case compiles to its own unrolled loops */
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

/* One row: y = a_0 + Σ_{i=1}^R k_i x^i, k_i = a_i r_i, r_i = (mean_j x_j^{2i} + eps)^{-1/2}; ri[i-1] = r_i. */
INLINE void polynorm_fwd_row(const int R, const double *restrict x, const double *restrict c, double *restrict y,
                             double *restrict ri, long w, double eps) {
    double s[MAXR + 1] = {0}, k[MAXR + 1];
    for (long j = 0; j < w; j++) {
        double x2 = x[j] * x[j], p = x2;
        for (int i = 1; i <= R; i++, p *= x2) s[i] += p;
    }
    k[0] = c[0];
    for (int i = 1; i <= R; i++) {
        ri[i - 1] = 1.0 / sqrt(s[i] / w + eps);
        k[i] = c[i] * ri[i - 1];
    }
    for (long j = 0; j < w; j++) {
        double v = k[R];
        for (int i = R - 1; i >= 0; i--) v = v * x[j] + k[i];
        y[j] = v;
    }
}

/* One row: gx = g Σ i k_i x^{i-1} − x Σ i e_i (x²)^{i-1}, e_i = k_i r_i² D_i / w, D_i = Σ_j g_j x_j^i;
 * ga = (Σ_j g_j, r_1 D_1, …, r_R D_R), the row's share of ∂L/∂a. */
INLINE void polynorm_bwd_row(const int R, const double *restrict g, const double *restrict x, const double *restrict c,
                             const double *restrict ri, double *restrict gx, double *restrict ga, long w) {
    double D[MAXR + 1] = {0}, k[MAXR + 1], e[MAXR + 1];
    for (long j = 0; j < w; j++) {
        double p = g[j];
        for (int i = 0; i <= R; i++, p *= x[j]) D[i] += p;
    }
    ga[0] = D[0];
    for (int i = 1; i <= R; i++) {
        ga[i] = ri[i - 1] * D[i];
        k[i] = i * c[i] * ri[i - 1];
        e[i] = k[i] * ri[i - 1] * ri[i - 1] * D[i] / w;
    }
    for (long j = 0; j < w; j++) {
        double x1 = x[j], xx = x1 * x1, P = k[R], Q = e[R];
        for (int i = R - 1; i >= 1; i--) {
            P = P * x1 + k[i];
            Q = Q * xx + e[i];
        }
        gx[j] = g[j] * P - x1 * Q;
    }
}

/* rinv (rows, r): the r_i of each row, kept for the backward. */
void polynorm_fwd(const double *x, const double *a, double *y, double *rinv, long N, long w, int r, double eps,
                  long rows) {
#pragma omp parallel for schedule(static) if (rows * w > PAR_MIN)
    for (long row = 0; row < rows; row++)
        DISPATCH(r, polynorm_fwd_row, x + row * w, a + row / N * (r + 1), y + row * w, rinv + row * r, w, eps)
}

/* ga_rows (rows, r+1): each row's share of ∂L/∂a; the caller sums them over the rows of a model. */
void polynorm_bwd(const double *g, const double *x, const double *a, const double *rinv, double *gx, long N, long w,
                  int r, double *ga_rows, long rows) {
#pragma omp parallel for schedule(static) if (rows * w > PAR_MIN)
    for (long row = 0; row < rows; row++)
        DISPATCH(r, polynorm_bwd_row, g + row * w, x + row * w, a + row / N * (r + 1), rinv + row * r, gx + row * w,
                 ga_rows + row * (r + 1), w)
}

/* ---------------------------------------------------------------- Horner: polynomial and PolyReLU */

/* A run of n elements whose coefficients are c[i * W + j] (per neuron, n = w) or c[i] (shared). */

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

/* Work item `item`: rows [lo, hi) of model m, at most BLOCK of them, taken as runs that share their
 * coefficients c (all the rows when shared, one row at a time when per neuron); body sees row, n, m, W, c. */
#define RUNS(item, body)                                                                                               \
    {                                                                                                                  \
        long per_model = (N + BLOCK - 1) / BLOCK, m = (item) / per_model, W = per_neuron ? w : 1;                      \
        long lo = m * N + (item) % per_model * BLOCK, hi = lo + BLOCK < (m + 1) * N ? lo + BLOCK : (m + 1) * N;         \
        const double *c = a + m * (r + 1) * W;                                                                         \
        for (long row = lo; row < hi; row += per_neuron ? 1 : hi - lo) {                                               \
            long n = (per_neuron ? 1 : hi - row) * w;                                                                  \
            body;                                                                                                      \
        }                                                                                                              \
    }
#define ITEMS (rows / N * ((N + BLOCK - 1) / BLOCK))

/* threads: at most this many OpenMP threads (torch.get_num_threads()). */
void horner_fwd(const double *h, const double *a, double *y, long N, long w, int r, int per_neuron, int relu,
                int threads, long rows) {
#pragma omp parallel for schedule(static) num_threads(threads) if (rows * w > PAR_MIN)
    for (long item = 0; item < ITEMS; item++)
        RUNS(item, DISPATCH(r, horner_fwd_run, h + row * w, c, y + row * w, n, W, per_neuron, relu))
}

/* ga_threads (threads, M, r+1, W), zeroed by the caller: thread t adds into slice t; ∂L/∂a is their sum. */
void horner_bwd(const double *g, const double *h, const double *a, double *gh, long N, long w, int r, int per_neuron,
                int relu, int threads, double *ga_threads, long rows) {
#pragma omp parallel for schedule(static) num_threads(threads) if (rows * w > PAR_MIN)
    for (long item = 0; item < ITEMS; item++)
        RUNS(item, double *ga = ga_threads + (omp_get_thread_num() * (rows / N) + m) * (r + 1) * W;
             DISPATCH(r, horner_bwd_run, g + row * w, h + row * w, c, gh + row * w, ga, n, W, per_neuron, relu))
}

/* ---------------------------------------------------------------- GELU (built where glibc has libmvec) */
#ifdef POLYLAB_GELU
/* glibc's vector erf and exp (libmvec, glibc ≥ 2.35): without them this loop would call scalar libm */
double erf(double) __attribute__((simd("notinbranch")));
double exp(double) __attribute__((simd("notinbranch")));

/* y = x Φ(x) and d = dy/dx = Φ(x) + x φ(x), Φ(x) = (1 + erf(x/√2))/2, φ(x) = exp(−x²/2)/√(2π), in one pass:
 * the backward is then g·d, where torch's gelu_backward evaluates erf and exp again. */
void gelu_fwd(const double *restrict x, double *restrict y, double *restrict d, long n) {
    const double inv_sqrt_2pi = 0.5 * M_2_SQRTPI * M_SQRT1_2;
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (long j = 0; j < n; j++) {
        double cdf = 0.5 * (1.0 + erf(x[j] * M_SQRT1_2)), pdf = exp(-0.5 * x[j] * x[j]) * inv_sqrt_2pi;
        y[j] = x[j] * cdf;
        d[j] = cdf + x[j] * pdf;
    }
}
#endif
