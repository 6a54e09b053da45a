"""The MoE FFN and the order ablation: routing, auxiliary losses, batched dispatch, matching, probe, study."""

import json
import math

import pytest
import torch
from conftest import run_polylab
from hypothesis import given, settings
from hypothesis import strategies as st

from approx import activations
from approx.transformer import analysis as lm_analysis
from approx.transformer import bf16_probe
from approx.transformer.moe import MoE, MoEConfig, Routing, balance_loss, naive_moe, route, z_loss
from approx.transformer.transformer import GATED, ModelConfig, Transformer, parameter_counts
from experiments import cli
from experiments.transformer import ablations as lm_ablations
from experiments.transformer import report as lm_report
from experiments.transformer import study as lm_study

torch.set_num_threads(1)
EXPERT_ACTIVATIONS = (None, "relu", "gelu", "polyrelu", "polynorm")


def moe(activation, experts=4, top_k=2, d=12, h=10, capacity_factor=0.0, seed=0, **kwargs) -> MoE:
    torch.manual_seed(seed)
    act = None if activation is None else (lambda: activations.get(activation, **kwargs))
    layer = MoE(d, h, MoEConfig(experts, top_k, capacity_factor), act).double()
    with torch.no_grad():  # experts that differ in their coefficients too, so a mix-up shows
        for a in layer.activation_modules():
            for p in a.parameters():
                p.add_(0.2 * torch.randn_like(p))
    return layer


# --------------------------------------------------------------------------- routing and losses


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.data())
def test_routing_picks_the_top_k_and_weights_sum_to_one(experts, data):
    top_k = data.draw(st.integers(1, experts))
    logits = torch.randn(20, experts, generator=torch.Generator().manual_seed(data.draw(st.integers(0, 99))))
    r = route(logits.double(), top_k)
    chosen = r.probs.gather(1, r.experts)
    rest = r.probs.masked_fill(torch.zeros_like(r.probs, dtype=torch.bool).scatter(1, r.experts, True), -1)
    assert (chosen.min(1).values >= rest.max(1).values).all()  # no unchosen expert beats a chosen one
    assert all(len(set(row)) == top_k for row in r.experts.tolist())
    torch.testing.assert_close(r.weights.sum(1), torch.ones(20, dtype=torch.float64))
    torch.testing.assert_close(r.weights, chosen / chosen.sum(1, keepdim=True))


def test_balance_loss_equals_its_formula_on_a_hand_made_example():
    """4 tokens, 2 experts, top-1: tokens 0-2 go to expert 0, token 3 to expert 1."""
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
    experts = torch.tensor([[0], [0], [0], [1]])
    loss = balance_loss(Routing(probs.log(), probs, experts, torch.ones(4, 1)))
    assert float(loss) == pytest.approx(2 * (3 / 4 * 0.65 + 1 / 4 * 0.35), abs=1e-15)  # E Σ f_e P_e = 1.15
    uniform = Routing(torch.zeros(4, 2), torch.full((4, 2), 0.5), torch.tensor([[0], [1], [0], [1]]), torch.ones(4, 1))
    assert float(balance_loss(uniform)) == pytest.approx(1.0)  # its minimum, at uniform routing


def test_z_loss_equals_its_formula():
    logits = torch.tensor([[0.0, math.log(3)], [1.0, 1.0]], dtype=torch.float64)
    expected = (math.log(4) ** 2 + (1 + math.log(2)) ** 2) / 2
    assert float(z_loss(logits)) == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- dispatch


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(EXPERT_ACTIVATIONS), st.integers(1, 6), st.data(), st.integers(1, 3), st.integers(1, 9))
def test_batched_dispatch_equals_the_per_token_reference(activation, experts, data, batch, length):
    top_k = data.draw(st.integers(1, experts))
    layer = moe(activation, experts, top_k, seed=data.draw(st.integers(0, 999)))
    x = torch.randn(batch, length, 12, dtype=torch.float64)
    torch.testing.assert_close(layer(x), naive_moe(layer, x), rtol=1e-12, atol=1e-13)


def test_per_neuron_coefficients_stay_per_expert():
    layer = moe("polyrelu", coefficients="per_neuron", num_features=10)
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    torch.testing.assert_close(layer(x), naive_moe(layer, x), rtol=1e-12, atol=1e-13)


def test_the_reference_catches_a_dispatch_that_mixes_up_experts():
    """A mutant that runs every token through expert 0 must differ from the reference."""
    layer = moe("polyrelu")
    x = torch.randn(2, 6, 12, dtype=torch.float64)
    good = layer(x)
    layer.expert = lambda e, rows: MoE.expert(layer, 0, rows)
    assert (layer(x) - naive_moe(layer, x)).abs().max() > 1e-3 and (good - layer(x)).abs().max() > 1e-3


def test_capacity_drops_the_overflow_and_counts_it():
    layer = moe("relu", experts=4, top_k=1, capacity_factor=0.5)
    x = torch.randn(40, 12, dtype=torch.float64)
    y = layer(x)
    routing, d = layer.last
    assert max(d.counts) <= 5 and sum(d.counts) == d.token.numel() <= 4 * 5  # capacity ⌈0.5 · 40 / 4⌉ = 5
    assert d.dropped == pytest.approx(1 - d.token.numel() / 40) and (d.expert.diff() >= 0).all()
    lost = sorted(set(range(40)) - set(d.token.tolist()))
    assert lost and (y[lost] == 0).all()  # a dropped top-1 token gets nothing from the FFN
    kept = d.token
    dropless = moe("relu", experts=4, top_k=1)
    torch.testing.assert_close(y[kept], dropless(x)[kept])  # the rest is untouched


def test_gradients_of_the_batched_dispatch_in_float64():
    layer = moe("polynorm", experts=3, top_k=2, d=5, h=4)
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t), (x,))  # routing is piecewise constant in x
    params = [layer.w1, layer.w2, *layer.acts[1].parameters()]
    assert torch.autograd.gradcheck(
        lambda *ps: torch.func.functional_call(
            layer, dict(zip(["w1", "w2", "acts.1.coefficients"], ps, strict=True)), (x.detach(),)
        ),
        params,
    )


@pytest.mark.parametrize("ffn", ["polynorm", GATED])
def test_recompute_in_an_moe_keeps_gradients_identical(ffn):
    cfg = ModelConfig(
        context=16, d_model=32, n_layers=2, n_heads=2, swiglu_hidden=40, ffn=ffn, moe={"experts": 4, "top_k": 2}
    )
    grads = []
    for recompute in (False, True):
        torch.manual_seed(0)
        model = Transformer(cfg.with_(recompute_activation=recompute)).double()
        x = torch.randint(0, 256, (2, 16))
        _, loss = model(x, x)
        (loss + model.aux_loss()).backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        assert torch.equal(a, b)


# --------------------------------------------------------------------------- the model


@pytest.mark.parametrize("experts, top_k", [(4, 1), (8, 2), (3, 3)])
def test_matched_active_and_total_parameters(experts, top_k):
    cfg = ModelConfig(
        context=8, d_model=24, n_layers=2, n_heads=2, swiglu_hidden=16, moe={"experts": experts, "top_k": top_k}
    )
    counts = {
        ffn: parameter_counts(Transformer(cfg.with_(ffn=ffn)))
        for ffn in ("relu", "gelu", GATED, "polyrelu", "polynorm")
    }
    router = 2 * 24 * experts
    experts_weights = 2 * experts * 3 * 24 * 16
    assert {c["ffn_weights"] for c in counts.values()} == {experts_weights + router}
    assert {c["ffn_active"] for c in counts.values()} == {experts_weights * top_k // experts + router}
    assert {c["total"] - c["activation_coefficients"] for c in counts.values()} == {counts[GATED]["total"]}
    assert counts["polyrelu"]["activation_coefficients"] == 2 * experts * 4
    dense = parameter_counts(Transformer(cfg.with_(moe=None, ffn="relu")))
    assert dense["ffn_active"] == dense["ffn_weights"] == 2 * 3 * 24 * 16


def test_an_moe_trains_through_its_auxiliary_losses():
    cfg = ModelConfig(
        context=16,
        d_model=32,
        n_layers=2,
        n_heads=2,
        swiglu_hidden=40,
        ffn="relu",
        moe={"experts": 4, "top_k": 1, "balance_weight": 1.0},
    )
    torch.manual_seed(0)
    model = Transformer(cfg)
    x = torch.randint(0, 256, (4, 16))
    model(x, x)
    aux = model.aux_loss()
    assert aux.requires_grad
    layer = model.moe_layers()[0]
    routing, _ = layer.last
    assert aux.item() == pytest.approx(
        sum(float(balance_loss(m.last[0])) + 1e-3 * float(z_loss(m.last[0].logits)) for m in model.moe_layers()),
        rel=1e-6,
    )
    aux.backward()
    assert layer.router.weight.grad.abs().sum() > 0  # the balance loss reaches the router


def test_expert_usage_and_per_expert_ranks():
    cfg = ModelConfig(
        context=16, d_model=32, n_layers=2, n_heads=2, swiglu_hidden=40, ffn="polyrelu", moe={"experts": 4, "top_k": 2}
    )
    torch.manual_seed(0)
    model = Transformer(cfg)
    batches = [(torch.randint(0, 256, (3, 16)), None) for _ in range(2)]
    usage = lm_analysis.expert_usage(model, batches)
    assert len(usage) == 2
    for layer in usage:
        assert sum(layer["load"]) == pytest.approx(1.0) and 0 < layer["entropy"] <= 1 and layer["dropped"] == 0
        assert len(layer["coefficients"]) == 4 and all(len(c) == 4 for c in layer["coefficients"])
    ranks = lm_analysis.ffn_ranks(model)
    assert len(ranks) == 2 * 2 * 4 and {r["expert"] for r in ranks} == {0, 1, 2, 3}
    assert lm_analysis.load_statistics(torch.tensor([5, 5, 5, 5])) == {"entropy": 1.0, "cv": 0.0}
    skew = lm_analysis.load_statistics(torch.tensor([1, 0, 0, 0]))
    assert skew["entropy"] == 0 and skew["cv"] == pytest.approx(math.sqrt(3))


def test_moe_config_errors():
    for bad, message in [
        ({"experts": 0}, "positive integer"),
        ({"top_k": 5, "experts": 4}, "exceeds"),
        ({"z_weight": -1}, ">= 0"),
        ({"capacity_factor": float("inf")}, "finite"),
        ({"routers": 2}, "bad \\[model.moe\\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            ModelConfig(moe=bad)


# --------------------------------------------------------------------------- bf16 probe


def test_bf16_probe_on_a_constructed_overflow():
    """|x| = 10^10: x^4 = 10^40 leaves bf16 (max ≈ 3.4·10^38), x^3 = 10^30 does not; PolyNorm squares x^i."""
    x = torch.cat([torch.full((4, 8), 1e10), torch.full((4, 8), 0.5)])
    relu4 = bf16_probe.probe(activations.get("polyrelu", order=4), x)
    assert relu4.overflow == 0.5 and relu4.first_overflowing_order == 4
    relu3 = bf16_probe.probe(activations.get("polyrelu", order=3), x)
    assert relu3.overflow == 0 and relu3.first_overflowing_order == 4
    norm = bf16_probe.probe(activations.get("polynorm", order=2), x)
    # (x²)² = 10^40 inside the RMS is inf, so the scale is 0: a finite, wrong output (silent saturation)
    assert norm.overflow == 0 and norm.imprecise == 0.5 and norm.first_imprecise_order == 2
    small = bf16_probe.probe(activations.get("polynorm", order=4), torch.randn(64, 32))
    assert small.overflow == 0 and small.imprecise == 0 and small.first_overflowing_order is None
    assert small.elements == 64 * 32 and relu4.max_abs_input == pytest.approx(1e10, rel=1e-6)


def test_bf16_probe_sees_the_real_preactivations():
    cfg = ModelConfig(context=16, d_model=32, n_layers=2, n_heads=2, swiglu_hidden=40, ffn="polynorm")
    torch.manual_seed(0)
    batches = [(torch.randint(0, 256, (3, 16)), None)]
    dense = bf16_probe.model_probe(Transformer(cfg), batches)
    assert len(dense) == 2 and all(p["elements"] == 3 * 16 * 60 for p in dense)
    mixture = bf16_probe.model_probe(Transformer(cfg.with_(moe={"experts": 4, "top_k": 2})), batches)
    assert len(mixture) == 2 * 4 and sum(p["elements"] for p in mixture) == 2 * 2 * 3 * 16 * 60
    assert bf16_probe.model_probe(Transformer(cfg.with_(ffn=GATED)), batches) == []


# --------------------------------------------------------------------------- the studies


def test_the_order_axis_expands_learnable_variants(tmp_path):
    study = lm_study.load_study("order_cpu")
    assert [v.name for v in study.variants] == [f"{a}_r{r}" for a in ("polyrelu", "polynorm") for r in (2, 3, 4)]
    assert [v.activation_kwargs["order"] for v in study.variants] == [2, 3, 4] * 2
    assert study.model == lm_study.load_study("cpu").model and study.train == lm_study.load_study("cpu").train
    mixed = tmp_path / "mixed.toml"
    mixed.write_text('[study]\nvariants = ["relu", "polynorm"]\norders = [2, 4]\n')
    assert [v.name for v in lm_study.load_study(str(mixed)).variants] == ["relu", "polynorm_r2", "polynorm_r4"]
    for orders, message in [
        ("[]", "non-empty"),
        ("[3, 3]", "distinct"),
        ("[0]", "1..16"),
        ('["3"]', "1..16"),
        ("[17]", "1..16"),
        ("3", "list"),
    ]:
        mixed.write_text(f'[study]\nvariants = ["polynorm"]\norders = {orders}\n')
        with pytest.raises(ValueError, match=message):
            lm_study.load_study(str(mixed))


def test_the_moe_preset_is_matched_and_in_its_size_range():
    study = lm_study.load_study("moe_cpu")
    counts = {v.name: parameter_counts(Transformer(study.model_config(v))) for v in study.variants}
    assert {c["ffn_weights"] for c in counts.values()} == {counts["swiglu"]["ffn_weights"]}
    assert {c["ffn_active"] for c in counts.values()} == {counts["swiglu"]["ffn_active"]}
    assert 1e6 <= counts["swiglu"]["total"] <= 2e6 and set(counts) == {"swiglu", "relu", "gelu", "polyrelu", "polynorm"}


@pytest.mark.parametrize(
    "model, message",
    [
        ('ffn = "mlp"', "model.ffn must be one of"),
        ("[model.moe]\nexperts = 2", "model.ffn is not 'moe'"),
        ('ffn = "moe"\n[model.moe]\ntop_k = 9', "exceeds"),
    ],
)
def test_bad_moe_configs_are_one_line(tmp_path, capsys, model, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(f"[model]\n{model}\n")
    assert cli.main(["lm", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


MOE_TINY = """
name = "moe_tiny"
[data]
corpus = "stdlib"
max_train_bytes = 300_000
max_val_bytes = 60_000
[model]
context = 32
d_model = 32
n_layers = 2
n_heads = 2
swiglu_hidden = 24
ffn = "moe"
[model.moe]
experts = 4
top_k = 2
[train]
steps = 3
batch_size = 4
warmup = 1
eval_interval = 3
eval_batches = 2
[study]
variants = ["swiglu", "polynorm"]
orders = [2, 3]
seeds = [0]
memory_steps = 1
"""


def test_an_moe_order_study_killed_mid_way_resumes_without_loss_or_duplication(tmp_path):
    config = tmp_path / "moe_tiny.toml"
    config.write_text(MOE_TINY)
    out = tmp_path / "out"
    args = ("lm", config, "--out", out, "--threads", "1")
    killed = run_polylab(*args, env={"POLYLAB_KILL_AT": "run@2"})
    assert killed.returncode == -9, killed.stderr
    finished = {p.name: p.read_text() for p in (out / "runs").glob("[!.]*.json")}
    assert len(finished) == 1
    resumed = run_polylab(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["polynorm_r2_seed0.json", "polynorm_r3_seed0.json", "swiglu_seed0.json"]
    for name, text in finished.items():
        assert (out / "runs" / name).read_text() == text
    run = json.loads((out / "runs" / "polynorm_r3_seed0.json").read_text())
    assert len(run["experts"]) == 2 and len(run["bf16"]) == 2 * 4 and run["parameters"]["router"] == 2 * 32 * 4
    report = (out / "report.md").read_text()
    assert "## Mixture of experts" in report and "## Order ablation" in report


def _fake_run(ffn: str, order: int, seed: int, val_loss: float, first_failure: int | None, overflow: float = 0.0):
    probe = {
        "elements": 10,
        "max_abs_input": 3.0,
        "overflow": overflow,
        "imprecise": 0.0,
        "first_overflowing_order": first_failure,
        "first_imprecise_order": None,
    }
    return {
        "variant": f"{ffn}_r{order}",
        "ffn": ffn,
        "seed": seed,
        "final": {"val_loss": val_loss},
        "model": {"activation_kwargs": {"order": order}},
        "bf16": [probe, probe],
    }


@pytest.mark.parametrize(
    "r4_shift, fail, overflow, alike, bf16",
    [
        (0.001, 9, 0.0, "agrees", "agrees: orders ≤ 4 are clean, order 9 fails"),
        (0.05, 9, 0.0, "disagrees (r = 4 worse)", "agrees"),
        (-0.05, None, 0.0, "disagrees (r = 4 better)", "not reproduced: no order ≤ 16 fails"),
        (0.0, 3, 0.2, "agrees", "disagrees: the trained orders ≤ 4 already fail"),
    ],
)
def test_order_verdicts_follow_the_numbers(tmp_path, r4_shift, fail, overflow, alike, bf16):
    runs = [
        _fake_run("polynorm", r, s, 1.5 + 0.01 * s + (r4_shift if r == 4 else 0), fail, overflow if r == 4 else 0)
        for r in (2, 3, 4)
        for s in (0, 1, 2)
    ]
    text = "\n".join(lm_ablations.order_section(lm_report.by_variant(runs), tmp_path))
    claim_rows = [line for line in text.splitlines() if line.startswith("| polynorm:")]
    assert claim_rows[0].endswith(f"| {alike} |") or alike in claim_rows[0]
    assert bf16 in claim_rows[1]
    assert (tmp_path / "order.png").stat().st_size > 0


@pytest.mark.parametrize("ffn", ["polynorm", GATED])
def test_an_moe_runs_under_bf16_autocast(ffn):
    """The CUDA path's mixed precision, exercised on CPU: bf16 experts, float32 routing and residual stream."""
    cfg = ModelConfig(
        context=16, d_model=32, n_layers=2, n_heads=2, swiglu_hidden=40, ffn=ffn, moe={"experts": 4, "top_k": 2}
    )
    torch.manual_seed(0)
    model = Transformer(cfg)
    x = torch.randint(0, 256, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, loss = model(x, x)
        objective = loss + model.aux_loss()
    objective.backward()
    assert torch.isfinite(objective) and model.moe_layers()[0].last[0].probs.dtype == torch.float32
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
