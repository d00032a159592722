"""The notebooks in experiments/notebooks execute top to bottom without errors (on CPU, in a temporary kernel).

Each runs with nbclient in a fresh kernel of *this* interpreter (a kernelspec
written to a temporary JUPYTER_PATH, so a user-wide ``python3`` kernelspec
cannot pick another Python), from its own folder, as Jupyter would. The
notebooks write only to temporary folders; outputs are never saved back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parents[1] / "experiments" / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 300  # per cell; a whole notebook takes 10-70 s on 2 CPU cores
# Notebooks that train (OPEN's per-layer probe, a meta-training run) take ~30-70 s: slow, run in CI.
SLOW = {"01_published_open", "03_meta_training_run"}


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory) -> Path:
    """A JUPYTER_PATH whose ``python3`` kernel is this interpreter."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    return root


def test_notebooks_exist_and_are_stripped():
    assert [p.name for p in NOTEBOOKS] == [
        "01_published_open.ipynb",
        "02_drift_objectives.ipynb",
        "03_meta_training_run.ipynb",
        "04_distill_rules.ipynb",
    ]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        nbformat.validate(book)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW else []) for p in NOTEBOOKS]
)
def test_notebook_runs(path, kernel_path, monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.chdir(tmp_path)  # anything written to the working directory by mistake lands here
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    images = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name}: no figure was displayed"
