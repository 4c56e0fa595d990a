"""Execute the notebooks and store them with their outputs, without volatile metadata.

Every notebook in this folder is kept with its outputs (tables and charts), so a reader sees
the analysis without running it. ``tests/test_notebooks.py`` executes each notebook and
checks that the stored outputs are those of the current code; when the code's numbers change
on purpose, refresh them::

    python notebooks/refresh.py                      # every notebook
    python notebooks/refresh.py visit_budget_sweep   # one

What is kept: cell sources, outputs (text, tables, PNG charts) and execution counts. What is
dropped: timings, kernel and language versions, widget state, cell ids' randomness (ids are
renumbered), anything under a cell's ``metadata.execution``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

FOLDER = Path(__file__).resolve().parent
NOTEBOOKS = sorted(p.stem for p in FOLDER.glob("*.ipynb"))
TIMEOUT = 600


def execute(name: str) -> nbformat.NotebookNode:
    """Run notebook ``name`` top to bottom in the notebooks folder; return it with outputs."""
    import nbclient

    notebook = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=TIMEOUT,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(FOLDER)}},
    )
    client.execute()
    return normalise(notebook)


def normalise(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes from one execution to the next without the results changing."""
    notebook.metadata = nbformat.from_dict(
        {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    )
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
        cell.metadata = nbformat.from_dict({})
        for output in cell.get("outputs", []):
            output.pop("metadata", None) if not output.get("metadata") else None
            if "metadata" in output:
                output["metadata"] = nbformat.from_dict({})
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    return notebook


def store(name: str) -> Path:
    """Execute notebook ``name`` and write it back with its outputs."""
    notebook = execute(name)
    path = FOLDER / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def main(names: list[str]) -> int:
    for name in names or NOTEBOOKS:
        if name not in NOTEBOOKS:
            print(f"error: no notebook {name!r}; notebooks are {NOTEBOOKS}", file=sys.stderr)
            return 1
        print(f"stored {store(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
