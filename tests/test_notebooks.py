"""Every example is also a notebook: recorded under docs/notebooks/, in step with its source.

The book renders the notebooks that `python -m examples.record` executed on the full MNIST;
the build itself runs nothing. These tests make sure that what it renders is current, that
each example also runs as a notebook, and that every number the prose quotes exists.
"""

import pathlib

import pytest

from examples import record
from hooks import recorded_runs
from tests.conftest import EXAMPLES
from tests.helpers import REPO, reader_folder

PAGES = sorted((REPO / "docs").rglob("*.md"))


def name(example: pathlib.Path) -> str:
    return f"{example.parent.name}/{example.stem}"


@pytest.fixture(scope="module", params=EXAMPLES, ids=name)
def recorded(request):
    example = request.param
    path = record.recorded_path(example)
    command = f"python -m examples.record --data-root ../shared/data {name(example)}"
    assert path.is_file(), f"{name(example)} has no recorded notebook; run `{command}`"
    return example, record.nbformat.read(path, as_version=4), command


def test_recorded_notebook_matches_the_example(recorded):
    example, notebook, command = recorded
    current = record.source_cells(record.notebook_of(example))
    assert record.source_cells(notebook) == current, (
        f"{example.relative_to(REPO)} changed since its run was recorded; run `{command}`")


def test_recorded_notebook_opens_with_its_facts(recorded):
    _, notebook, _ = recorded
    record.nbformat.validate(notebook)  # what readers download must open in Jupyter
    facts_cell = notebook.cells[1]
    assert record.FACTS_TAG in facts_cell.metadata.get("tags", [])
    facts = notebook.metadata["recorded_run"]
    for key in ("date", "python", "torch", "torchvision", "wall_seconds", "results"):
        assert key in facts, f"the recorded run lacks {key}"
        assert str(facts[key]) in facts_cell.source or key in ("results", "wall_seconds")
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]


def test_mnist_mlp_recording_has_its_figures():
    notebook = record.nbformat.read(REPO / "docs/notebooks/ch07/mnist_mlp.ipynb", as_version=4)
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3, "history, predictions and confusion matrix"
    results = notebook.metadata["recorded_run"]["results"]
    assert results["train_images"] == 60_000 and results["test_images"] == 10_000, "recorded on full MNIST"
    for figure in ("history", "predictions", "confusion"):
        assert (REPO / f"docs/notebooks/ch07/mnist_mlp_{figure}.png").is_file()


@pytest.mark.parametrize("example", EXAMPLES, ids=name)
def test_example_runs_as_a_notebook(example, tmp_path):
    notebook, facts = record.execute(example, reader_folder(tmp_path))  # raises on any cell's error
    assert isinstance(facts["results"], dict), "the example should leave a `results` dictionary"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO / "docs")))
def test_every_quoted_figure_exists_in_the_recorded_runs(page):
    text = page.read_text(encoding="utf-8")
    for match in recorded_runs.PLACEHOLDER.finditer(text):
        value = recorded_runs.lookup(match["run"], match["path"])  # raises if missing
        format(value, match["spec"] or "")  # and the format spec must fit the value
