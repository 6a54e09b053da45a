"""approx.fitting.models: a stacked network is M independent library networks; counts and the width solver."""

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.fitting.models import Activation, Architecture, width_for_params

ACTIVATIONS = [
    Activation("relu"),
    Activation("relu2"),
    Activation("gelu"),
    Activation("silu"),
    Activation("tanh"),
    Activation("relu_power", k=3),
    Activation("polynomial"),
    Activation("polyrelu"),
    Activation("polyrelu", coefficients="per_neuron", order=2),
    Activation("polynorm"),
    Activation("polycom", rho="silu", kind="II"),
    Activation("polycom", rho="tanh", coefficients="per_neuron"),
]


def _perturbed(theta):
    g = torch.Generator().manual_seed(7)
    return theta + 0.3 * torch.randn(theta.shape, generator=g, dtype=theta.dtype)  # coefficients away from init


@settings(max_examples=25, deadline=None)
@given(
    act=st.sampled_from(ACTIVATIONS),
    d=st.integers(1, 3),
    width=st.integers(1, 9),
    depth=st.integers(1, 3),
    models=st.integers(1, 4),
    shared_x=st.booleans(),
)
def test_stack_equals_library_modules(act, d, width, depth, models, shared_x):
    arch = Architecture(d, width, depth, act)
    theta = _perturbed(arch.init(list(range(models))))
    x = torch.rand(models, 11, d, dtype=torch.float64)
    out = arch.forward(theta, x[0] if shared_x else x)
    for m in range(models):
        ref = arch.to_module(theta[m])(x[0] if shared_x else x[m])
        torch.testing.assert_close(out[m], ref, rtol=1e-12, atol=1e-12)


def test_the_equality_check_catches_a_changed_coefficient():
    arch = Architecture(2, 5, 2, Activation("polyrelu", coefficients="per_neuron"))
    theta = _perturbed(arch.init([0, 1]))
    x = torch.rand(9, 2, dtype=torch.float64)
    module = arch.to_module(theta[1])
    broken = theta.clone()
    broken[1, -1] += 1e-9  # the output bias, by a hair
    assert torch.allclose(arch.forward(theta, x)[1], module(x), rtol=1e-12, atol=1e-13)
    assert not torch.allclose(arch.forward(broken, x)[1], module(x), rtol=1e-12, atol=1e-13)


def test_models_do_not_see_each_other():
    arch = Architecture(1, 6, 2, Activation("polynorm"))
    theta = arch.init([0, 1, 2])
    x = torch.rand(7, 1, dtype=torch.float64)
    poisoned = theta.clone()
    poisoned[1] = float("nan")
    out = arch.forward(poisoned, x)
    assert out[1].isnan().all() and torch.equal(out[[0, 2]], arch.forward(theta, x)[[0, 2]])


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: a.label)
def test_counts_match_torch_numel(act):
    arch = Architecture(3, 7, 2, act)
    module = arch.to_module(arch.init([0])[0])
    c = arch.count()
    assert c.total == sum(p.numel() for p in module.parameters())
    assert c.weights == 3 * 7 + 7 * 7 + 7 and c.biases == 7 + 7 + 1 and c.neurons == 14
    assert c.coefficients == sum(p.numel() for n, p in module.named_parameters() if "coefficients" in n)


def test_init_depends_on_the_seed_only():
    arch = Architecture(2, 4, 2, Activation("relu"))
    assert torch.equal(arch.init([5, 6])[1], arch.init([6])[0])
    assert not torch.equal(arch.init([5])[0], arch.init([6])[0])


@settings(max_examples=40, deadline=None)
@given(
    target=st.integers(10, 200_000), d=st.integers(1, 4), depth=st.integers(1, 4), act=st.sampled_from(ACTIVATIONS[:8])
)
def test_width_solver_is_closest(target, d, depth, act):
    w = width_for_params(target, d, depth, act)
    size = lambda k: Architecture(d, k, depth, act).size  # noqa: E731
    assert all(abs(size(w) - target) <= abs(size(k) - target) for k in (w - 1, w + 1) if k >= 1)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("swish", "unknown activation"),
        ({"name": "polyrelu", "order": 99}, "order"),
        ({"name": "polynorm", "coefficients": "per_neuron"}, "shared coefficients only"),
        ({"name": "polycom", "rho": "prelu"}, "parameters"),
        ({"name": "relu", "colour": 1}, "unknown activation option"),
        (3, "name or a table"),
    ],
)
def test_bad_activation_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        Architecture(1, 4, 1, Activation.parse(spec))  # a rho with parameters is refused by stacked models


def _values_and_gradients(act: Activation) -> tuple[torch.Tensor, torch.Tensor]:
    arch = Architecture(2, 6, 2, act)
    theta = _perturbed(arch.init([0, 1, 2])).requires_grad_(True)
    x = torch.rand(3, 17, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    out = arch.forward(theta, x)
    (grad,) = torch.autograd.grad(out.square().sum(), theta)
    return out, grad


@pytest.mark.parametrize("name", ["polynomial", "polyrelu", "polynorm"])
@pytest.mark.parametrize("impl", ["auto", "eager"])
def test_every_impl_gives_the_reference_values_and_gradients(name, impl):
    """An activation's ``impl`` is a speed option only: the fused forms equal the library's autograd form."""
    coefficients = "per_neuron" if name != "polynorm" else "shared"
    ours = _values_and_gradients(Activation(name, coefficients=coefficients, impl=impl))
    ref = _values_and_gradients(Activation(name, coefficients=coefficients, impl="reference"))
    torch.testing.assert_close(ours, ref, rtol=1e-11, atol=1e-12)


@pytest.mark.slow
def test_compiled_activations_give_the_same_values_and_gradients():
    """``compile = true`` is a speed option only (torch.compile of the same functional forms)."""
    for act in (Activation("polyrelu", coefficients="per_neuron"), Activation("polynorm")):
        eager = _values_and_gradients(act)
        compiled = _values_and_gradients(dataclasses.replace(act, impl="compile"))
        torch.testing.assert_close(compiled[0], eager[0], rtol=1e-11, atol=1e-12)
        torch.testing.assert_close(compiled[1], eager[1], rtol=1e-10, atol=1e-11)


@settings(max_examples=20, deadline=None)
@given(relu=st.booleans(), order=st.integers(1, 5), per_neuron=st.booleans(), seed=st.integers(0, 1000))
def test_fused_horner_matches_the_library_form(relu, order, per_neuron, seed):
    """approx.kernels.fused_horner: same values and gradients as approx.activations.horner/polyrelu (autograd)."""
    from approx import activations as A
    from approx.kernels import fused_horner

    g = torch.Generator().manual_seed(seed)
    h = torch.randn(3, 9, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    a = torch.randn(3, 1, 5 if per_neuron else 1, order + 1, generator=g, dtype=torch.float64).requires_grad_(True)
    fused, ref = (fused_horner.polyrelu, A.polyrelu) if relu else (fused_horner.horner, A.horner)
    y, y_ref = fused(h, a), ref(h, a)
    up = torch.randn(y.shape, generator=g, dtype=torch.float64)
    for got, want in zip(torch.autograd.grad(y, (h, a), up), torch.autograd.grad(y_ref, (h, a), up), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, y_ref, rtol=1e-14, atol=1e-15)  # addcmul may fuse a multiply-add


def test_fused_horner_gradcheck():
    from approx.kernels import fused_horner

    h = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    a = torch.randn(2, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fused_horner.polyrelu, (h, a)) and torch.autograd.gradcheck(
        fused_horner.horner, (h, a)
    )


@pytest.mark.parametrize("d", [1, 2])
def test_a_one_hidden_layer_polynorm_network_spans_a_family_of_bounded_dimension(d):
    """c + Σ_i a_i P_i(x)/√(Q_i(x) + ε) (docs/theory.md §7): the Jacobian of the outputs on 1,200 points
    in the parameters has rank at most ``shallow_dimension(d)`` at every width, though the parameters
    outnumber it up to 15×, and at two hidden layers it does not grow with the width; a pointwise
    activation of the same widths (PolyReLU, the mutant) exceeds both."""
    x = torch.rand(1200, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def rank(act: str, width: int, depth: int = 1) -> tuple[int, int]:
        arch = Architecture(d, width, depth, Activation(act))
        theta = arch.init([0], torch.float64)[0]
        jac = torch.autograd.functional.jacobian(lambda t: arch.forward(t[None], x)[0], theta)
        s = torch.linalg.svdvals(jac)
        return int((s > 1e-12 * s[0]).sum()), arch.size

    bound = Activation("polynorm").shallow_dimension(d)
    assert bound == {1: 25, 2: 69}[d] and Activation("gelu").shallow_dimension(d) is None
    for width in (32, 128):
        r, size = rank("polynorm", width)
        assert r <= bound < size, (width, r, size)
    assert rank("polyrelu", 128)[0] > 2 * bound
    if d == 1:  # two hidden layers: still no growth with the width (a larger bound, not computed here)
        (narrow, _), (wide, size) = rank("polynorm", 16, 2), rank("polynorm", 48, 2)
        assert wide <= max(narrow, 40) < size / 50, (narrow, wide, size)
        assert rank("polyrelu", 48, 2)[0] > 4 * wide
