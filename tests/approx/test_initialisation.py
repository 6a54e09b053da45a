"""approx.fitting.initialisation: the "kinks" scheme puts every first-layer breakpoint in the domain."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.fitting.initialisation import initial_parameters
from approx.fitting.models import Activation, Architecture

KINKED = ["relu", "relu2", "polyrelu", {"name": "polyrelu", "coefficients": "per_neuron"}]


@settings(max_examples=25, deadline=None)
@given(
    act=st.sampled_from(KINKED),
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
    from experiments.rates import sweep

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
    cfg = sweep.from_dict(__import__("tomllib").loads(text), text)
    assert cfg.init == "kinks"
    with pytest.raises(ValueError, match="unknown init"):
        sweep.from_dict(__import__("tomllib").loads(text.replace('"kinks"', '"magic"')), text)
