"""approx.fitting.initialisation: the "kinks" scheme puts every first-layer breakpoint in the domain."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.fitting.initialisation import initial_parameters
from approx.fitting.models import Activation, Architecture

KINKED = ["relu", "relu2", "polyrelu", {"name": "polyrelu", "coefficients": "per_neuron"}]
SMOOTH = ["gelu", "tanh"]


@settings(max_examples=25, deadline=None)
@given(
    act=st.sampled_from(KINKED + SMOOTH),
    d=st.integers(1, 3),
    width=st.integers(1, 12),
    depth=st.integers(1, 3),
    seed=st.integers(0, 10**6),
)
def test_every_breakpoint_lies_in_the_domain(act, d, width, depth, seed):
    arch = Architecture(d, width, depth, Activation.parse(act))
    theta = initial_parameters(arch, [seed], "kinks")
    p = {k: v[0] for k, v in arch.unpack(theta).items()}
    # first layer: the hyperplane u_j·h + b_j = 0 (h = 2x − 1) meets [−1,1]^d: |b_j| ≤ ‖u_j‖₁
    assert (p["b0"].abs() <= p["W0"].abs().sum(0) + 1e-12).all()
    if d == 1:  # in 1-D the breakpoints are the evenly spaced midpoints of [−1, 1]
        kinks = torch.sort(-p["b0"] / p["W0"][0]).values
        assert torch.allclose(kinks, -1 + (2 * torch.arange(width, dtype=torch.float64) + 1) / width, atol=1e-12)
    # deeper layers: unit j's pre-activation vanishes at its own point of the domain
    points = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed + 1).draw(width, dtype=torch.float64)
    module, pre = arch.to_module(theta[0]), []
    linears = [m for m in module if isinstance(m, torch.nn.Linear)][:-1]
    for lin in linears:
        lin.register_forward_hook(lambda _m, _i, out: pre.append(out.detach()))
    module(points)
    for layer in range(1, depth):
        assert torch.allclose(pre[layer].diagonal(), torch.zeros(width, dtype=torch.float64), atol=1e-12)


def test_rows_depend_on_their_seed_alone_and_uniform_is_the_default():
    arch = Architecture(2, 6, 2, Activation("polyrelu"))
    assert torch.equal(initial_parameters(arch, [3, 4], "kinks")[1], initial_parameters(arch, [4], "kinks")[0])
    assert torch.equal(initial_parameters(arch, [3]), arch.init([3]))
    with pytest.raises(ValueError, match="unknown init"):
        initial_parameters(arch, [0], "magic")


def test_rates_config_takes_init(tmp_path):
    from experiments.rates import config as rates_config

    text = """
sizes = [20]
seeds = [0]
targets = ["runge"]
activations = ["relu2"]
init = "kinks"
[data]
train_points = 32
test_points = 64
[[phases]]
optimizer = "adam"
steps = 5
"""
    cfg = rates_config.from_dict(__import__("tomllib").loads(text), text)
    assert cfg.init == "kinks"
    with pytest.raises(ValueError, match="unknown init"):
        rates_config.from_dict(__import__("tomllib").loads(text.replace('"kinks"', '"magic"')), text)


def _readout_floor(theta, arch, target, x, x_test):
    from approx.fitting import metrics
    from approx.fitting.varpro import solve_readout

    y = target(x)[None]
    best = solve_readout(arch, theta, x[None], y)
    return metrics.errors(arch, best, x_test, target(x_test), x[None], y)[0]["max_abs"]


def test_the_kinks_start_makes_a_shallow_polyrelu_net_a_cubic_spline():
    """At a = e_r the best readout converges like a cubic spline (error /8 or better per doubling of the
    knots); the paper's start a_i = 1/r, with the same knots, keeps a first-order kink at each and ends
    far above it."""
    from approx.fitting import targets

    runge, x = targets.get("runge"), targets.sample(1, 1024, "sobol", 0)
    x_test = targets.dense_grid(1, 4096)
    spline, kinked = [], []
    for width in (32, 64):
        arch = Architecture(1, width, 1, Activation("polyrelu"))
        theta = initial_parameters(arch, [0], "kinks")
        a = arch.unpack(theta)["a0"][0]
        assert torch.equal(a, torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64))
        spline.append(_readout_floor(theta, arch, runge, x, x_test))
        arch.unpack(theta)["a0"][0].copy_(torch.tensor([0.0, 1 / 3, 1 / 3, 1 / 3]))  # the mutant: the paper's start
        kinked.append(_readout_floor(theta, arch, runge, x, x_test))
    assert spline[0] / spline[1] > 8 and spline[1] < 1e-3
    assert kinked[1] > 10 * spline[1]


@pytest.mark.parametrize("act", SMOOTH)
def test_the_kinks_start_gives_smooth_units_knees_whose_best_readout_falls_with_width(act):
    """Knees on the grid, as sharp as it is fine: the best readout of |x − c|^{3/2} falls ≥ 4× from
    width 16 to 128. The uniform start, and the mutant that keeps the unit directions unscaled (every
    unit a wide, smooth function), fall by less than 2×."""
    from approx.fitting import targets

    f, x = targets.abs_power(1, 1), targets.sample(1, 1024, "sobol", 0)
    x_test = targets.dense_grid(1, 4096)

    def floors(start) -> list[float]:
        out = []
        for width in (16, 128):
            arch = Architecture(1, width, 1, Activation(act))
            out.append(_readout_floor(start(arch), arch, f, x, x_test))
        return out

    def unscaled(arch):  # the mutant
        theta = initial_parameters(arch, [0], "kinks")
        p, slope = arch.unpack(theta), arch.width / (2 * 16)
        p["W0"].div_(slope)
        p["b0"].div_(slope)
        return theta

    knees = floors(lambda arch: initial_parameters(arch, [0], "kinks"))
    assert knees[0] / knees[1] > 4
    for other in (floors(lambda arch: initial_parameters(arch, [0], "uniform")), floors(unscaled)):
        assert other[0] / other[1] < 2 and other[1] > 2 * knees[1], (knees, other)
