"""Target functions on [0,1]^d for the rate experiments (docs/theory.md §2, §5, §7).

A :class:`Target` knows its dimension ``d``, its Sobolev smoothness ``n`` (it lies in W^{n,∞}; with
``sharp=True`` it is also *not* in W^{n+1,∞}, so n is the exact order), and its normalisation: values
are divided by ``scale`` = max |f| over a dense grid, so every target has sup norm ≈ 1 and errors of
different targets are comparable. ``n = None`` means analytic (every n).

Families:

- ``abs_power``   Σ_k |x_k − c_k|^{n+1/2}: the n-th derivative is |·|^{1/2}-type (bounded), the
  (n+1)-th blows up at c, so exactly W^{n,∞}.
- ``spline``      Σ_j w_j (u_j·x − t_j)_+^n, random seeded ridge splines of degree n: the n-th
  derivative is piecewise constant and jumps, so exactly W^{n,∞}.
- analytic        ``sin``, ``exp``, ``runge``, ``j0`` (J0(20x), the KAN paper's first toy).
- ``kan_*``       the KAN paper's toys: exp(sin(πx)+y²), xy, exp(½(sin(π(x1²+x2²))+sin(π(x3²+x4²)))).
- ``fourier``     Σ_k a_k cos(2π k·x + φ_k), seeded, |a_k| ∝ |k|^{−(n+d+δ)}: Σ|a_k||k|^n < ∞
  needs exponent > n + d, so the series lies in W^{n,∞} (the d-D version of k^{−(n+1+δ)}).
- ``callable``    any function of a (N, d) float64 tensor; expression strings become these through the
  grammar's torch back end (approx/fitting/expression.py).

Point sets: ``boundary`` (the default: 1/16 of the points on the cube's boundary, the 2^d corners
first, then scrambled Sobol points on the faces, and Sobol points inside; a sup norm over the closed
cube is decided at its corners as much as inside), ``sobol`` (scrambled, seeded), ``random``
(uniform) and ``chebyshev`` (tensor grid of Chebyshev–Lobatto nodes mapped to [0,1]). Test sets are
dense uniform grids shifted half a cell, so they never coincide with Chebyshev or boundary training
points, and they resolve the sup norm to O(h^{1/2}) or better.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

import grammar

SAMPLINGS = ("auto", "boundary", "arcsine", "sobol", "random", "chebyshev")
DEFAULT_SAMPLING = "auto"
#: with "boundary" or "arcsine" sampling, this share of the points lies on the cube's boundary (corners, then faces)
BOUNDARY_SHARE = 1 / 16
#: "auto" takes "arcsine" from this dimension on and "boundary" below it (chosen on the robustness
#: benchmark's tuning cells, d ≤ 3: benchmarks/RESULTS.md, "Robustness")
ARCSINE_FROM = 3
Fn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Target:
    """f: [0,1]^d → R with known smoothness, normalised to sup |f| ≈ 1."""

    name: str
    d: int
    n: int | None  # Sobolev order in W^{n,∞}; None = analytic
    fn: Fn = field(repr=False, compare=False)
    sharp: bool = False  # True: f ∉ W^{n+1,∞}, so n is the exact smoothness
    scale: float = field(default=0.0, compare=False)
    spec: dict | None = field(default=None, compare=False)  # how to build it again (from_spec); None: a callable
    #: f in the expression grammar, its float constants written as exact fractions (None: no such form);
    #: what a certified error encloses (docs/theory.md §8)
    expression: str | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.scale == 0.0:  # normalisation: sup |f| on a dense grid (held-out test resolution)
            grid = dense_grid(self.d, 4096 if self.d == 1 else 40_000)
            peak = float(self.fn(grid).abs().max())
            if not math.isfinite(peak) or peak == 0.0:
                raise ValueError(f"target {self.name!r} is zero or not finite on [0,1]^{self.d}")
            object.__setattr__(self, "scale", peak)

    def __call__(self, x: Tensor) -> Tensor:
        """f(x) / scale for x of shape (..., d); returns shape (...)."""
        if x.shape[-1] != self.d:
            raise ValueError(f"target {self.name!r} takes d={self.d} inputs, got shape {tuple(x.shape)}")
        return self.fn(x.to(torch.float64)).to(x.dtype) / self.scale

    @property
    def smoothness(self) -> str:
        if self.n is None:
            return "analytic"
        return f"W^{{{self.n},∞}}" + (f" \\ W^{{{self.n + 1},∞}}" if self.sharp else "")


# --------------------------------------------------------------------------- point sets


def dense_grid(d: int, points: int) -> Tensor:
    """A uniform grid of about ``points`` cell midpoints in [0,1]^d (held out from every training set)."""
    per_axis = max(2, round(points ** (1.0 / d)))
    axis = (torch.arange(per_axis, dtype=torch.float64) + 0.5) / per_axis
    return torch.cartesian_prod(*([axis] * d)).reshape(-1, d)


def boundary(d: int, count: int, seed: int = 0) -> Tensor:
    """``count`` points on the boundary of [0,1]^d: the 2^d corners (when they fit), then scrambled
    Sobol points pushed onto the faces x_k ∈ {0, 1}, the faces taken in turn (none in 1-D)."""
    corners = torch.cartesian_prod(*([torch.tensor([0.0, 1.0], dtype=torch.float64)] * d)).reshape(-1, d)
    corners = corners if len(corners) <= count else corners[:0]
    if d == 1 or len(corners) == count:
        return corners
    faces = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed + 1).draw(
        count - len(corners), dtype=torch.float64
    )
    index = torch.arange(len(faces))
    faces[index, index % d] = ((index // d) % 2).to(torch.float64)
    return torch.cat([corners, faces])


def chebyshev_nodes(k: int) -> Tensor:
    """k Chebyshev–Lobatto nodes mapped to [0,1] (k = 1 gives the midpoint)."""
    if k == 1:
        return torch.tensor([0.5], dtype=torch.float64)
    return 0.5 - 0.5 * torch.cos(math.pi * torch.arange(k, dtype=torch.float64) / (k - 1))


def arcsine(x: Tensor) -> Tensor:
    """Each coordinate mapped by u ↦ (1 − cos πu)/2: uniform points become arcsine-distributed, the
    density 1/(π√(x(1−x))) of Chebyshev nodes, denser toward every face (docs/engine.md, "Points")."""
    return (1 - torch.cos(math.pi * x)) / 2


def sample(d: int, points: int, method: str = DEFAULT_SAMPLING, seed: int = 0) -> Tensor:
    """``points`` training points in [0,1]^d (Chebyshev: a tensor grid of ⌈points^{1/d}⌉ nodes per axis).

    ``boundary``: 1/16 of them on the boundary (corners, then faces), the rest scrambled Sobol points;
    ``arcsine``: the same, every coordinate then mapped by :func:`arcsine` (the boundary stays put);
    ``auto``: ``arcsine`` from ``ARCSINE_FROM`` dimensions on, ``boundary`` below.
    """
    if points < 1:
        raise ValueError(f"need at least 1 training point, got {points}")
    if method == "auto":
        return sample(d, points, "arcsine" if d >= ARCSINE_FROM else "boundary", seed)
    if method == "arcsine":
        return arcsine(sample(d, points, "boundary", seed))
    if method == "boundary":
        edge = boundary(d, max(int(BOUNDARY_SHARE * points), min(2**d, points // 4)), seed)
        return torch.cat([edge, sample(d, points - len(edge), "sobol", seed)])
    if method == "random":
        return torch.rand(points, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if method == "sobol":
        return torch.quasirandom.SobolEngine(d, scramble=True, seed=seed).draw(points, dtype=torch.float64)
    if method == "chebyshev":
        nodes = chebyshev_nodes(math.ceil(points ** (1.0 / d)))
        return torch.cartesian_prod(*([nodes] * d)).reshape(-1, d)
    raise ValueError(f"unknown sampling {method!r}; valid: {', '.join(SAMPLINGS)}")


# --------------------------------------------------------------------------- families


def _check(name: str, value: object, lo: float, hi: float = math.inf, integer: bool = True) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and lo <= value <= hi
    if ok and integer:
        ok = float(value).is_integer()  # type: ignore[arg-type]  # an int or float here
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} in [{lo}, {hi}], got {value!r}")


def abs_power(n: int = 1, d: int = 1, center: float = 1 / math.sqrt(5)) -> Target:
    """Σ_k |x_k − c|^{n+1/2}: in W^{n,∞} and not in W^{n+1,∞} (singular at x_k = c)."""
    _check("n", n, 0, 8)
    _check("d", d, 1, 8)
    _check("center", center, 0.0, 1.0, integer=False)
    n, d = int(n), int(d)
    text = " + ".join(f"abs(x{k} - {_exact(center)})**({2 * n + 1}/2)" for k in range(d))
    fn = lambda x: (x - center).abs().pow(n + 0.5).sum(-1)  # noqa: E731
    return Target(f"abs_power_n{n}_d{d}", d, n, fn, sharp=True, expression=text)


def spline(n: int = 1, d: int = 1, knots: int = 6, seed: int = 0) -> Target:
    """Σ_j w_j (u_j·x − t_j)_+^n: random ridge spline of degree n, exactly W^{n,∞}."""
    _check("n", n, 1, 8)
    _check("d", d, 1, 8)
    _check("knots", knots, 1, 1000)
    n, d, knots = int(n), int(d), int(knots)
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(knots, d, generator=g, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    # knots t_j inside the range of u_j·x on [0,1]^d, so every kink is visible
    lo, hi = u.clamp(max=0).sum(1), u.clamp(min=0).sum(1)
    t = lo + (hi - lo) * (0.15 + 0.7 * torch.rand(knots, generator=g, dtype=torch.float64))
    w = torch.randn(knots, generator=g, dtype=torch.float64)
    ridges = [_affine(row.tolist(), -tj) for row, tj in zip(u, t.tolist(), strict=True)]
    text = " + ".join(f"{_exact(wj / 2**n)}*({z} + abs({z}))**{n}" for z, wj in zip(ridges, w.tolist(), strict=True))
    fn = lambda x: ((x @ u.T - t).clamp(min=0).pow(n) * w).sum(-1)  # noqa: E731
    return Target(f"spline_n{n}_d{d}_s{seed}", d, n, fn, sharp=True, expression=_readable(text, d))


def fourier(n: int = 1, d: int = 1, modes: int = 32, delta: float = 0.5, seed: int = 0) -> Target:
    """Seeded random cosine series with |a_k| ∝ |k|^{−(n+d+δ)}: lies in W^{n,∞} (not claimed sharp)."""
    _check("n", n, 0, 8)
    _check("d", d, 1, 4)
    _check("modes", modes, 1, 4096)
    _check("delta", delta, 1e-3, 10, integer=False)
    n, d, modes = int(n), int(d), int(modes)
    g = torch.Generator().manual_seed(seed)
    per_axis = max(1, round(modes ** (1.0 / d)))
    ks = torch.cartesian_prod(*([torch.arange(per_axis + 1, dtype=torch.float64)] * d)).reshape(-1, d)[1:]
    ks = ks * torch.where(torch.rand(ks.shape, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    amp = torch.randn(len(ks), generator=g, dtype=torch.float64) * ks.norm(dim=1).pow(-(n + d + delta))
    phase = 2 * math.pi * torch.rand(len(ks), generator=g, dtype=torch.float64)
    return Target(
        f"fourier_n{n}_d{d}_s{seed}", d, n, lambda x: (torch.cos(2 * math.pi * x @ ks.T + phase) * amp).sum(-1)
    )


def _affine(coefficients: list[float], constant: float) -> str:
    """Σ_k c_k x_k + constant, exactly, unit coefficients written bare."""
    terms = [
        f"x{k}" if c == 1 else f"-x{k}" if c == -1 else f"{_exact(c)}*x{k}" for k, c in enumerate(coefficients) if c
    ]
    return " + ".join([*terms, _exact(constant)])


def _readable(text: str, d: int) -> str | None:
    """``text`` if the grammar takes it (within its size limits), else None."""
    try:
        grammar.parse(text, d)
    except grammar.ExpressionError:
        return None
    return text


def _exact(v: float) -> str:
    """A float64 as the exact fraction it is, in parentheses."""
    p, q = float(v).as_integer_ratio()
    return f"({p}/{q})" if q > 1 else f"({p})"


def from_callable(name: str, fn: Fn, d: int, n: int | None = None, sharp: bool = False) -> Target:
    """Wrap any f(x: (N, d) float64) -> (N,); n is the smoothness the caller vouches for."""
    _check("d", d, 1, 16)
    if n is not None:
        _check("n", n, 0, 64)
    return Target(name, int(d), None if n is None else int(n), fn, sharp=sharp)


def _pi(t: Tensor) -> Tensor:
    return math.pi * t


ANALYTIC: dict[str, tuple[int, Fn]] = {
    "sin": (1, lambda x: torch.sin(_pi(3 * x[..., 0]))),
    "exp": (1, lambda x: torch.exp(x[..., 0])),
    "runge": (1, lambda x: 1.0 / (1.0 + 25.0 * (2 * x[..., 0] - 1) ** 2)),
    "j0": (1, lambda x: torch.special.bessel_j0(20 * x[..., 0])),  # KAN toy J0(20x)
    "kan_exp_sin": (2, lambda x: torch.exp(torch.sin(_pi(x[..., 0])) + x[..., 1] ** 2)),
    "kan_xy": (2, lambda x: x[..., 0] * x[..., 1]),
    "kan_4d": (
        4,
        lambda x: torch.exp(
            0.5 * (torch.sin(_pi(x[..., 0] ** 2 + x[..., 1] ** 2)) + torch.sin(_pi(x[..., 2] ** 2 + x[..., 3] ** 2)))
        ),
    ),
    "sin_sum": (2, lambda x: torch.sin(_pi(x.sum(-1)))),
}
FAMILIES: dict[str, Callable[..., Target]] = {"abs_power": abs_power, "spline": spline, "fourier": fourier}


def names() -> list[str]:
    """Every catalogue name: the parametrised families and the fixed analytic targets."""
    return [*FAMILIES, *ANALYTIC]


def get(name: str, **kwargs) -> Target:
    """A catalogue target, e.g. ``get("abs_power", n=2, d=1)`` or ``get("runge")``."""
    if name in ANALYTIC:
        if kwargs:
            raise ValueError(f"target {name!r} takes no parameters, got {', '.join(kwargs)}")
        d, fn = ANALYTIC[name]
        return Target(name, d, None, fn, spec={"name": name})
    if name not in FAMILIES:
        raise ValueError(f"unknown target {name!r}; valid: {', '.join(names())}")
    try:
        target = FAMILIES[name](**kwargs)
    except TypeError as err:
        raise ValueError(f"bad parameters for target {name!r}: {err}") from None
    return dataclasses.replace(target, spec={"name": name, **kwargs})


def from_spec(spec: dict) -> Target:
    """The target a ``spec`` describes: ``{"name": ..., **parameters}`` or ``{"expr": ..., "d": ...}``."""
    spec = dict(spec)
    if "expr" in spec:
        from approx.fitting.expression import expression_target

        return expression_target(spec["expr"], spec.get("d", 1), spec.get("n"))
    return get(spec.pop("name"), **spec)


def resolve(target: Target | str | Fn, d: int | None = None) -> Target:
    """A :class:`Target` from what a user passes: a Target, a catalogue name, an expression string
    (in x0..x{d-1}; d defaults to 1) or a callable of (N, d) float64 (``d`` required).

    A ``d`` that contradicts a catalogue target is refused; a family (``abs_power``, ...) takes it.
    """
    if isinstance(target, Target):
        if d is not None and d != target.d:
            raise ValueError(f"target {target.name!r} has d = {target.d}; d = {d} contradicts it")
        return target
    if isinstance(target, str):
        if target in FAMILIES:
            return get(target) if d is None else get(target, d=d)
        if target in ANALYTIC:
            if d is not None and d != ANALYTIC[target][0]:
                raise ValueError(f"target {target!r} has d = {ANALYTIC[target][0]}; d = {d} contradicts it")
            return get(target)
        from approx.fitting.expression import expression_target

        return expression_target(target, 1 if d is None else d)
    if callable(target):
        if d is None:
            raise ValueError("a callable target needs d")
        return from_callable(getattr(target, "__name__", "callable"), target, d)
    kind = type(target).__name__
    raise ValueError(f"target must be a Target, a catalogue name, an expression or a callable, got {kind}")
