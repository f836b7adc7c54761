"""The claims of "A convolutional network for images" (examples/ch07/cnn.py).

On the subset, they read the `results` of the example's one run as a notebook in this session
(tests/conftest.py); the thresholds sit well below what the subset gives on the book's
machine, to leave room for other machines and versions. The comparisons on the full MNIST
are checked against the recorded runs, which the page quotes.
"""

import json

import torch

from examples.ch07 import cnn, train
from tests.helpers import REPO, check_validation_per_epoch_and_test_once, evaluations_of_main


def test_trains_and_learns_on_the_subset(notebook_run):
    run = notebook_run("ch07/cnn")
    history = run.results["history"]
    assert [row["epoch"] for row in history] == list(range(1, cnn.EPOCHS + 1))
    assert history[-1]["train_loss"] < 0.2 * history[0]["train_loss"], "a five-fold fall"
    assert run.results["validation_accuracy"] == history[-1]["validation_accuracy"] >= 90.0
    assert run.results["test_accuracy"] >= 90.0
    for figure in ("cnn_filters.png", "cnn_feature_maps.png"):
        assert (run.folder / figure).stat().st_size > 0, figure


def test_validation_per_epoch_and_the_test_set_once_at_the_end(notebook_run):
    """One training image in twelve is held out; each epoch reports training and validation
    figures only; the test figures appear once, for the final network."""
    results = notebook_run("ch07/cnn").results
    check_validation_per_epoch_and_test_once(results)


def test_the_program_evaluates_the_test_set_once_after_training(tmp_path, monkeypatch):
    """main() on random stand-ins for MNIST: which data each call of evaluate reads."""
    torch.manual_seed(0)
    train_set = (torch.randn(240, 1, 28, 28), torch.randint(0, 10, (240,)))
    test_set = (torch.randn(50, 1, 28, 28), torch.randint(0, 10, (50,)))
    monkeypatch.chdir(tmp_path)  # the figures' folder, checked before training
    (_, (valid_x, _), results), read = evaluations_of_main(cnn, monkeypatch, train_set, test_set)
    assert read == ["other", "other", "test"], "validation each epoch, then the test set once"
    assert len(valid_x) == results["validation_images"] == 20 and results["test_images"] == 50


def test_parameter_counts_on_the_page():
    net = cnn.ConvNet()

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert cnn.count_parameters(net) == 80_250
    assert net.conv1.bias is None and net.conv2.bias is None, "batch norm shifts instead"
    assert count(net.conv1) + count(net.bn1) == 16 * 25 + 32 == 432
    assert count(net.conv2) + count(net.bn2) == 32 * 400 + 64 == 12_864
    assert count(net.conv1) + count(net.bn1) + count(net.conv2) + count(net.bn2) == 13_296
    assert count(net.fc1) == 65_664 and count(net.fc2) == 1_290
    assert count(train.Net()) == 407_050, "the chapter's network"


def test_map_shapes_multiply_adds_and_receptive_field():
    net = cnn.ConvNet().eval()
    maps1, maps2 = net.features(torch.zeros(1, 1, 28, 28))
    assert maps1.shape == (1, 16, 24, 24) and maps2.shape == (1, 32, 8, 8)
    multiply_adds = 24 * 24 * 16 * 25 + 8 * 8 * 32 * 16 * 25 + 512 * 128 + 128 * 10
    assert round(multiply_adds / 1e6, 1) == 1.1
    assert round((784 * 512 + 512 * 10) / 1e6, 1) == 0.4
    # One pixel of a second-stage map depends on a 14 x 14 patch of the input:
    # the pixels whose change can reach it, over many random images (max-pooling
    # passes the gradient through one position of each window per image).
    with torch.no_grad():  # every ReLU active, so that none hides a pixel
        net.bn1.bias.fill_(100.0)
        net.bn2.bias.fill_(100.0)
    torch.manual_seed(0)
    images = torch.randn(64, 1, 28, 28, requires_grad=True)
    net.features(images)[1][:, 0, 3, 3].sum().backward()
    nonzero = (images.grad.abs().sum(dim=(0, 1)) != 0).nonzero()
    height = nonzero[:, 0].max() - nonzero[:, 0].min() + 1
    width = nonzero[:, 1].max() - nonzero[:, 1].min() + 1
    assert len(nonzero) == 14 * 14
    assert (height.item(), width.item()) == (14, 14)


def test_training_is_deterministic():
    images = torch.randn(256, 1, 28, 28)
    labels = torch.randint(0, 10, (256,))

    def losses():
        torch.manual_seed(1)
        net = cnn.ConvNet()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        generator = torch.Generator().manual_seed(1)
        return [
            cnn.train_epoch(net, images, labels, optimizer, scheduler, generator) for _ in range(2)
        ]

    assert losses() == losses()


def recorded(section):
    path = REPO / f"docs/notebooks/ch07/{section}.ipynb"
    return json.loads(path.read_text())["metadata"]["recorded_run"]["results"]


def test_recorded_run_on_the_full_mnist():
    results = recorded("cnn")
    assert results["train_images"] == 55_000 and results["validation_images"] == 5_000
    assert results["test_images"] == 10_000
    assert results["parameters"] == 80_250
    accuracy = [row["validation_accuracy"] for row in results["history"]]
    assert accuracy == sorted(set(accuracy)), "the validation accuracy rose at every epoch"
    assert results["validation_accuracy"] == accuracy[-1]


def test_recorded_runs_compare_as_the_page_says():
    """Fewer mistakes than both runs of the chapter's network; faster to train than the
    chapter's program, slower than the same network trained fast."""
    cnn_run, mlp, fast_mlp = recorded("cnn"), recorded("mnist_mlp"), recorded("train")
    assert cnn_run["test_accuracy"] > max(mlp["test_accuracy"], fast_mlp["test_accuracy"])
    assert mlp["train_seconds"] > cnn_run["train_seconds"] > fast_mlp["train_seconds"]
