"""Errors of fitted models on a dense held-out test set (docs/theory.md §5: the sup norm is the theorems' norm).

For each model m with prediction p_m and truth f on the test points:

- ``rmse``     = sqrt(mean (p_m − f)²)
- ``max_abs``  = max |p_m − f|                       (the L∞ estimate; grid fine enough: approx.fitting.targets)
- ``rel_rmse`` = rmse / sqrt(mean f²),  ``rel_max`` = max_abs / max |f|
- ``train_rmse`` on the training points, and ``gap`` = rmse / train_rmse (≫ 1: overfitting or a sparse
  training set; the test set is never trained on).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from approx.fitting.models import Architecture

NAMES = ("rmse", "max_abs", "rel_rmse", "rel_max", "train_rmse", "gap")


def predict(arch: Architecture, theta: Tensor, x: Tensor, batch: int = 16_384) -> Tensor:
    """Outputs (M, N) on x (N, d), in batches of points so a dense grid never exhausts memory."""
    with torch.no_grad():
        return torch.cat([arch.forward(theta, x[i : i + batch]) for i in range(0, len(x), batch)], dim=1)


def errors(
    arch: Architecture, theta: Tensor, x_test: Tensor, y_test: Tensor, x_train: Tensor, y_train: Tensor
) -> list[dict[str, float]]:
    """One dict of :data:`NAMES` per model. ``y_test`` is (M, N_test) or (N_test,) shared."""
    x_test = x_test.to(theta)
    with torch.no_grad():
        train_pred = arch.forward(theta, x_train.to(theta))
    return errors_of(predict(arch, theta, x_test), y_test.to(theta), train_pred, y_train.to(theta))


def errors_of(pred: Tensor, y_test: Tensor, train_pred: Tensor, y_train: Tensor) -> list[dict[str, float]]:
    """:func:`errors` from predictions: ``pred`` (M, N_test), ``train_pred`` and ``y_train`` (M, N_train)."""
    truth = y_test if y_test.dim() == 2 else y_test.expand_as(pred)
    err = pred - truth
    train_rmse = (train_pred - y_train).square().mean(-1).sqrt()
    out = []
    for m in range(pred.shape[0]):
        rmse = float(err[m].square().mean().sqrt())
        max_abs = float(err[m].abs().max())
        tr = float(train_rmse[m])
        out.append(
            {
                "rmse": rmse,
                "max_abs": max_abs,
                "rel_rmse": rmse / float(truth[m].square().mean().sqrt()),
                "rel_max": max_abs / float(truth[m].abs().max()),
                "train_rmse": tr,
                "gap": rmse / tr if tr > 0 else math.inf,
            }
        )
    return out
