"""Fused NumPy kernels the ops share: plain functions on ndarrays, no graph. Their large arrays come
from the engine's buffer pool (`engine.buffer`), so a training step reuses last step's memory.

Why they exist: on the VAE's path these run on batch × 784 arrays every step, and a few in-place passes
over one buffer beat the textbook one-liners here (np.logaddexp(0, x) and scipy.special.expit were
3–10× slower, np.where several times slower), while staying finite for every finite x: both stable
forms only ever exponentiate −|x| ≤ 0, so e^(−|x|) ∈ (0, 1] never overflows.
"""

import numpy as np

from ..engine import buffer


def softplus(x, scratch=None):
    """log(1 + eˣ) = max(x, 0) + log1p(e^(−|x|)).

    `scratch`, if given, is an array of x's shape and result dtype that may be overwritten."""
    dtype = np.result_type(x, 0.0)
    y = np.abs(x, out=buffer(np.shape(x), dtype))
    np.negative(y, out=y)
    np.exp(y, out=y)
    np.log1p(y, out=y)
    y += np.maximum(x, 0, out=buffer(np.shape(x), dtype) if scratch is None else scratch)
    return y


def sigmoid(x):
    """σ(x) = q for x < 0 and 1 − q for x ≥ 0, with q = e^(−|x|) / (1 + e^(−|x|)) = σ(−|x|) ≤ ½.

    Never 1 − σ(|x|) for x < 0, which would cancel to 0; the branch is taken arithmetically,
    σ = q + [x ≥ 0]·(1 − 2q), because np.where is several times slower here than these passes."""
    q = np.abs(x, out=buffer(np.shape(x), np.result_type(x, 0.0)))
    np.negative(q, out=q)
    np.exp(q, out=q)
    h = np.add(q, 1, out=buffer(q.shape, q.dtype))
    np.divide(q, h, out=q)
    np.greater_equal(x, 0, out=h)
    t = np.multiply(q, -2, out=buffer(q.shape, q.dtype))
    t += 1
    t *= h
    q += t
    return q


def one_minus_square_times(y, g):
    """(1 − y²) · ḡ in one buffer: tanh's VJP from its saved output y (no second tanh)."""
    d = np.multiply(y, y, out=buffer(y.shape, y.dtype))    # an array even when y is 0-d
    np.subtract(1, d, out=d)
    return np.multiply(d, g, out=d)


def bce_with_logits(x, t, with_grad):
    """ℓ = softplus(x) − t·x, elementwise, and if `with_grad` its derivative σ(x) − t too, both from one
    e = e^(−|x|) (one exp for the pair, where separate kernels took two and 21 passes in all):

        softplus(x) = max(x, 0) + log1p(e),      σ(x) = max(e, [x ≥ 0]) / (1 + e)

    (the numerator is e for x < 0 and 1 for x ≥ 0: σ(−|x|) never becomes 1 − σ(|x|), which would
    cancel). 12 passes, block by block (by_row_blocks). x has the result's shape; t broadcasts to it.
    Returns (ℓ, σ(x) − t or None), in buffers from the pool."""
    dtype = np.result_type(x, t, 0.0)
    loss, e, d = (buffer(x.shape, dtype) for _ in range(3))
    by_row_blocks(_bce_block, x, t, loss, e, d, with_grad)
    return loss, (d if with_grad else None)


def _bce_block(x, t, loss, e, d, with_grad):
    np.copysign(x, -1, out=e)                  # −|x|
    np.exp(e, out=e)
    np.log1p(e, out=loss)
    loss += np.maximum(x, 0, out=d)
    loss -= np.multiply(x, t, out=d)
    if with_grad:
        np.greater_equal(x, 0, out=d)
        np.maximum(d, e, out=d)
        e += 1
        d /= e
        d -= t


# ----------------------------------------------------------------------------------------------
# Speed: a kernel of many passes run block by block, so that its passes find the block in cache.
#
# Why: one pass over a batch-1000 × 784 float32 array (3 MB) streams it from the shared L3 cache; a
# kernel of 12 passes over 5 such arrays does that 12 times. Cut into blocks of rows of ~256 KiB per
# array, each block's arrays stay in the core's own L2 cache (2 MB here) for all the passes: Adam's
# update took 20–25 % less time that way (measured in the closing note of issue 16), at the price of
# ~1 µs per NumPy call and block. Every element still sees the same ufuncs in the same order, so the
# numbers are the same as in one piece.

BLOCK_BYTES = 1 << 18


def by_row_blocks(kernel, *arrays):
    """kernel(*arrays), called on consecutive blocks of rows of about BLOCK_BYTES of the first array.

    Every array of the first one's rank and number of rows is cut along its first axis (it lines up
    with the first's rows under broadcasting); the others (a bias, rows broadcast from one, scalars)
    go whole to every call. So the kernel must be elementwise along that axis and write only into
    the arrays it was given."""
    first = arrays[0]
    n = len(first) if first.ndim else 0
    rows = max(1, BLOCK_BYTES * n // first.nbytes) if first.nbytes else n
    if rows >= n:
        kernel(*arrays)
        return
    cut = [getattr(a, "ndim", -1) == first.ndim and a.shape[0] == n for a in arrays]
    for lo in range(0, n, rows):
        kernel(*[a[lo:lo + rows] if c else a for a, c in zip(arrays, cut)])
