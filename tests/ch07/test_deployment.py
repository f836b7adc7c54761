"""The claims of "Deployment: the network in a web page" (examples/ch07/deployment.py).

On the subset, they read the `results` of the example's one run as a notebook in this
session (tests/conftest.py) and the files it wrote; the page's figures are the recorded run's
(docs/notebooks/ch07/deployment.ipynb), and the page's demo reads the weights that run wrote,
published beside it. The page's JavaScript and its demo, in Debian's Chromium, are checked in
tests/ch07/test_deployment_demo.py.
"""

import hashlib

import numpy as np
import pytest
import torch
import torchvision

from examples.ch07 import deployment
from tests.helpers import REPO, recorded_results

PUBLISHED = REPO / "docs" / "notebooks" / "ch07"
# conv1, conv2, fc1, fc2 as the file stores them, and as PyTorch shapes them.
SHAPES = [(16, 1, 5, 5), (32, 16, 5, 5), (128, 512), (10, 128)]


def read_weights(data: bytes):
    """The page's weights file, as the page reads it: (weight, bias) per layer."""
    layers, at = [], 0
    for shape in SHAPES:
        rows, cols = shape[0], int(np.prod(shape[1:]))
        scale = np.frombuffer(data, "<f4", rows, at)
        q = np.frombuffer(data, "i1", rows * cols, at + 4 * rows)
        at += 4 * rows + rows * cols
        bias = np.frombuffer(data, "<f4", rows, at)
        at += 4 * rows
        weight = q.astype(np.float32).reshape(rows, cols) * scale[:, None]
        layers.append((torch.from_numpy(weight.reshape(shape)), torch.from_numpy(bias.copy())))
    assert at == len(data), "the file holds the four layers and nothing else"
    return layers


def subset_test_set():
    split = torchvision.datasets.MNIST(REPO / "tests" / "data", train=False)
    return split.data, split.targets


def test_export_and_checks_on_the_subset(notebook_run):
    run = notebook_run("ch07/deployment")
    r = run.results
    assert r["trained_here"], "no checkpoint: the example trains the network itself"
    assert r["parameters"] == 80_250
    assert r["test_accuracy"] >= 90.0
    # ONNX Runtime agrees with PyTorch on every test digit, to float32's rounding.
    assert r["onnx_same_predictions"] == r["test_images"]
    assert r["onnx_max_prob_difference"] < 1e-5
    # What export captured: no batch normalization node (folded in inference mode).
    assert r["onnx_operators"] == {"Conv": 2, "Flatten": 1, "Gemm": 2, "MaxPool": 2, "Relu": 3}
    assert (run.folder / deployment.ONNX_FILE).stat().st_size == r["onnx_bytes"]
    # The page's bytes: int8 weights, one float32 scale and bias per output.
    assert r["weights_bytes"] == (run.folder / deployment.WEIGHTS_FILE).stat().st_size == 81_504
    assert r["digits_bytes"] == (run.folder / deployment.DIGITS_FILE).stat().st_size == 20 * 784
    assert r["int8_same_predictions"] >= 0.99 * r["test_images"]
    assert r["int8_max_prob_difference"] < 0.05
    # Left in training mode, digits read one at a time get other readings.
    assert r["train_mode_agreement"] < 99.0


def test_the_written_weights_are_the_forward_pass_the_example_measured(notebook_run):
    """The file, read as the page reads it, gives the int8 figures the example reports."""
    run = notebook_run("ch07/deployment")
    layers = read_weights((run.folder / deployment.WEIGHTS_FILE).read_bytes())
    images, labels = subset_test_set()
    predictions = deployment.forward_folded(layers, deployment.normalise(images)).argmax(1)
    accuracy = (predictions == labels).float().mean().item() * 100
    assert accuracy == pytest.approx(run.results["int8_test_accuracy"], abs=1e-3)


def test_the_recorded_run_backs_the_page():
    r = recorded_results("ch07/deployment")
    assert r["trained_here"] and r["test_images"] == 10_000
    assert r["onnx_same_predictions"] == 10_000
    assert r["onnx_max_prob_difference"] < 1e-5
    assert r["int8_same_predictions"] == 10_000, "the page: the same prediction for all"
    assert abs(r["int8_test_accuracy"] - r["test_accuracy"]) < 0.05
    assert r["int8_max_prob_difference"] < 0.05
    assert r["train_mode_agreement"] < 95.0
    # The published files are the recorded run's, and a trained network's.
    data = (PUBLISHED / deployment.WEIGHTS_FILE).read_bytes()
    assert len(data) == r["weights_bytes"]
    assert hashlib.sha256(data).hexdigest() == r["weights_sha256"], "re-record: not its file"
    assert (PUBLISHED / deployment.DIGITS_FILE).stat().st_size == r["digits_bytes"]
    images, labels = subset_test_set()  # the first 1,000 of the full test set
    logits = deployment.forward_folded(read_weights(data), deployment.normalise(images))
    assert (logits.argmax(1) == labels).float().mean().item() * 100 >= 98.5
