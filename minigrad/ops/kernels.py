"""Fused NumPy kernels the ops share: plain functions on ndarrays, no graph. Their large arrays come
from the engine's buffer pool (`engine.buffer`), so a training step reuses last step's memory.

Why they exist: on the VAE's path these run on batch × 784 arrays every step, and a few in-place passes
over one buffer beat the textbook one-liners here (np.logaddexp(0, x) and scipy.special.expit were
3–10× slower, np.where and np.heaviside several times slower), while staying finite for every x: the
stable forms only ever exponentiate −|x| ≤ 0, so e^(−|x|) ∈ [0, 1] never overflows. Each runs block by
block (by_row_blocks, at the end), so that its passes find the block in cache.
"""

import numpy as np

from ..engine import buffer


def softplus(x):
    """log(1 + eˣ) = max(x, 0) + log1p(e) with e = e^(−|x|)."""
    x = np.asarray(x)
    y, scratch = (buffer(x.shape, np.result_type(x, 0.0)) for _ in range(2))
    by_row_blocks(_softplus_block, x, y, scratch)
    return y


def sigmoid(x):
    """σ(x) = max(e, [x ≥ 0]) / (1 + e) with e = e^(−|x|): the numerator is e for x < 0 and 1 for x ≥ 0,
    so σ(−|x|) is never computed as 1 − σ(|x|), which would cancel to 0."""
    x = np.asarray(x)
    y, e = (buffer(x.shape, np.result_type(x, 0.0)) for _ in range(2))
    by_row_blocks(_sigmoid_block, x, e, y)
    return y


def one_minus_square_times(y, g):
    """(1 − y²) · ḡ: tanh's VJP from its saved output y (no second tanh)."""
    y = np.asarray(y)
    d = buffer(y.shape, y.dtype)
    by_row_blocks(_one_minus_square_times_block, y, g, d)
    return d


def bce_with_logits(x, t, with_grad):
    """ℓ = softplus(x) − t·x, elementwise, and if `with_grad` its derivative σ(x) − t too, both from one
    e = e^(−|x|) (softplus and σ as above: one exp where two kernels took two, 12 passes instead of 21).
    x has the result's shape; t broadcasts to it. Returns (ℓ, σ(x) − t or None), in pooled buffers."""
    dtype = np.result_type(x, t, 0.0)
    loss, e, d = (buffer(x.shape, dtype) for _ in range(3))
    by_row_blocks(_bce_block, x, t, loss, e, d, with_grad)
    return loss, (d if with_grad else None)


# The blocks: each writes only into the arrays it is given (by_row_blocks cuts them into rows).

def _exp_minus_abs(x, out):
    """e = e^(−|x|) ∈ [0, 1], the one exponential the stable forms need (it never overflows)."""
    np.copysign(x, -1, out=out)
    return np.exp(out, out=out)


def _softplus_block(x, y, scratch):
    np.log1p(_exp_minus_abs(x, y), out=y)
    y += np.maximum(x, 0, out=scratch)


def _sigmoid_block(x, e, y, have_e=False):
    """σ(x) into y; e becomes 1 + e^(−|x|) (computed here unless `have_e`)."""
    if not have_e:
        _exp_minus_abs(x, e)
    np.greater_equal(x, 0, out=y)
    np.maximum(y, e, out=y)
    e += 1
    y /= e


def _one_minus_square_times_block(y, g, d):
    np.multiply(y, y, out=d)
    np.subtract(1, d, out=d)
    np.multiply(d, g, out=d)


def _bce_block(x, t, loss, e, d, with_grad):
    np.log1p(_exp_minus_abs(x, e), out=loss)
    loss += np.maximum(x, 0, out=d)
    loss -= np.multiply(x, t, out=d)
    if with_grad:
        _sigmoid_block(x, e, d, have_e=True)
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
