"""Shape and indexing: the data moves, the values do not; x̄ moves ḡ back."""

import math

import numpy as np

from ..engine import Function, Tensor, index_arrays

__all__ = ['Reshape', 'reshape', 'Transpose', 'transpose', 'BroadcastTo', 'broadcast_to', 'ExpandDims',
    'expand_dims', 'Squeeze', 'squeeze', 'GetItem', 'getitem', 'Concatenate', 'concatenate', 'Stack', 'stack',
    'Where', 'where',
    'ravel', 'flatten', 'MoveAxis', 'moveaxis', 'SwapAxes', 'swapaxes', 'Flip', 'flip', 'Roll', 'roll',
    'Repeat', 'repeat', 'Tile', 'tile', 'Pad', 'pad', 'split', 'array_split', 'Diff', 'diff', 'Diagonal',
    'diagonal', 'Diag', 'diag', 'Tril', 'tril', 'Triu', 'triu', 'take', 'take_along_axis', 'atleast_1d',
    'atleast_2d', 'atleast_3d', 'hstack', 'vstack', 'dstack']


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


# ----------------------------------------------------------------------------------------------
# NumPy's rearrangements. Where one is a short composition of the ops above (ravel, split, take,
# atleast_*, the stacks) it has no class: its gradient is that of its parts.

def _shape(x):
    return np.shape(x.data if isinstance(x, Tensor) else x)


def ravel(x):
    """y = x as 1-D (np.ravel; a Reshape)."""
    return reshape(x, -1)


def flatten(x, start_dim=0, end_dim=-1):
    """Axes start_dim…end_dim merged into one (PyTorch's flatten; with the defaults NumPy's x.flatten()). A Reshape."""
    shape = _shape(x)
    nd = max(len(shape), 1)
    if not (-nd <= start_dim < nd and -nd <= end_dim < nd):
        raise IndexError(f"flatten: start_dim {start_dim} or end_dim {end_dim} out of range for shape {shape}")
    start, end = start_dim % nd, end_dim % nd
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {shape})")
    return reshape(x, shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


class MoveAxis(Function):
    """y = moveaxis(x, s, d);  x̄ = moveaxis(ḡ, d, s)"""
    def forward(ctx, x, source, destination):
        ctx.args = destination, source
        return np.moveaxis(x, source, destination)

    def backward(ctx, g):
        return np.moveaxis(g, *ctx.args)


def moveaxis(x, source, destination):
    return MoveAxis.apply(x, source, destination)


class SwapAxes(Function):
    """y = swapaxes(x, a, b);  x̄ = swapaxes(ḡ, a, b)"""
    def forward(ctx, x, axis1, axis2):
        ctx.args = axis1, axis2
        return np.swapaxes(x, axis1, axis2)

    def backward(ctx, g):
        return np.swapaxes(g, *ctx.args)


def swapaxes(x, axis1, axis2):
    return SwapAxes.apply(x, axis1, axis2)


class Flip(Function):
    """y = flip(x, axis) (axis None: every axis);  x̄ = flip(ḡ, axis)"""
    def forward(ctx, x, axis=None):
        ctx.axis = axis
        return np.flip(x, axis)

    def backward(ctx, g):
        return np.flip(g, ctx.axis)


def flip(x, axis=None):
    return Flip.apply(x, axis)


class Roll(Function):
    """y = roll(x, shift, axis) (axis None: of the flattened x);  x̄ = roll(ḡ, −shift, axis)"""
    def forward(ctx, x, shift, axis=None):
        ctx.args = np.negative(shift), axis
        return np.roll(x, shift, axis)

    def backward(ctx, g):
        return np.roll(g, *ctx.args)


def roll(x, shift, axis=None):
    return Roll.apply(x, shift, axis)


class Repeat(Function):
    """y = repeat(x, r, axis): each xᵢ rᵢ times in a row (axis None: of the flattened x);
    x̄ᵢ = Σ of ḡ over the rᵢ copies of xᵢ"""
    def forward(ctx, x, repeats, axis=None):
        ctx.args = x.shape, np.asarray(repeats), axis
        return np.repeat(x, repeats, axis)

    def backward(ctx, g):
        shape, r, axis = ctx.args
        a = 0 if axis is None else axis % len(shape)
        n = math.prod(shape) if axis is None else shape[a]
        g = np.moveaxis(g, a, 0)
        if r.size == 1:                             # copies are adjacent: sum them as an axis of their own
            gx = g.reshape((n, r.item()) + g.shape[1:]).sum(axis=1)
        else:
            gx = np.zeros((n,) + g.shape[1:], g.dtype)
            np.add.at(gx, np.repeat(np.arange(n), r), g)
        return np.moveaxis(gx, 0, a).reshape(shape)


def repeat(x, repeats, axis=None):
    """np.repeat (PyTorch's repeat_interleave; PyTorch's Tensor.repeat is np.tile)."""
    return Repeat.apply(x, repeats, axis)


class Tile(Function):
    """y = tile(x, reps);  x̄ = Σ of ḡ over the tiles: ḡ reshaped to (r₀, s₀, r₁, s₁, …), summed over the rₖ"""
    def forward(ctx, x, reps):
        y = np.tile(x, reps)
        reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
        ctx.shape, ctx.reps = x.shape, (1,) * (y.ndim - len(reps)) + reps
        return y

    def backward(ctx, g):
        sizes = (1,) * (g.ndim - len(ctx.shape)) + ctx.shape          # x with np.tile's leading 1s
        pairs = [n for r, s in zip(ctx.reps, sizes) for n in (r, s)]
        return g.reshape(pairs).sum(axis=tuple(range(0, len(pairs), 2))).reshape(ctx.shape)


def tile(x, reps):
    return Tile.apply(x, reps)


class Pad(Function):
    """y = pad(x, widths, constant);  x̄ = ḡ with the padding cut off"""
    def forward(ctx, x, pad_width, constant_values=0):
        widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))        # NumPy's forms of pad_width
        ctx.inside = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape))
        return np.pad(x, pad_width, mode="constant", constant_values=constant_values)

    def backward(ctx, g):
        return g[ctx.inside]


def pad(x, pad_width, mode="constant", constant_values=0):
    """np.pad with mode="constant" (the constants get no gradient)."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is implemented, got mode={mode!r}")
    return Pad.apply(x, pad_width, constant_values=constant_values)


def _split(x, indices_or_sections, axis, name, equal):
    """Pieces of x along axis, each its own GetItem node (so any subset of them can be used); NumPy's rules."""
    shape = _shape(x)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"{name}: axis {axis} is out of range for x of shape {shape}")
    n = shape[axis]
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{name}: the number of sections must be positive, got {sections}")
        if equal and n % sections:
            raise ValueError(f"{name}: axis {axis} of length {n} (x of shape {shape}) does not split into "
                             f"{sections} equal sections; use array_split for unequal ones")
        each, extra = divmod(n, sections)
        bounds = np.cumsum([0] + extra * [each + 1] + (sections - extra) * [each]).tolist()
    else:
        bounds = [0] + list(indices_or_sections) + [n]       # Python slicing rules, as NumPy
    lead = (slice(None),) * (axis % len(shape))
    return [getitem(x, lead + (slice(start, end),)) for start, end in zip(bounds[:-1], bounds[1:])]


def split(x, indices_or_sections, axis=0):
    """np.split: a list of tensors; an integer must divide the axis into equal sections."""
    return _split(x, indices_or_sections, axis, "split", equal=True)


def array_split(x, indices_or_sections, axis=0):
    """np.array_split: as split, but n sections of an axis of length L are L % n of size L//n + 1, then L//n."""
    return _split(x, indices_or_sections, axis, "array_split", equal=False)


class Diff(Function):
    """y = Δⁿx along axis, Δxᵢ = xᵢ₊₁ − xᵢ;  x̄ = (−1)ⁿ Δⁿ(ḡ padded with n zeros at both ends) (Δᵀ = −Δ∘pad)"""
    def forward(ctx, x, n=1, axis=-1):
        y = np.diff(x, n, axis)
        ctx.args = x.shape, n, axis
        return y

    def backward(ctx, g):
        shape, n, axis = ctx.args
        if shape[axis] < n:                                 # y is empty along axis
            return np.zeros(shape, g.dtype)
        widths = [(0, 0)] * g.ndim
        widths[axis] = (n, n)
        d = np.diff(np.pad(g, widths), n, axis)
        return -d if n % 2 else d


def diff(x, n=1, axis=-1, prepend=None, append=None):
    """np.diff; prepend/append are concatenated first (scalars broadcast to one slice, in x's dtype)."""
    if prepend is not None or append is not None:
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        edge = list(data.shape)
        edge[axis] = 1

        def slab(v):
            return broadcast_to(np.asarray(v, data.dtype), edge) if np.ndim(getattr(v, "data", v)) == 0 else v
        x = concatenate([slab(v) for v in (prepend, x, append) if v is not None], axis=axis)
    return Diff.apply(x, n, axis)


class Diagonal(Function):
    """y = diagonal(x, offset, axis1, axis2), the diagonal as the last axis;  x̄ = zeros with ḡ on that diagonal"""
    def forward(ctx, x, offset=0, axis1=0, axis2=1):
        ctx.args = x.shape, offset, axis1, axis2
        return np.diagonal(x, offset, axis1, axis2)

    def backward(ctx, g):
        shape, offset, axis1, axis2 = ctx.args
        gx = np.zeros(shape, g.dtype)
        i = np.arange(g.shape[-1])
        np.moveaxis(gx, (axis1, axis2), (-2, -1))[..., i + max(-offset, 0), i + max(offset, 0)] = g
        return gx


def diagonal(x, offset=0, axis1=0, axis2=1):
    return Diagonal.apply(x, offset, axis1, axis2)


class Diag(Function):
    """y = diag(v, k), the square matrix with the 1-D v on its k-th diagonal;  v̄ = the k-th diagonal of ḡ"""
    def forward(ctx, v, k=0):
        ctx.k = k
        return np.diag(v, k)

    def backward(ctx, g):
        return np.diagonal(g, ctx.k)


def diag(x, k=0):
    """np.diag: a 1-D x gives the matrix with x on its k-th diagonal (Diag), a 2-D x its k-th diagonal (Diagonal)."""
    ndim = len(_shape(x))
    if ndim == 1:
        return Diag.apply(x, k)
    if ndim == 2:
        return diagonal(x, k)
    raise ValueError(f"diag: expected a 1-D or 2-D input, got shape {_shape(x)}")


class _Triangle(Function):
    part = None

    def forward(ctx, x, k=0):
        ctx.k = k
        return type(ctx).part(x, k)

    def backward(ctx, g):
        return type(ctx).part(g, ctx.k)


class Tril(_Triangle):
    """y = tril(x, k): x on and below the k-th diagonal of the last two axes, 0 above;  x̄ = tril(ḡ, k)"""
    part = staticmethod(np.tril)


def tril(x, k=0):
    return Tril.apply(x, k)


class Triu(_Triangle):
    """y = triu(x, k): x on and above the k-th diagonal of the last two axes, 0 below;  x̄ = triu(ḡ, k)"""
    part = staticmethod(np.triu)


def triu(x, k=0):
    return Triu.apply(x, k)


def _int_indices(indices, name):
    indices = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if indices.dtype.kind not in "iu":
        raise IndexError(f"{name}: indices must be integers, got dtype {indices.dtype}")
    return indices


def take(x, indices, axis=None, mode="raise"):
    """np.take: x[..., indices, ...] along axis (axis None: of the flattened x); mode "raise", "wrap" or
    "clip" as NumPy. A GetItem, so repeated indices add their gradients."""
    indices = _int_indices(indices, "take")
    if axis is None:
        x, axis = ravel(x), 0
    shape = _shape(x)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"take: axis {axis} is out of range for x of shape {shape}")
    n = shape[axis]
    if mode == "wrap":
        indices = indices % n
    elif mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    return getitem(x, (slice(None),) * (axis % len(shape)) + (indices,))


def take_along_axis(x, indices, axis=-1):
    """np.take_along_axis: y[…, j, …] = x[…, indices[…, j, …], …] along axis (indices broadcast against x on
    the other axes; axis None: of the flattened x). A GetItem with one index array per axis."""
    indices = _int_indices(indices, "take_along_axis")
    if axis is None:
        x, axis = ravel(x), 0
    shape = _shape(x)
    if indices.ndim != len(shape):
        raise ValueError(f"take_along_axis: indices of shape {indices.shape} must have as many dimensions as "
                         f"x of shape {shape}")
    axis %= len(shape)
    index = tuple(indices if i == axis else np.arange(n).reshape([-1 if j == i else 1 for j in range(len(shape))])
                  for i, n in enumerate(shape))
    return getitem(x, index)


def _atleast(tensors, ndim):
    """Each tensor reshaped to ≥ ndim axes as NumPy's atleast_Nd: (N,) → (1, N) → (1, N, 1), (M, N) → (M, N, 1)."""
    def grown(shape):
        if len(shape) >= ndim:
            return shape
        if ndim == 3:
            return {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}[len(shape)]
        return (1,) * (ndim - len(shape)) + shape
    return [reshape(t, grown(_shape(t))) for t in tensors]


def _one_or_tuple(tensors):
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def atleast_1d(*tensors):
    return _one_or_tuple(_atleast(tensors, 1))


def atleast_2d(*tensors):
    return _one_or_tuple(_atleast(tensors, 2))


def atleast_3d(*tensors):
    return _one_or_tuple(_atleast(tensors, 3))


def hstack(tensors):
    """Concatenated along axis 1 (axis 0 for 1-D tensors), as np.hstack."""
    tensors = _atleast(tensors, 1)
    return concatenate(tensors, axis=0 if tensors and tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Concatenated along axis 0 after atleast_2d, as np.vstack."""
    return concatenate(_atleast(tensors, 2), axis=0)


def dstack(tensors):
    """Concatenated along axis 2 after atleast_3d, as np.dstack."""
    return concatenate(_atleast(tensors, 3), axis=2)
