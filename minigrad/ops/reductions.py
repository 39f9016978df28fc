"""Reductions: y = reduce_axis(x), and x̄ = ḡ put back over the reduced axes."""

import numpy as np

from ..engine import Function

__all__ = ['Sum', 'sum', 'Mean', 'mean', 'Max', 'max', 'Min', 'min', 'LogSumExp', 'logsumexp']


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(int(a) % ndim if ndim else int(a) for a in axis)


def _expand(g, shape, axis, keepdims):
    """Undo a reduction over `axis`: put the reduced axes back (size 1) and broadcast to `shape`."""
    if not keepdims:
        reduced = _axes(axis, len(shape))
        g = np.reshape(g, [1 if i in reduced else s for i, s in enumerate(shape)])
    return np.broadcast_to(g, shape)


def _sum(x, axis, keepdims):
    """np.sum; for floats the ufunc reduction itself, without np.sum's Python-level dispatch (the same
    pairwise summation, the same result)."""
    if x.dtype.kind == "f":
        return np.add.reduce(x, axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


class Sum(Function):
    """y = Σ_axis x;  x̄ = ḡ broadcast back over the summed axes"""
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.args = x.shape, axis, keepdims
        return _sum(x, axis, keepdims)

    def backward(ctx, g):
        return _expand(g, *ctx.args)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return Sum.apply(x, axis, keepdims)


class Mean(Function):
    """y = (1/N) Σ_axis x;  x̄ = ḡ / N broadcast back"""
    def forward(ctx, x, axis=None, keepdims=False):
        if x.dtype.kind != "f":
            x = x.astype(np.float64)          # as np.mean: the mean of integers is a float64
        y = _sum(x, axis, keepdims)
        ctx.args = x.shape, axis, keepdims
        ctx.n = x.size // np.size(y) if np.size(y) else 1
        return y / ctx.n if x.size else y * np.nan

    def backward(ctx, g):
        return _expand(g / ctx.n, *ctx.args)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis, keepdims)


class _Extremum(Function):
    """y = max_axis x (or min);  x̄ = ḡ at the arg-extrema, shared evenly between ties"""
    reduce = None

    def forward(ctx, x, axis=None, keepdims=False):
        y = type(ctx).reduce(x, axis=axis, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.args = axis, keepdims
        return y if keepdims else np.squeeze(y, axis=_axes(axis, x.ndim))

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        axis, keepdims = ctx.args
        mask = (x == y).astype(g.dtype)
        mask /= mask.sum(axis=axis, keepdims=True)
        return _expand(g, x.shape, axis, keepdims) * mask


class Max(_Extremum):
    reduce = staticmethod(np.max)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max.apply(x, axis, keepdims)


class Min(_Extremum):
    reduce = staticmethod(np.min)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return Min.apply(x, axis, keepdims)


class LogSumExp(Function):
    """y = log Σ_axis eˣ = m + log Σ e^(x−m) with m = max x (no overflow);  x̄ = ḡ · e^(x−y) (softmax).
    Over an empty axis y = log 0 = −∞, as scipy and PyTorch."""
    def forward(ctx, x, axis=None, keepdims=False):
        if x.dtype.kind != "f":
            x = x.astype(np.float64)          # as scipy: the logsumexp of integers is a float64
        # initial=−∞: the max of nothing is −∞ (reset to 0 below) instead of NumPy's error
        m = np.asarray(np.max(x, axis=axis, keepdims=True, initial=-np.inf))    # an array even when x is 0-d
        m[~np.isfinite(m)] = 0
        with np.errstate(divide="ignore"):
            y = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
        ctx.save_for_backward(x, y)
        ctx.args = axis, keepdims
        return y if keepdims else np.squeeze(y, axis=_axes(axis, x.ndim))

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        axis, keepdims = ctx.args
        return _expand(g, x.shape, axis, keepdims) * np.exp(x - y)


def logsumexp(x, axis=None, keepdims=False):
    return LogSumExp.apply(x, axis, keepdims)
