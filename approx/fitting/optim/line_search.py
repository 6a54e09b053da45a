"""A strong-Wolfe line search run for every row of a model stack at once (Nocedal & Wright, Alg. 3.5–3.6).

Row m looks for a step t along its own direction d_m with

    f(t) ≤ f(0) + c1·t·f'(0)        (sufficient decrease)
    |f'(t)| ≤ c2·|f'(0)|            (curvature: the slope has flattened)

by first growing t until a bracket [lo, hi] holds a point that satisfies both, then shrinking the
bracket by safeguarded cubic interpolation. Rows move through these stages independently; each
iteration costs one batched loss-and-gradient pass over the rows still searching. The strong Wolfe
conditions guarantee sᵀy > 0, so the L-BFGS update that follows stays positive definite.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

C1, C2 = 1e-4, 0.9


@dataclass
class Point:
    """Step t with its loss f, directional derivative df and gradient g, one entry per row."""

    t: Tensor
    f: Tensor
    df: Tensor
    g: Tensor

    def where(self, mask: Tensor, other: Point) -> Point:
        pairs = zip((self.t, self.f, self.df, self.g), (other.t, other.f, other.df, other.g), strict=True)
        return Point(*(torch.where(mask if a.dim() == 1 else mask[:, None], a, b) for a, b in pairs))


def cubic_minimum(a: Point, b: Point, lo: Tensor, hi: Tensor) -> Tensor:
    """Minimiser of the cubic through (a.t, a.f, a.df), (b.t, b.f, b.df), clamped to [lo, hi] (bisection if none)."""
    d1 = a.df + b.df - 3 * (a.f - b.f) / (a.t - b.t)
    disc = d1.square() - a.df * b.df
    d2 = torch.sign(b.t - a.t) * disc.clamp(min=0).sqrt()
    t = b.t - (b.t - a.t) * (b.df + d2 - d1) / (b.df - a.df + 2 * d2)
    t = torch.where((disc >= 0) & t.isfinite(), t, (lo + hi) / 2)
    return torch.minimum(torch.maximum(t, lo), hi)


def strong_wolfe(loss_grad, theta: Tensor, d: Tensor, start: Point, t0: Tensor, active: Tensor, max_evals: int):
    """(accepted Point, found): per row, a step satisfying the strong Wolfe conditions along d.

    ``start`` is the point t = 0; ``loss_grad(θ, True)`` gives per-row loss and gradient. Rows where no
    such step is found in ``max_evals`` evaluations return their best Armijo point seen, or t = 0
    (``found`` False): at float precision no decrease is left along d.
    """
    f0, df0 = start.f, start.df
    prev = start  # bracketing: the last point, left end of the next bracket
    lo, hi = start, start  # zooming: lo satisfies Armijo with the lower loss, hi the other end
    zooming = torch.zeros_like(active)
    pending, found = active.clone(), torch.zeros_like(active)
    best, accepted = start, start
    t = t0
    for i in range(max_evals):
        f, g = loss_grad(theta + torch.where(pending[:, None], t[:, None] * d, 0.0), True)
        cur = Point(t, f, (g * d).sum(1), g)
        armijo = cur.f.isfinite() & (cur.f <= f0 + C1 * t * df0)
        flat = cur.df.abs() <= -C2 * df0
        done = pending & armijo & flat
        better = pending & armijo & (cur.f < best.f)
        best = cur.where(better, best)

        # bracketing rows: a bracket forms when the loss rose or the slope turned positive
        bracketing = pending & ~zooming & ~done
        rose = ~armijo | ((cur.f >= prev.f) & (i > 0))
        to_zoom_a = bracketing & rose  # bracket [prev, cur]
        to_zoom_b = bracketing & ~rose & (cur.df >= 0)  # bracket [cur, prev]
        lo = prev.where(to_zoom_a, cur.where(to_zoom_b, lo))
        hi = cur.where(to_zoom_a, prev.where(to_zoom_b, hi))
        grow = bracketing & ~to_zoom_a & ~to_zoom_b
        outside = cubic_minimum(prev, cur, cur.t * 1.1, cur.t * 10)  # extrapolate beyond the last step
        prev = cur.where(grow, prev)

        # zooming rows: shrink the bracket around the Armijo side
        zoom = pending & zooming & ~done
        high = zoom & (~armijo | (cur.f >= lo.f))
        low = zoom & ~high
        flip = low & (cur.df * (hi.t - lo.t) >= 0)
        hi = cur.where(high, lo.where(flip, hi))
        lo = cur.where(low, lo)

        zooming = zooming | to_zoom_a | to_zoom_b
        accepted = cur.where(done, accepted)
        found |= done
        pending &= ~done
        if not pending.any():
            break
        left, right = torch.minimum(lo.t, hi.t), torch.maximum(lo.t, hi.t)
        width = right - left
        inside = cubic_minimum(lo, hi, left + 0.1 * width, right - 0.1 * width)
        t = torch.where(zooming, inside, torch.where(grow, outside, t))
        pending &= ~(zooming & (width <= torch.finfo(t.dtype).eps * right))  # bracket collapsed
    accepted = accepted.where(found, best)
    return accepted, found | (accepted.t > 0)
