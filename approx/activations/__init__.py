"""The activation library: PolyCom (docs/theory.md §1) and the baselines it is measured against.

- ``functional``: the formulas (Horner, RMS normalisation, PolyReLU, type II, PolyNorm);
- ``modules``: the ``nn.Module`` activations;
- ``table``: every family declared once, with its stacked form, label, starts and theory counterpart;
  ``get(name, **options)`` builds a module and ``names()`` lists the families.
"""

from approx.activations.functional import (
    MAX_ORDER,
    check_order,
    horner,
    paper_start,
    polycom_type2,
    polynorm,
    polyrelu,
    relu_power,
    rms_norm,
)
from approx.activations.modules import (
    COEFFICIENT_MODES,
    KINDS,
    RHOS,
    PolyCom,
    Polynomial,
    PolyNorm,
    PolyReLU,
    ReLUPower,
    is_pointwise,
)
from approx.activations.table import FAMILIES, IMPLS, LEARNABLE, Activation, Family, get, names

__all__ = [
    "COEFFICIENT_MODES",
    "FAMILIES",
    "IMPLS",
    "KINDS",
    "LEARNABLE",
    "MAX_ORDER",
    "RHOS",
    "Activation",
    "Family",
    "PolyCom",
    "PolyNorm",
    "PolyReLU",
    "Polynomial",
    "ReLUPower",
    "check_order",
    "get",
    "horner",
    "is_pointwise",
    "names",
    "paper_start",
    "polycom_type2",
    "polynorm",
    "polyrelu",
    "relu_power",
    "rms_norm",
]
