// The drawing demo of "Deployment" (docs/ch07/deployment.md): the chapter's
// CNN in plain JavaScript, with no library. It reads the int8 weights that
// examples/ch07/deployment.py writes (write_weights), prepares a drawing as
// MNIST prepared its digits, and shows the ten probabilities. It fetches
// nothing: digit_demo_start.js has loaded the weights and the test digits as
// a script (deployment_demo_data.js: window.DigitDemoData, in base64), which
// works from file:// too.
"use strict";
window.DigitDemo = (() => {
  const MEAN = 0.1307, STD = 0.3081; // of MNIST's training pixels
  const SIZE = 280, PEN = 22; // the canvas and the pen, in pixels
  // conv1, conv2, fc1, fc2: (outputs, inputs per output), as in the file.
  const LAYERS = [[16, 25], [32, 400], [128, 512], [10, 128]];
  // The demo's style, added by mount: every other page, and this one until
  // Start, is lighter without it (extra.css has only the Start button's rule).
  // The page's own colours, so that it reads the same in light and dark.
  const STYLE = `
.md-typeset .digit-demo__panel { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.md-typeset .digit-demo__pad {
  width: 280px; max-width: 100%; aspect-ratio: 1; border: 2px solid var(--md-default-fg-color--light);
  border-radius: 0.2rem; touch-action: none; cursor: crosshair;
}
.md-typeset .digit-demo__bars { list-style: none; margin: 0; padding: 0; min-width: 14rem; flex: 1; }
.md-typeset .digit-demo__bars li { display: flex; align-items: center; gap: 0.5rem; margin: 0.15rem 0; }
.md-typeset .digit-demo__digit { width: 1ch; font-weight: 700; }
.md-typeset .digit-demo__track { flex: 1; height: 1rem; background: var(--md-default-fg-color--lightest); }
.md-typeset .digit-demo__bar { display: block; height: 100%; width: 0; background: var(--md-primary-fg-color); }
.md-typeset .digit-demo__best .digit-demo__bar { background: var(--md-accent-fg-color); }
.md-typeset .digit-demo__value { width: 5rem; text-align: right; font-variant-numeric: tabular-nums; }
/* Material's outlined buttons take the primary colour, too dark on slate: the text colour. */
[data-md-color-scheme="slate"] .md-typeset .digit-demo .md-button:not(.md-button--primary, :focus, :hover) {
  color: var(--md-default-fg-color);
}`;

  function bytesOf(base64) { // the bytes that base64 text stands for
    const text = atob(base64), bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  // Layer after layer: the rows' float32 scales, the int8 weights, the
  // float32 biases, little-endian. Each weight is its int8 times its row's
  // scale (the file's weights, "dequantised").
  function parseWeights(buffer) {
    const view = new DataView(buffer), layers = [];
    let at = 0;
    for (const [rows, cols] of LAYERS) {
      const scale = new Float32Array(rows), weight = new Float32Array(rows * cols);
      const bias = new Float32Array(rows);
      for (let r = 0; r < rows; r++, at += 4) scale[r] = view.getFloat32(at, true);
      for (let i = 0; i < rows * cols; i++, at++) weight[i] = view.getInt8(at) * scale[(i / cols) | 0];
      for (let r = 0; r < rows; r++, at += 4) bias[r] = view.getFloat32(at, true);
      layers.push({ weight, bias });
    }
    if (at !== buffer.byteLength) throw new Error("the weights file has an unexpected size");
    return layers;
  }

  function conv5relu(x, channels, h, { weight, bias }) { // 5 x 5, no padding
    const maps = bias.length, g = h - 4, y = new Float32Array(maps * g * g);
    for (let f = 0; f < maps; f++)
      for (let r = 0; r < g; r++)
        for (let q = 0; q < g; q++) {
          let s = bias[f];
          for (let c = 0; c < channels; c++) {
            const wb = (f * channels + c) * 25, xb = c * h * h;
            for (let i = 0; i < 5; i++)
              for (let j = 0; j < 5; j++) s += weight[wb + i * 5 + j] * x[xb + (r + i) * h + q + j];
          }
          y[(f * g + r) * g + q] = s > 0 ? s : 0;
        }
    return y;
  }

  function pool2(x, channels, h) { // max over each 2 x 2 block
    const g = h >> 1, y = new Float32Array(channels * g * g);
    for (let c = 0; c < channels; c++)
      for (let r = 0; r < g; r++)
        for (let q = 0; q < g; q++) {
          const k = c * h * h + 2 * r * h + 2 * q;
          y[(c * g + r) * g + q] = Math.max(x[k], x[k + 1], x[k + h], x[k + h + 1]);
        }
    return y;
  }

  function linear(x, { weight, bias }, relu) {
    const n = bias.length, m = x.length, y = new Float32Array(n);
    for (let o = 0; o < n; o++) {
      let s = bias[o];
      for (let i = 0; i < m; i++) s += weight[o * m + i] * x[i];
      y[o] = relu && s < 0 ? 0 : s;
    }
    return y;
  }

  // pixels: 784 values in [0, 1] (ink: 1), 28 x 28. The ten probabilities.
  function predict(layers, pixels) {
    let x = Float32Array.from(pixels, (v) => (v - MEAN) / STD);
    x = pool2(conv5relu(x, 1, 28, layers[0]), 16, 24);
    x = pool2(conv5relu(x, 16, 12, layers[1]), 32, 8);
    x = linear(linear(x, layers[2], true), layers[3], false);
    const top = Math.max(...x), e = Array.from(x, (v) => Math.exp(v - top));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  // Weights of an area average from n pixels to m: output i covers the
  // input interval [i n/m, (i + 1) n/m).
  function areaWeights(n, m) {
    const all = [], step = n / m;
    for (let i = 0; i < m; i++) {
      const lo = i * step, hi = lo + step, row = [];
      for (let j = Math.floor(lo); j < Math.min(n, Math.ceil(hi)); j++) {
        const overlap = Math.min(hi, j + 1) - Math.max(lo, j);
        if (overlap > 0) row.push([j, overlap / step]);
      }
      all.push(row);
    }
    return all;
  }

  // MNIST's recipe: the ink's bounding box, scaled (keeping its proportions)
  // so that its longer side is 20 pixels, by area averaging, then placed in
  // 28 x 28 with its centre of mass on pixel (14, 14). Null if blank.
  function preprocess(ink, width, height) {
    let top = height, bottom = -1, left = width, right = -1;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        if (ink[y * width + x] > 0) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
    if (bottom < 0) return null;
    // h * 20 / side, not h * (20 / side): rounded as Python rounds h * 20 / max(h, w), so
    // that a side of exactly n + 0.5 pixels gives the same size in both.
    const h = bottom - top + 1, w = right - left + 1, side = Math.max(h, w);
    const nh = Math.max(1, Math.round(h * 20 / side)), nw = Math.max(1, Math.round(w * 20 / side));
    const wy = areaWeights(h, nh), wx = areaWeights(w, nw);
    const rows = new Float64Array(nh * w);
    for (let i = 0; i < nh; i++)
      for (const [j, a] of wy[i])
        for (let x = 0; x < w; x++) rows[i * w + x] += a * ink[(top + j) * width + left + x];
    const small = new Float64Array(nh * nw);
    let mass = 0, my = 0, mx = 0;
    for (let i = 0; i < nh; i++)
      for (let k = 0; k < nw; k++) {
        let s = 0;
        for (const [j, a] of wx[k]) s += a * rows[i * w + j];
        small[i * nw + k] = s;
        mass += s; my += s * i; mx += s * k;
      }
    const dy = Math.floor(14 - my / mass + 0.5), dx = Math.floor(14 - mx / mass + 0.5);
    const out = new Float64Array(784);
    for (let i = 0; i < nh; i++)
      for (let k = 0; k < nw; k++) {
        const y = i + dy, x = k + dx;
        if (y >= 0 && y < 28 && x >= 0 && x < 28) out[y * 28 + x] = Math.min(1, small[i * nw + k]);
      }
    return out;
  }

  function inkOf(canvas) { // the alpha channel: strokes on a clear canvas
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const ink = new Float64Array(canvas.width * canvas.height);
    for (let i = 0; i < ink.length; i++) ink[i] = data[4 * i + 3] / 255;
    return ink;
  }

  function element(tag, properties = {}, children = []) {
    const node = Object.assign(document.createElement(tag), properties);
    node.append(...children);
    return node;
  }

  // data: window.DigitDemoData, {weights, digits} as base64: the weights file
  // and the test digits, 784 bytes each (two of each digit, 0 to 9).
  function mount(demo, data) {
    if (!data || typeof data.weights !== "string" || typeof data.digits !== "string")
      throw new Error("the demo's data did not load");
    const layers = parseWeights(bytesOf(data.weights).buffer), tests = bytesOf(data.digits);
    if (!tests.length || tests.length % 784) throw new Error("the test digits have an unexpected size");

    if (!document.getElementById("digit-demo-style"))
      document.head.append(element("style", { id: "digit-demo-style", textContent: STYLE }));
    const canvas = element("canvas", { width: SIZE, height: SIZE, className: "digit-demo__pad" });
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Drawing area: draw a digit here with a mouse, pen or finger; from the keyboard, use the test digit buttons");
    const status = element("p", { className: "digit-demo__status", textContent: "Draw a digit, or pick a test digit." });
    status.setAttribute("aria-live", "polite");
    const bars = element("ol", { className: "digit-demo__bars" });
    bars.setAttribute("aria-label", "The network's ten probabilities");
    const rows = Array.from({ length: 10 }, (_, d) => {
      const bar = element("span", { className: "digit-demo__bar" });
      const value = element("span", { className: "digit-demo__value" }); // empty until a reading
      const row = element("li", {}, [element("span", { className: "digit-demo__digit", textContent: `${d}` }),
        element("span", { className: "digit-demo__track" }, [bar]), value]);
      bars.append(row);
      return { row, bar, value };
    });
    const clear = element("button", { type: "button", className: "md-button", textContent: "Clear" });
    const previous = element("button", { type: "button", className: "md-button", textContent: "Previous test digit" });
    const next = element("button", { type: "button", className: "md-button", textContent: "Next test digit" });
    const controls = element("p", { className: "digit-demo__controls" }, [clear, " ", previous, " ", next]);
    demo.replaceChildren(element("div", { className: "digit-demo__panel" }, [canvas, bars]), controls, status);

    // Read back on every frame of a stroke (inkOf): kept in memory, not on the GPU.
    const context = canvas.getContext("2d", { willReadFrequently: true });
    // The pen's colour: the page's text colour, made opaque. Material's text
    // colour is translucent (0.87 in light), and the drawing's ink is the
    // canvas's alpha: a translucent pen would ink at most 0.87, and more where
    // two segments of a stroke overlap, at every joint: an uneven line.
    const ink = () => (getComputedStyle(demo).color.match(/[\d.]+/g) || [0, 0, 0]).slice(0, 3).map(Number);
    // The bars and data-reading show what the canvas holds now. The status is
    // read aloud (aria-live), so it changes only when `said` is given: when the
    // pen lifts or a test digit is shown, not on every frame of a stroke.
    function read(said) {
      const pixels = preprocess(inkOf(canvas), SIZE, SIZE);
      if (!pixels) return reset();
      const p = predict(layers, pixels), best = p.indexOf(Math.max(...p));
      rows.forEach(({ row, bar, value }, d) => {
        bar.style.width = `${(100 * p[d]).toFixed(1)}%`;
        value.textContent = `${(100 * p[d]).toFixed(1)} %`;
        row.classList.toggle("digit-demo__best", d === best);
      });
      demo.dataset.reading = best;
      if (said !== undefined)
        status.textContent = `${said}It reads ${best}, with probability ${(100 * p[best]).toFixed(1)} %.`;
    }
    function reset() {
      context.clearRect(0, 0, SIZE, SIZE);
      rows.forEach(({ row, bar, value }) => {
        bar.style.width = "0";
        value.textContent = "";
        row.classList.remove("digit-demo__best");
      });
      status.textContent = "Draw a digit, or pick a test digit.";
      delete demo.dataset.reading;
    }
    let shown = -1; // the test digit on the canvas: two of each, 0 to 9
    function showTest(step) {
      const count = tests.length / 784;
      // The first press shows the first digit (Next) or the last (Previous).
      shown = shown < 0 ? (step > 0 ? 0 : count - 1) : (shown + step + count) % count;
      context.clearRect(0, 0, SIZE, SIZE);
      const image = context.createImageData(SIZE, SIZE), scale = SIZE / 28;
      const [r, g, b] = ink();
      for (let y = 0; y < SIZE; y++)
        for (let x = 0; x < SIZE; x++) {
          const k = 4 * (y * SIZE + x);
          image.data.set([r, g, b, tests[shown * 784 + ((y / scale) | 0) * 28 + ((x / scale) | 0)]], k);
        }
      context.putImageData(image, 0, 0);
      read(`Test digit ${shown + 1} of ${count}, labelled ${shown >> 1}. `);
    }
    let last = null; // the pen's last point while it is down
    let frame = 0; // a reading waiting for the next frame
    // While the pen moves, read the canvas at most once per frame the screen
    // draws: pointer events can come faster, and each reading is a forward
    // pass of about a million multiply-adds.
    function readNextFrame() {
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; read(); });
    }
    const at = (event) => [event.offsetX * SIZE / canvas.clientWidth, event.offsetY * SIZE / canvas.clientHeight];
    canvas.addEventListener("pointerdown", (event) => {
      Object.assign(context, { lineWidth: PEN, lineCap: "round", lineJoin: "round", strokeStyle: `rgb(${ink()})` });
      last = at(event);
      context.beginPath(); context.moveTo(...last); context.lineTo(...last); context.stroke();
      canvas.setPointerCapture(event.pointerId);
      readNextFrame();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!last) return;
      const point = at(event);
      context.beginPath(); context.moveTo(...last); context.lineTo(...point); context.stroke();
      last = point;
      readNextFrame();
    });
    const end = () => {
      if (!last) return;
      last = null;
      cancelAnimationFrame(frame); // the stroke's last reading is this one, said aloud
      frame = 0;
      read("");
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    clear.addEventListener("click", reset);
    previous.addEventListener("click", () => showTest(-1));
    next.addEventListener("click", () => showTest(1));
    next.focus();
  }

  return { mount, parseWeights, predict, preprocess, inkOf };
})();
