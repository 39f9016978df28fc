"""minigrad.ops.kernels: by_row_blocks gives the numbers of one call, whatever the blocking; the fused
BCE-with-logits kernel (loss and σ(x) − t from one e^(−|x|)) against float64 references from scipy,
finite and accurate for |x| up to 1e4.

Every random draw is seeded with numpy.random.default_rng(seed)."""

import numpy as np
import pytest
from scipy.special import expit

from minigrad.ops import kernels


def adam_like(p, g, bias, s):
    """A multi-pass kernel elementwise along the rows, with a lower-rank (broadcast) operand."""
    np.multiply(g, g, out=s)
    s += bias
    np.sqrt(s, out=s)
    p -= s


def run_adam_like(shape, monkeypatch, block_bytes, transpose=False):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(shape)
    if transpose:                               # a non-contiguous array: blocks are views, writes land
        p = np.ascontiguousarray(p.T).T
    g = rng.standard_normal(shape)
    bias = rng.random(shape[1:]) if len(shape) > 1 else rng.random()
    monkeypatch.setattr(kernels, "BLOCK_BYTES", block_bytes)
    calls = []
    kernels.by_row_blocks(lambda *a: (calls.append(len(a[0])), adam_like(*a)), p, g, bias, np.empty(shape))
    return p, calls


@pytest.mark.parametrize("shape, transpose", [((10, 7), False), ((10, 7), True), ((10,), False), ((1, 5), False),
                                              ((0, 3), False), ((9, 2, 3), False), ((9, 2, 3), True)])
def test_blocks_give_the_numbers_of_one_call(shape, transpose, monkeypatch):
    whole, calls = run_adam_like(shape, monkeypatch, 1 << 30, transpose)
    assert calls == [shape[0]]                                  # one call when the array fits
    row_bytes = 8 * int(np.prod(shape[1:]))
    blocked, calls = run_adam_like(shape, monkeypatch, 3 * row_bytes, transpose)
    np.testing.assert_array_equal(blocked, whole)
    if shape[0] > 3:
        assert calls == [3] * (shape[0] // 3) + ([shape[0] % 3] if shape[0] % 3 else [])


def test_rows_that_broadcast_go_whole_to_every_block(monkeypatch):
    """An operand of the full rank with one row (broadcast along the rows) is not cut; one with the
    rows (n, 1) is."""
    monkeypatch.setattr(kernels, "BLOCK_BYTES", 16)
    x, row, col, out = np.arange(12.0).reshape(4, 3), np.array([[1.0, 2.0, 3.0]]), np.arange(4.0)[:, None], None
    out = np.empty((4, 3))
    kernels.by_row_blocks(lambda x, r, c, o: np.add(x * r, c, out=o), x, row, col, out)
    np.testing.assert_array_equal(out, x * row + col)


def test_a_zero_dimensional_array_is_one_call():
    out = np.empty(())
    kernels.by_row_blocks(lambda x, o: np.exp(x, out=o), np.array(0.5), out)
    assert out == np.exp(0.5)


# ----------------------------------------------------------------------------------------------
# bce_with_logits

X_EDGES = [-1e4, -1e3, -100.0, -30.0, -10.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 10.0, 30.0, 100.0, 1e3, 1e4]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-15 * 8), (np.float32, 1e-7 * 8)])
def test_bce_kernel_against_scipy_for_every_kind_of_logit(dtype, rtol):
    """ℓ = softplus(x) − t·x against the float64 reference log1p(e^(−|x|)) + max(x, 0) − t·x (finite for
    every x), σ(x) − t against scipy's expit: each to 8 ulp of the larger of the two terms it subtracts
    (t·x and softplus cancel where they are close — inherent in ℓ's formula, not the kernel's)."""
    rng = np.random.default_rng(1)
    x = np.array(X_EDGES + list(rng.uniform(-20, 20, 200)))
    t = np.concatenate([np.tile([0.0, 1.0, 0.3], len(X_EDGES))[:len(X_EDGES)], rng.random(200)])
    x, t = x.astype(dtype), t.astype(dtype)
    loss, d = kernels.bce_with_logits(x, t, True)
    x64, t64 = x.astype(np.float64), t.astype(np.float64)
    softplus = np.log1p(np.exp(-np.abs(x64))) + np.maximum(x64, 0)
    assert loss.dtype == d.dtype == dtype and np.isfinite(loss).all() and np.isfinite(d).all()
    np.testing.assert_array_less(np.abs(loss - (softplus - t64 * x64)),
                                 rtol * np.maximum(softplus, np.abs(t64 * x64)) + np.finfo(dtype).tiny)
    sigma = expit(x64)
    np.testing.assert_array_less(np.abs(d - (sigma - t64)), rtol * np.maximum(sigma, t64) + np.finfo(dtype).tiny)
    # with t = 0 the derivative is σ(x) itself: accurate relative to σ even where σ(x) ≈ e^x is tiny
    _, d0 = kernels.bce_with_logits(x, np.zeros_like(x), True)
    small = (sigma > np.finfo(dtype).tiny) & (x64 < 0)
    np.testing.assert_allclose(d0[small], sigma[small], rtol=rtol)


def test_bce_kernel_in_blocks_is_the_same_and_loss_alone_is_the_same(monkeypatch):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((50, 13)) * 10).astype(np.float32)
    t = (rng.random((50, 13)) < 0.4).astype(np.float32)
    loss, d = (a.copy() for a in kernels.bce_with_logits(x, t, True))
    only_loss, none = kernels.bce_with_logits(x, t, False)
    assert none is None
    np.testing.assert_array_equal(only_loss, loss)
    monkeypatch.setattr(kernels, "BLOCK_BYTES", 4 * 13 * 7)     # blocks of 7 rows
    blocked_loss, blocked_d = kernels.bce_with_logits(x, t, True)
    np.testing.assert_array_equal(blocked_loss, loss)
    np.testing.assert_array_equal(blocked_d, d)
    row_t = t[:1]                                                # targets broadcast along the rows
    broadcast_loss, broadcast_d = (a.copy() for a in kernels.bce_with_logits(x, row_t, True))
    full_loss, full_d = kernels.bce_with_logits(x, np.repeat(row_t, len(x), axis=0), True)
    np.testing.assert_array_equal(broadcast_loss, full_loss)
    np.testing.assert_array_equal(broadcast_d, full_d)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-15 * 4), (np.float32, 1e-7 * 4)])
def test_sigmoid_and_softplus_kernels_against_scipy_relative_to_their_value(dtype, rtol):
    """σ(x) to 4 ulp of σ(x) itself for every x where it is a normal number (e^x-small for very negative
    x: a 1 − σ(|x|) form would give 0 there), softplus to 4 ulp of its value; ±inf and nan as the
    limits say (and nan stays nan)."""
    rng = np.random.default_rng(5)
    x = np.array(X_EDGES + list(rng.uniform(-60, 60, 300)), dtype=dtype)
    x64 = x.astype(np.float64)
    sig, sp = kernels.sigmoid(x).copy(), kernels.softplus(x).copy()
    ref_sig, ref_sp = expit(x64), np.logaddexp(0.0, x64)
    normal = ref_sig > np.finfo(dtype).tiny
    np.testing.assert_allclose(sig[normal], ref_sig[normal], rtol=rtol)
    assert (sig[~normal] <= np.finfo(dtype).tiny).all()
    normal = ref_sp > np.finfo(dtype).tiny
    np.testing.assert_allclose(sp[normal], ref_sp[normal], rtol=rtol)
    special = np.array([np.inf, -np.inf, np.nan, -0.0], dtype=dtype)
    np.testing.assert_array_equal(kernels.sigmoid(special), [1.0, 0.0, np.nan, 0.5])
    np.testing.assert_array_equal(kernels.softplus(special[2:]), [np.nan, np.log(2, dtype=dtype)])


@pytest.mark.parametrize("kernel", ["sigmoid", "softplus", "one_minus_square_times"])
def test_every_kernel_in_blocks_is_the_same(kernel, monkeypatch):
    rng = np.random.default_rng(6)
    x, g = rng.standard_normal((23, 9)) * 5, rng.standard_normal((23, 9))
    args = (np.tanh(x), g) if kernel == "one_minus_square_times" else (x,)
    whole = getattr(kernels, kernel)(*args).copy()
    monkeypatch.setattr(kernels, "BLOCK_BYTES", 8 * 9 * 4)        # blocks of 4 rows
    np.testing.assert_array_equal(getattr(kernels, kernel)(*args), whole)
