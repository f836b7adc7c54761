"""The claims of "Optimizers compared" (examples/ch07/optimizers.py), on the MNIST subset.

They read the `results` of the example's one run as a notebook in this session
(tests/conftest.py); the thresholds sit well below what the subset gives on the book's
machine. Which optimizer wins is a claim of the recorded full-MNIST run, not tested here: on
the subset's 1,000 test digits the four end too close to each other to rank.
"""

import torch

from examples.ch07 import optimizers

NAME = "ch07/optimizers"


def test_every_optimizer_learns(notebook_run):
    runs = notebook_run(NAME).results["runs"]
    assert list(runs) == list(optimizers.OPTIMIZERS)
    for key, run in runs.items():
        history = run["history"]
        assert [row["epoch"] for row in history] == list(range(1, optimizers.EPOCHS + 1))
        assert not any(row["diverged"] for row in history), key
        assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"], f"{key}: at least halves"
        assert history[-1]["test_accuracy"] >= 85.0, f"{key}: {history[-1]['test_accuracy']} %"


def test_the_sweep_covers_every_optimizer_and_rate(notebook_run):
    sweep = notebook_run(NAME).results["sweep"]
    assert list(sweep) == list(optimizers.OPTIMIZERS)
    for key, points in sweep.items():
        assert [point["lr"] for point in points] == optimizers.SWEEP_LRS, key
        assert all(point["epoch"] == optimizers.SWEEP_EPOCHS for point in points), key
    for key in ("sgd", "momentum"):
        accuracy = {point["lr"]: point["test_accuracy"] for point in sweep[key]}
        assert accuracy[1e-4] < accuracy[1e-2] - 30, (
            f"{key}: a learning rate 100 times too small should learn far less in an epoch"
        )


def test_every_run_starts_from_the_same_weights_and_batches():
    """`train` copies the initial network and reseeds the order of the images: the same
    optimizer twice gives the same history, and the initial network is left untouched."""
    torch.manual_seed(0)
    images, labels = torch.randn(300, 1, 28, 28), torch.randint(0, 10, (300,))
    data = ((images, labels), (images[:100], labels[:100]))
    net = optimizers.Net()
    before = [p.clone() for p in net.parameters()]
    _, make_adam, lr = optimizers.OPTIMIZERS["adam"]
    first = optimizers.train(net, make_adam, lr, data, epochs=2)
    second = optimizers.train(net, make_adam, lr, data, epochs=2)
    assert first == second
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_a_diverging_run_is_recorded_not_raised():
    torch.manual_seed(0)
    images, labels = torch.randn(256, 1, 28, 28), torch.randint(0, 10, (256,))
    data = ((images, labels), (images, labels))
    _, make_sgd, _ = optimizers.OPTIMIZERS["sgd"]
    history = optimizers.train(optimizers.Net(), make_sgd, 1e6, data, epochs=3)
    assert history[-1]["diverged"] and history[-1]["test_accuracy"] is None
