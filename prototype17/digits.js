// The chapter's network in the page: MNIST-style preprocessing of a drawing
// and the forward pass of the MLP (784-512-10) or the CNN, in plain
// JavaScript, from weights exported by export.py (float32 or int8 with one
// float32 scale per output row). No dependencies.
"use strict";
const Digits = (() => {
  const MEAN = 0.1307, STD = 0.3081;

  async function load(base) { // base: "out/cnn-int8" -> .json + .bin
    const [manifest, buffer] = await Promise.all([
      fetch(base + ".json").then((r) => r.json()),
      fetch(base + ".bin").then((r) => r.arrayBuffer()),
    ]);
    const w = {};
    for (const e of manifest) {
      if (e.data) {
        w[e.name] = new Float32Array(buffer, e.data.offset, e.data.length);
      } else { // int8 rows, each times its scale
        const q = new Int8Array(buffer, e.q.offset, e.q.length);
        const s = new Float32Array(buffer, e.scale.offset, e.scale.length);
        const a = new Float32Array(q.length), row = q.length / s.length;
        for (let i = 0; i < q.length; i++) a[i] = q[i] * s[(i / row) | 0];
        w[e.name] = a;
      }
      w[e.name].shape = e.shape;
    }
    w.kind = "conv1.weight" in w ? "cnn" : "mlp";
    return w;
  }

  function linear(x, W, b, relu) { // W: (out, in), row-major
    const n = b.length, m = x.length, y = new Float32Array(n);
    for (let o = 0; o < n; o++) {
      let s = b[o];
      for (let i = 0, k = o * m; i < m; i++, k++) s += W[k] * x[i];
      y[o] = relu && s < 0 ? 0 : s;
    }
    return y;
  }

  function conv5relu(x, c, h, W, b) { // valid 5x5 conv, square maps h x h
    const o = b.length, g = h - 4, y = new Float32Array(o * g * g);
    for (let f = 0; f < o; f++)
      for (let r = 0; r < g; r++)
        for (let q = 0; q < g; q++) {
          let s = b[f];
          for (let ch = 0; ch < c; ch++) {
            const wb = (f * c + ch) * 25, xb = ch * h * h;
            for (let i = 0; i < 5; i++)
              for (let j = 0; j < 5; j++)
                s += W[wb + i * 5 + j] * x[xb + (r + i) * h + q + j];
          }
          y[(f * g + r) * g + q] = s > 0 ? s : 0;
        }
    return y;
  }

  function pool2(x, c, h) {
    const g = h >> 1, y = new Float32Array(c * g * g);
    for (let ch = 0; ch < c; ch++)
      for (let r = 0; r < g; r++)
        for (let q = 0; q < g; q++) {
          const k = ch * h * h + 2 * r * h + 2 * q;
          y[(ch * g + r) * g + q] = Math.max(x[k], x[k + 1], x[k + h], x[k + h + 1]);
        }
    return y;
  }

  // pixels: 784 values in [0, 1] (ink = 1), row-major 28 x 28. Returns the
  // ten probabilities (softmax of the logits).
  function predict(w, pixels) {
    let x = new Float32Array(784);
    for (let i = 0; i < 784; i++) x[i] = (pixels[i] - MEAN) / STD;
    if (w.kind === "cnn") {
      x = pool2(conv5relu(x, 1, 28, w["conv1.weight"], w["conv1.bias"]), 16, 24);
      x = pool2(conv5relu(x, 16, 12, w["conv2.weight"], w["conv2.bias"]), 32, 8);
    }
    x = linear(x, w["fc1.weight"], w["fc1.bias"], true);
    const z = linear(x, w["fc2.weight"], w["fc2.bias"], false);
    const top = Math.max(...z), e = Array.from(z, (v) => Math.exp(v - top));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  // Area-averaging weights from n source pixels to m: row i covers the
  // source interval [i n/m, (i+1) n/m).
  function areaWeights(n, m) {
    const W = [], step = n / m;
    for (let i = 0; i < m; i++) {
      const lo = i * step, hi = lo + step, row = [];
      for (let j = Math.floor(lo); j < Math.min(n, Math.ceil(hi)); j++) {
        const overlap = Math.min(hi, j + 1) - Math.max(lo, j);
        if (overlap > 0) row.push([j, overlap / step]);
      }
      W.push(row);
    }
    return W;
  }

  // MNIST's own recipe: the ink's bounding box, scaled (keeping its
  // proportions) so that its longer side is 20 pixels, anti-aliased by area
  // averaging, then placed in 28 x 28 so that its centre of mass falls on
  // pixel (14, 14). ink: width*height values in [0, 1]. Null if blank.
  function preprocess(ink, width, height) {
    let top = height, bottom = -1, left = width, right = -1;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        if (ink[y * width + x] > 0) {
          if (y < top) top = y;
          if (y > bottom) bottom = y;
          if (x < left) left = x;
          if (x > right) right = x;
        }
    if (bottom < 0) return null;
    const h = bottom - top + 1, w = right - left + 1, scale = 20 / Math.max(h, w);
    const nh = Math.max(1, Math.round(h * scale)), nw = Math.max(1, Math.round(w * scale));
    const Wy = areaWeights(h, nh), Wx = areaWeights(w, nw);
    const rows = new Float64Array(nh * w); // first the rows, then the columns
    for (let i = 0; i < nh; i++)
      for (const [j, a] of Wy[i])
        for (let x = 0; x < w; x++) rows[i * w + x] += a * ink[(top + j) * width + left + x];
    const small = new Float64Array(nh * nw);
    let mass = 0, my = 0, mx = 0;
    for (let i = 0; i < nh; i++)
      for (let k = 0; k < nw; k++) {
        let s = 0;
        for (const [j, a] of Wx[k]) s += a * rows[i * w + j];
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

  return { load, predict, preprocess, inkOf };
})();
