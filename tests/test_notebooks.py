"""The notebooks in notebooks/: each runs top to bottom on the real data in a Jupyter kernel of this interpreter,
without an error, and those that draw show their plots inline; and every notebook in the repository is stored
without outputs, so that the notebooks stay clean in git."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 600
SKIP_DIRS = {"__pycache__", "runs", "build", "dist", "node_modules"}


def _repo_notebooks() -> list[Path]:
    """Every .ipynb in the repository, outside hidden folders (.venv, .git, .ipynb_checkpoints) and build output."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS and not d.endswith(".egg-info")]
        found += [Path(folder) / f for f in files if f.endswith(".ipynb")]
    return sorted(found)


def _code(nb) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


def test_the_notebooks_are_there():
    names = [p.name for p in NOTEBOOKS]
    for expected in ("01_quickstart.ipynb", "02_training_and_strategies.ipynb", "03_export_and_serving.ipynb",
                     "04_text_models.ipynb"):
        assert expected in names


@pytest.mark.parametrize("path", _repo_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_stored_clean(path):
    missing = [i for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]) if "id" not in cell]
    assert not missing, f"{path.name}: cells {missing} have no id, which nbformat 4.5 requires (and will refuse)"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} carry outputs or execution counts; clear them before committing "
                       f"(jupyter nbconvert --clear-output --inplace {path.relative_to(ROOT)})")
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernel is not python3"
    assert nb.cells and nb.cells[0].cell_type == "markdown", f"{path.name} should open with a markdown introduction"


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.timeout(4 * CELL_TIMEOUT_S)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, real_data_dir, tmp_path, monkeypatch):
    # The kernel inherits this environment: the real data, the repository's zoo, no downloads, its temporary
    # folders under tmp_path, and matplotlib left to ipykernel (inline) whatever MPLBACKEND the caller had.
    monkeypatch.setenv("ZOO_DATA_DIR", str(real_data_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)

    nb = nbformat.read(path, as_version=4)
    # A first cell of the test's own: the kernel must be this interpreter (ipykernel installed in this venv).
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.perf_counter()
    client.execute()
    print(f"{path.name}: executed in {time.perf_counter() - start:.1f} s")

    probe = nb.cells.pop(0)
    assert probe.outputs[0].text.strip() == sys.prefix, (
        f"the python3 kernel runs {probe.outputs[0].text.strip()}, not this interpreter ({sys.prefix}): install "
        f"ipykernel here (pip install -e '.[test]')")
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code_cells, f"{path.name} has no code"
    for i, cell in enumerate(code_cells):
        assert cell.execution_count is not None, f"{path.name}: code cell {i} did not run"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{path.name}: code cell {i} failed: {errors[0].ename}: {errors[0].evalue}"
        tracebacks = [o.text for o in cell.outputs if o.output_type == "stream" and "Traceback (most recent" in o.text]
        assert not tracebacks, f"{path.name}: code cell {i} printed a traceback:\n{tracebacks[0][-2000:]}"
    if "matplotlib" in _code(nb) or "display(Image" in _code(nb):
        pngs = sum("image/png" in o.get("data", {}) for cell in code_cells for o in cell.outputs)
        assert pngs, f"{path.name} draws with matplotlib but showed no image/png output"
    assert any(o.output_type in ("stream", "execute_result", "display_data") for cell in code_cells
               for o in cell.outputs), f"{path.name} showed nothing"
