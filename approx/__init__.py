"""approx: the PyTorch half of the lab (activations, models, fitting, rates). It knows nothing of SymPy.

``approx.fit(target, activation=..., params=...)`` fits one network in one call (approx/fitting/one_call.py)
and returns a :class:`FitResult` that predicts, plots, saves and loads (``approx.load``);
``approx.fit_stages(target, stages=k, ...)`` fits k networks, each on the residual of the others.
Subpackages: ``fitting`` (the engine), ``kernels`` (CPU kernels), ``transformer`` (the LM study);
``activations`` and ``layered`` (the export target) sit at the top.
"""

from approx.fitting.one_call import FitResult, fit, fit_seeds, fit_stages
from approx.fitting.result import load
from approx.fitting.stack import StagedModule

__all__ = ["FitResult", "StagedModule", "fit", "fit_seeds", "fit_stages", "load"]
