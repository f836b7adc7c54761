"""The claims of the chapter's program (examples/ch07/mnist_mlp.py), on the MNIST subset.

They read the `results` of the example's one run as a notebook in this session
(tests/conftest.py). The thresholds sit well below what the subset gives on the book's
machine, to leave room for other machines and versions of PyTorch.
"""

import json

from examples.ch07 import mnist_mlp
from tests.helpers import REPO, describe, reader_folder, run_python

NAME = "ch07/mnist_mlp"


def test_trains_its_epochs_and_learns(notebook_run):
    results = notebook_run(NAME).results
    history = results["history"]
    assert [row["epoch"] for row in history] == list(range(1, mnist_mlp.EPOCHS + 1))
    first, last = history[0], history[-1]
    assert last["train_loss"] < 0.5 * first["train_loss"], "the training loss should at least halve"
    assert last["test_loss"] < first["test_loss"], "the test loss should fall"
    assert results["test_accuracy"] == last["test_accuracy"] >= 85.0


def test_saves_its_three_figures(notebook_run):
    run = notebook_run(NAME)
    for figure in ("history", "predictions", "confusion"):
        assert (run.folder / f"mnist_mlp_{figure}.png").stat().st_size > 0, figure


def test_missing_data_offline_gives_a_clear_message(tmp_path):
    result = run_python(
        ["-m", "examples.ch07.mnist_mlp"], cwd=reader_folder(tmp_path, with_data=False), timeout=300
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, describe(result)
    assert "data/MNIST/raw/" in result.stderr and "Offline?" in result.stderr, describe(result)


def test_recorded_run_reads_as_the_page_says():
    """The page's reading of the recorded figure: in the first epochs the training loss, a
    mean taken while the weights still changed, lies above the test loss measured at each
    epoch's end; and the accuracy it quotes is the last epoch's."""
    notebook = json.loads((REPO / "docs/notebooks/ch07/mnist_mlp.ipynb").read_text())
    results = notebook["metadata"]["recorded_run"]["results"]
    history = results["history"]
    assert len(history) == mnist_mlp.EPOCHS
    assert all(row["train_loss"] > row["test_loss"] for row in history[:2])
    assert results["test_accuracy"] == history[-1]["test_accuracy"]
