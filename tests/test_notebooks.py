"""The recorded notebooks under docs/notebooks/ are current, and hold what the pages quote.

The book renders the notebooks that `python -m examples.record` executed on the full MNIST;
the build itself runs nothing. These tests make sure that what it renders is current and
opens in Jupyter, and that every number the prose quotes exists. (That each example also
runs as a notebook is tests/test_examples.py's.)
"""

import nbformat
import pytest

from examples import record
from hooks import recorded_runs
from tests.conftest import EXAMPLES, example_name
from tests.helpers import PAGES, REPO


@pytest.fixture(scope="module", params=EXAMPLES, ids=example_name)
def recorded(request):
    example = request.param
    path = record.recorded_path(example)
    command = (
        f"python -m examples.record --data-root <folder holding MNIST/raw> {example_name(example)}"
    )
    assert path.is_file(), f"{example_name(example)} has no recorded notebook; run `{command}`"
    return example, nbformat.read(path, as_version=4), command


def test_recorded_notebook_matches_the_example(recorded):
    example, notebook, command = recorded
    current = record.source_cells(record.notebook_of(example))
    assert record.source_cells(notebook) == current, (
        f"{example.relative_to(REPO)} changed since its run was recorded; run `{command}`"
    )


def test_recorded_notebook_opens_with_its_facts(recorded):
    _, notebook, _ = recorded
    nbformat.validate(notebook)  # what readers download must open in Jupyter
    facts_cell = notebook.cells[1]
    assert record.FACTS_TAG in facts_cell.metadata.get("tags", [])
    facts = notebook.metadata["recorded_run"]
    for key in ("date", "python", "torch", "torchvision", "wall_seconds", "results"):
        assert key in facts, f"the recorded run lacks {key}"
        assert str(facts[key]) in facts_cell.source or key in ("results", "wall_seconds")
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]


def test_the_chapters_program_was_recorded_on_the_full_mnist_with_its_figures():
    notebook = nbformat.read(REPO / "docs/notebooks/ch07/mnist_mlp.ipynb", as_version=4)
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3, "history, predictions and confusion matrix"
    results = notebook.metadata["recorded_run"]["results"]
    assert results["train_images"] == 60_000 and results["test_images"] == 10_000
    for figure in ("history", "predictions", "confusion"):
        assert (REPO / f"docs/notebooks/ch07/mnist_mlp_{figure}.png").is_file()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO / "docs")))
def test_every_quoted_figure_exists_in_the_recorded_runs(page):
    text = page.read_text(encoding="utf-8")
    for match in recorded_runs.PLACEHOLDER.finditer(text):
        value = recorded_runs.lookup(match["run"], match["path"])  # raises if missing
        format(value, match["spec"] or "")  # and the format spec must fit the value
