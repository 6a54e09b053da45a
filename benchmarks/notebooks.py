"""Time the teaching notebooks: each must run top to bottom on CPU in ≤ 60 s.

    .venv/bin/python benchmarks/notebooks.py [NAME ...]

Runs every ``notebooks/*.ipynb`` (or those whose file name contains one of the NAMEs) with nbclient,
as ``tests/test_notebooks.py`` does, in a scratch directory, one after the other. Prints one row per
notebook: wall seconds (kernel start included), the code cells, the figures drawn, and whether it ran
cleanly. Record the table in benchmarks/RESULTS.md with this command and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
LIMIT_S = 60.0


def run(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        error = ""
        try:
            NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
        except Exception as exc:  # a failing notebook is a row, not a crash of the benchmark
            error = type(exc).__name__
        seconds = time.perf_counter() - start
    code = [c for c in nb.cells if c.cell_type == "code"]
    figures = sum("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
    return {"notebook": path.stem, "seconds": seconds, "cells": len(code), "figures": figures, "error": error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only notebooks whose file name contains one of these")
    args = parser.parse_args(argv)
    paths = sorted((REPO / "notebooks").glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(n in p.name for n in args.names)]
    if not paths:
        print("no notebook matches", file=sys.stderr)
        return 2
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start")
    print(f"| notebook | seconds | code cells | figures | ≤ {LIMIT_S:.0f} s |")
    print("| --- | --- | --- | --- | --- |")
    bad = 0
    for path in paths:
        row = run(path)
        ok = not row["error"] and row["figures"] > 0 and row["seconds"] <= LIMIT_S
        bad += not ok
        status = "yes" if ok else f"NO {row['error']}".strip()
        cells = f"{row['seconds']:.1f} | {row['cells']} | {row['figures']}"
        print(f"| {row['notebook']} | {cells} | {status} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
