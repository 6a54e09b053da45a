"""Every teaching notebook runs top to bottom on CPU and draws its figures (nbclient)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_draws(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no figure"
    silent = silent_figure_cells(nb)
    assert not silent, f"{path.name}: cells {silent} create a figure but show none"


def silent_figure_cells(nb) -> list[int]:
    """Executed code cells that create a figure (``plt.subplots(``) but show no image: a lost figure."""
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        and "plt.subplots(" in c.source
        and not any("image/png" in o.get("data", {}) for o in c.outputs)
    ]


def test_a_lost_figure_is_caught():
    shown = nbformat.v4.new_code_cell("fig, ax = plt.subplots()")
    shown.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})]
    lost = nbformat.v4.new_code_cell("fig, ax = plt.subplots(); plt.close(fig)")
    lost.outputs = [nbformat.v4.new_output("stream", text="no picture")]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("plt.subplots("), shown, lost])
    assert silent_figure_cells(nb) == [2]
