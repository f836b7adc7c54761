"""The claims of "Regularization" (examples/ch07/regularization.py), on the MNIST subset.

They read the `results` of the example's one run as a notebook in this session
(tests/conftest.py), which trains on a small part of the subset's training digits to make
overfitting visible. The thresholds sit well below what the subset gives on the book's
machine. The page's comparison between regularizers is a claim of the recorded full-MNIST
run, checked on it (the last test): on the subset's 1,000 test digits a difference of one
point is ten digits.
"""

import json

import torch
import torch.nn as nn

from examples.ch07 import regularization
from tests.helpers import REPO


def test_the_small_training_set_is_overfitted(notebook_run):
    results = notebook_run("ch07/regularization").results
    runs = results["runs"]
    assert list(runs) == list(regularization.VARIANTS)
    assert results["train_images"] == regularization.TRAIN_IMAGES
    baseline = runs["baseline"]["final"]
    assert baseline["train_accuracy"] >= 99.0, "the baseline learns its training images by heart"
    assert baseline["gap"] >= 5.0, (
        f"a gap of {baseline['gap']:.1f} points is too small to call overfitting"
    )
    for key, run in runs.items():
        final = run["final"]
        assert final["epoch"] == regularization.EPOCHS, key
        assert abs(final["train_accuracy"] - final["test_accuracy"] - final["gap"]) < 0.02, key
        assert final["test_accuracy"] >= 80.0, (
            f"{key}: {final['test_accuracy']:.1f} % on the subset"
        )


def test_train_and_eval_modes(notebook_run):
    """What the page shows: dropout makes train() outputs random, eval() is deterministic,
    and the two modes disagree."""
    modes = notebook_run("ch07/regularization").results["modes"]
    assert modes == {
        "train_twice_equal": False,
        "eval_twice_equal": True,
        "train_eval_equal": False,
    }


def test_a_forward_pass_in_train_mode_updates_running_statistics():
    """The page warns that evaluating in train() mode changes batch norm's running
    statistics, even under torch.no_grad()."""
    torch.manual_seed(0)
    norm = nn.BatchNorm1d(4)
    before = norm.running_mean.clone()
    with torch.no_grad():
        norm.eval()
        norm(torch.randn(8, 4) + 3)
        assert torch.equal(norm.running_mean, before)
        norm.train()
        norm(torch.randn(8, 4) + 3)
    assert not torch.equal(norm.running_mean, before)


def test_baseline_is_the_chapters_network():
    """Without options the network has exactly the chapter's 407,050 parameters."""
    net = regularization.Net()
    assert sum(p.numel() for p in net.parameters()) == 784 * 512 + 512 + 512 * 10 + 10 == 407050
    with_norm = regularization.Net(batch_norm=True)
    assert sum(p.numel() for p in with_norm.parameters()) == 407050 + 2 * 512


def recorded(section):
    notebook = json.loads((REPO / f"docs/notebooks/ch07/{section}.ipynb").read_text())
    return notebook["metadata"]["recorded_run"]["results"]


def test_recorded_run_reads_as_the_page_says():
    """The page's reading: "every variant overfits", "each regularizer narrows the gap, but
    only a little" (at most about one point), the test loss of each variant, "more is not
    better", and the chapter's program on the whole training set far ahead of every
    variant."""
    results = recorded("regularization")
    runs = {key: run["final"] for key, run in results["runs"].items()}
    assert all(final["train_accuracy"] == 100.0 for final in runs.values())
    baseline = runs["baseline"]
    for key in ("weight_decay", "dropout", "batch_norm"):
        assert 0 < baseline["gap"] - runs[key]["gap"] < 1.5, key
        assert runs[key]["test_loss"] < baseline["test_loss"] - 0.02, key
    assert results["smallest_gap"] == results["best"] == "batch_norm"
    assert runs["batch_norm"]["test_loss"] == min(final["test_loss"] for final in runs.values())
    history = results["runs"]["baseline"]["history"]
    lowest = results["runs"]["baseline"]["lowest_test_loss"]
    assert lowest["epoch"] < regularization.EPOCHS and baseline["test_loss"] > lowest["test_loss"]
    accuracies = [row["test_accuracy"] for row in history[lowest["epoch"] - 1 :]]
    assert max(accuracies) - min(accuracies) < 1.0, "the test accuracy hardly moved"
    everything = runs["all"]
    assert everything["test_accuracy"] < runs["batch_norm"]["test_accuracy"] - 0.5
    assert everything["test_accuracy"] < baseline["test_accuracy"] + 0.1, "no better than none"
    assert abs(everything["test_loss"] - baseline["test_loss"]) < 0.01, "back to the baseline's"
    mlp = recorded("mnist_mlp")
    assert mlp["test_accuracy"] > max(final["test_accuracy"] for final in runs.values()) + 5
    last = mlp["history"][-1]
    assert 0 < last["test_loss"] - last["train_loss"] < 0.05, (
        "the chapter's network hardly overfits"
    )
