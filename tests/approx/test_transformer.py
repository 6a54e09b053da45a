"""The transformer FFN study: model, data split, analyses, memory, training, CLI end to end."""

import json
import math

import pytest
import torch
from conftest import run_polylab as polylab
from hypothesis import given, settings
from hypothesis import strategies as st

from approx import activations
from approx.transformer import analysis as lm_analysis
from approx.transformer import memory as lm_memory
from approx.transformer.data import fixed_batches, in_validation, load_corpus, random_batches
from approx.transformer.train import TrainConfig, lr_at, train
from approx.transformer.transformer import GATED, ModelConfig, Recompute, Transformer, parameter_counts
from experiments import cli
from experiments.transformer import report as lm_report
from experiments.transformer import study as lm_study

torch.set_num_threads(1)
VARIANTS = ("relu", "gelu", GATED, "polyrelu", "polynorm")
SMALL = ModelConfig(context=16, d_model=32, n_layers=2, n_heads=2, swiglu_hidden=40)


# --------------------------------------------------------------------------- model


@pytest.mark.parametrize("ffn", VARIANTS)
def test_shapes_and_causality(ffn):
    torch.manual_seed(0)
    model = Transformer(SMALL.with_(ffn=ffn)).eval()
    x = torch.randint(0, 256, (3, 16))
    logits, loss = model(x, x)
    assert logits.shape == (3, 16, 256) and loss.ndim == 0 and math.isfinite(float(loss.detach()))
    assert len(model.hidden_states(x)) == SMALL.n_layers + 1
    for t in (0, 7, 15):  # changing token t leaves the logits of every earlier position unchanged
        y = x.clone()
        y[:, t] = (y[:, t] + 1) % 256
        changed = model(y)[0]
        assert torch.allclose(changed[:, :t], logits[:, :t], atol=1e-6)
        assert not torch.allclose(changed[:, t:], logits[:, t:], atol=1e-6)


def test_context_is_enforced():
    with pytest.raises(ValueError, match="exceeds the context"):
        Transformer(SMALL)(torch.zeros(1, 17, dtype=torch.long))


@given(d_model=st.sampled_from([16, 32, 48]), half=st.integers(4, 40), layers=st.integers(1, 3))
@settings(max_examples=15, deadline=None)
def test_parameter_matching(d_model, half, layers):
    """Ungated width 3h/2 against SwiGLU width h: equal FFN weights, totals differ by the coefficients only."""
    cfg = ModelConfig(context=8, d_model=d_model, n_layers=layers, n_heads=2, swiglu_hidden=2 * half)
    counts = {ffn: parameter_counts(Transformer(cfg.with_(ffn=ffn))) for ffn in VARIANTS}
    assert {c["ffn_weights"] for c in counts.values()} == {3 * d_model * 2 * half * layers}
    for ffn, c in counts.items():
        assert c["total"] - c["activation_coefficients"] == counts[GATED]["total"]
        assert c["activation_coefficients"] == (4 * layers if ffn in activations.LEARNABLE else 0)
    assert cfg.with_(ffn="relu").ffn_hidden == 3 * half and cfg.with_(ffn=GATED).ffn_hidden == 2 * half


@pytest.mark.parametrize(
    "change, message",
    [
        ({"swiglu_hidden": 41}, "even"),
        ({"n_heads": 3}, "heads"),
        ({"ffn": "nope"}, "unknown ffn"),
        ({"d_model": 0}, "positive integer"),
    ],
)
def test_model_config_errors(change, message):
    with pytest.raises(ValueError, match=message):
        SMALL.with_(**change)


def test_recomputed_polynorm_equals_plain_and_saves_less():
    torch.manual_seed(0)
    x = torch.randn(4, 8, 48, dtype=torch.float64, requires_grad=True)
    plain = activations.get("polynorm").double()
    recomputed = Recompute(activations.get("polynorm").double())
    with torch.no_grad():
        recomputed.inner.coefficients.copy_(torch.tensor([0.1, 0.5, -0.3, 0.2]))
        plain.coefficients.copy_(recomputed.inner.coefficients)
    y1, y2 = plain(x), recomputed(x)
    assert torch.equal(y1, y2)
    w = torch.randn_like(y1)
    g1 = torch.autograd.grad((y1 * w).sum(), [x, plain.coefficients])
    g2 = torch.autograd.grad((y2 * w).sum(), [x, recomputed.inner.coefficients])
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
    # the counter sees PolyNorm's extra tensors, and the recompute removing them
    assert lm_memory.activation_tensors_kept(activations.get("polynorm")) > 4
    assert lm_memory.activation_tensors_kept(Recompute(activations.get("polynorm"))) == pytest.approx(1.0)
    assert lm_memory.activation_tensors_kept(activations.get("relu")) == pytest.approx(1.0)


def test_recompute_in_the_model_keeps_training_identical():
    torch.manual_seed(0)
    a = Transformer(SMALL.with_(ffn="polynorm"))
    b = Transformer(SMALL.with_(ffn="polynorm", recompute_activation=True))
    b.load_state_dict({k.replace(".act.", ".act.inner."): v for k, v in a.state_dict().items()})
    x = torch.randint(0, 256, (2, 16))
    la, lb = a(x, x)[1], b(x, x)[1]
    la.backward(), lb.backward()
    assert torch.allclose(la, lb)
    assert torch.allclose(a.blocks[0].ffn.w1.weight.grad, b.blocks[0].ffn.w1.weight.grad, atol=1e-6)
    assert lm_memory.training_step_saved_bytes(b, x, x) < lm_memory.training_step_saved_bytes(a, x, x)


# --------------------------------------------------------------------------- data


@pytest.fixture
def text_dir(tmp_path):
    for i in range(40):
        (tmp_path / f"f{i:02d}.py").write_text(f"# file {i}\n" + "x = 1\n" * (20 + i))
    (tmp_path / "notes.bin").write_bytes(b"\xff" * 10)  # not a text suffix: ignored
    return tmp_path


def test_split_by_file_is_deterministic(text_dir):
    a, b = load_corpus(text_dir, val_percent=20), load_corpus(text_dir, val_percent=20)
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    assert a.train_files + a.val_files == 40 and a.val_files == sum(
        in_validation(f"f{i:02d}.py", 20) for i in range(40)
    )
    val_text = bytes(a.val.tolist())
    for i in range(40):  # every file lies wholly on the side its name hashes to
        assert (f"# file {i}\n".encode() in val_text) == in_validation(f"f{i:02d}.py", 20)
    assert 0xFF not in a.train.tolist()


def test_split_rule_is_stable():
    # pinned values: the rule must not drift between versions (it decides what validation means)
    names = [f"{c}.py" for c in "abcdefghijklmnopqrstuvwxyz"]
    assert [n for n in names if in_validation(n, 10)] == ["x.py"]
    assert not in_validation("os.py", 92) and in_validation("os.py", 93)  # sha256("os.py") → 92 mod 100
    assert sum(in_validation(f"m{i}.py", 10) for i in range(2000)) in range(140, 260)


def test_stdlib_corpus_and_single_file(tmp_path):
    c = load_corpus(max_train_bytes=50_000, max_val_bytes=5_000)
    assert c.train.numel() == 50_000 and c.val.numel() == 5_000 and c.val_files > 0
    f = tmp_path / "one.txt"
    f.write_text("abcdefghij" * 100)
    one = load_corpus(f, val_percent=10)
    assert one.train.numel() == 900 and one.val.numel() == 100
    with pytest.raises(ValueError, match="does not exist"):
        load_corpus(tmp_path / "missing")
    with pytest.raises(ValueError, match="val_percent"):
        load_corpus(f, val_percent=0)


def test_batches_depend_on_the_seed_only():
    data = torch.arange(1000, dtype=torch.uint8)
    a, b, c = (random_batches(data, 4, 8, s) for s in (3, 3, 4))
    for _ in range(3):
        (xa, ya), (xb, _), (xc, _) = next(a), next(b), next(c)
        assert torch.equal(xa, xb) and not torch.equal(xa, xc)
        assert torch.equal(xa[:, 1:], ya[:, :-1])  # targets are the inputs shifted by one
    val = fixed_batches(data, 2, 4, 8)
    assert len(val) == 2 and all(
        torch.equal(x, y) for (x, _), (y, _) in zip(val, fixed_batches(data, 2, 4, 8), strict=True)
    )


# --------------------------------------------------------------------------- analyses


def test_effective_ranks_on_known_matrices():
    assert lm_analysis.entropy_rank(torch.eye(7)) == pytest.approx(7)
    assert lm_analysis.threshold_rank(torch.eye(7)) == 7
    rank1 = torch.outer(torch.randn(6), torch.randn(9))
    assert lm_analysis.entropy_rank(rank1) == pytest.approx(1, abs=1e-6)
    assert lm_analysis.threshold_rank(rank1) == 1
    assert lm_analysis.threshold_rank(torch.diag(torch.tensor([1.0, 0.02, 0.005]))) == 2
    assert lm_analysis.entropy_rank(torch.zeros(3, 3)) == 0
    with pytest.raises(ValueError):
        lm_analysis.threshold_rank(torch.eye(2), rel=1.5)


@given(st.lists(st.floats(0.01, 10), min_size=2, max_size=8), st.integers(0, 1000))
@settings(max_examples=25, deadline=None)
def test_entropy_rank_is_orthogonally_invariant_and_bounded(s, seed):
    g = torch.Generator().manual_seed(seed)
    n = len(s)
    q1, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    q2, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    d = torch.diag(torch.tensor(s, dtype=torch.float64))
    r = lm_analysis.entropy_rank(q1 @ d @ q2)
    assert r == pytest.approx(lm_analysis.entropy_rank(d), rel=1e-9)
    assert 1 - 1e-9 <= r <= n + 1e-9


def test_layer_similarity_on_known_states():
    x = torch.randn(2, 5, 4)
    same = lm_analysis.layer_similarity([x, 3 * x, -x])
    assert torch.allclose(same, torch.tensor([[1.0, 1, -1], [1, 1, -1], [-1, -1, 1]], dtype=torch.float64))
    e = torch.eye(4)
    ortho = lm_analysis.layer_similarity([e[:2], e[2:]])
    assert torch.allclose(ortho, torch.eye(2, dtype=torch.float64))
    s = torch.tensor([[1, 0.9, 0.1, 0.0], [0.9, 1, 0.5, 0.2], [0.1, 0.5, 1, 0.7], [0.0, 0.2, 0.7, 1]])
    assert lm_analysis.neighbour_similarity(s) == pytest.approx(0.6)  # mean of S[1,2], S[2,3]


def test_ranks_are_read_from_the_weights():
    model = Transformer(SMALL.with_(ffn="polyrelu"))
    before = lm_analysis.ffn_ranks(model)
    assert all(r["entropy_rank"] > 5 for r in before)
    with torch.no_grad():  # break layer 0's W1 on purpose: the analysis must see it
        model.blocks[0].ffn.w1.weight.copy_(torch.outer(torch.randn(60), torch.randn(32)))
    after = lm_analysis.ffn_ranks(model)
    assert after[0]["entropy_rank"] == pytest.approx(1, abs=1e-4) and after[0]["threshold_rank"] == 1
    assert after[1:] == before[1:]


# --------------------------------------------------------------------------- training and report


def test_lr_schedule():
    cfg = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(99, cfg) == pytest.approx(0.1)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 99))
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig(steps=5, warmup=5)


def test_training_lowers_the_loss_and_logs_coefficients(text_dir):
    corpus = load_corpus(text_dir, val_percent=20)
    torch.manual_seed(0)
    model = Transformer(SMALL.with_(ffn="polyrelu"))
    log = train(model, corpus, TrainConfig(steps=30, batch_size=8, warmup=3, eval_interval=15, eval_batches=2), log=str)
    assert [e["step"] for e in log.evals] == [0, 15, 30] and len(log.steps) == 30
    assert log.evals[-1]["val_loss"] < log.evals[0]["val_loss"] - 1
    assert log.tokens_per_second > 0 and log.saved_bytes_per_step > 0
    assert log.coefficients[0]["layers"][0] == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3])
    assert log.coefficients[-1]["layers"][0] != log.coefficients[0]["layers"][0]  # they are learned


def test_verdicts_follow_the_numbers():
    assert lm_report.compare([1.0], [2.0], lower_is_better=True)[1].startswith("agrees")
    assert lm_report.compare([2.0], [1.0], lower_is_better=True)[1].startswith("disagrees")
    assert lm_report.compare([1.0, 1.2], [1.1, 1.3], lower_is_better=True)[1] == "within seed spread"
    assert lm_report.compare([1.0, 1.01], [2.0, 2.01], lower_is_better=False)[1] == "disagrees"
    flat = {"steps": [{"step": i + 1, "loss": 3.0 if i < 100 else 1.0} for i in range(200)]}
    # the running mean over 50 steps crosses 2.0 halfway through the window after the drop
    assert lm_report.steps_to_reach_train(flat, 2.0) == 125 and lm_report.steps_to_reach_train(flat, 0.5) is None


def test_study_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nd_model = 64\nwidth = 3\n")
    with pytest.raises(ValueError, match="unknown key"):
        lm_study.load_study(str(bad))
    bad.write_text('[study]\nvariants = ["relu", "sigmoidish"]\n')
    with pytest.raises(ValueError, match="unknown ffn"):
        lm_study.load_study(str(bad))
    with pytest.raises(ValueError, match="neither a preset"):
        lm_study.load_study("no_such_preset")


def test_lm_tiny_end_to_end_and_resume(tmp_path, capsys, text_dir):
    """The tiny preset through the CLI with fewer steps, then --resume reruns nothing."""
    out = tmp_path / "lm"
    args = ("lm", "tiny", "--out", str(out), "--steps", "4", "--variants", "relu,polynorm", "--threads", "1")
    first = polylab(*args)
    assert first.returncode == 0, first.stderr
    for name in ("results.csv", "report.md", "loss_curves.png", "effective_rank.png", "similarity.png"):
        assert (out / name).stat().st_size > 0
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("variant,seed") and {r.split(",")[0] for r in rows[1:]} == {"relu", "polynorm"}
    run = json.loads((out / "runs" / "polynorm_seed0.json").read_text())
    assert run["provenance"]["seed"] == 0 and "torch" in run["provenance"]["versions"]
    assert len(run["steps"]) == 4 and len(run["ranks"]) == 2 * 2 and len(run["similarity"]) == 3
    report = (out / "report.md").read_text()
    assert "paper's claim" in report and "polynorm vs relu" in report
    saved = (out / "runs" / "relu_seed0.json").read_bytes()
    (out / "report.md").unlink()
    again_report = polylab("report", str(out))  # the one report command serves LM studies too
    assert again_report.returncode == 0 and (out / "report.md").read_text() == report, again_report.stderr

    again = polylab(*args)  # without --resume: refuses to mix runs
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1 and "--resume" in again.stderr
    resumed = polylab(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("done already, skipped") == 2 and "  step " not in resumed.stdout
    assert (out / "runs" / "relu_seed0.json").read_bytes() == saved
    capsys.readouterr()
    assert cli.main([*args[:4], "--steps", "5", "--variants", "relu", "--resume"]) == 2  # would mix configs
    assert "[train] differs" in capsys.readouterr().err
    assert cli.main([*args[:4], "--steps", "4", "--variants", "relu", "--corpus", str(text_dir), "--resume"]) == 2
    assert "corpus differs" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (("lm", "tiny", "--out", "X", "--variants", "relu,nope"), "unknown variant"),
        (("lm", "nope.toml", "--out", "X"), "neither a preset"),
        (("lm", "tiny", "--out", "X", "--steps", "0"), "--steps"),
    ],
)
def test_lm_user_errors_are_one_line(tmp_path, capsys, args, message):
    code = cli.main([str(tmp_path / a) if a == "X" else a for a in args])  # in process: no torch import per case
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
