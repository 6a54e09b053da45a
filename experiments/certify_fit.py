"""A fit's certified sup error (docs/theory.md §8): the bridge from ``approx``'s trained network, as plain
numbers, to ``theory.trained``'s exact enclosure. Refusals are one line, before any training."""

from __future__ import annotations

from fractions import Fraction

from approx.fitting import targets
from experiments.user_errors import UserError
from theory.network_intervals import FUNCTIONS
from theory.trained import Description, Layer, TrainedSup, certified_sup, normalised_target
from theory.trained_boxes import certified_sup_boxes

#: the columns a certified fit adds to a results table (blank where ``covers`` says no)
COLUMNS = ("certified_lower", "certified_upper")


def covers(target: targets.Target, activation) -> str:
    """Why a fit of ``target`` with ``activation`` (the table's) cannot be certified, or "" if it can."""
    if target.expression is None:
        return f"--certify needs a target with an exact expression, got {target.name}"
    if activation.family.pieces is None and activation.name not in FUNCTIONS:
        return (
            "--certify covers piecewise-polynomial activations (relu, relu2, relu^k, polyrelu, polynomial) "
            f"and {', '.join(FUNCTIONS)} at any depth; not {activation.label}"
        )
    return ""


def _expression(target: targets.Target, activation) -> str:
    """The target's exact expression, or the one line saying why this fit cannot be certified."""
    if (why := covers(target, activation)) or target.expression is None:
        raise UserError(why)
    return target.expression


def check(target: targets.Target, activation) -> None:
    """Refuse, before training, what ``--certify`` cannot enclose exactly."""
    text = _expression(target, activation)
    try:
        normalised_target(text, Fraction(1), target.d)
    except ValueError as err:
        raise UserError(f"--certify: {err}") from None


def certify(fit, seconds: float = 60.0) -> TrainedSup:
    """[lower, upper] of sup_{[0,1]^d} |f/scale − net|, in the units of ``fit.sup_error``: piecewise-
    polynomial networks in 1-D by exact pieces to upper ≤ 1.01·lower; otherwise branch and bound to
    upper ≤ 1.01·lower (1-D) or 1.1·lower (d ≥ 2), or until ``seconds``."""
    target = _target(fit)
    text = _expression(target, fit.arch.activation)
    weights = fit.weights()
    stages = tuple(
        (Fraction(stage["scale"]), tuple(_layer(layer) for layer in stage["layers"])) for stage in weights["stages"]
    )
    try:
        f = normalised_target(text, Fraction(fit.target_scale), target.d)
        net = Description(weights["activation"], stages)
        if target.d == 1 and fit.arch.activation.family.pieces is not None:
            return certified_sup(f, net)
        return certified_sup_boxes(f, net, Fraction(1, 100 if target.d == 1 else 10), seconds)
    except ValueError as err:
        raise UserError(f"--certify: {err}") from None


def _layer(layer: dict) -> Layer:
    extra = {k: layer[k] for k in ("coefficients", "eps") if k in layer}
    return Layer(layer["W"], layer["b"], layer["pieces"], layer["function"], **extra)


def _target(fit) -> targets.Target:
    try:
        return fit.resolved_target()
    except ValueError as err:
        raise UserError(f"--certify: {err}") from None


def columns(fit) -> dict[str, object]:
    """A rates row's certified columns: the interval where ``covers`` allows, blank elsewhere."""
    if covers(_target(fit), fit.arch.activation) or fit.status != "ok":
        return dict.fromkeys(COLUMNS, "")
    sup = certify(fit)
    return {"certified_lower": float(sup.lower), "certified_upper": float(sup.upper)}
