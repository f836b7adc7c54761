"""The claims of "How a network learns" (examples/ch07/how_networks_learn.py), on the MNIST subset.

The measured claims read the `results` of the example's one run as a notebook in this session
(tests/conftest.py): the hand-written gradients, step and epoch against PyTorch's. The
tolerances are those the page states; the accuracy threshold sits well below what the subset
gives on the book's machine.
"""

import pytest
import torch
import torch.nn.functional as F

from examples.ch07 import how_networks_learn as example
from tests.helpers import REPO

DATA = str(REPO / "tests" / "data")
NAME = "ch07/how_networks_learn"


@pytest.fixture(scope="module")
def mnist():
    return example.load_mnist(DATA)


@pytest.fixture(scope="module")
def batch(mnist):
    (train_x, train_y), _ = mnist
    torch.manual_seed(0)
    chosen = torch.randperm(len(train_x))[: example.BATCH_SIZE]
    return train_x[chosen], train_y[chosen]


def test_softmax_and_cross_entropy_match_pytorch():
    torch.manual_seed(0)
    logits = torch.randn(8, 10) * 5
    logits[0, 3] = 1000.0  # exp(1000) overflows; the shifted softmax must not
    labels = torch.arange(8) % 10
    probs = example.softmax(logits)
    assert torch.isfinite(probs).all()
    assert torch.allclose(probs.sum(dim=1), torch.ones(8))
    assert torch.allclose(probs, torch.softmax(logits, dim=1))
    moderate = logits[1:]
    assert torch.allclose(
        example.cross_entropy(example.softmax(moderate), labels[1:]),
        F.cross_entropy(moderate, labels[1:]),
    )


def test_hand_step_equals_autograd_and_sgd(notebook_run):
    step = notebook_run(NAME).results["one_step"]
    assert step["loss"]["allclose"]
    for kind in ("gradients", "updated_weights"):
        assert [check["name"] for check in step[kind]] == example.NAMES
        for check in step[kind]:
            assert check["allclose"], (kind, check)
            assert check["max_abs_diff"] < 1e-6, (kind, check)
    assert step["loss_after"] < step["loss_before"], "one step should lower the loss on its batch"


def test_gradients_are_not_trivially_equal(batch):
    """The comparison has teeth: a backward pass without ReLU's mask fails it."""
    images, labels = batch
    torch.manual_seed(1)
    weights = [p.detach().clone() for p in example.Net().parameters()]
    x, z1, h, logits = example.forward(weights, images)
    probs = example.softmax(logits)
    right = example.backward(weights, x, z1, h, probs, labels)
    wrong = example.backward(weights, x, torch.ones_like(z1), h, probs, labels)
    assert not torch.allclose(right[0], wrong[0])


def test_nudging_agrees_with_backprop(notebook_run):
    nudge = notebook_run(NAME).results["nudge"]
    assert abs(nudge["backprop"]) > 1e-3
    assert nudge["difference"] < 1e-6 * abs(nudge["backprop"]), nudge


def test_hand_written_epoch_trains_like_pytorch(notebook_run):
    results = notebook_run(NAME).results
    epoch = results["epoch"]
    assert epoch["steps"] == -(-results["train_images"] // example.BATCH_SIZE)
    assert epoch["test_accuracy"] >= 80.0, f"{epoch['test_accuracy']:.2f} % on the subset"
    assert abs(epoch["test_accuracy"] - epoch["torch_test_accuracy"]) <= 0.5
    assert epoch["max_weight_diff"] < 1e-4
    assert epoch["last_100_loss"] < 0.75 * epoch["first_loss"], "the loss should fall"


def test_the_counts_and_the_loss_the_page_names():
    """50,890 parameters, weights and biases; nn.CrossEntropyLoss, the chapter's loss, computes
    F.cross_entropy."""
    assert sum(p.numel() for p in example.Net().parameters()) == 50_890
    assert sum(p.numel() for name, p in example.Net().named_parameters() if "bias" in name) == 74
    torch.manual_seed(0)
    logits, labels = torch.randn(8, 10), torch.arange(8)
    assert torch.equal(torch.nn.CrossEntropyLoss()(logits, labels), F.cross_entropy(logits, labels))
