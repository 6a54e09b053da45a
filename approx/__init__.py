"""approx: the PyTorch half of the lab (activations, models, fitting, rates). It knows nothing of SymPy.

``approx.fit(target, activation=..., params=...)`` fits one network in one call (approx/one_call.py);
``approx.fit_stages(target, stages=k, ...)`` fits k networks, each on the residual of the others (approx/stages.py).
"""

from approx.one_call import FitResult, fit, fit_seeds
from approx.stages import StagedModule, fit_stages

__all__ = ["FitResult", "StagedModule", "fit", "fit_seeds", "fit_stages"]
