"""A trained network over boxes in outward-rounded float64 interval arithmetic (docs/theory.md §8).

``IntervalNet`` holds a ``theory.trained.Description`` as float64 arrays (its weights are float64
numbers, so they enter exactly) and encloses, for a batch of boxes at once, the network and its
gradient (``theory.rounded_intervals``). A piecewise-polynomial σ on an interval of z that holds 0
is the union of the polynomials of both sides (σ must be continuous, σ(0) the same on both sides,
which the mean-value form of §8.1 needs); a smooth one (tanh, GELU, SiLU) is enclosed unit by unit
from its certified ranges (``theory.smooth_activations``); PolyNorm, which mixes a layer's units, by
interval powers, sums, square roots and quotients, its derivative a full Jacobian (§8.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from flint import arb

from theory import rounded_intervals as ri
from theory.smooth_activations import SMOOTH, Smooth


@dataclass(frozen=True)
class PolyNorm:
    """PolyNorm_a(z)_j = a_0 + Σ_{i≥1} a_i z_j^i / √(mean_k z_k^{2i} + ε) over a layer (docs/theory.md §1)."""

    a: np.ndarray
    eps: float


#: the activations a layer may name in ``function`` (the rest arrive as polynomial pieces)
FUNCTIONS = (*SMOOTH, "polynorm")
Activation = tuple[np.ndarray, np.ndarray] | Smooth | PolyNorm | None  # two polynomials, a smooth σ, PolyNorm
Layers = tuple[tuple[np.ndarray, np.ndarray, Activation], ...]


@dataclass(frozen=True)
class IntervalNet:
    """A ``Description`` as float64 arrays: per stage its scale and, per layer, W, b and (after a hidden
    layer) each unit's two polynomials as coefficient rows, padded with zeros to one length."""

    stages: tuple[tuple[float, Layers], ...]

    @classmethod
    def of(cls, net) -> IntervalNet:
        """From a ``theory.trained.Description``; every number must be a float64 (they enter exactly)."""
        stages = []
        for scale, layers in net.stages:
            converted = []
            for k, layer in enumerate(layers):
                polys: Activation = None
                if layer.function == "polynorm" and k < len(layers) - 1:
                    polys = PolyNorm(_exact(layer.coefficients), float(_exact([layer.eps])[0]))
                elif layer.pieces is None and k < len(layers) - 1:
                    if layer.function not in SMOOTH:
                        raise ValueError(
                            "interval bounds cover piecewise-polynomial activations, polynorm and "
                            f"{', '.join(SMOOTH)}; not {layer.function or net.activation}"
                        )
                    polys = SMOOTH[layer.function]
                elif layer.pieces is not None:
                    if any(Fraction(r[0] if r else 0) != Fraction(l[0] if l else 0) for r, l in layer.pieces):
                        raise ValueError("interval bounds need a continuous activation (σ(0) the same on both sides)")
                    width = max(len(c) for pair in layer.pieces for c in pair)
                    right, left = (
                        [list(c) + [0] * (width - len(c)) for c in side] for side in zip(*layer.pieces, strict=True)
                    )
                    polys = (_exact(right), _exact(left))
                converted.append((_exact(layer.W), _exact(layer.b), polys))
            stages.append((float(_exact([scale])[0]), tuple(converted)))
        return cls(tuple(stages))

    def forward(self, x: ri.Interval, gradient: bool = True) -> tuple[ri.Interval, ri.Interval]:
        """net and its gradient over boxes x = (lo, hi) of shape (B, d): values (B,), gradients (B, d)
        (without ``gradient`` only the values; the gradient comes back as (−inf, inf))."""
        B, d = x[0].shape
        total = ri.point(np.zeros(B))
        total_grad = ri.point(np.zeros((B, d)))
        for scale, layers in self.stages:
            h = ri.down(2 * x[0] - 1), ri.up(2 * x[1] - 1)
            dh = ri.point(np.broadcast_to(2 * np.eye(d), (B, d, d)).copy())  # dh[b, k, i] = ∂h_i/∂x_k
            for W, b, polys in layers:
                z = ri.add(ri.matmul(h, W), ri.point(b))
                dz = ri.matmul(dh, W) if gradient else dh
                if polys is None:
                    h, dh = z, dz
                    continue
                if isinstance(polys, PolyNorm):
                    h, dh = _polynorm(z, dz, polys, gradient)
                    continue
                h, slope = _smooth(z, polys, gradient) if isinstance(polys, Smooth) else _activate(z, *polys)
                if gradient:
                    dh = ri.mul((slope[0][:, None, :], slope[1][:, None, :]), dz)
            s = ri.point(scale)
            total = ri.add(total, ri.mul(s, (h[0][:, 0], h[1][:, 0])))
            if gradient:
                total_grad = ri.add(total_grad, ri.mul(s, (dh[0][..., 0], dh[1][..., 0])))
        if not gradient:
            total_grad = (np.full((B, d), -np.inf), np.full((B, d), np.inf))
        return total, total_grad


def _exact(values) -> np.ndarray:
    """``values`` as a float64 array, refused unless every number is a float64 exactly."""
    out = np.array(values, dtype=np.float64)
    if any(
        Fraction(float(a)) != Fraction(b)
        for a, b in zip(out.ravel(), np.ravel(np.array(values, dtype=object)), strict=True)
    ):
        raise ValueError("a network weight is not a float64 number; interval bounds take its float weights exactly")
    return out


def _activate(z: ri.Interval, right: np.ndarray, left: np.ndarray) -> tuple[ri.Interval, ri.Interval]:
    """σ and σ' over z, unit by unit: the polynomial of each side z meets, their union where z holds 0."""
    zr = np.maximum(z[0], 0), np.maximum(z[1], 0)
    zl = np.minimum(z[0], 0), np.minimum(z[1], 0)
    (vr, dr), (vl, dl) = _horner(zr, right), _horner(zl, left)
    use_r, use_l = z[1] >= 0, z[0] < 0

    def pick(r: ri.Interval, l_: ri.Interval) -> ri.Interval:
        both = ri.union(r, l_)
        return tuple(np.where(use_r & use_l, u, np.where(use_r, a, c)) for u, a, c in zip(both, r, l_, strict=True))  # type: ignore[return-value]

    return pick(vr, vl), pick(dr, dl)


def _smooth(z: ri.Interval, sigma: Smooth, gradient: bool) -> tuple[ri.Interval, ri.Interval]:
    """σ and σ' over z, element by element, from σ's certified ranges (moved one float outward); σ' is
    (−inf, inf) without ``gradient``."""
    ends = [np.empty_like(z[0]) for _ in range(2)] + [np.full_like(z[0], -np.inf), np.full_like(z[0], np.inf)]
    for i in np.ndindex(z[0].shape):
        balls = (
            sigma.ranges(float(z[0][i]), float(z[1][i])) if gradient else (sigma.range(float(z[0][i]), float(z[1][i])),)
        )
        for k, ball in enumerate(balls):
            ends[2 * k][i] = np.nextafter(float(ball.lower()), -np.inf)
            ends[2 * k + 1][i] = np.nextafter(float(ball.upper()), np.inf)
    return (ends[0], ends[1]), (ends[2], ends[3])


def _polynorm(z: ri.Interval, dz: ri.Interval, act: PolyNorm, gradient: bool) -> tuple[ri.Interval, ri.Interval]:
    """PolyNorm and, with ``gradient``, its forward derivative: for n = p/s with p = z_j^i and
    s = √(mean_k z_k^{2i} + ε), dn = dp/s − p·ds/s², ds = mean_k(i z_k^{2i−1} dz_k)/s."""
    width = z[0].shape[-1]
    y = ri.point(np.broadcast_to(act.a[0], z[0].shape))
    dy = ri.point(np.zeros_like(dz[0])) if gradient else dz
    for i, a_i in enumerate(act.a[1:], start=1):
        p = ri.power(z, i)
        mean = ri.div(ri.total(ri.power(z, 2 * i)), ri.point(float(width)))
        mean = np.maximum(mean[0], 0), mean[1]  # a sum of even powers: its rounding slack may not cross 0
        s = ri.sqrt(ri.add(mean, ri.point(act.eps)))
        y = ri.add(y, ri.mul(ri.point(a_i), ri.div(p, s)))
        if not gradient:
            continue
        slope = ri.power(z, i - 1) if i > 1 else ri.point(np.ones_like(z[0]))
        dp = ri.mul(_axis(_scaled(slope, i)), dz)  # (B, d, width)
        inner = ri.mul(_axis(_scaled(ri.power(z, 2 * i - 1), i)), dz)
        s3 = _axis(s)
        ds = ri.div(ri.div(ri.total(inner), ri.point(float(width))), s3)  # (B, d, 1)
        dn = ri.sub(ri.div(dp, s3), ri.div(ri.mul(_axis(p), ds), ri.mul(s3, s3)))
        dy = ri.add(dy, ri.mul(ri.point(a_i), dn))
    return y, dy


def _scaled(x: ri.Interval, c: int) -> ri.Interval:
    return ri.mul(ri.point(float(c)), x)


def _axis(x: ri.Interval) -> ri.Interval:
    """(B, n) → (B, 1, n): one row per input direction."""
    return x[0][:, None], x[1][:, None]


def _horner(z: ri.Interval, coeffs: np.ndarray) -> tuple[ri.Interval, ri.Interval]:
    """Σ_i c_i z^i and its derivative, per unit (coeffs: units × degree + 1)."""
    v = dv = ri.point(np.zeros_like(z[0]))
    for c in coeffs.T[::-1]:
        dv = ri.add(ri.mul(dv, z), v)
        v = ri.add(ri.mul(v, z), ri.point(np.broadcast_to(c, z[0].shape)))
    return v, dv


def as_ball(x: ri.Interval, *index) -> arb:
    """One float interval as a ball (both ends are exact floats)."""
    return arb(float(x[0][index])).union(arb(float(x[1][index])))
