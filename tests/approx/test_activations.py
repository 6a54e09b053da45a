"""approx.activations against docs/theory.md §1 and the authors' released formulas."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck

from approx import activations as A
from approx.transformer.ffn import FFN, SwiGLU


def released_polyrelu(x, weight, bias):
    # The released PolyReLU, retyped: weight[0] pairs with the highest power.
    r = torch.relu(x)
    return weight[0] * r**3 + weight[1] * r**2 + weight[2] * r + bias


def released_polynorm(x, weight, bias, eps=1e-6):
    # docs/theory.md §1 [code], retyped.
    def norm(z):
        return z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + eps)

    return weight[0] * norm(x**3) + weight[1] * norm(x**2) + weight[2] * norm(x) + bias


def random_coefficients(n, gen):
    return torch.randn(n, dtype=torch.float64, generator=gen)


@pytest.mark.parametrize("seed", range(5))
def test_polyrelu_equals_released_formula(seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 33, dtype=torch.float64, generator=gen) * 3
    act = A.PolyReLU(3).double()
    a = random_coefficients(4, gen)
    with torch.no_grad():
        act.coefficients.copy_(a)
    expected = released_polyrelu(x, a[[3, 2, 1]], a[0])
    torch.testing.assert_close(act(x), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("seed", range(5))
def test_polynorm_equals_released_formula(seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 7, 64, dtype=torch.float64, generator=gen) * 2
    act = A.PolyNorm(3).double()
    a = random_coefficients(4, gen)
    with torch.no_grad():
        act.coefficients.copy_(a)
    expected = released_polynorm(x, a[[3, 2, 1]], a[0])
    torch.testing.assert_close(act(x), expected, rtol=1e-12, atol=1e-12)


def test_paper_init():
    for act in (A.PolyReLU(3), A.PolyNorm(3), A.PolyCom("tanh", 4, "II"), A.Polynomial(2)):
        a = act.coefficients.detach()
        r = act.order
        assert a[0] == 0 and torch.allclose(a[1:], torch.full((r,), 1 / r))


def test_polynorm_is_not_pointwise():
    x = torch.randn(1, 8, dtype=torch.float64)
    y = x.clone()
    y[0, 1] += 1.0  # change another neuron only
    act = A.PolyNorm().double()
    assert not torch.allclose(act(x)[0, 0], act(y)[0, 0])
    assert not A.is_pointwise(act) and A.is_pointwise(A.PolyReLU())


def test_type1_and_type2_definitions():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    a = torch.tensor([0.5, -1.0, 2.0, 0.25], dtype=torch.float64)
    one = A.PolyCom("sigmoid", 3, "I").double()
    two = A.PolyCom("sigmoid", 3, "II").double()
    with torch.no_grad():
        one.coefficients.copy_(a)
        two.coefficients.copy_(a)
    s = torch.sigmoid
    torch.testing.assert_close(one(x), sum(a[i] * s(x) ** i for i in range(4)))
    torch.testing.assert_close(two(x), a[0] + sum(a[i] * s(x**i) for i in range(1, 4)))


@settings(max_examples=25, deadline=None)
@given(order=st.integers(1, 6), features=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_shared_and_per_neuron_agree_when_equal(order, features, seed):
    gen = torch.Generator().manual_seed(seed)
    a = random_coefficients(order + 1, gen)
    shared = A.PolyReLU(order).double()
    per = A.PolyReLU(order, "per_neuron", features).double()
    with torch.no_grad():
        shared.coefficients.copy_(a)
        per.coefficients.copy_(a.repeat(features, 1))
    x = torch.randn(5, features, dtype=torch.float64, generator=gen)
    torch.testing.assert_close(shared(x), per(x), rtol=1e-14, atol=1e-14)


def test_per_neuron_coefficients_act_per_feature():
    act = A.PolyReLU(1, "per_neuron", 2).double()
    with torch.no_grad():
        act.coefficients.copy_(torch.tensor([[0.0, 1.0], [0.0, 2.0]]))
    out = act(torch.ones(3, 2, dtype=torch.float64))
    assert out[:, 0].eq(1).all() and out[:, 1].eq(2).all()


def test_polynomial_and_relu_power():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    p = A.Polynomial(2).double()
    with torch.no_grad():
        p.coefficients.copy_(torch.tensor([1.0, -2.0, 3.0]))
    torch.testing.assert_close(p(x), 1 - 2 * x + 3 * x**2)
    torch.testing.assert_close(A.ReLUPower(3)(x), torch.relu(x) ** 3)
    assert A.ReLUPower(0)(x).eq(1).all()


# every activation, with inputs kept off ReLU's kink so finite differences are valid
GRAD_CASES = [
    ("polyrelu", {"order": 3}),
    ("polyrelu", {"order": 4, "coefficients": "per_neuron", "num_features": 6}),
    ("polynorm", {"order": 3}),
    ("polycom", {"rho": "silu", "order": 3, "kind": "I"}),
    ("polycom", {"rho": "tanh", "order": 2, "kind": "II"}),
    ("polycom", {"rho": "prelu", "order": 3, "kind": "II"}),
    ("polycom", {"rho": "identity", "order": 2, "kind": "I"}),
    ("polynomial", {"order": 4}),
    ("relu_power", {"k": 3}),
    ("relu", {}),
    ("gelu", {}),
    ("silu", {}),
    ("tanh", {}),
]


@pytest.mark.parametrize(("name", "kw"), GRAD_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(GRAD_CASES)])
def test_gradcheck_inputs_and_coefficients(name, kw):
    gen = torch.Generator().manual_seed(0)
    act = A.get(name, **kw).double()
    x = torch.randn(3, 6, dtype=torch.float64, generator=gen)
    x = (x + 0.2 * x.sign()).requires_grad_()
    names = [n for n, _ in act.named_parameters()]
    coeffs = [p.detach() + 0.1 * torch.randn(p.shape, dtype=torch.float64, generator=gen) for p in act.parameters()]

    def f(x, *ps):  # coefficients enter as gradcheck inputs, not as module state
        return torch.func.functional_call(act, dict(zip(names, ps, strict=True)), (x,))

    assert gradcheck(f, (x, *[c.requires_grad_() for c in coeffs]))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["polyrelu", "polynorm", "polynomial", "relu2"])
def test_dtypes(name, dtype):
    act = A.get(name).to(dtype)
    x = torch.randn(4, 16).to(dtype)
    y = act(x)
    assert y.dtype == dtype and y.shape == x.shape and torch.isfinite(y).all()
    ref = A.get(name).double()(x.double())
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 5e-2}[dtype]
    torch.testing.assert_close(y.double(), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("order", [0, -1, 2.5, "3", True, A.MAX_ORDER + 1, 10**9])
def test_bad_order_raises(order):
    for name in ("polyrelu", "polynorm", "polynomial"):
        with pytest.raises(ValueError, match=rf"order must be an integer in 1\.\.{A.MAX_ORDER}"):
            A.get(name, order=order)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown activation 'swishy'; valid: relu"):
        A.get("swishy")
    with pytest.raises(ValueError, match="unknown rho 'softplus'; valid: relu, prelu"):
        A.PolyCom("softplus")
    with pytest.raises(ValueError, match="unknown PolyCom kind 'III'"):
        A.PolyCom("relu", kind="III")
    with pytest.raises(ValueError, match="needs num_features"):
        A.PolyReLU(3, "per_neuron")
    with pytest.raises(ValueError, match="unknown coefficients mode"):
        A.PolyReLU(3, "per_layer")
    with pytest.raises(ValueError, match="bad arguments for activation 'relu'"):
        A.get("relu", order=3)


def test_registry_lists_every_name():
    assert {"relu", "relu2", "gelu", "silu", "tanh", "polynomial", "polyrelu", "polynorm", "polycom"} <= set(A.names())
    for name in A.names():
        assert isinstance(A.get(name), torch.nn.Module)


def test_callable_rho_and_ffn_blocks():
    act = A.PolyCom(torch.sin, 2, "I")
    assert act.rho_name == "sin"
    x = torch.randn(2, 5, 16)
    assert FFN(16, 24, A.PolyReLU()).forward(x).shape == x.shape
    swiglu = SwiGLU(16, 16)
    assert swiglu(x).shape == x.shape
    assert sum(p.numel() for p in swiglu.parameters()) == 3 * 16 * 16
