"""approx: the PyTorch half of the lab (activations, models, fitting, rates). It knows nothing of SymPy.

``approx.fit(target, activation=..., params=...)`` fits one network in one call (approx/one_call.py).
"""

from approx.one_call import FitResult, fit, fit_seeds

__all__ = ["FitResult", "fit", "fit_seeds"]
