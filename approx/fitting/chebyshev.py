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
