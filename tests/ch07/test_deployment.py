"""The claims of "Deployment: the network in a web page" (examples/ch07/deployment.py).

On the subset, they read the `results` of the example's one run as a notebook in this
session (tests/conftest.py) and the files it wrote; the page's figures are the recorded run's
(docs/notebooks/ch07/deployment.ipynb), and the page's demo reads the weights that run wrote,
published beside it. The page's JavaScript (docs/assets/javascripts/digit_demo.js) is checked
in Debian's Chromium against PyTorch on those weights, and the demo on the built page.
"""

import base64
import hashlib
import json
import os

import numpy as np
import pytest
import torch
import torchvision

from examples.ch07 import deployment
from tests.browser import CHROMIUM, launch, served
from tests.helpers import REPO, recorded_results

WCAG_21_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}

PUBLISHED = REPO / "docs" / "notebooks" / "ch07"
SCRIPT = REPO / "docs" / "assets" / "javascripts" / "digit_demo.js"
# conv1, conv2, fc1, fc2 as the file stores them, and as PyTorch shapes them.
SHAPES = [(16, 1, 5, 5), (32, 16, 5, 5), (128, 512), (10, 128)]
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)


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
    """"The CNN reads drawings better", upright and turned, and its lead grows when the
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


@pytest.mark.slow
@needs_chromium
def test_the_page_script_computes_pytorchs_forward_pass():
    """digit_demo.js in Chromium, on the published weights and the subset's 1,000 test
    digits: PyTorch's predictions on the same weights, probabilities within 1e-5."""
    from playwright.sync_api import sync_playwright

    data = (PUBLISHED / deployment.WEIGHTS_FILE).read_bytes()
    images, _ = subset_test_set()
    with torch.no_grad():
        logits = deployment.forward_folded(read_weights(data), deployment.normalise(images))
    expected = logits.softmax(1).numpy()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.set_content("<!doctype html><title>digit_demo.js</title>")
        page.add_script_tag(path=str(SCRIPT))
        got = page.evaluate(
            """([weights, digits]) => {
                const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
                const layers = DigitDemo.parseWeights(bytes(weights).buffer);
                const x = bytes(digits), out = [];
                for (let i = 0; i < x.length / 784; i++)
                    out.push(DigitDemo.predict(layers,
                        Array.from(x.subarray(784 * i, 784 * (i + 1)), (v) => v / 255)));
                return out;
            }""",
            [base64.b64encode(data).decode(), base64.b64encode(images.numpy().tobytes()).decode()],
        )
        browser.close()
    got = np.array(got)
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert np.abs(got - expected).max() < 1e-5


@pytest.mark.slow
@needs_chromium
def test_the_demo_fetches_nothing_until_started_then_reads_the_test_digits(built_site):
    """The page fetches neither the script nor the weights until Start; then each test digit,
    drawn on the canvas and prepared as a drawing is, reads as PyTorch reads the original."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    data = (PUBLISHED / deployment.WEIGHTS_FILE).read_bytes()
    digits = np.frombuffer((PUBLISHED / deployment.DIGITS_FILE).read_bytes(), np.uint8)
    originals = torch.from_numpy(digits.reshape(-1, 28, 28).copy())
    expected = deployment.forward_folded(
        read_weights(data), deployment.normalise(originals)
    ).argmax(1)
    with sync_playwright() as playwright, served(built_site) as base:
        browser = launch(playwright)
        page = browser.new_page()
        fetched, errors = [], []
        page.on("request", lambda request: fetched.append(request.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(base + "ch07/deployment.html", wait_until="load")
        page.wait_for_timeout(300)
        assert not [u for u in fetched if "digit_demo.js" in u or u.endswith(".bin")]
        page.click(".digit-demo__start")
        page.wait_for_selector(".digit-demo__bars")
        assert sum(u.endswith(".bin") for u in fetched) == 2
        readings = []
        for _ in range(len(originals)):
            page.click("button:has-text('Next test digit')")
            readings.append(int(page.get_attribute(".digit-demo", "data-reading")))
        page.click("button:has-text('Clear')")
        assert page.get_attribute(".digit-demo", "data-reading") is None
        # A 1, drawn with the mouse, in each scheme, in ink that shows on its background;
        # and axe's WCAG 2.1 A/AA rules on the started demo.
        violations, inks = [], {}
        for scheme in ("light", "dark"):
            if scheme == "dark":
                page.locator("label[title='Switch to dark mode']").first.click()
                page.wait_for_function("document.body.dataset.mdColorScheme === 'slate'")
                page.click("button:has-text('Clear')")
            box = page.locator(".digit-demo__pad").bounding_box()
            x, top = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.15
            page.mouse.move(x, top)
            page.mouse.down()
            page.mouse.move(x, box["y"] + box["height"] * 0.85, steps=12)
            page.mouse.up()
            readings.append(int(page.get_attribute(".digit-demo", "data-reading")))
            inks[scheme] = page.evaluate(
                """() => { const c = document.querySelector('.digit-demo__pad');
                    const d = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1);
                    return Array.from(d.data); }"""
            )
            result = Axe().run(page, context=".digit-demo", options=WCAG_21_AA).response
            violations += [
                f"{scheme}: {v['id']} {[n['target'] for n in v['nodes']]}"
                for v in result["violations"]
            ]
        browser.close()
    assert not errors, errors
    assert not violations, violations
    assert readings[-2:] == [1, 1], "a vertical stroke reads 1, in light and in dark"
    assert max(inks["light"][:3]) < 100 < min(inks["dark"][:3]), inks  # dark ink, light ink
    readings = readings[:-2]
    assert readings == expected.tolist()
    assert sum(r == d // 2 for d, r in enumerate(readings)) >= 19, "two of each, 0 to 9"
