"""The page's preprocessing (digits.js: preprocess) in NumPy, the reference
the browser checks compare with: MNIST's recipe (bounding box scaled to fit
20 x 20, area-averaged, centre of mass on pixel (14, 14) of 28 x 28)."""

import math

import numpy as np


def area_weights(n, m):
    """(m, n) matrix: output i averages the source interval [i n/m, (i+1) n/m)."""
    W, step = np.zeros((m, n)), n / m
    for i in range(m):
        lo, hi = i * step, (i + 1) * step
        for j in range(math.floor(lo), min(n, math.ceil(hi))):
            overlap = min(hi, j + 1) - max(lo, j)
            if overlap > 0:
                W[i, j] = overlap / step
    return W


def preprocess(ink):
    """ink: (H, W) floats in [0, 1]. Returns (28, 28) floats, or None."""
    ys, xs = np.nonzero(ink > 0)
    if len(ys) == 0:
        return None
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float64)
    h, w = crop.shape
    scale = 20 / max(h, w)
    nh, nw = max(1, round_half_up(h * scale)), max(1, round_half_up(w * scale))
    small = area_weights(h, nh) @ crop @ area_weights(w, nw).T
    mass = small.sum()
    my = (small.sum(1) * np.arange(nh)).sum() / mass
    mx = (small.sum(0) * np.arange(nw)).sum() / mass
    dy, dx = math.floor(14 - my + 0.5), math.floor(14 - mx + 0.5)
    out = np.zeros((28, 28))
    for i in range(nh):
        for k in range(nw):
            y, x = i + dy, k + dx
            if 0 <= y < 28 and 0 <= x < 28:
                out[y, x] = min(1.0, small[i, k])
    return out


def round_half_up(v):
    # JavaScript's Math.round (halves up), which the page uses
    return math.floor(v + 0.5)
