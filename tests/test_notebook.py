"""The example notebook runs, cell by cell in a real kernel, against a live demo federation:
count → Kaplan–Meier → Cox → provenance → rerun."""

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO

from oncofed import demo as demo_mod

NOTEBOOK = REPO / "examples" / "survival-across-nodes.ipynb"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    live = demo_mod.start(tmp_path_factory.mktemp("notebook") / "demo")
    yield live
    live.stop()


def outputs(cell) -> str:
    return "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", []))


def test_the_survival_notebook_runs_against_a_live_federation(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("ONCOFED_HUB", demo.hub_url)  # the kernel inherits them
    monkeypatch.setenv("ONCOFED_TOKEN", demo.logins["researcher"].token)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(o["output_type"] != "error" for c in code for o in c.outputs)
    text = "\n".join(outputs(c) for c in code)
    assert "228 patients" in text  # the whole trial, from three nodes
    assert any(o.get("data", {}).get("image/png") for c in code for o in c.outputs)  # the plots
    assert "identical result" in outputs(code[-1])
    assert (tmp_path / "cox-provenance" / "ro-crate-metadata.json").is_file()


def test_without_settings_the_notebook_finds_the_running_demo(demo, monkeypatch, tmp_path):
    """Federation.connect_demo(), its fallback: the demo's folder named by ONCOFED_DEMO_DIR."""
    monkeypatch.delenv("ONCOFED_HUB", raising=False)
    monkeypatch.setenv("ONCOFED_DEMO_DIR", str(demo.folder))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells = nb.cells[:2]  # connecting is enough here
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert "demo-nl" in outputs(nb.cells[1]) and "relay" in outputs(nb.cells[1])
