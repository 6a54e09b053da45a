"""A fit's certified sup error (docs/theory.md §8): the bridge from ``approx``'s trained network, as plain
numbers, to ``theory.trained``'s exact enclosure. Refusals are one line, before any training."""

from __future__ import annotations

from fractions import Fraction

from experiments.user_errors import UserError
from theory.trained import Description, Layer, TrainedSup, certified_sup, normalised_target


def check(target, activation, depth: int) -> None:
    """Refuse, before training, what ``--certify`` cannot enclose exactly (``activation``: the table's)."""
    spec = target.spec or {}
    if target.d != 1 or "expr" not in spec:
        raise UserError(f"--certify needs a 1-D expression target, got {target.name} (d = {target.d})")
    family = activation.family
    if not (family.piecewise_linear or (depth == 1 and family.pieces is not None)):
        raise UserError(
            "--certify covers ReLU networks of any depth and one hidden layer of a piecewise-polynomial "
            f"activation; not {activation.label} at depth {depth}"
        )
    try:
        normalised_target(spec["expr"], Fraction(1))
    except ValueError as err:
        raise UserError(f"--certify: {err}") from None


def certify(fit, rtol: Fraction = Fraction(1, 100)) -> TrainedSup:
    """[lower, upper] of sup_{[0,1]} |f/scale − net|, in the units of ``fit.sup_error``."""
    weights = fit.weights()
    stages = tuple(
        (Fraction(stage["scale"]), tuple(Layer(l["W"], l["b"], l["pieces"]) for l in stage["layers"]))
        for stage in weights["stages"]
    )
    try:
        target = normalised_target(fit.target_spec["expr"], Fraction(fit.target_scale))
        net = Description(weights["activation"], weights["piecewise_linear"], stages)
        return certified_sup(target, net, rtol)
    except ValueError as err:
        raise UserError(f"--certify: {err}") from None
