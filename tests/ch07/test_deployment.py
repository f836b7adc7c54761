"""The claims of "Deployment: the network in a web page" (examples/ch07/deployment.py).

On the subset, they read the `results` of the example's one run as a notebook in this
session (tests/conftest.py) and the files it wrote; the page's figures are the recorded run's
(docs/notebooks/ch07/deployment.ipynb), and the page's demo reads the weights that run wrote,
published beside it. The page's JavaScript and its demo, in Debian's Chromium, are checked in
tests/ch07/test_deployment_demo.py.
"""

import base64
import hashlib
import json

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


def read_page_data(path):
    """The script the page loads, decoded: {"weights": bytes, "digits": bytes}."""
    comment, assignment, end = path.read_text(encoding="ascii").split("\n")
    assert comment.startswith("// ") and end == ""
    prefix = "window.DigitDemoData = "
    assert assignment.startswith(prefix) and assignment.endswith(";")
    data = json.loads(assignment.removeprefix(prefix).removesuffix(";"))
    return {name: base64.b64decode(text) for name, text in data.items()}


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
    page_data = run.folder / deployment.PAGE_DATA_FILE
    assert r["page_data_bytes"] == page_data.stat().st_size
    data = read_page_data(page_data)
    assert data["weights"] == (run.folder / deployment.WEIGHTS_FILE).read_bytes()
    assert len(data["digits"]) == 20 * 784
    # Which network reads drawings: both were measured, on every test digit, both styles.
    assert r["mlp_parameters"] == 407_050
    assert set(r["drawn"]) == {"upright", "rotated"}
    assert all(set(figures) == {"cnn", "mlp"} for figures in r["drawn"].values())
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
    page_data = PUBLISHED / deployment.PAGE_DATA_FILE
    assert page_data.stat().st_size == r["page_data_bytes"]
    published = read_page_data(page_data)
    assert published["weights"] == data, "the page loads the recorded run's weights"
    # Its test digits, two of each class in order, read as such by the published weights.
    digits = torch.frombuffer(bytearray(published["digits"]), dtype=torch.uint8)
    readings = deployment.forward_folded(
        read_weights(data), deployment.normalise(digits.view(20, 28, 28))
    ).argmax(1)
    assert (readings == torch.arange(20) // 2).sum() >= 19
    images, labels = subset_test_set()  # 1,000 of the full test set's digits
    logits = deployment.forward_folded(read_weights(data), deployment.normalise(images))
    assert (logits.argmax(1) == labels).float().mean().item() * 100 >= 98.5


def test_the_recorded_run_chooses_the_network_that_reads_drawings_better():
    """The CNN reads drawings better, upright and turned, and its lead grows when the
    digits are turned; drawn upright, almost every digit reads as its original does; MNIST's
    centre of mass is at (14, 14), where the preparation puts a drawing's."""
    r = recorded_results("ch07/deployment")
    upright, rotated = r["drawn"]["upright"], r["drawn"]["rotated"]
    for figures in (upright, rotated):
        assert figures["cnn"]["accuracy"] > figures["mlp"]["accuracy"]
        assert figures["cnn"]["same_as_original"] > figures["mlp"]["same_as_original"]
    lead = {style: f["cnn"]["accuracy"] - f["mlp"]["accuracy"] for style, f in r["drawn"].items()}
    assert lead["rotated"] > 2 * lead["upright"]
    assert min(upright["cnn"]["same_as_original"], upright["mlp"]["same_as_original"]) > 98.5
    assert r["parameters"] * 5 < r["mlp_parameters"]  # "five times smaller"
    for mean, spread in zip(r["centre_of_mass"]["mean"], r["centre_of_mass"]["std"]):
        assert abs(mean - 14) < 0.05 and spread < 0.5


def test_prepare_makes_a_drawing_an_mnist_digit_wherever_and_however_large_it_is():
    """The same digit drawn at two places gives the same input, and drawn 5 or 9 times larger
    nearly the same; its longer side becomes 20 pixels, and its centre of mass lands within
    half a pixel of (14, 14)."""
    images, _ = subset_test_set()
    for digit in images[:50]:
        here = deployment.prepare(deployment.draw_like_a_reader(digit, 7, 10, 20) / 255)
        there = deployment.prepare(deployment.draw_like_a_reader(digit, 7, 60, 3) / 255)
        assert torch.equal(here, there)
        for scale in (5, 9):
            other = deployment.prepare(deployment.draw_like_a_reader(digit, scale, 0, 0) / 255)
            assert (other - here).abs().mean() < 0.05
        rows, cols = here.nonzero(as_tuple=True)
        sides = (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
        assert max(sides) in (20, 21)  # 20, or 21 where the box's edge splits a pixel
        assert all(abs(c - 14) <= 0.5 for c in deployment.centre_of_mass(here))
