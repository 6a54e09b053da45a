"""Theorem 2 (docs/theory.md §4): PolyReLU networks → ReLU networks, upper bound and the corrected lower bound.

**Upper bound.** Let g: [−1, 1]^d → R be a PolyReLU network with L hidden layers of width ≤ K whose every
neuron (and output) computes σ(wᵀx + b) with ‖w‖₁ + |b| ≤ 1, each σ = PolyReLU_a maps [−1, 1] into itself
and is α-Lipschitz there. Replace every neuron by the Lemma 2 network σ̃ with certified error ε_i ≤ ε_0.
Every true pre-activation lies in [−1, 1], and σ̃(z) = σ̃(clip(z, −1, 1)) for all z (Lemma 2 clips its
input), so with δ_l the sup error of layer l's outputs:

    δ_{l+1} ≤ α·δ_l + max_i ε_i,   δ_0 = 0,   |f − g| ≤ max_out ‖w_out‖₁ · δ_L ≤ ε_0 Σ_{j<L} α^j.

``relu_approximation`` picks ε_0 = ε / Σ_{j<L} α^j, builds f in the calculus, recomputes the bound from
the certified ε_i in exact rationals (< ε), and measures |f − g| exactly on a dense grid. Its size is
Σ_neurons size(σ̃) = O(LK·ln(Lα^L/ε)) (Lemma 2 is linear in ln(1/ε_0)), below the paper's
O(LK·ln²(Lα^L/ε)).

``check_normalisation`` enforces the three assumptions and raises ``ValueError`` naming the violated one;
``rescale=True`` instead divides every offending row (w, b) by ‖w‖₁ + |b| and reports each factor (the
certified network is then the rescaled one, a different function: that is why it is opt-in).

**Lower bound.** The paper's sentence (“PolyReLU networks need ReLU size Ω(KL ln(1/ε))”) has two readings:
- *universal* (every PolyReLU network of depth L and width K needs it): false. With a = e_1 a PolyReLU
  network *is* a ReLU network of the same size, error 0 for every ε (``certify_counterexample``);
- *existential* (some PolyReLU networks need it): e_1 refutes nothing. What the lab certifies under
  this reading, with ``theory.pl.piece_count``: for the curved a = e_2, the one-neuron network
  g(x) = ReLU(x)² equals x² on [0, 1], and every ReLU network within ε of it has width ≥ W_min(L, ε) at
  L hidden layers and ≥ ⌈log₂⌈1/√(8ε)⌉⌉ neurons: Ω(ln(1/ε)), matched by Yarotsky's construction up to a
  factor 4 (``certify_corrected_lower_bound``). The K·L factor needs a hard family of networks; the
  lab does not certify it, so under the existential reading the paper's bound is open here, not false.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import product as cartesian

from theory import lemma2
from theory import yarotsky as Y
from theory.activation import Activation, polyrelu, relu
from theory.calculus import block_parallel, compose, extend_depth
from theory.certificate import Certificate, Check, certify
from theory.network import Affine, Network, same_network
from theory.pl.piecewise_linear import PiecewiseLinear, as_fraction, sup_error, trim
from theory.pl.propagation import network_to_pl, piece_bound

Q = Fraction
ASSUMPTIONS = {
    "weights": "‖w‖₁ + |b| ≤ 1 for every neuron",
    "range": "σ maps [−1, 1] into [−1, 1]",
    "lipschitz": "σ is α-Lipschitz on [−1, 1]",
}


# --------------------------------------------------------------------------- assumptions


def activation_coefficients(act: Activation) -> tuple[Fraction, ...]:
    c = act.relu_coefficients
    if c is None:
        raise ValueError(f"Theorem 2 needs PolyReLU activations, got {act.describe()}")
    return trim(as_fraction(v) for v in c)


def sup_abs(p: Sequence[Fraction]) -> Fraction:
    """A certified upper bound on max_{t∈[0,1]} |p(t)| (exact for deg ≤ 2)."""
    return sup_error(PiecewiseLinear.constant(0, 0, 1), p).upper


def lipschitz(a: Sequence[Fraction]) -> Fraction:
    """Certified Lipschitz constant of PolyReLU_a on [−1, 1]: max_{[0,1]} |p'| (σ is constant on [−1, 0])."""
    dp = [i * c for i, c in enumerate(a)][1:] or [Q(0)]
    return sup_abs(dp)


@dataclass
class Normalisation:
    alpha: Fraction
    lipschitz: dict[str, Fraction]
    sup_sigma: dict[str, Fraction]
    rescaled: list[tuple[int, int, Fraction]] = field(default_factory=list)

    def report(self) -> str:
        lines = [
            f"alpha = {self.alpha} (certified Lipschitz constants: {', '.join(map(str, self.lipschitz.values()))})"
        ]
        for layer, neuron, s in self.rescaled:
            lines.append(f"rescaled layer {layer} neuron {neuron}: (w, b) divided by ‖w‖₁ + |b| = {s}")
        if self.rescaled:
            lines.append("(opt-in rescaling: the certificate is about the rescaled network, a different function)")
        return "\n".join(lines)


def check_normalisation(net: Network, alpha: object = None, rescale: bool = False) -> tuple[Network, Normalisation]:
    """The assumptions of Theorem 2 (module docstring); ``ValueError`` names the first one violated."""
    if not net.is_rational:
        raise ValueError("Theorem 2's certificates need rational weights")
    affines, rescaled = [], []
    for l, aff in enumerate(net.affines):
        rows, bias = list(aff.rows), list(aff.bias)
        for i, (row, b) in enumerate(zip(rows, bias, strict=True)):
            s = sum((abs(v) for v in row.values()), abs(b))
            if s > 1:
                if not rescale:
                    raise ValueError(
                        f"assumption violated: {ASSUMPTIONS['weights']} (layer {l + 1}, neuron {i + 1}: {s}); "
                        "pass rescale=True (--rescale) to divide such rows by their norm"
                    )
                rows[i], bias[i] = {j: v / s for j, v in row.items()}, b / s
                rescaled.append((l + 1, i + 1, s))
        affines.append(Affine(aff.in_dim, tuple(rows), tuple(bias)))
    lips, sups = {}, {}
    for layer in net.activations:
        for act in set(layer):
            a = activation_coefficients(act)
            key = act.describe()
            if key in lips:
                continue
            sups[key] = max(abs(a[0]), sup_abs(a))
            if sups[key] > 1:
                raise ValueError(f"assumption violated: {ASSUMPTIONS['range']} ({key}: sup |σ| ≤ {sups[key]})")
            lips[key] = lipschitz(a)
    certified = max(lips.values(), default=Q(0))
    if alpha is None:
        alpha = certified
    else:
        alpha = as_fraction(alpha)
        if alpha < certified:
            raise ValueError(
                f"assumption violated: {ASSUMPTIONS['lipschitz']} with α = {alpha}: σ's Lipschitz "
                f"constant on [−1, 1] is {certified}"
            )
    out = Network(affines, net.activations, net.shared) if rescaled else net
    return out, Normalisation(alpha, lips, sups, rescaled)


def random_network(
    seed: int, d: int, L: int, K: int, a: Sequence[object], denominator: int = 8, norm: object = None
) -> Network:
    """A random PolyReLU network; rows scaled to ‖w‖₁ + |b| = ``norm`` (default: random in [1/2, 1])."""
    rng = random.Random(seed)
    act = polyrelu(a)
    fixed = None if norm is None else as_fraction(norm)
    if fixed is not None and fixed <= 0:
        raise ValueError(f"the row norm must be positive, got {fixed}")

    def layer(n_in: int, n_out: int) -> Affine:
        rows, bias = [], []
        for _ in range(n_out):
            w = [Q(rng.choice([-1, 1]) * rng.randint(1, denominator), denominator) for _ in range(n_in + 1)]
            total = sum(abs(v) for v in w) or Q(1)
            target = Q(rng.randint(denominator // 2, denominator), denominator) if fixed is None else fixed
            w = [v * target / total for v in w]
            rows.append(dict(enumerate(w[:-1])))
            bias.append(w[-1])
        return Affine.from_rows(n_in, rows, bias)

    dims = [d, *([K] * L)]
    return Network([layer(dims[l], dims[l + 1]) for l in range(L)] + [layer(K, 1)], [act] * L)


# --------------------------------------------------------------------------- upper bound


@dataclass
class Theorem2Result:
    polyrelu: Network
    relu: Network
    eps: Fraction
    eps0: Fraction
    alpha: Fraction
    bound: Fraction
    neuron_errors: dict[str, Fraction]
    squaring_depth: dict[str, int]
    normalisation: Normalisation
    measured: Fraction | None = None
    grid: int = 0
    neuron_methods: dict[str, str] = field(default_factory=dict)  # exact / enclosure / bound per activation
    units: dict[str, Network] = field(default_factory=dict)  # the Lemma 2 network of each activation

    def row(self) -> dict:
        s, g = self.relu.sizes(), self.polyrelu.sizes()
        return {
            "d": g.in_dim,
            "L": g.hidden_layers,
            "K": g.width,
            "eps": f"{float(self.eps):.0e}",
            "alpha": str(self.alpha),
            "eps0": float(self.eps0),
            "m": ",".join(map(str, self.squaring_depth.values())),
            "certified_bound": float(self.bound),
            "measured_error": None if self.measured is None else float(self.measured),
            "relu_depth": s.depth,
            "relu_width": s.width,
            "relu_neurons": s.neurons,
            "relu_nonzero_parameters": s.nonzero_parameters,
            "polyrelu_neurons": g.neurons,
        }


def error_bound(net: Network, alpha: Fraction, errors: dict[str, Fraction]) -> Fraction:
    """δ_{l+1} = α δ_l + max_i ε_i through the hidden layers, then ‖w_out‖₁ δ_L (exact)."""
    delta = Q(0)
    for layer in net.activations:
        delta = alpha * delta + max(errors[act.describe()] for act in layer)
    out = max(sum((abs(v) for v in row.values()), Q(0)) for row in net.affines[-1].rows)
    return out * delta


def relu_approximation(
    net: Network, eps: object, alpha: object = None, rescale: bool = False, exact_max_m: int = -1
) -> Theorem2Result:
    """The ReLU network of Theorem 2's construction with certified sup error < eps on [−1, 1]^d."""
    eps = lemma2.check_eps(eps)
    g, norm = check_normalisation(net, alpha, rescale)
    L = len(g.activations)
    eps0 = eps / sum((norm.alpha**j for j in range(L)), Q(0)) if L else eps
    approx: dict[str, Network] = {}
    errors: dict[str, Fraction] = {}
    depths: dict[str, int] = {}
    methods: dict[str, str] = {}
    for layer in g.activations:
        for act in set(layer):
            key = act.describe()
            if key not in approx:
                res = lemma2.smallest(activation_coefficients(act), eps0, exact_max_m)
                approx[key], errors[key], depths[key] = Y.polyrelu_network(res.a, res.m), res.error, res.m
                methods[key] = res.method
    f = assemble(g, approx)
    bound = error_bound(g, norm.alpha, errors)
    if bound >= eps:
        raise AssertionError(f"composed bound {bound} is not below eps {eps}")  # a bug in the construction
    return Theorem2Result(
        g, f, eps, eps0, norm.alpha, bound, errors, depths, norm, neuron_methods=methods, units=approx
    )


def assemble(g: Network, units: dict[str, Network]) -> Network:
    """g with every neuron replaced by the ReLU network of its activation (padded to a common depth)."""
    f = Network([g.affines[0]], [])
    for l, layer in enumerate(g.activations):
        nets = [units[act.describe()] for act in layer]
        depth = max(u.depth for u in nets)
        f = compose(block_parallel(*[extend_depth(u, depth, relu()) for u in nets]), f)
        f = compose(Network([g.affines[l + 1]], []), f)
    return f


def grid_points(d: int, n: int) -> list[list[Fraction]]:
    axis = [Q(-1) + Q(2 * k, n - 1) for k in range(n)]
    return [list(p) for p in cartesian(axis, repeat=d)]


def evaluate_relu(net: Network, points: Sequence[Sequence[Fraction]]) -> list[Fraction]:
    """Exact first outputs of a ReLU network at many points (``Network.evaluate_many``, layer by layer)."""
    if not all(act.is_relu() for layer in net.activations for act in layer):
        raise ValueError("evaluate_relu needs a ReLU network")
    return [out[0] for out in net.evaluate_many(points)]


def measure(result: Theorem2Result, n: int) -> Fraction:
    """max |f − g| over the exact grid {−1, …, 1}^d with n points per axis (exact rationals)."""
    pts = grid_points(result.polyrelu.in_dim, n)
    got = evaluate_relu(result.relu, pts)
    worst = max(abs(y - result.polyrelu(p)[0]) for p, y in zip(pts, got, strict=True))
    result.measured, result.grid = worst, n
    return worst


def _poly_pow_linear(w: Fraction, b: Fraction, k: int) -> list[Fraction]:
    """Coefficients of (w x + b)^k, ascending."""
    out = [Q(1)]
    for _ in range(k):
        out = [
            (out[i] * b if i < len(out) else Q(0)) + (out[i - 1] * w if i > 0 else Q(0)) for i in range(len(out) + 1)
        ]
    return out


def exact_error_shallow(result: Theorem2Result) -> Fraction:
    """sup_{[−1,1]} |f − g| exactly (an enclosure's upper end for deg a ≥ 3) when d = 1 and L = 1.

    Then g(x) = c + Σ_i v_i σ_i(w_i x + b_i) is a polynomial between the rational kinks −b_i/w_i, and f
    is an exact PL function, so the 1-D engine applies piece by piece. (For L ≥ 2 the kinks of g are
    roots of polynomials, algebraic numbers: the lab then relies on the layer budget and the grid.)
    """
    g = result.polyrelu
    if g.in_dim != 1 or len(g.activations) != 1:
        raise ValueError("the exact Theorem 2 error is implemented for d = 1 and one hidden layer")
    first, out = g.affines
    units = [(row.get(0, Q(0)), b, act) for row, b, act in zip(first.rows, first.bias, g.activations[0], strict=True)]
    kinks = sorted({-b / w for w, b, _ in units if w != 0 and -1 < -b / w < 1})
    (f,) = network_to_pl(result.relu, -1, 1)
    cuts = [Q(-1), *kinks, Q(1)]
    worst = Q(0)
    for u, v in zip(cuts, cuts[1:], strict=False):
        mid = (u + v) / 2
        poly = [out.bias[0]]
        for i, (w, b, act) in enumerate(units):
            coeff = out.rows[0].get(i, Q(0))
            a = activation_coefficients(act)
            terms = [[a[0]]]
            if w * mid + b > 0:  # the unit is on: Σ_k a_k (w x + b)^k
                terms = [[c * t for t in _poly_pow_linear(w, b, k)] for k, c in enumerate(a)]
            for t in terms:
                poly += [Q(0)] * (len(t) - len(poly))
                for k, c in enumerate(t):
                    poly[k] += coeff * c
        worst = max(worst, sup_error(f, poly, u, v).upper)
    return worst


def size_table(
    epsilons: Sequence[object] = (Q(1, 10**2), Q(1, 10**4), Q(1, 10**6)),
    depths: Sequence[int] = (1, 2, 3),
    widths: Sequence[int] = (1, 2, 4),
    a: Sequence[object] = lemma2.paper_coefficients(3),
    d: int = 1,
    seed: int = 0,
) -> list[Theorem2Result]:
    return [relu_approximation(random_network(seed, d, L, K, a), e) for e in epsilons for L in depths for K in widths]


# --------------------------------------------------------------------------- certificates


def certify_upper(d: int, L: int, K: int, eps: object, grid: int, seed: int = 1, r: int = 3) -> Certificate:
    eps = as_fraction(eps)
    a = lemma2.paper_coefficients(r)
    net = random_network(seed, d, L, K, a)
    res = relu_approximation(net, eps, exact_max_m=lemma2.EXACT_MAX_M)  # per-neuron errors exact where affordable

    def check():
        errors, how = unit_errors(res)  # from the units themselves: nothing upstream is trusted
        budget = error_bound(res.polyrelu, res.alpha, errors)
        measured = measure(res, grid)
        varied = len({net(p)[0] for p in grid_points(d, grid)[::7]}) > 1  # a constant g would test nothing
        built = same_network(res.relu, assemble(res.polyrelu, res.units))  # the network the bound is about
        ok = budget < eps and budget <= res.bound and measured <= budget and varied and built
        return Check(
            holds=ok,
            measured_error=measured,
            sizes={"source": net.sizes().as_dict(), "target": res.relu.sizes().as_dict()},
            details=f"{'' if built else 'NOT the assembly of its Lemma 2 networks; '}"
            f"alpha={res.alpha}, eps0={float(res.eps0):.3e}; each unit's error recomputed from its network "
            f"({how}); layer budget {float(budget):.3e} {'<' if budget < eps else '>='} eps, "
            f"{'<=' if budget <= res.bound else '> !'} the claimed bound {float(res.bound):.3e}; "
            f"consistency: exact grid max {float(measured):.3e} {'<=' if measured <= budget else '>'} budget "
            f"on {grid}^{d} points",
        )

    return certify(
        f"theorem2-upper-d{d}-L{L}-K{K}",
        "A normalised PolyReLU network (‖w‖₁+|b| ≤ 1, σ([−1,1]) ⊆ [−1,1], α-Lipschitz) is approximated by the "
        "ReLU network replacing each neuron by Lemma 2's at ε_0 = ε/Σα^j; the layer budget δ_{l+1} ≤ αδ_l + ε_0 "
        "gives a bound < ε, and the exact error on a dense grid is below it.",
        "layer budget in exact rationals from exact 1-D per-neuron errors (Lemma 2 PL engine) + exact grid check",
        check,
        params={"d": d, "L": L, "K": K, "eps": str(eps), "a": [str(c) for c in a], "seed": seed},
        error_bound=res.bound,
    )


def unit_errors(res: Theorem2Result) -> tuple[dict[str, Fraction], str]:
    """Each activation's ReLU unit's error, from the unit network itself: exact (PL engine) up to
    lemma2.EXACT_MAX_M squaring levels, else the composed bound of the unit's own squaring depth."""
    errors: dict[str, Fraction] = {}
    how: list[str] = []
    acts = {act.describe(): act for layer in res.polyrelu.activations for act in layer}
    for key, unit in res.units.items():
        a = activation_coefficients(acts[key])
        m = lemma2.squaring_depth_of(unit, a)
        if m is None or not lemma2.matches_formula(unit, a, m):
            errors[key] = Q(10**9)  # no certified error: the budget fails
            how.append(f"{key}: not a Lemma 2 network at exact points")
        elif m <= lemma2.EXACT_MAX_M:
            errors[key] = lemma2.network_error(unit, a).upper
            how.append(f"m={m} exact {float(errors[key]):.3e}")
        else:
            errors[key] = Y.polyrelu_bound(a, m, lemma2.square_interval(m))
            how.append(f"m={m} composed bound {float(errors[key]):.3e}")
    return errors, "; ".join(how)


def certify_upper_exact(K: int = 4, eps: object = Q(1, 10**3), seed: int = 3, r: int = 3) -> Certificate:
    eps = as_fraction(eps)
    a = lemma2.paper_coefficients(r)
    net = random_network(seed, 1, 1, K, a)
    res = relu_approximation(net, eps, exact_max_m=lemma2.EXACT_MAX_M)

    def check():
        exact = exact_error_shallow(res)
        built = same_network(res.relu, assemble(res.polyrelu, res.units))
        return Check(
            holds=res.bound < eps and 0 < exact <= res.bound and built,
            measured_error=exact,
            sizes={"source": net.sizes().as_dict(), "target": res.relu.sizes().as_dict()},
            details=f"{'' if built else 'NOT the assembly of its Lemma 2 networks; '}"
            f"exact sup |f − g| = {float(exact):.6e} {'≤' if exact <= res.bound else '>'} layer budget "
            f"{float(res.bound):.6e} {'<' if res.bound < eps else '>='} eps",
        )

    return certify(
        f"theorem2-upper-exact-d1-L1-K{K}",
        "For one hidden layer and d = 1 the Theorem 2 ReLU network's sup error is computed exactly (g is a "
        "polynomial between rational kinks, f an exact PL function) and lies below the layer budget < ε.",
        "exact PL propagation + exact sup error per polynomial piece of g (certified enclosure for deg ≥ 3)",
        check,
        params={"d": 1, "L": 1, "K": K, "eps": str(eps), "a": [str(c) for c in a], "seed": seed},
        error_bound=res.bound,
    )


def certify_counterexample(L: int = 3, K: int = 4, seed: int = 10) -> Certificate:
    net = random_network(seed, 1, L, K, (0, 1))  # a = e_1: PolyReLU(x) = ReLU(x)
    as_relu = Network(net.affines, [relu()] * L)

    def check():
        (f,) = network_to_pl(net, -1, 1)
        (h,) = network_to_pl(as_relu, -1, 1)
        same = f == h and net.sizes().neurons == as_relu.sizes().neurons == L * K
        return Check(
            holds=same,
            measured_error=0 if f == h else "nonzero",
            details=f"PolyReLU(a=e_1) and ReLU networks are {'the same' if f == h else 'NOT the same'} PL "
            f"function ({f.pieces} pieces) with {L * K} neurons for every ε"
            + (", so no Ω(KL·ln(1/ε)) lower bound holds for every PolyReLU network" if same else ""),
        )

    return certify(
        "theorem2-lower-counterexample-e1",
        "Universal reading of the lower bound (every PolyReLU network of depth L, width K needs ReLU size "
        "Ω(KL·ln(1/ε))): false, since a PolyReLU network with a = e_1 equals a ReLU network of the same size (LK "
        "neurons) exactly, whatever ε. (Under the existential reading this example refutes nothing.)",
        "exact PL propagation of both networks, compared breakpoint by breakpoint",
        check,
        params={"L": L, "K": K, "a": "e_1", "seed": seed, "reading": "universal"},
        sizes=net.sizes().as_dict(),
        error_bound=0,
    )


def certify_piece_count(seeds: Sequence[int] = range(6)) -> Certificate:
    from theory.pl import piece_count as P

    def check():
        bad, seen = [], []
        nets = [Y.square_network(m) for m in (3, 6)] + [Y.polyrelu_network(lemma2.paper_coefficients(2), 3)]
        for seed in seeds:
            rng = random.Random(seed)
            widths = [rng.randint(1, 4) for _ in range(rng.randint(1, 4))]
            nets.append(random_network(seed, 1, len(widths), max(widths), (0, 1)))
        for net in nets:
            (f,) = network_to_pl(net, -1, 1) if net.sizes().neurons else (None,)
            bound = piece_bound(net)
            seen.append(f"{f.pieces}≤{bound}")
            if f.pieces > bound:
                bad.append(f"{net!r}: {f.pieces} > {bound}")
        # the gap is sharp at N pieces and no N-piece function beats it (random PL functions)
        for n in (1, 2, 3, 5, 8, 16, 64):
            if sup_error(P.shifted_interpolant(n), [0, 0, 1]).value != P.gap(n):
                bad.append(f"shifted interpolant with {n} pieces misses 1/(8N²)")
        rng = random.Random(7)
        for _ in range(40):
            n = rng.randint(1, 8)
            xs = sorted({Q(0), Q(1), *(Q(rng.randint(1, 99), 100) for _ in range(n - 1))})
            f = PiecewiseLinear(tuple(xs), tuple(Q(rng.randint(-20, 120), 100) for _ in xs))
            if sup_error(f, [0, 0, 1]).value < P.gap(len(xs) - 1):
                bad.append(f"a {len(xs) - 1}-piece function beats 1/(8N²)")
        return Check(holds=not bad, details="; ".join(bad) or "pieces vs bound: " + ", ".join(seen))

    return certify(
        "theorem2-piece-count",
        "A 1-input ReLU network with hidden widths W_l has ≤ Π(W_l+1) linear pieces; N pieces leave sup error "
        "≥ 1/(8N²) against x² on [0,1], and the shifted interpolant attains 1/(8N²) exactly.",
        "exact PL propagation (piece counts) and exact sup errors",
        check,
    )


def lower_bound_table(epsilons: Sequence[object] = lemma2.EPSILONS) -> list[dict]:
    """Per ε: least pieces, least width at depths 1 and m, least neurons, against Yarotsky's shifted f_m."""
    from theory.pl import piece_count as P

    rows = []
    for eps in map(as_fraction, epsilons):
        n_min = P.min_pieces(eps)
        m = 0
        while P.gap(2**m) > eps:
            m += 1
        rows.append(
            {
                "eps": f"{float(eps):.0e}",
                "min_pieces": n_min,
                "min_width_depth1": P.min_width(1, eps),
                "shallow_width": n_min,
                "yarotsky_m": m,
                "min_width_depth_m": P.min_width(m, eps) if m else None,
                "yarotsky_width": 4,
                "min_neurons_any_depth": P.min_neurons(eps),
                "yarotsky_neurons": 4 * m,
            }
        )
    return rows


def certify_corrected_lower_bound(max_exact_m: int = 8) -> Certificate:
    from theory.pl import piece_count as P

    def check():
        bad = []
        for eps, row in zip(lemma2.EPSILONS, lower_bound_table(lemma2.EPSILONS), strict=True):
            m = row["yarotsky_m"]
            # the construction must respect the lower bound (else the bound would be wrong)
            if m and not (row["min_width_depth_m"] <= 4 and row["min_neurons_any_depth"] <= 4 * m):
                bad.append(f"eps={row['eps']}: construction beats the lower bound")
            if m and m <= max_exact_m:  # certify the construction's error exactly: shifted f_m
                (f,) = network_to_pl(Y.square_network(m), 0, 1)
                err = sup_error(f - P.gap(2**m), [0, 0, 1]).value
                if err != P.gap(2**m) or err > eps or f.pieces != 2**m:
                    bad.append(f"eps={row['eps']}: shifted f_{m} error {err}")
            n = row["min_pieces"]
            if n <= 256:  # the depth-1 bound is attained: a width-n network within eps
                net = P.shallow_network(P.shifted_interpolant(n))
                (f,) = network_to_pl(net, 0, 1)
                if net.sizes().width != n or sup_error(f, [0, 0, 1]).value > eps:
                    bad.append(f"eps={row['eps']}: shallow width-{n} network misses eps")
        return Check(holds=not bad, details="; ".join(bad) or "every row: constructions meet the bound, errors exact")

    return certify(
        "theorem2-lower-corrected-e2",
        "Existential reading, corrected: for a = e_2, any ReLU network within ε of ReLU(x)² on [0,1] has ≥ ⌈1/√(8ε)⌉ "
        "pieces, so width ≥ W_min(L,ε) at L hidden layers and ≥ ⌈log₂⌈1/√(8ε)⌉⌉ neurons at any depth "
        "(Ω(ln 1/ε)); Yarotsky's shifted f_m (4m neurons) and, at depth 1, the shifted interpolant meet it. "
        "The paper's K·L factor is not certified.",
        "exact integer bounds + exact sup errors of the matching constructions (ε = 1e-1..1e-12)",
        check,
        params={"eps": "1e-1..1e-12", "exact up to m": max_exact_m, "reading": "existential"},
    )


def certificates() -> list[Certificate]:
    return [
        certify_upper(1, 2, 3, Q(1, 10**3), grid=33),
        certify_upper(2, 2, 2, Q(1, 10**2), grid=8, seed=2),
        certify_upper_exact(),
        certify_counterexample(),
        certify_piece_count(),
        certify_corrected_lower_bound(),
    ]
