"""Continuation in size (``continuation = true``): each stack also starts from the next smaller size's fits.

A chain is every size of one (activation, depth, d, learning rate). Its stacks run smallest first, and
each offers the portfolio one more candidate, ``widened``: the same models' fits at the next smaller
width with zero-output units added (approx/fitting/portfolio.py, growth.py), which computes what the
smaller network computed (exactly; PolyNorm nearly) and is then trained by LM. The fits of every
finished stack are saved in ``OUT/params/``, one file per stack, written atomically before its rows
reach results.csv, so a resumed run continues from the very networks a whole run would have used. Within a run the fits
travel from stack to stack with the results (``from_fits``), so the chains of a Ray run go side by side.
"""

from __future__ import annotations

from pathlib import Path

import torch

from approx.fitting.growth import can_widen
from approx.fitting.portfolio import Smaller
from approx.fitting.stack import Result
from experiments.atomic_io import atomic_write
from experiments.rates.config import Config, Job, chain_key, stacks
from experiments.user_errors import UserError

FOLDER = "params"


def file_for(group: list[Job]) -> str:
    """The file holding a stack's fits: its chain and its width."""
    a, lr = group[0].arch, group[0].lr
    return f"{a.activation.label}-d{a.d_in}-L{a.depth}-w{a.width}" + ("" if lr is None else f"-lr{lr:g}") + ".pt"


def previous(cfg: Config, group: list[Job]) -> list[Job] | None:
    """The stack of the same chain with the most units below this one's, if any."""
    key, width = chain_key(group[0]), group[0].arch.width
    below = [g for g in stacks(cfg.jobs) if chain_key(g[0]) == key and g[0].arch.width < width]
    return max(below, key=lambda g: g[0].arch.width) if below else None


def smaller(cfg: Config, group: list[Job], folder: Path) -> Smaller | None:
    """The next smaller stack's saved fits, one row per job of ``group``; None at a chain's first size
    or for an activation that cannot be widened."""
    prev = previous(cfg, group)
    if prev is None or not can_widen(group[0].arch):
        return None
    path = folder / file_for(prev)
    if not path.is_file():
        raise UserError(
            f"{path} is missing: a continuation run starts each size from the smaller size's saved fits; "
            "restore it, or run again into an empty --out"
        )
    return Smaller(prev[0].arch, torch.stack(_rows(path, prev[0].arch.size, [_model(job) for job in group])))


def from_fits(cfg: Config, group: list[Job], fits: dict[str, torch.Tensor] | None) -> Smaller | None:
    """The next smaller stack's ``fits`` (from ``fits``) as the start of ``group``'s widened candidate."""
    prev = previous(cfg, group)
    if prev is None or fits is None or not can_widen(group[0].arch):
        return None
    return Smaller(prev[0].arch, torch.stack([fits[_model(job)] for job in group]))


def fits(group: list[Job], result: Result) -> dict[str, torch.Tensor] | None:
    """Each model's fit, as reported (the last stage's rows), keyed by target and seed; None for an
    activation that cannot be widened."""
    if not can_widen(group[0].arch):
        return None
    return {_model(job): result.thetas[-1][m].double().cpu().clone() for m, job in enumerate(group)}


def save(folder: Path, group: list[Job], fits: dict[str, torch.Tensor] | None) -> None:
    """A stack's ``fits`` in its file of ``folder``, atomically (nothing for None)."""
    if fits is not None:
        atomic_write(folder / file_for(group), lambda tmp: torch.save({"rows": fits}, tmp))


def _rows(path: Path, size: int, models: list[str]) -> list[torch.Tensor]:
    """The saved rows of ``models``, each ``size`` finite float64 numbers, or one line saying what is wrong."""
    try:
        rows = torch.load(path, weights_only=True)["rows"]
        found = [rows[m] for m in models]
    except Exception as err:  # any unreadable file: torch raises many kinds
        raise UserError(f"{path} is not a saved fit of this run ({type(err).__name__}: {err})"[:300]) from None
    for m, row in zip(models, found, strict=True):
        if not isinstance(row, torch.Tensor) or row.shape != (size,) or row.dtype != torch.float64:
            raise UserError(f"{path}: the fit of {m} is not {size} float64 parameters")
        if not row.isfinite().all():
            raise UserError(f"{path}: the fit of {m} holds non-finite parameters")
    return found


def _model(job: Job) -> str:
    return f"{job.target.name}|{job.seed}"
