"""Browser checks of the prototype, in Debian's Chromium (never a browser
Playwright downloads), after export.py has written out/:

1. digits.js's forward pass on the first 1,000 MNIST test digits against
   PyTorch, for the MLP and the CNN, float32 and int8 weights;
2. the redrawn digits: each test digit scaled up 5-9 times and put off
   centre on the 280 x 280 canvas, read back by the page's preprocessing,
   against prep.py (the same recipe in NumPy) and against PyTorch's reading of
   the original digit; plus, in Python only, pen variants (thicker, thinner,
   no grey) to choose the network;
3. digits drawn with page.mouse on the page's canvas (all ten, three sizes and
   places each), read by the page and by both networks.

    OMP_NUM_THREADS=1 python prototype17/check.py      # -> out/check.json
"""

import base64
import json
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F
from playwright.sync_api import sync_playwright
from scipy import ndimage

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from examples.ch07 import cnn, train  # noqa: E402
from tests.browser import launch, served  # noqa: E402
import prep  # noqa: E402

OUT = HERE / "out"
N = 1000
NETS = ("mlp", "cnn")


def nets():
    mlp, conv = train.Net(), cnn.ConvNet()
    mlp.load_state_dict(torch.load(OUT / "mlp.pt"))
    conv.load_state_dict(torch.load(OUT / "cnn.pt"))
    return {"mlp": mlp.eval(), "cnn": conv.eval()}


@torch.no_grad()
def torch_probs(net, pixels):  # pixels: (n, 28, 28) in [0, 1]
    x = torch.as_tensor(np.asarray(pixels), dtype=torch.float32)
    x = x.unsqueeze(1).sub(train.MEAN).div(train.STD)
    return net(x).softmax(1).numpy()


def redraw(images, rng, size=280):
    """Each 28 x 28 digit scaled up by 5 to 9 (bilinear), its ink placed at a
    random place on a size x size canvas: uint8 canvases."""
    canvases = np.zeros((len(images), size, size), np.uint8)
    for n, img in enumerate(images):
        side = round(28 * rng.uniform(5, 9))
        up = F.interpolate(
            torch.from_numpy(img).float()[None, None] / 255,
            size=(side, side), mode="bilinear", align_corners=False,
        )[0, 0].clamp(0, 1).numpy()
        up = np.round(up * 255).astype(np.uint8)
        ys, xs = np.nonzero(up)
        up = up[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        h, w = up.shape
        top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        canvases[n, top : top + h, left : left + w] = up
    return canvases


# Ten digits as strokes in a unit box (x right, y down), drawn by the mouse.
STROKES = {
    0: [[(0.5 + 0.42 * np.sin(t), 0.5 - 0.5 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 37)]],
    1: [[(0.58, 0.0), (0.42, 1.0)]],
    2: [[(0.15, 0.25), (0.3, 0.05), (0.5, 0.0), (0.72, 0.07), (0.8, 0.25), (0.7, 0.45), (0.15, 1.0), (0.9, 1.0)]],
    3: [[(0.15, 0.1), (0.45, 0.0), (0.72, 0.08), (0.78, 0.25), (0.62, 0.42), (0.4, 0.48), (0.65, 0.54), (0.82, 0.72), (0.72, 0.92), (0.45, 1.0), (0.15, 0.9)]],
    4: [[(0.3, 0.0), (0.12, 0.6), (0.9, 0.6)], [(0.7, 0.0), (0.7, 1.0)]],
    5: [[(0.85, 0.0), (0.25, 0.0), (0.2, 0.42), (0.45, 0.37), (0.72, 0.45), (0.82, 0.67), (0.72, 0.9), (0.45, 1.0), (0.15, 0.92)]],
    6: [[(0.72, 0.0), (0.4, 0.2), (0.2, 0.5), (0.18, 0.75), (0.3, 0.95), (0.5, 1.0), (0.72, 0.92), (0.8, 0.75), (0.72, 0.57), (0.5, 0.5), (0.3, 0.58), (0.2, 0.75)]],
    7: [[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)]],
    8: [[(0.5, 0.48), (0.72, 0.37), (0.78, 0.18), (0.62, 0.02), (0.38, 0.02), (0.22, 0.18), (0.28, 0.37), (0.5, 0.48), (0.75, 0.6), (0.82, 0.8), (0.65, 0.98), (0.35, 0.98), (0.18, 0.8), (0.25, 0.6), (0.5, 0.48)]],
    9: [[(0.78, 0.2), (0.62, 0.02), (0.4, 0.02), (0.22, 0.18), (0.25, 0.38), (0.45, 0.48), (0.66, 0.4), (0.78, 0.2), (0.77, 0.55), (0.72, 1.0)]],
}
# (left, top, height) of each drawing on the 280 x 280 canvas; the width is
# 0.75 of the height. Large and centred, small at the top left, mid-sized at
# the bottom right.
PLACES = [(65, 40, 200), (20, 20, 110), (120, 110, 150)]


def b64_floats(text):
    return np.frombuffer(base64.b64decode(text), np.float32)


JS_B64 = """(a) => { const f = new Float32Array(a); let s = "";
  const u = new Uint8Array(f.buffer);
  for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode(...u.subarray(i, i + 8192));
  return btoa(s); }"""


def main():
    torch.set_num_threads(1)
    models = nets()
    images = np.frombuffer((OUT / "test1000.u8").read_bytes(), np.uint8).reshape(N, 28, 28)
    labels = np.frombuffer((OUT / "test1000.labels").read_bytes(), np.uint8)
    original = {k: torch_probs(m, images / 255).argmax(1) for k, m in models.items()}
    report = {"digits": N}

    # The redrawn digits, and the Python reference of their preprocessing.
    canvases = redraw(images, np.random.default_rng(17))
    (OUT / "redraw.u8").write_bytes(canvases.tobytes())
    py_prep = np.stack([prep.preprocess(c / 255) for c in canvases])

    # Pen variants, in Python only (prep.py = digits.js, checked below).
    variants = {
        "redrawn": canvases,
        "thicker pen (max filter 9 px)": ndimage.grey_dilation(canvases, size=(1, 9, 9)),
        "thinner pen (min filter 7 px)": ndimage.grey_erosion(canvases, size=(1, 7, 7)),
        "no grey (ink >= 50 % -> full)": np.where(canvases >= 128, 255, 0).astype(np.uint8),
    }
    report["python_variants"] = {}
    for name, cv in variants.items():
        x = py_prep if name == "redrawn" else np.stack([prep.preprocess(c / 255) for c in cv])
        row = {}
        for k, m in models.items():
            p = torch_probs(m, x).argmax(1)
            row[k] = {
                "same_as_original_%": float((p == original[k]).mean() * 100),
                "accuracy_%": float((p == labels).mean() * 100),
                "original_accuracy_%": float((original[k] == labels).mean() * 100),
            }
        report["python_variants"][name] = row
        print(name, json.dumps(row))

    with served(HERE) as base, sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page()
        page.goto(base + "demo.html?net=cnn&w=int8")

        # 1. The forward pass against PyTorch on the same inputs.
        report["forward"] = {}
        for name in NETS:
            torch_ref = np.frombuffer((OUT / f"{name}-torch-ref10000.f32").read_bytes(), np.float32).reshape(-1, 10)[:N]
            for tag in ("f32", "int8"):
                ms, text = page.evaluate(
                    """async ([w, b64]) => {
                      const net = await Digits.load(w);
                      const u8 = new Uint8Array(await (await fetch("out/test1000.u8")).arrayBuffer());
                      const t = performance.now(), out = [];
                      for (let n = 0; n < u8.length / 784; n++)
                        out.push(...Digits.predict(net, Array.from(u8.subarray(784 * n, 784 * n + 784), (v) => v / 255)));
                      return [performance.now() - t, (%s)(out)];
                    }""" % JS_B64,
                    [f"out/{name}-{tag}", None],
                )
                js = b64_floats(text).reshape(N, 10)
                same_w = np.frombuffer((OUT / f"{name}-{tag}-ref1000.f32").read_bytes(), np.float32).reshape(N, 10)
                r = {
                    "same_predictions_as_pytorch": int((js.argmax(1) == torch_ref.argmax(1)).sum()),
                    "max_prob_diff_vs_pytorch": float(np.abs(js - torch_ref).max()),
                    "same_predictions_as_pytorch_on_these_weights": int((js.argmax(1) == same_w.argmax(1)).sum()),
                    "max_prob_diff_vs_pytorch_on_these_weights": float(np.abs(js - same_w).max()),
                    "ms_per_digit": ms / N,
                }
                report["forward"][f"{name}-{tag}"] = r
                print(name, tag, r)

        # 2. The redrawn digits through the page's canvas and preprocessing.
        text, preds = page.evaluate(
            """async (B64) => {
              const toB64 = eval(B64);
              const nets = {};
              for (const k of ["mlp-f32", "mlp-int8", "cnn-f32", "cnn-int8"]) nets[k] = await Digits.load("out/" + k);
              const all = new Uint8Array(await (await fetch("out/redraw.u8")).arrayBuffer());
              const pad = document.getElementById("pad"), ctx = pad.getContext("2d");
              const preps = [], preds = {};
              for (const k in nets) preds[k] = [];
              for (let n = 0; n < all.length / 78400; n++) {
                const img = ctx.createImageData(280, 280);
                for (let i = 0; i < 78400; i++) img.data[4 * i + 3] = all[78400 * n + i];
                ctx.putImageData(img, 0, 0);
                const x = Digits.preprocess(Digits.inkOf(pad), 280, 280);
                preps.push(...x);
                for (const k in nets) { const p = Digits.predict(nets[k], x); preds[k].push(p.indexOf(Math.max(...p))); }
              }
              ctx.clearRect(0, 0, 280, 280);
              return [toB64(preps), preds];
            }""",
            JS_B64,
        )
        js_prep = b64_floats(text).reshape(N, 28, 28)
        rd = {"max_abs_diff_js_vs_python_preprocessing": float(np.abs(js_prep - py_prep).max())}
        for k, p in preds.items():
            name = k.split("-")[0]
            p = np.array(p)
            rd[k] = {
                "same_as_pytorch_on_originals_%": float((p == original[name]).mean() * 100),
                "accuracy_%": float((p == labels).mean() * 100),
                "same_as_pytorch_on_python_preprocessing_%": float(
                    (p == torch_probs(models[name], py_prep).argmax(1)).mean() * 100
                ),
            }
        report["redrawn_in_browser"] = rd
        print(json.dumps(rd, indent=1))

        # 3. Digits drawn with the mouse on the page's own canvas.
        page.evaluate("async () => { window.all = {}; for (const k of ['mlp-f32', 'cnn-f32', 'mlp-int8', 'cnn-int8']) all[k] = await Digits.load('out/' + k); }")
        box = page.locator("#pad").bounding_box()
        drawn, pictures = [], []
        for digit, strokes in STROKES.items():
            for left, top, height in PLACES:
                page.click("#clear")
                for stroke in strokes:
                    pts = [(box["x"] + left + 0.75 * height * x, box["y"] + top + height * y) for x, y in stroke]
                    page.mouse.move(*pts[0])
                    page.mouse.down()
                    for p in pts[1:]:
                        page.mouse.move(*p, steps=6)
                    page.mouse.up()
                page.wait_for_function("document.getElementById('read').dataset.digit !== undefined")
                shown = int(page.locator("#read").get_attribute("data-digit"))
                reads, x = page.evaluate(
                    """() => { const pad = document.getElementById('pad');
                      const x = Digits.preprocess(Digits.inkOf(pad), 280, 280), r = {};
                      for (const k in all) { const p = Digits.predict(all[k], x); r[k] = [p.indexOf(Math.max(...p)), Math.max(...p)]; }
                      return [r, Array.from(x)]; }"""
                )
                pictures.append(np.array(x).reshape(28, 28))
                drawn.append({"digit": digit, "place": [left, top, height], "page_reads (cnn-int8)": shown,
                              **{k: v[0] for k, v in reads.items()},
                              **{k + "_p": round(v[1], 3) for k, v in reads.items()}})
                print(drawn[-1])
        browser.close()
    report["mouse_drawn"] = drawn
    summary = {}
    for k in ("mlp-f32", "cnn-f32", "mlp-int8", "cnn-int8"):
        summary[k] = sum(d[k] == d["digit"] for d in drawn)
    summary["drawings"] = len(drawn)
    summary["1, 0, 7 (large, centred) read by the page"] = [
        d["page_reads (cnn-int8)"] for d in drawn if d["place"] == list(PLACES[0]) and d["digit"] in (1, 0, 7)
    ]
    report["mouse_drawn_correct"] = summary
    print(summary)
    np.save(OUT / "mouse_drawn_28x28.npy", np.stack(pictures))
    (OUT / "check.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
