"""Hostile inputs, class by class (issue: hardening round 2): generated cases, one line and exit 2 each.

Classes: unbounded or special reads (configs, CSVs, run records), degenerate targets, impossible
numbers in results, user errors of ``lm``, unbounded waits (Ray address, exact constructions), and
the interrupt. Each class ends with a mutant: the fix switched off, and the same input gets through,
so the tests above it can fail.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approx.fitting import expression
from approx.interrupts import interrupts_held
from experiments import executors, inputs, targets
from experiments.rates import results_table
from experiments.user_errors import UserError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def one_line(err: BaseException) -> bool:
    return "\n" not in str(err) and len(str(err)) > 0


# --------------------------------------------------------------------------- 3. bounded reads


@FUZZ
@given(
    kind=st.sampled_from(["binary", "utf16", "nested", "large", "latin1"]),
    size=st.integers(1, 3000),
    seed=st.integers(0, 2**16),
)
def test_configs_that_are_not_small_utf8_toml_are_refused_in_one_line(tmp_path_factory, kind, size, seed):
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    body = {
        "binary": bytes((seed * 7 + k * 13) % 256 for k in range(size)) + b"\xff\xfe\x00",
        "utf16": f"name = 'x{size}'\n".encode("utf-16"),
        "nested": ("a = " + "[" * (inputs.MAX_NESTING + 1 + size % 2000) + "]" * (inputs.MAX_NESTING + 1)).encode(),
        "large": b"# " + b"x" * (inputs.CONFIG_BYTES + size) + b"\n",
        "latin1": f"name = 'caf\u00e9 {size}'\n".encode("latin-1"),
    }[kind]
    path.write_bytes(body)
    with pytest.raises(UserError) as err:
        inputs.read_toml(path)
    assert one_line(err.value)


@pytest.mark.parametrize("special", ["fifo", "dev_zero", "folder"])
def test_a_special_file_as_config_leaves_everything_as_it_was(tmp_path, polylab_in_process, special):
    path = {"fifo": tmp_path / "c.toml", "dev_zero": "/dev/zero", "folder": tmp_path / "dir.toml"}[special]
    if special == "fifo":
        os.mkfifo(path)
    if special == "folder":
        path.mkdir()
    start = time.perf_counter()
    code, _, err = polylab_in_process("rates", path, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and time.perf_counter() - start < 30
    assert not (tmp_path / "o").exists()


@FUZZ
@given(
    column=st.sampled_from(["rmse", "max_abs", "params", "seconds", "train_mse", "floor_max_abs"]),
    value=st.sampled_from(["-1e-3", "0", "nan", "inf", "-inf", "x", "1e309", "-0.5"]),
    swap=st.booleans(),
    long_field=st.booleans(),
)
def test_impossible_numbers_in_results_are_refused(tmp_path_factory, finished_table, column, value, swap, long_field):
    header, rows = finished_table
    rows = [dict(r) for r in rows]
    rows[0][column] = value
    if swap:  # max_abs below rmse: the columns swapped
        rows[1]["max_abs"], rows[1]["rmse"] = rows[1]["rmse"], rows[1]["max_abs"]
    if long_field:
        rows[2]["job"] = "j" * 200_000
    path = tmp_path_factory.mktemp("t") / "results.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue())
    try:
        results_table.read(path, drop_cut_line=False)
    except UserError as err:
        assert one_line(err)
        return
    # only a legal value may pass: a zero loss or time, or an absent floor
    assert (
        not swap
        and not long_field
        and (value, column) in {("0", "train_mse"), ("0", "seconds"), ("nan", "floor_max_abs")}
    )


@pytest.fixture(scope="module")
def finished_table(tmp_path_factory):
    from experiments import output_lock
    from experiments.rates import config, run

    tmp = tmp_path_factory.mktemp("ref")
    (tmp / "tiny.toml").write_text(TINY)
    with output_lock.hold(tmp / "o"):
        run.run(config.load(tmp / "tiny.toml"), tmp / "o", progress=False)
    reader = csv.DictReader((tmp / "o" / "results.csv").read_text().splitlines())
    return reader.fieldnames, list(reader)


@FUZZ
@given(value=st.sampled_from(["NaN", "Infinity", "-Infinity"]), key=st.sampled_from(["val_loss", "train_loss"]))
def test_run_records_with_bare_nan_are_refused(tmp_path_factory, value, key):
    path = tmp_path_factory.mktemp("r") / "relu_seed0.json"
    path.write_text(json.dumps({"final": {key: 1.0}}).replace("1.0", value))
    with pytest.raises(UserError, match="not valid JSON"):
        inputs.read_json(path)


def test_strict_json_out(tmp_path):
    from experiments.atomic_io import write_json

    write_json(tmp_path / "x.json", {"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=lambda c: pytest.fail(c)) == {
        "a": None,
        "b": [None, 1.5],
    }


def test_mutant_without_the_regular_file_check_a_fifo_blocks_the_read(monkeypatch, tmp_path):
    """The guard is what refuses a FIFO at once: without it the read waits for a writer that never comes."""
    import threading

    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        inputs.read_text(fifo, "config", 100)
    monkeypatch.setattr(inputs.stat, "S_ISREG", lambda mode: True)
    reader = threading.Thread(target=lambda: inputs.read_text(fifo, "config", 100), daemon=True)
    reader.start()
    reader.join(1.0)
    assert reader.is_alive()  # blocked
    with open(fifo, "w") as writer:  # release it
        writer.write("a = 1\n")
    reader.join(5)


def test_mutant_without_the_nesting_check_python_recurses(monkeypatch, tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000)
    monkeypatch.setattr(inputs, "MAX_NESTING", 10**9)
    with pytest.raises(RecursionError):
        inputs.read_toml(path)


# --------------------------------------------------------------------------- 4. degenerate targets

ATOMS = st.sampled_from(["x0", "sin(x0)", "exp(x0)", "(x0+1)", "cos(3*x0)", "atan(x0)", "abs(x0-0.3)"])


@FUZZ
@given(e=ATOMS, f=ATOMS, how=st.sampled_from(["minus", "pythagoras", "scaled", "underflow", "overflow"]))
def test_degenerate_targets_are_refused_by_fit_rates_and_construct_alike(e, f, how):
    text = {
        "minus": f"({e})*({f}) - ({f})*({e})",
        "pythagoras": f"sin({e})**2 + cos({e})**2 - 1",
        "scaled": f"(({e}) - ({e}))*1e300 + 0*({f})",
        "underflow": f"exp(-1e4*(({e})+2))*({f})",
        "overflow": f"exp(1e3*(({e})+2))",
    }[how]
    refused = []
    for check in (lambda: expression.expression_target(text, 1), lambda: targets.expression(text, 1, 2)):
        try:
            check()
        except ValueError as err:
            refused.append(one_line(err))
    assert refused == [True, True], text


@pytest.mark.parametrize(
    "text, n, message",
    [("sqrt(x0)", 5, "no n >= 1 is valid"), ("abs(x0-0.5)", 2, "largest valid n is 1"), ("x0**3", 9, "1..8")],
)
def test_a_stated_smoothness_is_verified_with_constructs_check(tmp_path, polylab_in_process, text, n, message):
    (tmp_path / "c.toml").write_text(
        TINY.replace(
            'targets = [{ expr = "sin(3*x0) + x0**2", d = 1, n = 2 }]', f'targets = [{{ expr = "{text}", n = {n} }}]'
        )
    )
    code, _, err = polylab_in_process("rates", tmp_path / "c.toml", "--out", tmp_path / "o", "--dry-run")
    assert code == 2 and message in err and err.count("\n") == 1


def test_mutant_without_the_float_checks_a_zero_target_gets_through(monkeypatch):
    monkeypatch.setattr(expression, "check_numerically_meaningful", lambda *a: None)
    t = expression.expression_target("sin(x0)**2 + cos(x0)**2 - 1", 1)
    assert t.scale < 1e-14  # it would be "normalised" by rounding noise


# --------------------------------------------------------------------------- 6. lm user errors

LM_CASES = [
    ("--corpus", "missing"),
    ("--corpus", "empty"),
    ("--corpus", "folder"),
    ("--corpus", "/dev/zero"),
    ("--corpus", "fifo"),
    ("[data]", "val_percent = 0"),
    ("[data]", "val_percent = 100"),
    ("[data]", "val_percent = 150"),
    ("[data]", "max_train_bytes = 0"),
    ("[study]", "memory_steps = -1"),
    ("top", "description = 5"),
]


@pytest.mark.parametrize("where, what", LM_CASES)
def test_lm_user_errors_are_one_line(tmp_path, polylab_in_process, where, what):
    config = (REPO / "experiments/configs/lm_tiny.toml").read_text()
    args = []
    if where == "--corpus":
        path = {"missing": tmp_path / "nope.txt", "empty": tmp_path / "e.txt", "folder": tmp_path / "d"}.get(what, what)
        if what == "empty":
            path.write_text("")
        if what == "folder":
            path.mkdir()
        if what == "fifo":
            path = tmp_path / "f"
            os.mkfifo(path)
        args = ["--corpus", path]
    elif where == "top":
        config = f"{what}\n{config}"
    else:
        key = what.split(" = ")[0]
        config = "\n".join(line for line in config.splitlines() if not line.startswith(key + " "))
        config = config.replace(where, f"{where}\n{what}")
    (tmp_path / "s.toml").write_text(config)
    code, _, err = polylab_in_process("lm", tmp_path / "s.toml", "--out", tmp_path / "o", "--steps", "1", *args)
    assert code == 2 and err.count("\n") == 1, err


# --------------------------------------------------------------------------- 7. bounded waits


def test_an_unreachable_ray_address_is_refused_at_once():
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(UserError, match="cannot reach a Ray cluster"):
        executors.probe(f"127.0.0.1:{port}", seconds=2)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    "args",
    [
        ("construct", "theorem2", "--eps", "1e-300"),
        ("construct", "theorem3", "--target", "sin(pi*x0)", "--n", "2", "--N", "100000"),
        ("construct", "theorem3", "--target", "x0*x1", "--d", "2", "--n", "2", "--N", "4096"),
    ],
)
def test_constructions_too_large_to_wait_for_are_refused_up_front(polylab_in_process, args):
    start = time.perf_counter()
    code, _, err = polylab_in_process(*args)
    assert code == 2 and err.count("\n") == 1 and time.perf_counter() - start < 30, err


@pytest.mark.parametrize(
    "content", [None, "not json", '{"result": {"d": 1, "rows": [{}]}}', '{"result": {"d": 2, "rows": []}}']
)
def test_a_bad_beside_file_is_one_line_before_any_construction(tmp_path, polylab_in_process, content):
    path = tmp_path / "earlier.json"
    if content is not None:
        path.write_text(content)
    args = ("construct", "theorem3", "--target", "sin(pi*x0)", "--N", "2", "--no-relu", "--beside", str(path))
    code, out, err = polylab_in_process(*args)
    assert code == 2 and err.count("\n") == 1 and "--beside" in err and "Theorem 3" not in out, err


def test_a_ctrl_c_during_the_imports_is_held_until_they_end():
    """The block runs to its end and the interrupt is raised after it; the mutant (no hold) raises inside."""
    reached, before = [], signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs between bytecodes
        reached.append(True)
    assert reached == [True] and signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("delay", [0.05, 0.5, 1.0, 1.5, 2.0])
def test_a_ctrl_c_at_any_moment_ends_in_one_line(delay):
    """Any delay, the imports' included: one line and exit 130 (an interrupt inside a Cython module's
    initialisation once gave a traceback and exit 0, or death by SIGINT; approx/interrupts.py)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments", "fit", "x0**2", "--params", "30"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # killed by the signal itself only before Python has set its handler, and then silently
    before_python = proc.returncode == -signal.SIGINT and err == ""
    assert before_python or proc.returncode in (0, 130), (proc.returncode, err)
    assert err.count("\n") <= 1 and "Traceback" not in err, err


def test_a_killed_kernel_build_leaves_no_compiler_and_no_folder(tmp_path):
    """SIGKILL the lab while it compiles its C kernels: the compiler driver dies with it (PDEATHSIG), its
    own children (cc1, as) end within seconds, and nothing is on disk (the library is built in a memfd)."""
    code = "from approx.kernels import native_kernels as k; k.library()"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for delay in (0.3, 0.6, 0.9):
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        for _ in range(100):
            compilers = subprocess.run(["pgrep", "-f", "native_kernels.c"], capture_output=True, text=True).stdout
            if not compilers.strip():
                break
            time.sleep(0.1)
        assert not compilers.strip()
    assert not list(tmp_path.iterdir())
