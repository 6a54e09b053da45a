"""The docs in the repo: every citation of docs/theory.md resolves, and every relative link exists."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = [
    p
    for pattern in (
        "grammar/**/*.py",
        "theory/**/*.py",
        "approx/**/*.py",
        "experiments/**/*.py",
        "benchmarks/**/*.py",
        "tests/**/*.py",
        "notebooks/*.ipynb",
        "*.md",
        "docs/**/*.md",
        "benchmarks/*.md",
    )
    for p in REPO.glob(pattern)
    if p.name != "test_docs.py"  # its own examples are no citations
]
PAGES = [
    REPO / "README.md",
    REPO / "CONTRIBUTING.md",
    REPO / "benchmarks" / "RESULTS.md",
    *(REPO / "docs").rglob("*.md"),
]


def test_every_theory_citation_names_a_section_that_exists():
    text = (REPO / "docs" / "theory.md").read_text()
    sections = set(re.findall(r"^## (\d+)\.", text, re.M)) | set(re.findall(r"^### (\d+\.\d+) ", text, re.M))
    cited = {}
    for path in SOURCES:
        body = path.read_text()
        for group in re.findall(r"docs/theory\.md((?:,? ?§\d+(?:\.\d+)?(?:[–-]§\d+(?:\.\d+)?)?)+)", body):
            for number in re.findall(r"§(\d+(?:\.\d+)?)", group):
                cited.setdefault(number, path)
        for number in re.findall(r"\(§(\d+\.\d+)", body):  # "(§5.1–§5.3)" after an earlier full citation
            cited.setdefault(number, path)
    assert cited, "no citation found: the pattern is wrong"
    missing = {n: str(p) for n, p in cited.items() if n not in sections}
    assert not missing, missing
    assert not [p for p in SOURCES if "THEORY.md" in p.read_text()], "a citation of the old, unshipped THEORY.md"


def test_relative_links_in_the_docs_exist():
    broken = []
    for page in PAGES:
        for link in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if not link.startswith(("http://", "https://")) and not (page.parent / link).exists():
                broken.append(f"{page.name}: {link}")
    assert not broken, broken


def test_readme_stays_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 150


def test_every_source_path_the_docs_name_exists():
    """A page that names ``approx/fitting/x.py`` or ``experiments/configs/y.toml`` names a file that is there."""
    folders = "grammar|theory|approx|experiments|benchmarks|tests|notebooks|docs|results"
    pattern = rf"`((?:{folders})/[\w./-]+\.(?:py|toml|md|c|ipynb|json|png|sh))"
    stale = []
    for page in [*PAGES, *SOURCES]:
        for path in re.findall(pattern, page.read_text()):
            if not (REPO / path).exists():
                stale.append(f"{page.relative_to(REPO)}: {path}")
    assert not stale, "\n".join(sorted(set(stale)))


def test_the_readme_python_lines_run_as_written(tmp_path):
    """The README's Python block, verbatim, in a fresh folder: an expression string, a plot, save and load."""
    block = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "the README has no Python block"
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", block.group(1)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "fit.pt").exists()
