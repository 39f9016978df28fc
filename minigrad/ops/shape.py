"""Shape and indexing: the data moves, the values do not; x̄ moves ḡ back."""

import numpy as np

from ..engine import Function, Tensor, index_arrays

__all__ = ['Reshape', 'reshape', 'Transpose', 'transpose', 'BroadcastTo', 'broadcast_to', 'ExpandDims',
    'expand_dims', 'Squeeze', 'squeeze', 'GetItem', 'getitem', 'Concatenate', 'concatenate', 'Stack', 'stack',
    'Where', 'where']


class Reshape(Function):
    """y = reshape(x);  x̄ = reshape(ḡ, x.shape)"""
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return np.reshape(x, shape)

    def backward(ctx, g):
        return np.reshape(g, ctx.shape)


def reshape(x, *shape):
    return Reshape.apply(x, shape[0] if len(shape) == 1 else shape)


class Transpose(Function):
    """y = transpose(x, p);  x̄ = transpose(ḡ, p⁻¹)"""
    def forward(ctx, x, axes=None):
        ctx.axes = axes
        return np.transpose(x, axes)

    def backward(ctx, g):
        return np.transpose(g, None if ctx.axes is None else np.argsort([a % g.ndim for a in ctx.axes]))


def transpose(x, axes=None):
    return Transpose.apply(x, axes)


class BroadcastTo(Function):
    """y = broadcast_to(x, shape);  x̄ = ḡ (the engine sums the broadcast axes)"""
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    def backward(ctx, g):
        return g


def broadcast_to(x, shape):
    return BroadcastTo.apply(x, shape)


class ExpandDims(Function):
    """y = expand_dims(x, axis);  x̄ = reshape(ḡ, x.shape)"""
    def forward(ctx, x, axis):
        ctx.shape = x.shape
        return np.expand_dims(x, axis)

    def backward(ctx, g):
        return np.reshape(g, ctx.shape)


def expand_dims(x, axis):
    return ExpandDims.apply(x, axis)


class Squeeze(Function):
    """y = squeeze(x, axis);  x̄ = reshape(ḡ, x.shape)"""
    def forward(ctx, x, axis=None):
        ctx.shape = x.shape
        return np.squeeze(x, axis)

    def backward(ctx, g):
        return np.reshape(g, ctx.shape)


def squeeze(x, axis=None):
    return Squeeze.apply(x, axis)


def _is_basic_index(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


class GetItem(Function):
    """y = x[index];  x̄ = zeros like x with ḡ scattered back (added up where an index repeats)"""
    def forward(ctx, x, index):
        ctx.args = x.shape, index
        return x[index]

    def backward(ctx, g):
        shape, index = ctx.args
        gx = np.zeros(shape, g.dtype)
        if _is_basic_index(index):
            gx[index] = g
        else:
            np.add.at(gx, index, g)
        return gx


def getitem(x, index):
    return GetItem.apply(x, index_arrays(index))


class Concatenate(Function):
    """y = concatenate(x₁…xₙ, axis);  x̄ᵢ = the slice of ḡ that xᵢ filled"""
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        ctx.splits = np.cumsum([np.shape(x)[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    def backward(ctx, g):
        return tuple(np.split(g, ctx.splits, axis=ctx.axis))


def concatenate(tensors, axis=0):
    return Concatenate.apply(*tensors, axis=axis)


class Stack(Function):
    """y = stack(x₁…xₙ, axis);  x̄ᵢ = ḡ taken at index i along axis"""
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.axis, 0))


def stack(tensors, axis=0):
    return Stack.apply(*tensors, axis=axis)


class Where(Function):
    """y = where(c, a, b) for a constant condition c;  ā = ḡ·[c],  b̄ = ḡ·[¬c]"""
    nondifferentiable = (0,)

    def forward(ctx, c, a, b):
        c = np.asarray(c, dtype=bool)
        ctx.save_for_backward(c)
        return np.where(c, a, b)

    def backward(ctx, g):
        c = ctx.saved_tensors[0]
        return (None,
                np.where(c, g, 0) if ctx.needs_input_grad[1] else None,
                np.where(c, 0, g) if ctx.needs_input_grad[2] else None)


def where(condition, a, b):
    if isinstance(condition, Tensor):
        condition = condition.data
    return Where.apply(condition, a, b)
