"""The output layer (experiments/output_paths.py): no write through a symlink, into a special file, or to a bad name.

Each test builds the hostile file system a downloaded results folder could carry, runs the lab on
it, and checks that the file system is unchanged and the lab refused with one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments import output_lock, output_paths
from experiments.atomic_io import write_json, write_text
from experiments.user_errors import UserError

PRECIOUS = "the user's file: must survive\n"


def _snapshot(root) -> dict:
    """Every path under root with its kind, size and content (for regular files): what must not change."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            info = os.lstat(p)
            body = Path(p).read_bytes() if stat.S_ISREG(info.st_mode) else os.readlink(p) if os.path.islink(p) else b""
            out[os.path.relpath(p, root)] = (stat.S_IFMT(info.st_mode), body)
    return out


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text(PRECIOUS)
    return path


def test_symlinked_lock_is_refused_and_its_target_survives(tmp_path, victim):
    out = tmp_path / "downloaded"
    out.mkdir()
    (out / ".lock").symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"), output_lock.hold(out):
        pass
    assert victim.read_text() == PRECIOUS


def test_hard_linked_lock_is_refused_and_its_target_survives(tmp_path, victim):
    out = tmp_path / "downloaded"
    out.mkdir()
    os.link(victim, out / ".lock")
    with pytest.raises(UserError, match="hard links"), output_lock.hold(out):
        pass
    assert victim.read_text() == PRECIOUS


def test_fifo_lock_is_refused_without_blocking(tmp_path):
    out = tmp_path / "downloaded"
    out.mkdir()
    os.mkfifo(out / ".lock")
    with pytest.raises(UserError, match="FIFO|not a regular file"), output_lock.hold(out):
        pass


@pytest.mark.parametrize("command", ["rates", "report"])
def test_cli_on_a_symlinked_lock_exits_2_and_changes_nothing(tmp_path, victim, polylab_in_process, command):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "o"
    out.mkdir()
    (out / ".lock").symlink_to(victim)
    before = _snapshot(tmp_path)
    args = ("rates", config, "--out", out, "--no-progress") if command == "rates" else ("report", out)
    code, _, err = polylab_in_process(*args)
    assert code == 2 and "symbolic link" in err and err.count("\n") == 1
    assert _snapshot(tmp_path) == before


def test_atomic_write_refuses_special_files_and_symlinks(tmp_path, victim):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    folder = tmp_path / "folder.json"
    folder.mkdir()
    before = _snapshot(tmp_path)
    for path in (fifo, link, folder):
        with pytest.raises(UserError, match="regular files"):
            write_json(path, {"a": 1})
    assert _snapshot(tmp_path) == before


def test_atomic_write_refuses_a_symlinked_folder(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "figures").symlink_to(real)
    with pytest.raises(UserError, match="symbolic link"):
        write_text(tmp_path / "out" / "figures" / "rates.md", "x")
    assert list(real.iterdir()) == []


def test_device_node_as_json_is_refused(tmp_path, polylab_in_process):
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here (needs CAP_MKNOD)")
    code, out, err = polylab_in_process("fit", "x0**2", "--params", "20", "--json", device)
    assert code == 2 and "a device" in err
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert "params" not in out  # refused before any fit ran


def test_fifo_as_json_is_refused_before_the_fit(tmp_path, polylab_in_process):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    code, out, err = polylab_in_process("fit", "x0**2", "--params", "20", "--json", fifo)
    assert code == 2 and "FIFO" in err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_unwritable_json_folder_is_refused_before_the_fit(tmp_path, polylab_in_process):
    (tmp_path / "a.txt").write_text("a file, not a folder")
    code, out, err = polylab_in_process("fit", "x0**2", "--params", "20", "--json", tmp_path / "a.txt" / "r.json")
    assert code == 2 and ("not a folder" in err or "Not a directory" in err)
    assert "sup error" not in out


@pytest.mark.parametrize("out", ["", "   "])
def test_empty_out_is_refused(tmp_path, polylab_in_process, out):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    code, _, err = polylab_in_process("rates", config, "--out", out)
    assert code == 2 and "empty" in err


def test_out_naming_a_file_is_refused(tmp_path, victim, polylab_in_process):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    code, _, err = polylab_in_process("rates", config, "--out", victim)
    assert code == 2 and "not a folder" in err
    assert victim.read_text() == PRECIOUS


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=600))
def test_slug_is_always_a_legal_file_name(name):
    s = output_paths.slug(name)
    assert 0 < len(os.fsencode(s)) <= output_paths.NAME_MAX and "/" not in s and s not in (".", "..")


def test_long_names_do_not_collide():
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert output_paths.slug(a) != output_paths.slug(b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["symlink", "fifo", "folder", "hardlink"]),
    where=st.sampled_from([".lock", "results.csv", "config.toml", "summary.json", "run.json", "report.md"]),
)
def test_hostile_entries_in_an_output_folder_never_change_the_file_system(tmp_path_factory, kind, where):
    """Generated hostile folders: one special entry at a name the lab writes; the lab refuses or skips it."""
    root = tmp_path_factory.mktemp("hostile")
    victim = root / "victim.txt"
    victim.write_text(PRECIOUS)
    out = root / "o"
    out.mkdir()
    entry = out / where
    {
        "symlink": lambda: entry.symlink_to(victim),
        "fifo": lambda: os.mkfifo(entry),
        "folder": lambda: entry.mkdir(),
        "hardlink": lambda: os.link(victim, entry),
    }[kind]()
    before = _snapshot(root)
    try:
        with output_lock.hold(out):
            write_text(out / where, "written\n")
    except UserError:
        pass
    after = _snapshot(root)
    assert after["victim.txt"] == before["victim.txt"]
    allowed = set() if where == ".lock" else {"o/.lock"}  # a fresh lock beside a refused file is fine
    if kind == "hardlink" and where != ".lock":  # replacing a hard-linked name leaves the victim's data alone
        allowed.add(f"o/{where}")
    assert {k for k in set(before) | set(after) if before.get(k) != after.get(k)} <= allowed


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_a_plain_open_would(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        written = write_text(tmp_path / "results.csv", "a,b\n")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == mode
    assert not list(tmp_path.glob(".*"))  # no temp file left behind
