"""Reductions and scans: y = reduce_axis(x), and x̄ = ḡ put back over the reduced axes."""

import math

import numpy as np

from ..engine import Function, Tensor
from .elementwise import div, mul
from .shape import broadcast_to, diagonal, reshape

__all__ = ['Sum', 'sum', 'Mean', 'mean', 'Max', 'max', 'Min', 'min', 'LogSumExp', 'logsumexp', 'Prod', 'prod',
           'Var', 'var', 'Std', 'std', 'Cumsum', 'cumsum', 'Cumprod', 'cumprod', 'average', 'Sort', 'sort', 'trace']


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


def _to_last(x, axes):
    """x with `axes` moved to the end and merged into one: shape (..., N)."""
    moved = np.moveaxis(x, axes, range(-len(axes), 0))
    kept = moved.shape[:moved.ndim - len(axes)]
    return moved.reshape(kept + (math.prod(moved.shape[len(kept):]),))


def _from_last(y, shape, axes):
    """Undo _to_last for an array y of the same size as the original x of `shape`."""
    kept = [s for i, s in enumerate(shape) if i not in axes]
    return np.moveaxis(y.reshape(kept + [shape[a] for a in axes]), range(-len(axes), 0), axes)


def _exclusive_cumprod(x, reverse=False):
    """Π_{j<i} x_j along the last axis (Π_{j>i} with reverse=True); 1 for the first (last) element."""
    if reverse:
        return _exclusive_cumprod(x[..., ::-1])[..., ::-1]
    return np.cumprod(np.concatenate([np.ones_like(x[..., :1]), x[..., :-1]], axis=-1), axis=-1)


class Prod(Function):
    """y = Π_axis x;  x̄ᵢ = ḡ · Π_{j≠i} xⱼ, computed as (product of those before) × (product of those after):
    no division, so exact at zeros (one zero: the product of the others there, 0 elsewhere; two: 0 everywhere)"""
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.save_for_backward(x)
        ctx.args = axis, keepdims
        return np.prod(x, axis=axis, keepdims=keepdims)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        axis, keepdims = ctx.args
        axes = _axes(axis, x.ndim)
        flat = _to_last(x, axes)
        others = _from_last(_exclusive_cumprod(flat) * _exclusive_cumprod(flat, reverse=True), x.shape, axes)
        return _expand(g, x.shape, axis, keepdims) * others


def prod(x, axis=None, keepdims=False):
    return Prod.apply(x, axis, keepdims)


class Var(Function):
    """y = Σ_axis (x − m)² / (N − ddof), m = the mean over axis;  x̄ = ḡ · 2(x − m) / (N − ddof) (m's own
    term vanishes because Σ (x − m) = 0). NumPy's semantics without its warnings: N − ddof ≤ 0 divides by 0
    (inf, or nan for 0/0, in the value and the gradient), the variance of nothing is nan."""
    def forward(ctx, x, axis=None, ddof=0, keepdims=False):
        if x.dtype.kind != "f":
            x = x.astype(np.float64)          # as np.var: the variance of integers is a float64
        n = math.prod(x.shape[a] for a in _axes(axis, x.ndim)) if x.ndim else 1
        dof = n - ddof if n > ddof else 0         # NumPy: max(N − ddof, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = x - _sum(x, axis, True) / n
            y = _sum(d * d, axis, keepdims) / dof
        ctx.save_for_backward(d)
        ctx.args = axis, keepdims, dof
        return y

    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        axis, keepdims, dof = ctx.args
        with np.errstate(divide="ignore", invalid="ignore"):
            return _expand(g, d.shape, axis, keepdims) * (d + d) / dof


def var(x, axis=None, *, ddof=0, keepdims=False):
    return Var.apply(x, axis, ddof, keepdims)


class Std(Var):
    """y = √var(x);  x̄ = var's VJP of ḡ / (2y), taken as 0 where y = 0 (all values equal: PyTorch's choice,
    the smallest subgradient)"""
    def forward(ctx, x, axis=None, ddof=0, keepdims=False):
        ctx.y = np.sqrt(Var.forward(ctx, x, axis, ddof, keepdims))
        return ctx.y

    def backward(ctx, g):
        y = np.asarray(ctx.y)
        return Var.backward(ctx, np.divide(g, y + y, out=np.zeros_like(y, g.dtype), where=y != 0))


def std(x, axis=None, *, ddof=0, keepdims=False):
    return Std.apply(x, axis, ddof, keepdims)


def _scan_axis(axis):
    return 0 if axis is None else axis


def _reversed_cumsum(v, axis):
    """Σ_{j≥i} vⱼ along axis: the VJP of a cumsum."""
    return np.flip(np.cumsum(np.flip(v, axis), axis=axis), axis)


class Cumsum(Function):
    """y = cumsum(x, axis) (axis None: of the flattened x, as NumPy);  x̄ᵢ = Σ_{j≥i} ḡⱼ, ḡ's reversed cumsum"""
    def forward(ctx, x, axis=None):
        ctx.args = x.shape, axis
        return np.cumsum(x, axis=axis)

    def backward(ctx, g):
        shape, axis = ctx.args
        return _reversed_cumsum(g, _scan_axis(axis)).reshape(shape)


def cumsum(x, axis=None):
    return Cumsum.apply(x, axis)


class Cumprod(Function):
    """y = cumprod(x, axis) (axis None: of the flattened x);  exact at zeros, as PyTorch: along each line with
    its first zero at k, x̄ᵢ = Σ_{j≥i} ḡⱼ yⱼ / xᵢ for i < k, x̄ₖ = Σ_{j≥k} ḡⱼ Π_{m≤j, m≠k} xₘ, x̄ᵢ = 0 for i > k"""
    def forward(ctx, x, axis=None):
        y = np.cumprod(x, axis=axis)
        ctx.save_for_backward(x, y)
        ctx.axis = axis
        return y

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        a, shape = _scan_axis(ctx.axis), x.shape
        x = np.reshape(x, y.shape)                  # flattened when axis is None
        r = _reversed_cumsum(g * y, a)
        zero = x == 0
        if not zero.any():
            return (r / x).reshape(shape)
        seen = np.cumsum(zero, axis=a)               # zeros up to and including each position
        first = zero & (seen == 1)
        gx = np.divide(r, x, out=np.zeros_like(r), where=seen == 0)
        # at the first zero: Π_{m≤j, m≠k} xₘ is the cumprod of x with that zero replaced by 1
        skipped = np.cumprod(np.where(first, 1, x), axis=a)
        return np.where(first, _reversed_cumsum(g * skipped, a), gx).reshape(shape)


def cumprod(x, axis=None):
    return Cumprod.apply(x, axis)


def average(x, axis=None, weights=None, returned=False, *, keepdims=False):
    """np.average: Σ w·x / Σ w over axis (the mean without weights); a composition of mul, sum and div, so
    x and the weights both get gradients. A 1-D `weights` with one integer axis weighs along that axis, as
    NumPy; otherwise weights must have x's shape. returned=True also gives Σ w, broadcast to the result's shape."""
    if weights is None:
        avg = mean(x, axis, keepdims)
        total = np.full(avg.shape, np.size(getattr(x, "data", x)) // (avg.size or 1), avg.dtype)
        return (avg, Tensor(total)) if returned else avg
    shape, w = np.shape(getattr(x, "data", x)), weights
    if np.shape(getattr(w, "data", w)) != shape:
        if axis is None or np.ndim(axis) or np.ndim(getattr(w, "data", w)) != 1:
            raise TypeError(f"average: weights of shape {np.shape(getattr(w, 'data', w))} differ from x's shape "
                            f"{shape}; they must have x's shape, or be 1-D with one integer axis")
        a = _axes(axis, len(shape))[0]
        if len(w) != shape[a]:
            raise ValueError(f"average: {len(w)} weights for axis {axis} of length {shape[a]} (x of shape "
                             f"{shape}); expected one weight per element along that axis")
        w = reshape(w, [-1 if i == a else 1 for i in range(len(shape))])
    total = sum(broadcast_to(w, shape), axis, keepdims)
    if np.any(total.data == 0):
        raise ZeroDivisionError(f"average: the weights sum to zero (axis {axis}), so they cannot be normalized")
    avg = div(sum(mul(x, w), axis, keepdims), total)
    return (avg, total) if returned else avg


class Sort(Function):
    """y = sort(x, axis) (stable: equal values keep their order; axis None: of the flattened x);
    x̄ = ḡ sent back through the permutation: x̄[p[k]] = ḡ[k] where y = x[p]"""
    def forward(ctx, x, axis=-1):
        flat = x.reshape(-1) if axis is None else x
        a = -1 if axis is None else axis
        ctx.p = np.argsort(flat, axis=a, kind="stable")
        ctx.args = x.shape, a
        return np.take_along_axis(flat, ctx.p, axis=a)

    def backward(ctx, g):
        shape, a = ctx.args
        gx = np.empty_like(g)
        np.put_along_axis(gx, ctx.p, g, axis=a)
        return gx.reshape(shape)


def sort(x, axis=-1):
    return Sort.apply(x, axis)


def trace(x, offset=0, axis1=0, axis2=1):
    """np.trace: Σ of the diagonal(x, offset, axis1, axis2) (a Diagonal, then a Sum)."""
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)
