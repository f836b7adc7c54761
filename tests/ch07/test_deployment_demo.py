"""The drawing demo of "Deployment: the network in a web page", in Debian's Chromium.

The page's script (docs/assets/javascripts/digit_demo.js, started by digit_demo_start.js)
against PyTorch on the published weights (docs/notebooks/ch07/deployment_cnn_int8.bin): its
forward pass, its preparation of a drawing (against examples/ch07/deployment.py's `prepare`),
and the demo on the built page as a reader uses it: nothing loaded until Start, then two
scripts, the test digits, digits drawn with the mouse, the bars following the pen, the
keyboard, axe; and the same demo in the book read from disk (file://). That the demo
starts on the print page too is checked with that page (tests/test_browser.py).
"""

import base64
import zlib

import numpy as np
import pytest
import torch

from examples.ch07 import deployment
from tests.browser import (
    DEMO_BUDGET_KB,
    SITE_WIDE,
    WCAG_21_AA,
    demo_download,
    record_sizes,
    require_chromium,
    served,
    start_demo,
    to_dark,
)
from tests.ch07.test_deployment import PUBLISHED, read_page_data, read_weights, subset_test_set
from tests.helpers import REPO

pytestmark = pytest.mark.slow
require_chromium()
SCRIPT = REPO / "docs" / "assets" / "javascripts" / "digit_demo.js"
# What Start loads, relative to the site's root: the demo's code and its data (the weights and
# the test digits as base64, in a script: a page read from disk may not fetch()).
DEMO_FILES = {"assets/javascripts/digit_demo.js", "notebooks/ch07/deployment_demo_data.js"}
PAGE = "ch07/deployment.html"

# Digits drawn as a person draws them: each stroke a list of points, (across, down) as
# fractions of the drawing area, the pen down from the first point to the last. A 1 leaning a
# little; a 0 as an ellipse begun at the top, anticlockwise, closed with a small overlap; a 7
# as a top bar, then, without lifting the pen, a diagonal down to the left.
TURN = np.linspace(0, 2 * np.pi * 1.04, 24)
STROKES = {
    1: [[(0.54, 0.16), (0.51, 0.5), (0.48, 0.84)]],
    0: [list(zip(0.5 - 0.22 * np.sin(TURN), 0.5 - 0.33 * np.cos(TURN)))],
    7: [[(0.26, 0.2), (0.5, 0.19), (0.74, 0.2), (0.6, 0.52), (0.46, 0.84)]],
}


def published_data() -> dict:
    """The demo's data as the page's data script holds it (window.DigitDemoData): base64."""
    data = read_page_data(PUBLISHED / deployment.PAGE_DATA_FILE)
    return {key: base64.b64encode(content).decode() for key, content in data.items()}


def expected_test_readings() -> list[int]:
    """PyTorch's readings of the demo's test digits, on the published weights."""
    data = read_page_data(PUBLISHED / deployment.PAGE_DATA_FILE)
    digits = np.frombuffer(data["digits"], np.uint8)
    originals = torch.from_numpy(digits.reshape(-1, 28, 28).copy())
    weights = read_weights(data["weights"])
    with torch.no_grad():
        logits = deployment.forward_folded(weights, deployment.normalise(originals))
    return logits.argmax(1).tolist()


def reading(page):
    value = page.get_attribute(".digit-demo", "data-reading")
    return None if value is None else int(value)


def watch_console(page) -> list[str]:
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def draw(page, strokes, between=None):
    """Draw with the mouse on the demo's canvas, from point to point (with moves in between
    where the points are few, as a hand makes them); `between()` is called after each move
    to a point while the pen is down."""
    box = page.locator(".digit-demo__pad").bounding_box()
    for stroke in strokes:
        points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        steps = max(1, 12 // len(points))  # each step costs about a frame, 16 ms
        for point in points[1:]:
            page.mouse.move(*point, steps=steps)
            if between:
                between()
        page.mouse.up()


def axe_violations(page, scheme):
    """axe's WCAG 2.1 A/AA rules on the demo, as it is now (a button hovered or focused
    included), once the colours Material eases in over 125 ms have settled."""
    from axe_playwright_python.sync_playwright import Axe

    page.evaluate("Promise.all(document.getAnimations().map((a) => a.finished))")
    result = Axe().run(page, context=".digit-demo", options=WCAG_21_AA).response
    return [
        f"{scheme}: {v['id']} {[n['target'] for n in v['nodes']]}" for v in result["violations"]
    ]


def test_the_page_script_computes_pytorchs_forward_pass(browser):
    """digit_demo.js in Chromium, on the published weights and the subset's 1,000 test
    digits: PyTorch's predictions on the same weights, probabilities within 1e-5."""
    data = (PUBLISHED / deployment.WEIGHTS_FILE).read_bytes()
    images, _ = subset_test_set()
    with torch.no_grad():
        logits = deployment.forward_folded(read_weights(data), deployment.normalise(images))
    expected = logits.softmax(1).numpy()
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
    page.close()
    got = np.array(got)
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert np.abs(got - expected).max() < 1e-5


def test_the_demo_loads_nothing_until_started_then_two_scripts_and_reads_the_test_digits(
    browser, built_site
):
    """Before Start the page fetches nothing of the demo. If its data cannot load (a
    connection that drops, a copy of the site without it), Start's button says why on one
    line instead of loading forever, and can be pressed again. Start loads exactly its two
    scripts (no .bin: the data is a script), within the demo's 2 MB; each test digit, drawn on
    the canvas and prepared as a drawing is, reads as PyTorch reads the original; the test
    digit buttons work from the keyboard; Clear clears; axe's WCAG 2.1 A/AA rules pass on the
    started demo in light and in dark; no console error (before the failed load's)."""
    expected = expected_test_readings()
    with served(built_site) as base:
        context = browser.new_context()
        sizes = record_sizes(context)
        page = context.new_page()
        requested = []
        page.on("request", lambda request: requested.append(request.url.removeprefix(base)))
        errors = watch_console(page)
        page.goto(base + PAGE, wait_until="load")
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # nothing lazy either
        before = list(requested)
        download = demo_download(page, sizes, base)
        after = requested[len(before) :]
        focused = page.evaluate("document.activeElement.textContent")
        # From the keyboard, as a reader without a mouse: Enter on Next, twenty times.
        readings = []
        for _ in expected:
            page.keyboard.press("Enter")
            readings.append(reading(page))
        status = page.text_content(".digit-demo__status")
        # Shift+Tab to Previous and Space: one back; then Next with the mouse, one forward.
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Space")
        back = reading(page)
        page.click("button:has-text('Next test digit')")
        forward = reading(page)
        # With a test digit shown, Next hovered and focused.
        violations = axe_violations(page, "light")
        to_dark(page)
        violations += axe_violations(page, "dark")
        page.click("button:has-text('Clear')")
        cleared = reading(page)
        # The page again, its data unreachable: Start's button says why, and can be pressed
        # again.
        page = context.new_page()
        page.route("**/deployment_demo_data.js", lambda route: route.abort())
        page.goto(base + PAGE, wait_until="load")
        page.click(".digit-demo__start")
        page.wait_for_function(
            "!document.querySelector('.digit-demo__start').textContent.startsWith('Loading')"
        )
        failed = page.text_content(".digit-demo__start")
        retry = page.is_enabled(".digit-demo__start")
        context.close()
    assert not [u for u in before if u in DEMO_FILES or u.endswith(".bin")], before
    assert failed == "The demo could not start: deployment_demo_data.js did not load", failed
    assert retry, "the reader may try again"
    # Chromium asks for the site's icon, and the page for its search files, whenever they
    # please (SITE_WIDE): the requests that are not the demo's.
    demos = {u for u in after if not any(k in u for k in SITE_WIDE)}
    assert set(download) == DEMO_FILES == demos, after
    assert sum(download.values()) <= DEMO_BUDGET_KB * 1024, download
    assert focused == "Next test digit", "Start's button is gone: the focus goes on"
    assert readings == expected
    assert sum(r == d // 2 for d, r in enumerate(readings)) >= 19, "two of each, 0 to 9"
    assert status.startswith(f"Test digit {len(expected)} of {len(expected)}"), status
    assert [back, forward] == [expected[-2], expected[-1]]
    assert cleared is None, "Clear leaves nothing to read"
    assert not violations, violations
    assert not errors, errors


# After the next frame the screen draws (the demo's own frame callback, asked for earlier,
# has run first): the demo's reading, its bars, its status, and what the page's functions
# read from the canvas as it is now.
NEXT_FRAME = """() => new Promise((done) => requestAnimationFrame(() => {
    const demo = document.querySelector('.digit-demo'), pad = demo.querySelector('canvas');
    window.layers = window.layers || DigitDemo.parseWeights(
        Uint8Array.from(atob(DigitDemoData.weights), (c) => c.charCodeAt(0)).buffer);
    const x = DigitDemo.preprocess(DigitDemo.inkOf(pad), pad.width, pad.height);
    const p = DigitDemo.predict(layers, x);
    done({reading: demo.dataset.reading ?? null,
          widths: [...demo.querySelectorAll('.digit-demo__bar')]
            .map((bar) => parseFloat(bar.style.width)),
          status: demo.querySelector('.digit-demo__status').textContent,
          canvas: {reading: `${p.indexOf(Math.max(...p))}`,
                   widths: p.map((v) => Number((100 * v).toFixed(1)))}});
}))"""

# A burst of 40 pen moves in one task, faster than any frame: how many readings follow.
BURST = """() => new Promise((done) => {
    const demo = document.querySelector('.digit-demo'), pad = demo.querySelector('canvas');
    const box = pad.getBoundingClientRect();
    let readings = 0;
    const observer = new MutationObserver((records) => { readings += records.length; });
    observer.observe(demo, {attributes: true, attributeFilter: ['data-reading']});
    for (let i = 0; i < 40; i++)
        pad.dispatchEvent(new PointerEvent('pointermove', {bubbles: true, pointerId: 1,
            clientX: box.left + box.width * (0.3 + 0.01 * i),
            clientY: box.top + box.height * 0.6}));
    requestAnimationFrame(() => requestAnimationFrame(() => {
        observer.disconnect();
        done(readings);
    }));
})"""


def test_a_1_a_0_and_a_7_drawn_with_the_mouse_read_as_drawn_and_the_bars_follow_the_pen(
    browser, built_site
):
    """While the pen is down, after each frame, the bars and data-reading show what the
    canvas holds at that moment, and change as the digit grows; the status, read aloud,
    changes only when the pen lifts; a burst of moves within one frame is read once. A 1, a 0
    and a 7, each drawn with the mouse as a person would, on a cleared canvas, in light then
    in dark, read as drawn, in ink that shows on the scheme's background (dark ink in light,
    light ink in dark) and inks fully; the status says what it reads."""
    readings, said, inks = {}, {}, {}
    with served(built_site) as base:
        page = browser.new_page()
        errors = watch_console(page)
        page.goto(base + PAGE, wait_until="load")
        start_demo(page)
        # The bars while the pen is down.
        status = page.text_content(".digit-demo__status")
        frames = []
        draw(page, STROKES[7], between=lambda: frames.append(page.evaluate(NEXT_FRAME)))
        lifted = page.text_content(".digit-demo__status")
        box = page.locator(".digit-demo__pad").bounding_box()
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.6 * box["height"])
        page.mouse.down()
        page.evaluate(NEXT_FRAME)  # the pen's first dot read: the burst's reading is its own
        burst = page.evaluate(BURST)
        page.mouse.up()
        # The three digits, in each scheme.
        for scheme in ("light", "dark"):
            if scheme == "dark":
                to_dark(page)
            for digit, strokes in STROKES.items():
                page.click("button:has-text('Clear')")
                draw(page, strokes)
                readings[scheme, digit] = reading(page)
                said[scheme, digit] = page.text_content(".digit-demo__status")
            # The most opaque pixel of the last drawing: its colour, and its alpha (its ink).
            inks[scheme] = page.evaluate(
                """() => { const c = document.querySelector('.digit-demo__pad');
                    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let most = 3;
                    for (let i = 3; i < d.length; i += 4) if (d[i] > d[most]) most = i;
                    return Array.from(d.subarray(most - 3, most + 1));
                }"""
            )
        page.close()
    assert len(frames) == len(STROKES[7][0]) - 1
    for frame in frames:
        assert frame["reading"] == frame["canvas"]["reading"], frame
        assert frame["widths"] == frame["canvas"]["widths"], frame
        assert frame["status"] == status, "nothing said while the pen is down"
    assert len({tuple(frame["widths"]) for frame in frames}) >= 3, "the bars moved as it grew"
    assert lifted.startswith("It reads 7"), lifted
    assert burst == 1, f"{burst} readings for 40 moves within one frame"
    assert readings == {key: key[1] for key in readings} and len(readings) == 6, readings
    assert all(s.startswith(f"It reads {d}, with probability") for (_, d), s in said.items()), said
    # The pen inks fully, as MNIST's strokes reach 1: an opaque colour.
    assert inks["light"][3] == inks["dark"][3] == 255, inks
    assert max(inks["light"][:3]) < 100 < 155 < min(inks["dark"][:3]), inks
    assert not errors, errors


def test_the_demo_reads_a_test_digit_in_the_book_read_from_disk(browser, offline_site):
    """The offline book (file://, where Chromium refuses fetch()): the demo starts, loads its
    two scripts from beside the page, and reads a test digit as PyTorch does; no console
    error, nothing requested from anywhere but the disk."""
    expected = expected_test_readings()
    page = browser.new_page()
    errors = watch_console(page)
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto((offline_site / PAGE).as_uri(), wait_until="load")
    start_demo(page)
    page.click("button:has-text('Next test digit')")
    got = reading(page)
    page.close()
    assert got == expected[0]
    assert not [u for u in requested if not u.startswith(("file:", "data:", "blob:"))], requested
    names = {u.rsplit("/", 1)[-1] for u in requested}
    assert {name.rsplit("/", 1)[-1] for name in DEMO_FILES} <= names, names
    assert not errors, errors


def test_a_drawing_is_prepared_in_the_page_as_in_python(browser):
    """200 test digits of the subset as a reader might draw them (examples/ch07/deployment.py's
    `draw_like_a_reader`: scaled 5 to 9 times, bilinear, anywhere on the 280 x 280 canvas), put
    into the demo's canvas as its alpha channel, read back by the page's `inkOf` and
    `preprocess`: Python's `prepare` of the same canvas within 1e-6, and the page's network
    reads at least 97 % of them as PyTorch reads the original digit."""
    images, _ = subset_test_set()
    generator = np.random.default_rng(17)
    chosen = generator.choice(len(images), 200, replace=False)
    canvases = []
    for i in chosen:
        scale = float(generator.uniform(5, 9))
        room = 280 - int(np.ceil(28 * scale))  # where the scaled digit fits whole
        top, left = (int(v) for v in generator.integers(0, room + 1, 2))
        canvases.append(deployment.draw_like_a_reader(images[int(i)], scale, top, left))
    weights = read_weights((PUBLISHED / deployment.WEIGHTS_FILE).read_bytes())
    with torch.no_grad():
        originals = deployment.forward_folded(
            weights, deployment.normalise(images[torch.from_numpy(chosen)])
        )
    page = browser.new_page()
    page.set_content("<!doctype html><title>digit_demo.js</title><div class='digit-demo'></div>")
    page.add_script_tag(path=str(SCRIPT))
    # The 200 canvases' alpha, 15.7 MB, deflated to a tenth (mostly empty canvas): Playwright
    # passes a few MB a second. The page's inputs come back as float64 bytes.
    packed = zlib.compress(torch.stack(canvases).numpy().tobytes())
    inputs, readings = page.evaluate(
        """async ([data, packed]) => {
            const bytes = (text) => {
                const s = atob(text), b = new Uint8Array(s.length);
                for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
                return b;
            };
            const inflated = new Blob([bytes(packed)]).stream()
                .pipeThrough(new DecompressionStream('deflate'));
            const alphas = new Uint8Array(await new Response(inflated).arrayBuffer());
            DigitDemo.mount(document.querySelector('.digit-demo'), data);
            const layers = DigitDemo.parseWeights(bytes(data.weights).buffer);
            const pad = document.querySelector('.digit-demo__pad'), context = pad.getContext('2d');
            const area = pad.width * pad.height, count = alphas.length / area;
            const inputs = new Float64Array(784 * count), readings = [];
            for (let n = 0; n < count; n++) {
                const image = context.createImageData(pad.width, pad.height);
                for (let i = 0; i < area; i++) image.data[4 * i + 3] = alphas[n * area + i];
                context.putImageData(image, 0, 0);
                const x = DigitDemo.preprocess(DigitDemo.inkOf(pad), pad.width, pad.height);
                inputs.set(x, 784 * n);
                const p = DigitDemo.predict(layers, x);
                readings.push(p.indexOf(Math.max(...p)));
            }
            const u = new Uint8Array(inputs.buffer);
            let text = '';
            for (let i = 0; i < u.length; i += 8192)
                text += String.fromCharCode(...u.subarray(i, i + 8192));
            return [btoa(text), readings];
        }""",
        [published_data(), base64.b64encode(packed).decode()],
    )
    page.close()
    prepared = torch.from_numpy(np.frombuffer(base64.b64decode(inputs), "<f8").copy())
    python = torch.stack([deployment.prepare(c.double() / 255) for c in canvases]).double()
    difference = (prepared.reshape(python.shape) - python).abs().max().item()
    agreement = np.mean(np.array(readings) == originals.argmax(1).numpy()) * 100
    assert difference < 1e-6
    assert agreement >= 97
