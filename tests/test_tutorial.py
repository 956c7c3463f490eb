"""examples/tutorial.ipynb runs as shipped: every cell executed at smoke size by nbclient."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "examples" / "tutorial.ipynb"


def test_the_tutorial_notebook_runs_at_smoke_size(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLINK_TUTORIAL_SMOKE", "1")
    monkeypatch.setenv("TOKENLINK_TUTORIAL_OUT", str(tmp_path))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "commit the tutorial without outputs"
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    text = "\n".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for out in cell.outputs if out.output_type == "stream")
    assert "smoke: True" in text and "complete |" in text and "trained over the link" in text
    images = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs
              if "image/png" in out.get("data", {})]
    assert images, "the last cell shows a figure from the trace"
    assert (tmp_path / "analog_vs_digital.h5").is_file() and (tmp_path / "nmse_vs_snr.png").stat().st_size > 0


@pytest.mark.parametrize("package", ["nbclient", "nbformat", "ipykernel"])
def test_the_notebook_runner_is_pinned(package):
    assert f'"{package}==' in (REPO / "pyproject.toml").read_text()
