"""A fitted network a user can keep: predict, plot, save and load, and records for pandas.

The target is normalised to sup |f| ≈ 1 (approx/fitting/targets.py), so every error of a
:class:`FitResult` is relative to sup |f|, and ``module`` computes f/scale; :meth:`FitResult.predict`
returns values in f's own units. A saved fit is a ``torch.save`` file of plain tensors and one JSON
string (architecture, target and measurements), read back with ``torch.load(weights_only=True)``:
no pickled class of the lab's, so a file cannot run code when loaded.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from approx.fitting import targets
from approx.fitting.models import Architecture
from approx.fitting.stack import Result, StagedModule

FORMAT = "polycom-lab.fit/1"
#: the measured numbers of a fit, in the order records and tables list them
MEASURED = ("sup_error", "rms_error", "floor_sup_error", "floor_rms_error", "train_rmse")


@dataclass(frozen=True)
class FitResult:
    """One trained network and its sup and RMS errors on the held-out grid (relative to sup |f|)."""

    arch: Architecture
    seed: int
    thetas: tuple[Tensor, ...]  # per stage, the (P,) parameter row (float64, CPU)
    scales: tuple[float, ...]  # per stage, s_k of x ↦ Σ_k s_k g_k(x)
    sup_error: float
    rms_error: float
    floor_sup_error: float  # the same network with its readout solved exactly
    floor_rms_error: float
    train_rmse: float
    steps: int
    stop: str
    seconds: float  # wall time of the stack, divided by its models
    status: str = "ok"
    start: str = ""  # the start it was trained from (approx/fitting/portfolio.py), stage by stage
    selection: dict[str, float] = field(default_factory=dict)  # every start's validation sup error (last stage)
    history: tuple[float, ...] = ()  # the training loss after every optimiser step
    target_name: str = ""
    target_spec: dict[str, Any] | None = None  # how to rebuild the target (targets.from_spec); None: a callable
    target_scale: float = 1.0  # module(x) ≈ f(x) / target_scale
    target: targets.Target | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_stack(cls, result: Result, m: int) -> FitResult:
        """Model m of a stack (approx/fitting/stack.py)."""
        request, errors, floor = result.request, result.errors[m], result.floor_errors[m]
        target = request.targets[m]
        return cls(
            result.arch,
            request.seeds[m],
            tuple(theta[m].detach().double().cpu() for theta in result.thetas),
            tuple(float(s[m]) for s in result.scales),
            errors["max_abs"],
            errors["rmse"],
            floor["max_abs"],
            floor["rmse"],
            errors["train_rmse"],
            sum(f.steps[m] for f in result.fits),
            result.fits[-1].stop[m],
            sum(f.seconds / len(f.status) for f in result.fits),
            result.status(m),
            "+".join(stage[m] for stage in result.starts),
            result.validation[-1][m] if result.validation else {},
            tuple(result.history(m)),
            target.name,
            target.spec,
            target.scale,
            target,
        )

    def weights(self) -> dict[str, Any]:
        """The network as plain numbers, for an exact export (docs/theory.md §8): per stage its scale and,
        per layer, W (fan_in × fan_out), b and each unit's activation as two polynomials (for z ≥ 0 and
        z < 0; None if σ is not piecewise polynomial, and then ``function`` names σ). x enters as 2x − 1;
        the output is f/target_scale."""
        act, width = self.arch.activation, self.arch.width
        stages = []
        for theta, scale in zip(self.thetas, self.scales, strict=True):
            p = {k: v[0].tolist() for k, v in self.arch.unpack(theta.reshape(1, -1)).items()}
            layers = []
            for k in range(self.arch.depth + 1):
                a = p.get(f"a{k}")
                units = a if a is not None and isinstance(a[0], list) else [a] * width
                pieces = (
                    [act.family.pieces(act, u) for u in units] if act.family.pieces and k < self.arch.depth else None
                )
                function = act.name if k < self.arch.depth and pieces is None else None
                layer: dict[str, Any] = {"W": p[f"W{k}"], "b": p[f"b{k}"], "pieces": pieces, "function": function}
                if function is not None:  # a named σ: its coefficients (PolyNorm's a_0..a_r, or None) and ε
                    layer |= {"coefficients": a, "eps": act.eps}
                layers.append(layer)
            stages.append({"scale": scale, "layers": layers})
        return {"activation": act.label, "stages": stages}

    @property
    def params(self) -> int:
        """Parameters over all stages (docs/theory.md §2)."""
        return self.arch.size * len(self.thetas)

    @property
    def stages(self) -> int:
        return len(self.thetas)

    @functools.cached_property
    def module(self) -> nn.Module:
        """The network as a plain float64 torch module computing f/scale (a StagedModule for several stages)."""
        modules = [self.arch.to_module(theta) for theta in self.thetas]
        return modules[0] if len(modules) == 1 else StagedModule(modules, self.scales)

    def predict(self, x: Tensor, device: str | torch.device | None = None) -> Tensor:
        """f̂(x) in f's units for x of shape (N, d) or (d,), any float dtype; the output has x's dtype.

        The network runs in float64 on ``device`` (default: x's device).
        """
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise ValueError("predict takes a floating-point tensor of shape (N, d)")
        if x.shape[-1] != self.arch.d_in or x.dim() > 2:
            raise ValueError(f"predict takes points of shape (N, {self.arch.d_in}), got {tuple(x.shape)}")
        device = torch.device(device) if device is not None else x.device
        module = self.module.to(device)
        with torch.no_grad():
            out = module(x.to(device, torch.float64).reshape(-1, self.arch.d_in)) * self.target_scale
        return out.reshape(x.shape[:-1]).to(x.dtype)

    def to_records(self) -> list[dict[str, Any]]:
        """One row (a list, for ``pandas.DataFrame``): the architecture, the start and every measured number."""
        row = {
            "target": self.target_name,
            "d": self.arch.d_in,
            "activation": self.arch.activation.label,
            "depth": self.arch.depth,
            "width": self.arch.width,
            "params": self.params,
            "stages": self.stages,
            "seed": self.seed,
            "start": self.start,
            "selection": " ".join(f"{k}:{v:.2e}" for k, v in self.selection.items()),
            **{k: getattr(self, k) for k in MEASURED},
            "steps": self.steps,
            "stop": self.stop,
            "status": self.status,
            "seconds": self.seconds,
        }
        return [row]

    def plot(self, ax=None, points: int | None = None):
        """Target, fit and pointwise error (docs/rates.md): 1-D curves, 2-D heat maps, the diagonal above.

        With ``ax`` (one matplotlib Axes), 1-D draws the curves there and the error on a twin axis, and
        2-D draws the error map; without, a new figure holds every panel. Returns the figure.
        """
        import matplotlib.pyplot as plt

        target = self.resolved_target()
        d = self.arch.d_in
        if d == 2:
            side = int(round((points or 10_000) ** 0.5))
            axis = (torch.arange(side, dtype=torch.float64) + 0.5) / side
            x = torch.cartesian_prod(axis, axis)
        else:
            t = (torch.arange(points or 2000, dtype=torch.float64) + 0.5) / (points or 2000)
            x = t[:, None].expand(-1, d)
        y = target(x) * self.target_scale
        fhat = self.predict(x)
        err = (fhat - y).abs() / self.target_scale
        if d == 2:
            return _heat_maps(plt, ax, side, y, fhat, err, self)
        return _curves(plt, ax, x[:, 0], y, fhat, err, self)

    def save(self, path: str | os.PathLike) -> None:
        """Write the fit: its parameter rows and one JSON record (no pickled classes)."""
        meta = {
            "format": FORMAT,
            "architecture": self.arch.spec(),
            "target": {"name": self.target_name, "spec": self.target_spec, "scale": self.target_scale},
            "scales": list(self.scales),
            "measured": {k: getattr(self, k) for k in (*MEASURED, "steps", "stop", "seconds", "status", "start")},
            "selection": self.selection,
            "seed": self.seed,
        }
        torch.save(
            {
                "meta": json.dumps(meta),
                "thetas": list(self.thetas),
                "history": torch.tensor(self.history, dtype=torch.float64),
            },
            path,
        )

    def resolved_target(self) -> targets.Target:
        """The fitted target, rebuilt from its spec after ``load``; a Python callable cannot be."""
        if self.target is not None:
            return self.target
        if self.target_spec is None:
            raise ValueError("this fit's target was a Python callable: pass it to approx.fit again")
        return targets.from_spec(self.target_spec)


def load(path: str | os.PathLike) -> FitResult:
    """A fit written by :meth:`FitResult.save` (``torch.load`` with ``weights_only=True``)."""
    try:
        data = torch.load(path, weights_only=True)
        meta = json.loads(data["meta"])
    except (KeyError, TypeError, ValueError, RuntimeError, pickle.UnpicklingError, EOFError) as err:
        raise ValueError(f"{path}: not a saved polycom-lab fit ({type(err).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a saved polycom-lab fit (format {meta.get('format')!r}, expected {FORMAT})")
    arch = Architecture.from_spec(meta["architecture"])
    thetas = tuple(t.to(torch.float64) for t in data["thetas"])
    if any(t.shape != (arch.size,) for t in thetas) or len(thetas) != len(meta["scales"]):
        raise ValueError(f"{path}: its parameters do not match its architecture ({arch.size} per stage)")
    measured, tgt = meta["measured"], meta["target"]
    return FitResult(
        arch=arch,
        seed=int(meta["seed"]),
        thetas=thetas,
        scales=tuple(float(s) for s in meta["scales"]),
        sup_error=float(measured["sup_error"]),
        rms_error=float(measured["rms_error"]),
        floor_sup_error=float(measured["floor_sup_error"]),
        floor_rms_error=float(measured["floor_rms_error"]),
        train_rmse=float(measured["train_rmse"]),
        steps=int(measured["steps"]),
        stop=str(measured["stop"]),
        seconds=float(measured["seconds"]),
        status=str(measured["status"]),
        start=str(measured["start"]),
        selection={str(k): float(v) for k, v in meta.get("selection", {}).items()},
        history=tuple(data["history"].tolist()),
        target_name=str(tgt["name"]),
        target_spec=tgt["spec"],
        target_scale=float(tgt["scale"]),
    )


def _label(result: FitResult) -> str:
    return f"{result.arch.activation.label}, depth {result.arch.depth}, {result.params} parameters"


def _curves(plt, ax, t: Tensor, y: Tensor, fhat: Tensor, err: Tensor, result: FitResult):
    if ax is None:
        fig, (ax, ax_err) = plt.subplots(2, 1, figsize=(6.4, 5.2), sharex=True, height_ratios=(3, 2))
    else:
        fig, ax_err = ax.figure, ax.twinx()
    diagonal = result.arch.d_in > 1
    ax.plot(t, y, color="0.2", lw=2.2, label="target f")
    ax.plot(t, fhat, color="C1", lw=1.2, ls="--", label="fit f̂")
    ax.set_ylabel("f on the diagonal x = t·1" if diagonal else "f(x)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"{result.target_name}: {_label(result)}", fontsize=9)
    ax_err.semilogy(t, err.clamp_min(1e-17), color="C3", lw=0.8)
    ax_err.set_ylabel("|f − f̂| / sup|f|")
    ax_err.set_xlabel("t" if diagonal else "x")
    fig.tight_layout()
    return fig


def _heat_maps(plt, ax, side: int, y: Tensor, fhat: Tensor, err: Tensor, result: FitResult):
    from matplotlib.colors import LogNorm

    extent = (0.0, 1.0, 0.0, 1.0)
    grid = lambda v: v.reshape(side, side).T.numpy()  # noqa: E731  (rows: x1, columns: x0)
    log_err = LogNorm(vmin=max(float(err.max()) * 1e-6, 1e-17), vmax=max(float(err.max()), 1e-16))
    if ax is not None:
        image = ax.imshow(grid(err.clamp_min(1e-17)), origin="lower", extent=extent, norm=log_err, cmap="magma")
        ax.figure.colorbar(image, ax=ax, label="|f − f̂| / sup|f|")
        ax.set(xlabel="x0", ylabel="x1", title=f"error: {_label(result)}")
        return ax.figure
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for a, values, title in ((axes[0], y, "target f"), (axes[1], fhat, "fit f̂")):
        image = a.imshow(grid(values), origin="lower", extent=extent, cmap="viridis")
        fig.colorbar(image, ax=a)
        a.set(xlabel="x0", ylabel="x1", title=title)
    image = axes[2].imshow(grid(err.clamp_min(1e-17)), origin="lower", extent=extent, norm=log_err, cmap="magma")
    fig.colorbar(image, ax=axes[2], label="|f − f̂| / sup|f|")
    axes[2].set(xlabel="x0", ylabel="x1", title="pointwise error")
    fig.suptitle(f"{result.target_name}: {_label(result)}", fontsize=10)
    fig.tight_layout()
    return fig
