"""A harder drawn-style comparison of the MLP and the CNN (after export.py
and check.py), to choose the network:

1. In Python, on all 10,000 MNIST test digits redrawn on the 280 x 280
   canvas (scaled 5-9 times, off centre) and then rotated by +-10 to +-25
   degrees or slanted, through prep.py (equal to digits.js, check.py):
   accuracy against the labels, and agreement with PyTorch's reading of the
   untouched originals.
2. In Chromium, 200 mouse drawings on the page's canvas: the ten stroke
   digits of check.py, each drawn 20 times with a random size (80-230 px),
   place, slant, width-to-height ratio, hand tremor and pen width (12, 22 or
   32 px), read by all four weight sets.

    OMP_NUM_THREADS=1 python prototype17/check_drawn.py   # -> out/drawn.json
"""

import json
import pathlib
import sys

import numpy as np
import torch
import torchvision
from playwright.sync_api import sync_playwright
from scipy import ndimage

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from check import STROKES, nets, redraw, torch_probs  # noqa: E402
from tests.browser import launch, served  # noqa: E402
import prep  # noqa: E402

OUT = HERE / "out"
KEYS = ("mlp-f32", "cnn-f32", "mlp-int8", "cnn-int8")


def python_part(data, models, report):
    test = torchvision.datasets.MNIST(data, train=False, download=False)
    images, labels = test.data.numpy(), test.targets.numpy()
    original = {k: torch_probs(m, images / 255).argmax(1) for k, m in models.items()}
    rng = np.random.default_rng(170)
    canvases = redraw(images, rng)
    sign = rng.choice([-1, 1], len(images))
    variants = {
        "redrawn": lambda c, n: c,
        "rotated 10 deg": lambda c, n: ndimage.rotate(c, 10 * sign[n], reshape=False, order=1),
        "rotated 20 deg": lambda c, n: ndimage.rotate(c, 20 * sign[n], reshape=False, order=1),
        "slanted (shear 0.3)": lambda c, n: ndimage.affine_transform(
            c, [[1, 0], [0.3 * sign[n], 1]], offset=[0, -0.3 * sign[n] * 140], order=1
        ),
        "thicker pen (max filter 9 px)": lambda c, n: ndimage.grey_dilation(c, size=(9, 9)),
        "thinner pen (min filter 7 px)": lambda c, n: ndimage.grey_erosion(c, size=(7, 7)),
    }
    report["python_10000"] = {}
    for name, f in variants.items():
        x = []
        for n, c in enumerate(canvases):
            p = prep.preprocess(f(c, n) / 255)
            x.append(np.zeros((28, 28)) if p is None else p)
        x = np.stack(x)
        row = {}
        for k, m in models.items():
            p = torch_probs(m, x).argmax(1)
            row[k] = {
                "accuracy_%": round(float((p == labels).mean() * 100), 2),
                "same_as_original_%": round(float((p == original[k]).mean() * 100), 2),
            }
        report["python_10000"][name] = row
        print(name, row, flush=True)
    report["original_accuracy_%"] = {
        k: round(float((p == labels).mean() * 100), 2) for k, p in original.items()
    }


def browser_part(report, count=20):
    rng = np.random.default_rng(7)
    drawn = []
    with served(HERE) as base, sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page()
        page.goto(base + "demo.html")
        page.evaluate("async () => { window.all = {}; for (const k of %s) all[k] = await Digits.load('out/' + k); }" % json.dumps(KEYS))
        box = page.locator("#pad").bounding_box()
        for digit, strokes in STROKES.items():
            for _ in range(count):
                height = rng.uniform(80, 230)
                width = height * rng.uniform(0.5, 0.9)
                slant = rng.uniform(-0.25, 0.25)  # x shift per unit of height
                pen = int(rng.choice([12, 22, 32]))
                left = rng.uniform(15, 265 - width - abs(slant) * height)
                top = rng.uniform(15, 265 - height)
                page.click("#clear")
                page.evaluate(f"ctx.lineWidth = {pen}")
                for stroke in strokes:
                    pts = []
                    for x, y in stroke:
                        jx, jy = rng.normal(0, 0.02, 2) * height
                        px = left + width * x + slant * height * (0.5 - y) + jx + max(0, slant) * height * 0.5
                        py = top + height * y + jy
                        pts.append((box["x"] + np.clip(px, 2, 278), box["y"] + np.clip(py, 2, 278)))
                    page.mouse.move(*pts[0])
                    page.mouse.down()
                    for p in pts[1:]:
                        page.mouse.move(*p, steps=6)
                    page.mouse.up()
                reads = page.evaluate(
                    """() => { const pad = document.getElementById('pad');
                      const x = Digits.preprocess(Digits.inkOf(pad), 280, 280), r = {};
                      for (const k in all) { const p = Digits.predict(all[k], x); r[k] = p.indexOf(Math.max(...p)); }
                      return r; }"""
                )
                drawn.append({"digit": digit, "pen": pen, "height": round(height), **reads})
        browser.close()
    summary = {k: sum(d[k] == d["digit"] for d in drawn) for k in KEYS}
    summary["drawings"] = len(drawn)
    for pen in (12, 22, 32):
        sub = [d for d in drawn if d["pen"] == pen]
        summary[f"pen {pen}px"] = {k: f"{sum(d[k] == d['digit'] for d in sub)}/{len(sub)}" for k in ("mlp-f32", "cnn-f32")}
    summary["errors"] = [d for d in drawn if d["mlp-f32"] != d["digit"] or d["cnn-f32"] != d["digit"]]
    report["mouse_random"] = summary
    print(json.dumps(summary, indent=1))


def main():
    torch.set_num_threads(1)
    report = {}
    browser_part(report)
    python_part(sys.argv[1], nets(), report)
    (OUT / "drawn.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
