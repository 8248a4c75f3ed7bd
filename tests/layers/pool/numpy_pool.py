"""Max and average pooling by NumPy loops over windows: the reference of test_pooling.py."""

import itertools

import numpy as np


def np_pads(spatial, window, stride, padding):
    ndim = len(spatial)
    window = (window,) * ndim if isinstance(window, int) else window
    stride = window if stride is None else (stride,) * ndim if isinstance(stride, int) else stride
    if padding == "VALID":
        pads = [(0, 0)] * ndim
    elif padding == "SAME":
        totals = [
            max((-(-n // s) - 1) * s + w - n, 0)
            for n, w, s in zip(spatial, window, stride, strict=True)
        ]
        pads = [(t // 2, t - t // 2) for t in totals]
    else:
        pads = [padding] if ndim == 1 else list(padding)
    return window, stride, pads


def np_pool(x, window, stride, padding, kind):
    """Pooling by loops over windows; for max, also where each output's gradient goes."""
    n_batch, *spatial, n_chan = x.shape
    window, stride, pads = np_pads(spatial, window, stride, padding)
    out = [
        (n + lo + hi - w) // s + 1
        for n, w, s, (lo, hi) in zip(spatial, window, stride, pads, strict=True)
    ]
    y = np.zeros((n_batch, *out, n_chan))
    routes = {}  # output index -> input index of the window's first maximum
    for o in itertools.product(*map(range, out)):
        starts = [oi * s - lo for oi, s, (lo, _) in zip(o, stride, pads, strict=True)]
        lows = [max(a, 0) for a in starts]
        highs = [min(a + w, n) for a, w, n in zip(starts, window, spatial, strict=True)]
        patch = x[
            (slice(None), *(slice(a, b) for a, b in zip(lows, highs, strict=True)), slice(None))
        ]
        flat = patch.reshape(n_batch, -1, n_chan)  # row-major: the window's scan order
        if kind == "avg":
            y[(slice(None), *o, slice(None))] = flat.mean(axis=1)  # input elements only
            continue
        y[(slice(None), *o, slice(None))] = flat.max(axis=1)
        for n, c in itertools.product(range(n_batch), range(n_chan)):
            first = int(np.argmax(flat[n, :, c]))  # NumPy's argmax: the first maximum
            offset = np.unravel_index(first, patch.shape[1:-1])
            routes[(n, *o, c)] = (n, *(int(a + i) for a, i in zip(lows, offset, strict=True)), c)
    return y, routes


def np_max_pool_grad(x, dy, routes):
    """dx = Sᵀ dy: each window's dy added at its first maximum."""
    dx = np.zeros_like(x)
    for out_index, in_index in routes.items():
        dx[in_index] += dy[out_index]
    return dx
