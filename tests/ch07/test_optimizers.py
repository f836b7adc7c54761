"""The claims of "Optimizers compared" (examples/ch07/optimizers.py), on the MNIST subset.

Measured on the subset (4,000 training and 1,000 test digits, torch 2.14.1, 2 CPU cores):
over 5 epochs every optimizer's mean training loss fell to a quarter or less of its first
epoch's (SGD 0.98 -> 0.25, momentum 1.27 -> 0.25, Adam 0.74 -> 0.13, RMSprop 1.04 ->
0.12) and every one ended between 89 % and 91 % test accuracy. In the one-epoch sweep, the
smallest learning rate, 0.0001, left plain SGD and SGD with momentum below 20 %. Which
optimizer wins is a claim of the recorded full-MNIST run, not tested here: on this subset
the four end within two points of each other.
"""

import re

import torch

from examples.ch07 import optimizers
from tests.helpers import describe

MODULE = "examples.ch07.optimizers"
EPOCH_LINE = re.compile(r"^(\S.*?)\s+lr (\S+)\s+epoch (\d+)\s+train loss ([\d.]+)\s+"
                        r"test loss ([\d.]+)\s+test accuracy ([\d.]+) %", re.MULTILINE)
SWEEP_LINE = re.compile(r"^sweep\s+(\S.*?)\s+lr (\S+)\s+(?:test accuracy ([\d.]+) %|diverged)",
                        re.MULTILINE)


def test_every_optimizer_learns(example_run):
    result = example_run(MODULE)
    assert result.returncode == 0, describe(result)
    runs = {}
    for name, lr, epoch, train_loss, test_loss, accuracy in EPOCH_LINE.findall(result.stdout):
        runs.setdefault(name, []).append((int(epoch), float(train_loss), float(accuracy)))
    assert list(runs) == [name for name, _, _ in optimizers.OPTIMIZERS.values()], describe(result)
    for name, rows in runs.items():
        assert [epoch for epoch, _, _ in rows] == list(range(1, optimizers.EPOCHS + 1))
        assert rows[-1][1] < 0.5 * rows[0][1], f"{name}: the training loss should at least halve"
        assert rows[-1][2] >= 85.0, f"{name}: {rows[-1][2]} % test accuracy on the subset"


def test_the_sweep_covers_every_optimizer_and_rate(example_run):
    result = example_run(MODULE)
    points = SWEEP_LINE.findall(result.stdout)
    assert len(points) == len(optimizers.OPTIMIZERS) * len(optimizers.SWEEP_LRS), describe(result)
    accuracy = {(name, float(lr)): float(acc) if acc else None for name, lr, acc in points}
    for name in ("SGD", "SGD + momentum 0.9"):
        assert accuracy[(name, 1e-4)] < accuracy[(name, 1e-2)] - 30, \
            f"{name}: a learning rate 100 times too small should learn far less in an epoch"


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
