"""``polylab activations``: the activation table and the family figure (docs/theory.md §1)."""

from __future__ import annotations

import argparse

import torch

from approx import activations as A

HELP = "print the activation table; --plot FILE draws the family in one figure"

#: (label, registry name, kwargs) of the family shown by the table and the figure
FAMILY: tuple[tuple[str, str, dict], ...] = (
    ("ReLU", "relu", {}),
    ("ReLU²", "relu2", {}),
    ("GELU", "gelu", {}),
    ("SiLU", "silu", {}),
    ("polynomial (r=3)", "polynomial", {"order": 3}),
    ("PolyReLU (r=3)", "polyrelu", {"order": 3}),
    ("PolyNorm (r=3, slice)", "polynorm", {"order": 3}),
)
SLICE_WIDTH = 8
POINTS = (-1.0, -0.5, 0.0, 0.5, 1.0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plot", metavar="FILE", help="write the family figure (png, pdf or svg)")


def on_slice(act: torch.nn.Module, t: torch.Tensor, background: torch.Tensor | None = None) -> torch.Tensor:
    """σ along a 1-D slice: feature 0 of a width-8 layer sweeps t, the others hold ``background``.

    Pointwise activations give σ(t); PolyNorm's value also depends on the background.
    """
    if background is None:
        background = torch.randn(SLICE_WIDTH - 1, generator=torch.Generator().manual_seed(0), dtype=t.dtype)
    x = torch.cat([t[:, None], background.expand(len(t), -1)], dim=1)
    with torch.no_grad():
        return act(x)[:, 0]


def table() -> str:
    head = f"{'activation':24} {'pointwise':>9} {'coeffs':>6} " + " ".join(
        f"{'σ(' + f'{x:g}' + ')':>8}" for x in POINTS
    )
    rows = [head, "-" * len(head)]
    t = torch.tensor(POINTS, dtype=torch.float64)
    for label, name, kw in FAMILY:
        act = A.get(name, **kw).double()
        values = on_slice(act, t)
        coeffs = sum(p.numel() for p in act.parameters())
        rows.append(
            f"{label:24} {'yes' if A.is_pointwise(act) else 'no':>9} {coeffs:>6} "
            + " ".join(f"{v:8.4f}" for v in values.tolist())
        )
    rows.append("PolyNorm is shown on a 1-D slice: feature 0 varies, 7 other features are fixed (seed 0).")
    return "\n".join(rows)


def figure(path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.atomic_io import save_figure

    t = torch.linspace(-2, 2, 401, dtype=torch.float64)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, name, kw in FAMILY:
        act = A.get(name, **kw).double()
        if A.is_pointwise(act):
            left.plot(t, on_slice(act, t), label=label)
    left.set(title="Pointwise activations (paper's init)", xlabel="x", ylabel="σ(x)", ylim=(-1.5, 4))
    left.legend(fontsize=8)

    act = A.get("polynorm").double()
    gen = torch.Generator().manual_seed(1)
    for scale in (0.5, 1.0, 2.0):
        background = scale * torch.randn(SLICE_WIDTH - 1, generator=gen, dtype=torch.float64)
        right.plot(t, on_slice(act, t, background), label=f"other features ~ N(0, {scale:g}²)")
    right.set(
        title="PolyNorm on a slice: output 0 depends on the other neurons",
        xlabel="x (feature 0)",
        ylabel="PolyNorm(x)[0]",
    )
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.axhline(0, color="k", lw=0.5)
    save_figure(fig, path, dpi=130)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    print(table())
    if args.plot:
        figure(args.plot)
        print(f"figure: {args.plot}")
    return 0
