"""ruff and mypy are part of the suite: style and type regressions fail CI like any other test."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ruff_check_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a dev dependency: pip install -e '.[dev]'"
    out = subprocess.run([ruff, "check", str(REPO)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    out = subprocess.run([ruff, "format", "--check", str(REPO)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_is_clean_on_theory_and_approx():
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert mypy, "mypy is a dev dependency: pip install -e '.[dev]'"
    out = subprocess.run([mypy], capture_output=True, text=True, cwd=REPO)  # files and options: pyproject.toml
    assert out.returncode == 0, out.stdout + out.stderr


def test_theory_knows_nothing_of_torch_and_approx_nothing_of_sympy():
    for path in (REPO / "theory").rglob("*.py"):
        if path.name != "export.py":
            assert "import torch" not in path.read_text(), path
    for path in (REPO / "approx").rglob("*.py"):
        assert "sympy" not in path.read_text(), path
