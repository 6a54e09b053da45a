"""The layout is the architecture: imports point down, no import circle, and one module dispatches on activations.

Floors, bottom up: grammar/ (the target language), then theory/ (exact, SymPy) and approx/ (torch),
then experiments/ (both). theory/ reaches approx/ only through theory/export.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from approx.activations import FAMILIES

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("grammar", "theory", "approx", "experiments")
#: package -> the packages it may import
ALLOWED = {
    "grammar": set(),
    "theory": {"grammar"},
    "approx": {"grammar"},
    "experiments": {"grammar", "theory", "approx"},
}
#: the one module that dispatches on activation names
TABLE = "approx/activations/table.py"
#: PolyCom's ρ table names base functions (some share an activation's name): a table of its own
RHO_TABLE = "approx/activations/modules.py"


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def imports(path: Path) -> set[str]:
    """Modules of the lab that ``path`` imports, at any depth of the file (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in PACKAGES}


def test_imports_point_down():
    wrong = []
    for name, path in modules().items():
        package = name.split(".")[0]
        for target in imports(path):
            other = target.split(".")[0]
            if other != package and other not in ALLOWED[package] and name != "theory.export":
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circle():
    """Module-level imports form no cycle (a lazy import inside a function is how a cycle is broken)."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        top = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                top |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top |= {
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module for a in node.names
                }
        graph[name] = {m for m in top if m in mods and m != name}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(n: str, stack: list[str]) -> bool:
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1 and not (n.startswith(m + ".") or m == n.rsplit(".", 1)[0]):
                cycle.extend([*stack, n, m])
                return True
            if m not in state and visit(m, [*stack, n]):
                return True
        state[n] = 2
        return False

    for n in sorted(graph):
        if n not in state and visit(n, []):
            break
    assert not cycle, " -> ".join(cycle[cycle.index(cycle[-1]) :])


def _dispatches(path: Path) -> list[str]:
    """Places where source compares against, matches on, or keys a table by activation names."""
    names = set(FAMILIES)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        consts = []
        if isinstance(node, ast.Compare):  # x == "relu", x in ("relu", "gelu"); not "relu" in some_dict
            for op, side in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.Eq | ast.NotEq):
                    consts += [e.value for e in (node.left, side) if isinstance(e, ast.Constant)]
                elif isinstance(op, ast.In | ast.NotIn) and isinstance(side, ast.Tuple | ast.List | ast.Set):
                    consts += [e.value for e in side.elts if isinstance(e, ast.Constant)]
        elif isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant):
            consts.append(node.value.value)
        elif isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            if len(names & set(keys)) >= 2:
                consts += keys
        hits = sorted(names & {c for c in consts if isinstance(c, str)})
        if hits:
            found.append(f"{path}:{node.lineno}: {', '.join(hits)}")
    return found


def test_the_cli_imports_torch_only_inside_its_ctrl_c_hold():
    """``experiments.cli`` and ``approx.interrupts`` load without torch, so the CLI's first heavy import
    happens inside ``interrupts_held`` (approx/interrupts.py); ``approx``'s API is loaded on first use."""
    code = (
        "import sys, experiments.cli, approx.interrupts; print('torch' in sys.modules)\n"
        "import approx; approx.fit; print('torch' in sys.modules, 'fit' in dir(approx))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.split() == ["False", "True", "True"], out


def test_each_activation_is_dispatched_in_one_module():
    found = []
    for package in ("approx", "experiments"):
        for path in (REPO / package).rglob("*.py"):
            if str(path.relative_to(REPO)) not in (TABLE, RHO_TABLE):
                found += _dispatches(path)
    assert not found, "dispatch on activation names outside the table:\n" + "\n".join(found)


def test_the_dispatch_check_sees_a_dispatch(tmp_path):
    """The check above can fail: a module that branches on a name is found."""
    bad = tmp_path / "bad.py"
    bad.write_text('def f(act):\n    if act.name == "polyrelu":\n        return 1\n    return {"relu": 1, "tanh": 2}\n')
    assert len(_dispatches(bad)) == 2


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_stacks_and_exports_to_the_same_function(name):
    """Each table entry's stacked form and its library module compute the same network."""
    import torch

    from approx.activations import Activation
    from approx.fitting.models import Architecture

    arch = Architecture(2, 5, 2, Activation(name))
    theta = arch.init([0, 1])
    x = torch.rand(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    stacked = arch.forward(theta, x)
    assert stacked.shape == (2, 7) and bool(stacked.isfinite().all())
    with torch.no_grad():
        single = torch.stack([arch.to_module(row)(x) for row in theta])
    torch.testing.assert_close(single, stacked, rtol=1e-12, atol=1e-13)


def test_no_function_is_longer_than_80_lines():
    long = []
    for package in (*PACKAGES, "benchmarks"):
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                    if lines > 80:
                        long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)
