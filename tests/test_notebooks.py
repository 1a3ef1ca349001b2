"""Every tutorial in notebooks/ runs top to bottom, in a fresh kernel, on the bundled data.

The notebooks read `KERASNLM_NOTEBOOK_SIZE`: "small" (set here) trains each model for a few
steps so the suite stays fast; unset, they run at the size a person would read them at.
"""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TUTORIALS = 7  # the design card's list; a notebook removed by mistake fails here


def test_every_tutorial_is_present():
    assert len(NOTEBOOKS) == TUTORIALS, [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    notebook = nbformat.read(path, as_version=4)
    stored = [cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"]
    assert not any(stored), f"{path.name} is stored with outputs: clear them before committing"
    monkeypatch.setenv("KERASNLM_NOTEBOOK_SIZE", "small")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # A raising cell raises CellExecutionError here, naming the cell and the traceback.
    NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    errors = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert not errors
