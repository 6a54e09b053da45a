"""approx: the PyTorch half of the lab (activations, models, fitting, rates). It knows nothing of SymPy.

``approx.fit(target, activation=..., params=...)`` fits one network in one call (approx/fitting/one_call.py)
and returns a :class:`FitResult` that predicts, plots, saves and loads (``approx.load``);
``approx.fit_stages(target, stages=k, ...)`` fits k networks, each on the residual of the others.
Subpackages: ``fitting`` (the engine), ``kernels`` (CPU kernels), ``transformer`` (the LM study);
``activations`` and ``layered`` (the export target) sit at the top.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from approx.fitting.one_call import FitResult, fit, fit_seeds, fit_stages
    from approx.fitting.result import load
    from approx.fitting.stack import StagedModule

# loaded on first use, so that ``approx.interrupts`` and ``approx.devices`` import without torch
_HOMES = {
    "FitResult": "approx.fitting.one_call",
    "fit": "approx.fitting.one_call",
    "fit_seeds": "approx.fitting.one_call",
    "fit_stages": "approx.fitting.one_call",
    "load": "approx.fitting.result",
    "StagedModule": "approx.fitting.stack",
}
__all__ = ["FitResult", "StagedModule", "fit", "fit_seeds", "fit_stages", "load"]


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'approx' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
