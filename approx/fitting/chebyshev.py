"""The classical 1-D reference (docs/theory.md §7): Chebyshev interpolation with k coefficients.

p_k interpolates f at the k Chebyshev points of the first kind on [0,1]; its sup error decays like
k^{−n} for f ∈ W^{n,∞} (up to log k) and geometrically for analytic f, down to machine precision.
A rate plot shows it against "parameters" = k.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.polynomial import chebyshev as C

from approx.fitting.targets import Target


def interpolation_errors(target: Target, sizes: list[int], x_test: torch.Tensor) -> list[dict[str, float]]:
    """Max-abs and RMS error of the k-point Chebyshev interpolant of a 1-D target, for each k in sizes."""
    if target.d != 1:
        raise ValueError(f"Chebyshev reference is 1-D only; target {target.name!r} has d={target.d}")
    t = 2 * x_test[:, 0].double().cpu().numpy() - 1  # [0,1] → [−1,1]
    truth = target(x_test.double().cpu()).numpy()

    def f(u: np.ndarray) -> np.ndarray:
        return target(torch.from_numpy((u + 1) / 2)[:, None]).numpy()

    out = []
    for k in sizes:
        coef = C.chebinterpolate(f, int(k) - 1)  # type: ignore[type-var]  # NumPy's stub does not allow a callable
        err = C.chebval(t, coef) - truth
        out.append({"params": int(k), "max_abs": float(np.abs(err).max()), "rmse": float(np.sqrt((err**2).mean()))})
    return out


#: the least-squares polynomial of :func:`best_polynomial_error` has at most this many coefficients
MAX_BASIS = 2000


def best_polynomial_error(target: Target, degree: int, points: int = 20_000, seed: int = 0) -> float | None:
    """Sup error (on the dense grid) of the least-squares polynomial of total degree ``degree`` in d
    variables, a Chebyshev product basis fitted on Sobol points: within a small factor of the best
    polynomial of that degree. A network of polynomial activations of order r and depth L computes a
    polynomial of degree r^L, so no such network gets below this: its *expressivity floor*. None when
    the basis would exceed :data:`MAX_BASIS` (a degree that high reaches far below any trained error).
    """
    from itertools import product
    from math import comb

    from approx.fitting import targets

    d = target.d
    if comb(degree + d, d) > MAX_BASIS:
        return None
    powers = [k for k in product(range(degree + 1), repeat=d) if sum(k) <= degree]

    def basis(x: torch.Tensor) -> np.ndarray:
        t = 2 * x.double().cpu().numpy() - 1
        cols = [C.chebvander(t[:, j], degree) for j in range(d)]  # (N, degree + 1) per axis
        return np.stack([np.prod([cols[j][:, k[j]] for j in range(d)], axis=0) for k in powers], axis=1)

    x = targets.sample(d, max(points, 4 * len(powers)), "sobol", seed)
    coef, *_ = np.linalg.lstsq(basis(x), target(x).numpy(), rcond=None)
    grid = targets.dense_grid(d, 8192 if d == 1 else 40_000)
    return float(np.abs(basis(grid) @ coef - target(grid).numpy()).max())
