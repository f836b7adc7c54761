"""The claims of "Regularization" (examples/ch07/regularization.py), on the MNIST subset.

Most read the `results` of the example's one run as a notebook in this session
(tests/conftest.py), which trains on a small part of the subset's training digits to make
overfitting visible, measures it on a validation set held out from the others, and reads the
test set once at the end. The thresholds sit well below what the subset gives on the book's
machine. That the test set is read only after every choice is made, and that early stopping
keeps the network of the best validation epoch, are checked on a short run of the program's
`main` (a few epochs on the subset, in this process), whose calls can be watched. The page's
comparison between regularizers is a claim of the recorded full-MNIST run, checked on it
(the last test): on the subset's 1,000 test digits a difference of one point is ten digits.
"""

import copy
import json

import pytest
import torch
import torch.nn as nn

from examples.ch07 import regularization
from tests.helpers import REPO, reader_folder

HISTORY_KEYS = {
    "epoch",
    "train_loss",
    "train_accuracy",
    "validation_loss",
    "validation_accuracy",
    "gap",
}


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
        assert final == run["history"][-1], key
        assert abs(final["train_accuracy"] - final["validation_accuracy"] - final["gap"]) < 0.02
        assert final["validation_accuracy"] >= 80.0, (
            f"{key}: {final['validation_accuracy']:.1f} % on the subset"
        )


def test_the_validation_set_is_one_training_image_in_twelve(notebook_run):
    """The subset's 4,000 training images give 333 for validation; the test set is whole."""
    results = notebook_run("ch07/regularization").results
    assert results["validation_images"] == round(4000 / 12) == 333
    assert results["test_images"] == 1000


def test_split_validation_holds_out_a_seeded_disjoint_set():
    """What the page says of split_validation: one image in twelve (5,000 of 60,000), the
    same ones on every run, none of them in the training part."""
    images = torch.arange(60000).float()
    labels = torch.arange(60000)
    (train_x, train_y), (validation_x, validation_y) = regularization.split_validation(
        images, labels
    )
    assert len(validation_x) == 5000 and len(train_x) == 55000
    assert torch.equal(train_x.long(), train_y) and torch.equal(validation_x.long(), validation_y)
    assert not set(train_y.tolist()) & set(validation_y.tolist())
    again = regularization.split_validation(images, labels)[1][1]
    assert torch.equal(again, validation_y), "a fixed seed: the same images every run"
    assert not torch.equal(validation_y, torch.arange(55000, 60000)), "drawn at random"


def test_history_holds_training_and_validation_figures_only(notebook_run):
    """The test set is not read during training: no per-epoch figure comes from it."""
    results = notebook_run("ch07/regularization").results
    for key, run in results["runs"].items():
        for row in run["history"]:
            assert set(row) == HISTORY_KEYS, key
        assert set(run["early_stopping"]) == HISTORY_KEYS, key


def test_every_choice_is_made_on_validation_figures(notebook_run):
    """Each variant's early-stopping epoch is its lowest validation loss; the chosen
    variant has the lowest validation loss of all checkpoints; the smallest gap is on
    validation; the test set measures only the chosen variant and the baseline, each at its
    last epoch and at the checkpoint chosen on validation."""
    results = notebook_run("ch07/regularization").results
    runs = results["runs"]
    for key, run in runs.items():
        lowest = min(run["history"], key=lambda row: row["validation_loss"])
        assert run["early_stopping"] == lowest, key
    chosen = min(runs, key=lambda key: runs[key]["early_stopping"]["validation_loss"])
    assert results["chosen"] == chosen
    assert results["chosen_name"] == runs[chosen]["name"]
    assert results["smallest_gap"] == min(runs, key=lambda key: runs[key]["final"]["gap"])
    test = results["test"]
    assert list(test) == list(dict.fromkeys(["baseline", chosen]))
    for key, measured in test.items():
        assert measured["last_epoch"]["epoch"] == regularization.EPOCHS
        assert measured["early_stopping"]["epoch"] == runs[key]["early_stopping"]["epoch"]
        for figures in measured.values():
            assert set(figures) == {"epoch", "test_loss", "test_accuracy"}
            assert 0 <= figures["test_accuracy"] <= 100


def test_the_test_set_is_read_once_after_every_choice(tmp_path, monkeypatch):
    """A short run of main (a few epochs on part of the subset, in this process) whose calls are
    watched: every network it measures on the test set is measured once, after the last
    variant is trained; the test set is never trained or validated on; and each early
    stopping checkpoint is the network of the epoch with the lowest validation loss."""
    monkeypatch.chdir(reader_folder(tmp_path))
    # 100 images in batches of 10 for 10 epochs: a second or two, and long enough for the
    # validation loss to pass its lowest.
    monkeypatch.setattr(regularization, "EPOCHS", 10)
    monkeypatch.setattr(regularization, "TRAIN_IMAGES", 100)
    monkeypatch.setattr(regularization, "BATCH_SIZE", 10)
    events, splits = [], {}
    load_mnist, train, evaluate = (
        regularization.load_mnist,
        regularization.train,
        regularization.evaluate,
    )

    def watched_load_mnist(*args, **kwargs):
        (train_x, train_y), (test_x, test_y) = load_mnist(*args, **kwargs)
        splits["test"] = test_x
        return (train_x, train_y), (test_x, test_y)

    def watched_train(net, weight_decay, train_set, validation_set):
        assert train_set[0] is not splits["test"] and validation_set[0] is not splits["test"]
        history, checkpoint = train(net, weight_decay, train_set, validation_set)
        events.append(("train", len(history)))
        best = min(history, key=lambda row: row["validation_loss"])
        assert checkpoint["epoch"] == best["epoch"]
        restored = copy.deepcopy(net)
        restored.load_state_dict(checkpoint["model"])
        loss, accuracy = evaluate(restored, *validation_set)
        assert (loss, accuracy) == pytest.approx(
            (best["validation_loss"], best["validation_accuracy"]), rel=1e-5
        ), "the checkpoint is the network of the best validation epoch"
        checkpoints.append(checkpoint["epoch"])
        return history, checkpoint

    def watched_evaluate(net, images, labels, *args, **kwargs):
        if images is splits["test"]:
            events.append(("test",))
        return evaluate(net, images, labels, *args, **kwargs)

    checkpoints = []
    monkeypatch.setattr(regularization, "load_mnist", watched_load_mnist)
    monkeypatch.setattr(regularization, "train", watched_train)
    monkeypatch.setattr(regularization, "evaluate", watched_evaluate)
    results = regularization.main()

    assert [e for e in events if e[0] == "train"] == [("train", 10)] * 5
    last_training = max(i for i, e in enumerate(events) if e[0] == "train")
    reads = [i for i, e in enumerate(events) if e[0] == "test"]
    assert min(reads) > last_training, "the test set is read only after all training"
    # Two reads per configuration measured: its last epoch, then its checkpoint.
    assert len(reads) == 2 * len(results["test"])
    assert any(epoch < 10 for epoch in checkpoints), (
        "at least one checkpoint is not the last epoch, so the check above means something"
    )


def test_a_state_dict_shares_memory_with_the_network():
    """The page: without copy.deepcopy the checkpoint would change with every later step."""
    net = regularization.Net()
    shared, copied = net.state_dict(), copy.deepcopy(net.state_dict())
    with torch.no_grad():
        net.fc1.weight.add_(1.0)
    assert torch.equal(shared["fc1.weight"], net.fc1.weight)
    assert not torch.equal(copied["fc1.weight"], net.fc1.weight)


def test_weight_decay_on_the_weight_matrices_only(monkeypatch):
    """The page: two parameter groups, the two layers' weight matrices (406,528 numbers) with
    weight decay, the biases and batch norm's gamma and beta without."""
    groups = []
    sgd = torch.optim.SGD

    def spy(params, **kwargs):
        groups.extend(params)
        return sgd(params, **kwargs)

    monkeypatch.setattr(torch.optim, "SGD", spy)
    monkeypatch.setattr(regularization, "EPOCHS", 1)
    net = regularization.Net(batch_norm=True)
    images, labels = torch.randn(200, 1, 28, 28), torch.randint(0, 10, (200,))
    regularization.train(net, 0.02, (images, labels), (images[:50], labels[:50]))
    decayed, free = groups
    assert decayed["weight_decay"] == 0.02 and free["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(net.fc1.weight), id(net.fc2.weight)}
    assert sum(p.numel() for p in decayed["params"]) == 784 * 512 + 512 * 10 == 406528
    names = {id(p): name for name, p in net.named_parameters()}
    assert sorted(names[id(p)] for p in free["params"]) == [
        "fc1.bias",
        "fc2.bias",
        "norm.bias",
        "norm.weight",
    ]


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
    """The page's reading of the recorded run: its sizes; "every variant overfits"; dropout
    and batch normalization narrow the gap by about one point at most, weight decay not at
    all; the baseline's validation loss rises after its best epoch while its accuracy hardly
    moves; weight decay's lowest comes late; the other three end within a few thousandths;
    all three chosen by a hair and behind both alone at the last epoch; on the test set,
    early stopping lowers the loss and moves the accuracy by tenths; the chosen
    configuration about a point above none; the chapter's program far ahead."""
    results = recorded("regularization")
    assert results["train_images"] == 1000
    assert results["validation_images"] == 5000, "one in twelve; 55,000 left to train on"
    assert results["test_images"] == 10000
    runs = {key: run["final"] for key, run in results["runs"].items()}
    best = {key: run["early_stopping"] for key, run in results["runs"].items()}
    assert all(final["train_accuracy"] == 100.0 for final in runs.values())
    baseline = runs["baseline"]
    assert results["smallest_gap"] == "dropout"
    order = sorted(runs, key=lambda key: runs[key]["gap"])
    assert order[:2] == ["dropout", "batch_norm"], "the smallest gap, then batch norm's"
    for key in ("dropout", "batch_norm"):
        assert 0 < baseline["gap"] - runs[key]["gap"] < 1.1, key
    assert max(baseline["gap"] - final["gap"] for final in runs.values()) * 50 < 55, (
        "about fifty of the 5,000 validation digits at most"
    )
    assert runs["weight_decay"]["gap"] >= baseline["gap"], "weight decay: no narrower than none"

    history = results["runs"]["baseline"]["history"]
    lowest = best["baseline"]
    assert lowest["epoch"] < results["epochs"]
    assert baseline["validation_loss"] > lowest["validation_loss"] + 0.01, "then rose"
    accuracies = [row["validation_accuracy"] for row in history[lowest["epoch"] - 1 :]]
    assert max(accuracies) - min(accuracies) < 1.0, "the validation accuracy hardly moved"
    assert runs["weight_decay"]["validation_loss"] < baseline["validation_loss"] - 0.01
    assert best["weight_decay"]["epoch"] >= results["epochs"] - 5, "its lowest only late"
    three = [best[key]["validation_loss"] for key in ("dropout", "batch_norm", "all")]
    assert max(three) < best["weight_decay"]["validation_loss"], "lower still"
    assert max(three) - min(three) < 0.005, "within a few thousandths of each other"

    assert results["chosen"] == "all" and results["chosen_name"] == "all three"
    assert best["all"]["validation_loss"] < best["batch_norm"]["validation_loss"]
    assert best["batch_norm"]["validation_loss"] < best["dropout"]["validation_loss"]
    assert best["batch_norm"]["validation_loss"] - best["all"]["validation_loss"] < 0.001, (
        "chosen by a hair"
    )
    for key in ("dropout", "batch_norm"):
        assert runs["all"]["validation_accuracy"] < runs[key]["validation_accuracy"], key

    test = results["test"]
    assert set(test) == {"baseline", "all"}
    for key, measured in test.items():
        last, stopped = measured["last_epoch"], measured["early_stopping"]
        assert stopped["test_loss"] < last["test_loss"], f"{key}: a lower loss"
        assert abs(stopped["test_accuracy"] - last["test_accuracy"]) < 1.0, f"{key}: tenths"
    chosen, none = test["all"]["early_stopping"], test["baseline"]["early_stopping"]
    assert 0 < chosen["test_accuracy"] - none["test_accuracy"] < 1.5, "about one point"
    mlp = recorded("mnist_mlp")
    assert mlp["test_accuracy"] > chosen["test_accuracy"] + 5, "far more"
    last = mlp["history"][-1]
    assert 0 < last["test_loss"] - last["train_loss"] < 0.05, (
        "the chapter's network hardly overfits"
    )
