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
