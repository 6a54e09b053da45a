"""approx: the PyTorch half of the lab (activations, models, fitting, rates). It knows nothing of SymPy.

``approx.fit(target, activation=..., params=...)`` fits one network in one call (approx/fitting/one_call.py);
``approx.fit_stages(target, stages=k, ...)`` fits k networks, each on the residual of the others
(approx/fitting/stages.py). Subpackages: ``fitting`` (the engine), ``kernels`` (CPU kernels), ``lm`` (the
LM study); ``activations`` and ``layered`` (the export target) sit at the top.
"""

from approx.fitting.one_call import FitResult, fit, fit_seeds
from approx.fitting.stages import StagedModule, fit_stages

__all__ = ["FitResult", "StagedModule", "fit", "fit_seeds", "fit_stages"]
