"""The portfolio of starts and growth (approx/fitting/portfolio.py, growth.py): properties that must hold."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.fitting import growth, portfolio, targets
from approx.fitting.models import Activation, Architecture
from approx.fitting.schedule import Phase

DEEPENABLE = ["relu", "polyrelu", {"name": "polyrelu", "coefficients": "per_neuron"}, "polynomial", "gelu"]


def _perturbed(arch: Architecture, seeds, scale=0.3) -> torch.Tensor:
    theta = arch.init(list(seeds))
    g = torch.Generator().manual_seed(sum(seeds) + 11)
    return theta + scale * torch.randn(theta.shape, generator=g, dtype=theta.dtype)


@settings(max_examples=25, deadline=None)
@given(act=st.sampled_from(DEEPENABLE), d=st.integers(1, 3), width=st.integers(2, 9), depth=st.integers(1, 3))
def test_deepening_preserves_the_function_on_the_data(act, d, width, depth):
    arch = Architecture(d, width, depth, Activation.parse(act))
    theta = _perturbed(arch, [0, 1])
    x = torch.rand(200, d, dtype=torch.float64, generator=torch.Generator().manual_seed(d))
    deeper, grown = growth.deepen(arch, theta, x)
    assert deeper.depth == depth + 1
    before, after = arch.forward(theta, x), deeper.forward(grown, x)
    assert float((after - before).abs().max()) <= 1e-12 * max(1.0, float(before.abs().max()))


@settings(max_examples=25, deadline=None)
@given(act=st.sampled_from([*DEEPENABLE, "tanh", "relu2", "silu"]), d=st.integers(1, 3), extra=st.integers(0, 7))
def test_widening_preserves_the_function_everywhere(act, d, extra):
    arch = Architecture(d, 4, 2, Activation.parse(act))
    theta = _perturbed(arch, [3])
    wider, grown = growth.widen(arch, theta, 4 + extra, [9])
    x = torch.rand(300, d, dtype=torch.float64) * 3 - 1  # beyond the cube: the identity is exact everywhere
    torch.testing.assert_close(wider.forward(grown, x), arch.forward(theta, x), rtol=0, atol=1e-13)


def test_polynorm_cannot_be_deepened_and_an_unknown_normaliser_cannot_be_widened():
    arch = Architecture(1, 4, 1, Activation("polynorm"))
    with pytest.raises(ValueError, match="identity"):
        growth.deepen(arch, arch.init([0]), torch.rand(5, 1, dtype=torch.float64))
    # a type-II PolyCom with ρ = N is not the table's PolyNorm: widen has no rescaling for it
    other = Architecture(1, 4, 1, Activation.parse({"name": "polycom", "kind": "II", "rho": "norm"}))
    with pytest.raises(ValueError, match="cannot be widened"):
        growth.widen(other, other.init([0]), 8, [0])


def _shallow_polynorm_with_eps(arch: Architecture, theta: torch.Tensor, x: torch.Tensor, eps) -> torch.Tensor:
    """A one-hidden-layer PolyNorm network written out, each term i with its own ε (a list)."""
    p = arch.unpack(theta)
    h = torch.baddbmm(p["b0"][:, None], (2 * x - 1).expand(theta.shape[0], -1, -1), p["W0"])
    a = p["a0"][:, None]  # (M, 1, r+1)
    out = a[..., :1].expand_as(h).clone()
    for i in range(1, a.shape[-1]):
        out = out + a[..., i : i + 1] * h**i / torch.sqrt((h ** (2 * i)).mean(-1, keepdim=True) + eps[i - 1])
    return (torch.bmm(out, p["W1"]) + p["b1"][:, None])[..., 0]


@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 3), extra=st.integers(1, 40), depth=st.integers(1, 3))
def test_polynorm_widening_moves_only_eps(d, extra, depth):
    """With the new units silent (quiet = 0), widening PolyNorm changes nothing but ε: with ε = 0 the
    wider network is the smaller one at every depth; at one hidden layer with ε it is the smaller
    network with ε·ρ^{i−1} in term i (ρ = old/new width), written out independently."""
    x = torch.rand(300, d, dtype=torch.float64, generator=torch.Generator().manual_seed(extra)) * 3 - 1
    exact = Architecture(d, 4, depth, Activation.parse({"name": "polynorm", "eps": 0.0}))
    theta = _perturbed(exact, [3])
    wider, grown = growth.widen(exact, theta, 4 + extra, [9], quiet=0.0)
    torch.testing.assert_close(wider.forward(grown, x), exact.forward(theta, x), rtol=1e-12, atol=1e-12)
    arch = Architecture(d, 4, 1, Activation("polynorm"))
    theta = _perturbed(arch, [3])
    wider, grown = growth.widen(arch, theta, 4 + extra, [9], quiet=0.0)
    rho, eps = 4 / (4 + extra), arch.activation.eps
    torch.testing.assert_close(arch.forward(theta, x), _shallow_polynorm_with_eps(arch, theta, x, [eps] * 3))
    predicted = _shallow_polynorm_with_eps(arch, theta, x, [eps * rho ** (i - 1) for i in (1, 2, 3)])
    torch.testing.assert_close(wider.forward(grown, x), predicted, rtol=1e-12, atol=1e-12)


def test_polynorm_widening_with_quiet_units_stays_close():
    """The default quiet units move a trained-size network by ~ε/mean(h^{2i}) + quiet², far below a fit's error."""
    arch = Architecture(2, 6, 2, Activation("polynorm"))
    theta = _perturbed(arch, [3, 4])
    wider, grown = growth.widen(arch, theta, 15, [9, 10])
    x = torch.rand(400, 2, dtype=torch.float64)
    before = arch.forward(theta, x)
    assert float((wider.forward(grown, x) - before).abs().max()) < 1e-3 * float(before.abs().max())
    assert float(wider.unpack(grown)["W0"][..., 6:].abs().max()) <= growth.QUIET  # quiet, not silent


def test_mutant_polynorm_widening_without_either_rescaling_fails():
    """Without the coefficients' √ρ the widened network is another one (the normaliser's mean runs over
    more units); without the pre-activations' 1/√ρ it keeps ε/ρ in place of ε·ρ^{i−1}, which the
    independent formula above catches."""
    arch = Architecture(1, 4, 1, Activation("polynorm"))
    theta = _perturbed(arch, [3])
    wider, grown = growth.widen(arch, theta, 12, [9], quiet=0.0)
    x = torch.rand(300, 1, dtype=torch.float64)
    before, scale = arch.forward(theta, x), float(arch.forward(theta, x).abs().max())
    no_coefficients = grown.clone()
    wider.unpack(no_coefficients)["a0"][..., 1:] *= 3**0.5
    assert float((wider.forward(no_coefficients, x) - before).abs().max()) > 1e-2 * scale
    no_shift = grown.clone()
    for block in ("W0", "b0"):
        wider.unpack(no_shift)[block][..., :4] /= 3**0.5
    predicted = _shallow_polynorm_with_eps(arch, theta, x, [arch.activation.eps * 3 ** -(i - 1) for i in (1, 2, 3)])
    assert float((wider.forward(no_shift, x) - predicted).abs().max()) > 1e-10 * scale


@pytest.mark.parametrize("act", ["polyrelu", "gelu"])
def test_mutant_deepening_without_the_shift_breaks_the_network(act):
    """The shift c is what makes the inserted layer the identity: without it, negative values are bent."""
    arch = Architecture(1, 5, 1, Activation(act))
    theta = _perturbed(arch, [2], scale=1.0)
    if act == "polyrelu":
        arch.unpack(theta)["a0"][..., 0] = -0.5  # units that go negative, which the inserted ReLU would cut
    x = torch.linspace(0, 1, 50, dtype=torch.float64)[:, None]
    deeper, grown = growth.deepen(arch, theta, x)
    broken = grown.clone()
    deeper.unpack(broken)["b1"].zero_()
    deeper.unpack(broken)["b2"].copy_(arch.unpack(theta)["b1"])
    assert float((deeper.forward(broken, x) - arch.forward(theta, x)).abs().max()) > 1e-3


def _problem(act: str, depth: int, points: int = 160):
    arch = Architecture(1, 6, depth, Activation(act))
    t = targets.get("runge")
    x = torch.stack([targets.sample(1, points, seed=s) for s in (0, 1)])
    return arch, x, torch.stack([t(xi) for xi in x])


QUICK = portfolio.Engine()
SHORT = (Phase("adam", 40, 1e-2), Phase("lm", 20), Phase("varpro"))


@pytest.mark.parametrize("act, depth", [("polyrelu", 1), ("polyrelu", 2), ("tanh", 2)])
def test_the_chosen_start_is_never_worse_on_validation_than_any_candidate(act, depth):
    arch, x, y = _problem(act, depth)
    starts = tuple(s if s.init == "grown" else portfolio.Start(s.name, s.init, SHORT) for s in portfolio.starts(arch))
    train_part, val_part = portfolio.split(x, y)
    chosen = portfolio.choose(arch, [0, 1], train_part, val_part, starts, QUICK)
    for m, scores in enumerate(chosen.validation):
        assert scores[chosen.start[m]] == min(scores.values())
        assert set(scores) == {s.name for s in starts}


@pytest.mark.parametrize(
    "act, offered",
    [("relu", True), ("polyrelu", True), ("gelu", True), ("tanh", True), ("silu", True)]
    + [("polynomial", False), ("polynorm", False), ("identity", False)],
)
def test_kinks_or_knees_are_offered_to_one_hidden_layer_of_units_that_have_them(act, offered):
    """Breakpoints (ReLU types) and knees (GELU, tanh, SiLU) go on the grid at depth 1; units with
    neither (polynomials, PolyNorm) have nothing to place. Deeper networks inherit the start by growth."""
    names = [s.name for s in portfolio.starts(Architecture(1, 8, 1, Activation(act)))]
    assert names[0] == "uniform" and ("kinks" in names) == offered
    assert "kinks" not in [s.name for s in portfolio.starts(Architecture(1, 8, 2, Activation(act)))]


def test_a_grown_start_equals_the_shallow_fit_before_training(monkeypatch):
    """The grown candidate's first parameters compute what the chosen one-hidden-layer network computes."""
    arch, x, y = _problem("polyrelu", 3)
    train_part, val_part = portfolio.split(x, y)
    seen = {}
    real_train = portfolio._train

    def spy(arch_, theta0, x_, y_, cand, engine):
        if cand.init == "grown":
            seen["deep"] = (arch_, theta0.clone())
        return real_train(arch_, theta0, x_, y_, cand, engine)

    real_choose = portfolio.choose

    def spy_choose(arch_, seeds, tp, vp, cands, engine, where=None):
        out = real_choose(arch_, seeds, tp, vp, cands, engine, where)
        if arch_.depth == 1:
            seen["shallow"] = (arch_, out.theta.clone())
        return out

    monkeypatch.setattr(portfolio, "_train", spy)
    monkeypatch.setattr(portfolio, "choose", spy_choose)
    grown = portfolio.Start("grown", "grown", (Phase("lm", 0),))
    portfolio._grown(arch, [0, 1], train_part, val_part, grown, QUICK)
    (deep, theta_deep), (shallow, theta_shallow) = seen["deep"], seen["shallow"]
    grid = targets.dense_grid(1, 257)
    before, after = shallow.forward(theta_shallow, grid), deep.forward(theta_deep, grid)
    assert float((after - before).abs().max()) <= 1e-12


def test_one_start_trains_on_every_point_and_records_itself():
    arch, x, y = _problem("tanh", 1)
    chosen = portfolio.fit(arch, [0, 1], x, y, (portfolio.Start("uniform", "uniform", SHORT),), QUICK)
    assert chosen.start == ("uniform", "uniform") and chosen.validation == ({}, {})


def test_a_split_too_small_to_hold_points_back_is_refused():
    with pytest.raises(ValueError, match="too few"):
        portfolio.split(torch.rand(1, 12, 1), torch.rand(1, 12))


def _overshoot_case(monkeypatch, names: tuple[str, ...]):
    """Candidates that are fixed functions of x (no training), on points of f = 4x(1 − x) that miss its
    peak: (arch, runs, train_part, val_part). ``rough`` = 0.999·f + 0.01·h overshoots the training range a
    little less than ``fine`` = f + 0.001·h but is ten times worse on the validation points; ``spiky`` is
    ``fine`` with a bump to 1.3 between the points; ``widened`` is ``rough`` capped at the training
    values' maximum (no overshoot at all)."""

    def f(x):
        return 4 * x * (1 - x)

    def h(x):  # zero near the peak, so it decides the validation error and not the overshoot
        return torch.where((x - 0.5).abs() > 0.15, torch.cos(37 * x), torch.zeros_like(x))

    def bump(x):
        return 0.7 * torch.exp(-(((x - 0.8) / 0.004) ** 2))

    x = torch.cat([torch.linspace(0, 0.4, 32, dtype=torch.float64), torch.linspace(0.6, 1, 32, dtype=torch.float64)])
    x = x[torch.randperm(64, generator=torch.Generator().manual_seed(0))][None, :, None]
    train_part, val_part = portfolio.split(x, f(x[..., 0]))
    assert float(train_part[1].max()) <= 0.96 + 1e-9
    top = float(train_part[1].max())
    nets = {"rough": lambda x: 0.999 * f(x) + 0.01 * h(x), "fine": lambda x: f(x) + 1e-3 * h(x)}
    nets["spiky"] = lambda x: nets["fine"](x) + bump(x)
    nets["widened"] = lambda x: nets["rough"](x).clamp(max=top)

    def predict(arch, theta, x):  # row k of theta names the candidate; one model, so x is (N, 1) or (1, N, 1)
        return torch.stack([nets[names[int(k)]](x.reshape(-1)) for k in theta[:, 0]])

    monkeypatch.setattr(portfolio.metrics, "predict", predict)
    runs = {name: SimpleNamespace(theta=torch.tensor([[float(k)]]), status=["ok"]) for k, name in enumerate(names)}
    return Architecture(1, 2, 1, Activation("relu")), runs, train_part, val_part


def _old_bar_scores(arch, runs, train_part, val_part):
    """The mutant: the rule before the band, the overshoot beyond the training values' range measured
    against the least among the candidates."""
    probe, seen = portfolio.probe_points(1), train_part[1]
    err, over = {}, {}
    for name, run in runs.items():
        err[name] = (portfolio.metrics.predict(arch, run.theta, val_part[0]) - val_part[1]).abs().amax(1)
        values = portfolio.metrics.predict(arch, run.theta, probe)
        over[name] = torch.maximum(values.amax(1) - seen.amax(1), seen.amin(1) - values.amin(1)).clamp(min=0)
    least = torch.stack(list(over.values())).amin(0)
    return {name: torch.maximum(err[name], over[name] - least) for name in runs}


def test_an_overshoot_the_target_itself_makes_leaves_the_choice_to_the_validation_error(monkeypatch):
    """f peaks at 1 between the training points (their values stop at 0.96), so every good fit leaves
    the training range by ~0.04 there; the band allows it, and ``fine`` wins. The raw overshoot (a
    mutant) picks ``rough``; a spike of ``spiky``'s own, where the points are dense, counts in full."""
    names = ("rough", "fine", "spiky")
    arch, runs, train_part, val_part = _overshoot_case(monkeypatch, names)
    scores = portfolio.scores(arch, runs, train_part, val_part)
    assert min(names, key=lambda n: float(scores[n][0])) == "fine"
    assert float(scores["spiky"][0]) > 0.3
    where = portfolio.band(train_part, portfolio.probe_points(1))

    def raw(name):  # the mutant: any value beyond the training values' range counts
        values = portfolio.metrics.predict(arch, runs[name].theta, where.points)
        over = (values.amax(1) - train_part[1].amax(1)).clamp(min=0)
        return float(torch.maximum(portfolio.validation_errors(arch, runs[name], val_part, where)[0], over)[0])

    assert min(names, key=raw) == "rough"


def test_a_score_is_a_lower_bound_on_the_sup_error(monkeypatch):
    """Where L bounds f's slope, the band's excess never exceeds the candidate's true sup error on the
    probe points, so a score never charges a network for error it does not have. Mutant: the band
    without its slack (the nearest training value alone) charges ``fine`` 40× its true error."""
    names = ("rough", "fine", "spiky", "widened")
    arch, runs, train_part, val_part = _overshoot_case(monkeypatch, names)
    where = portfolio.band(train_part, portfolio.probe_points(1))
    f = 4 * where.points[:, 0] * (1 - where.points[:, 0])
    for name, score in portfolio.scores(arch, runs, train_part, val_part).items():
        true = (portfolio.metrics.predict(arch, runs[name].theta, where.points) - f).abs().amax(1)
        assert float(score[0]) <= float(true[0]) + 1e-12, name
    tight = dataclasses.replace(where, slack=torch.zeros_like(where.slack))
    fine = (portfolio.metrics.predict(arch, runs["fine"].theta, where.points) - f).abs().amax(1)
    assert float(tight.excess(arch, runs["fine"].theta)[0]) > 30 * float(fine[0])


def test_a_restrained_poor_candidate_cannot_re_rank_the_others(monkeypatch):
    """``widened`` stays below f's peak (no overshoot at all) and is ten times worse on the validation
    points. Each score depends on its own candidate and the data only, so adding it changes no other
    score and ``fine`` still wins; under the rule before (a mutant: the overshoot beyond the least
    among the candidates) it sets the bar, ``fine`` is charged its correct overshoot, and ``widened`` wins."""
    names = ("rough", "fine", "spiky", "widened")
    arch, runs, train_part, val_part = _overshoot_case(monkeypatch, names)
    without = portfolio.scores(arch, {n: runs[n] for n in names[:3]}, train_part, val_part)
    with_it = portfolio.scores(arch, runs, train_part, val_part)
    for name in names[:3]:
        assert float(with_it[name][0]) == float(without[name][0])
    assert min(names, key=lambda n: float(with_it[n][0])) == "fine"
    mutant = _old_bar_scores(arch, runs, train_part, val_part)
    assert min(names, key=lambda n: float(mutant[n][0])) == "widened"


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 300), q=st.integers(1, 300), d=st.integers(1, 3), rows=st.integers(1, 64))
def test_the_nearest_training_point_is_the_same_in_any_number_of_rows(n, q, d, rows):
    g = torch.Generator().manual_seed(n * 1000 + q)
    x, probe = torch.rand(n, d, generator=g, dtype=torch.float64), torch.rand(q, d, generator=g, dtype=torch.float64)
    for a, itself in ((x, True), (probe, False)):
        gaps = torch.cdist(a, x, compute_mode="donot_use_mm_for_euclid_dist")
        if itself:
            gaps.fill_diagonal_(torch.inf)
        dist, k = portfolio._nearest(a, x, itself=itself, rows=rows)
        assert torch.equal(dist, gaps.min(1).values) and torch.equal(dist, gaps[torch.arange(len(a)), k])


def test_points_that_all_coincide_give_no_band_and_no_nan():
    """Nothing is known of f's slope, so the band allows everything off the points and exactly y on them."""
    x, y = torch.full((1, 9, 1), 0.5, dtype=torch.float64), torch.linspace(0, 1, 9, dtype=torch.float64)[None]
    probe = torch.tensor([[0.5], [0.0]], dtype=torch.float64)
    where = portfolio.band((x, y), probe)
    assert where.slack[0, 0] == 0 and where.slack[0, 1] == torch.inf and not where.centre.isnan().any()
