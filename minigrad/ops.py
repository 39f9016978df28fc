"""Every primitive op: its forward and its vector-Jacobian product side by side.

Notation in the docstrings: y is the op's output, ḡ = ∂L/∂y the incoming gradient, x̄ = ∂L/∂x what
backward returns. Binary ops return gradients of the broadcast shape; the engine's `unbroadcast`
reduces them to each input's shape. Gradients are computed only for inputs that need one.
"""

import numpy as np

from .engine import Function, Tensor

# ----------------------------------------------------------------------------------------------
# Stable kernels shared by several ops. Both use e^(−|x|) ∈ (0, 1], which never overflows, and a few
# in-place passes: about 10× faster here than np.logaddexp(0, x) and scipy.special.expit.


def _softplus(x, out=None):
    """log(1 + eˣ) = max(x, 0) + log1p(e^(−|x|)); `out`, if given, is a scratch array of x's shape."""
    y = np.abs(x, out=np.empty(np.shape(x), np.result_type(x, 0.0)))
    np.negative(y, out=y)
    np.exp(y, out=y)
    np.log1p(y, out=y)
    y += np.maximum(x, 0, out=out)
    return y


def _sigmoid(x):
    """σ(x) = q for x < 0 and 1 − q for x ≥ 0, with q = e^(−|x|) / (1 + e^(−|x|)) = σ(−|x|) ≤ ½.

    Never 1 − σ(|x|) for x < 0, which would cancel to 0; the branch is taken arithmetically,
    σ = q + [x ≥ 0]·(1 − 2q), because np.where is several times slower here than these passes."""
    q = np.abs(x, out=np.empty(np.shape(x), np.result_type(x, 0.0)))
    np.negative(q, out=q)
    np.exp(q, out=q)
    h = np.add(q, 1, out=np.empty_like(q))
    np.divide(q, h, out=q)
    np.greater_equal(x, 0, out=h)
    t = np.multiply(q, -2, out=np.empty_like(q))
    t += 1
    t *= h
    q += t
    return q


# ----------------------------------------------------------------------------------------------
# Elementwise, binary


class Add(Function):
    """y = a + b;  ā = ḡ,  b̄ = ḡ"""
    def forward(ctx, a, b):
        return a + b

    def backward(ctx, g):
        return g, g


class Sub(Function):
    """y = a − b;  ā = ḡ,  b̄ = −ḡ"""
    def forward(ctx, a, b):
        return a - b

    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """y = a · b;  ā = ḡ · b,  b̄ = ḡ · a"""
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    """y = a / b;  ā = ḡ / b,  b̄ = −ḡ · y / b"""
    def forward(ctx, a, b):
        y = a / b
        ctx.save_for_backward(b, y)
        return y

    def backward(ctx, g):
        b, y = ctx.saved_tensors
        ga = g / b
        return (ga if ctx.needs_input_grad[0] else None), (-ga * y if ctx.needs_input_grad[1] else None)


class Pow(Function):
    """y = a ** b;  ā = ḡ · b · a^(b−1),  b̄ = ḡ · y · log a  (taken as 0 where y = 0)"""
    def forward(ctx, a, b):
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = g * b * a ** (b - 1)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * np.where(y == 0, 0, y * np.log(a))
        return ga, gb


class Maximum(Function):
    """y = max(a, b);  ā = ḡ·[a > b] + ½ḡ·[a = b],  b̄ = ḡ·[b > a] + ½ḡ·[a = b]  (ties split evenly)"""
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        wa = (np.greater(a, b) + 0.5 * np.equal(a, b)).astype(g.dtype, copy=False)
        return (g * wa if ctx.needs_input_grad[0] else None), (g * (1 - wa) if ctx.needs_input_grad[1] else None)


class Minimum(Function):
    """y = min(a, b);  ā = ḡ·[a < b] + ½ḡ·[a = b],  b̄ = ḡ·[b < a] + ½ḡ·[a = b]"""
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        wa = (np.less(a, b) + 0.5 * np.equal(a, b)).astype(g.dtype, copy=False)
        return (g * wa if ctx.needs_input_grad[0] else None), (g * (1 - wa) if ctx.needs_input_grad[1] else None)


# ----------------------------------------------------------------------------------------------
# Elementwise, unary


class Neg(Function):
    """y = −x;  x̄ = −ḡ"""
    def forward(ctx, x):
        return -x

    def backward(ctx, g):
        return -g


class Exp(Function):
    """y = eˣ;  x̄ = ḡ · y"""
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


class Log(Function):
    """y = log x;  x̄ = ḡ / x"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


class Log1p(Function):
    """y = log(1 + x);  x̄ = ḡ / (1 + x)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log1p(x)

    def backward(ctx, g):
        return g / (1 + ctx.saved_tensors[0])


class Sqrt(Function):
    """y = √x;  x̄ = ḡ / (2y)"""
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return g / (2 * ctx.saved_tensors[0])


class Abs(Function):
    """y = |x|;  x̄ = ḡ · sign(x)  (0 at x = 0)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    def backward(ctx, g):
        return g * np.sign(ctx.saved_tensors[0])


class Sin(Function):
    """y = sin x;  x̄ = ḡ · cos x"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    def backward(ctx, g):
        return g * np.cos(ctx.saved_tensors[0])


class Cos(Function):
    """y = cos x;  x̄ = −ḡ · sin x"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    def backward(ctx, g):
        return -g * np.sin(ctx.saved_tensors[0])


class Tanh(Function):
    """y = tanh x;  x̄ = ḡ · (1 − y²)   (from the saved output, no second tanh)"""
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        y = ctx.saved_tensors[0]
        d = np.multiply(y, y, out=np.empty_like(y))    # an array even when y is 0-d
        np.subtract(1, d, out=d)
        return np.multiply(d, g, out=d)


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ);  x̄ = ḡ · y (1 − y)"""
    def forward(ctx, x):
        y = _sigmoid(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        y = ctx.saved_tensors[0]
        return g * y * (1 - y)


class Relu(Function):
    """y = max(x, 0);  x̄ = ḡ · [x > 0]"""
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return g * (ctx.saved_tensors[0] > 0)


class LeakyRelu(Function):
    """y = x if x > 0 else αx;  x̄ = ḡ if x > 0 else αḡ"""
    def forward(ctx, x, slope=0.01):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return np.where(x > 0, x, slope * x)

    def backward(ctx, g):
        return np.where(ctx.saved_tensors[0] > 0, g, ctx.slope * g)


class Softplus(Function):
    """y = log(1 + eˣ) = max(x, 0) + log1p(e^(−|x|)) (no overflow);  x̄ = ḡ · σ(x)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _softplus(x)

    def backward(ctx, g):
        y = _sigmoid(ctx.saved_tensors[0])
        y *= g
        return y


class LogSigmoid(Function):
    """y = log σ(x) = −softplus(−x);  x̄ = ḡ · σ(−x)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        y = _softplus(-x)
        return np.negative(y, out=y)

    def backward(ctx, g):
        y = _sigmoid(-ctx.saved_tensors[0])
        y *= g
        return y


class Clip(Function):
    """y = min(max(x, lo), hi);  x̄ = ḡ · [lo ≤ x ≤ hi]"""
    def forward(ctx, x, lo=None, hi=None):
        ctx.save_for_backward(x)
        ctx.bounds = lo, hi
        return np.clip(x, lo, hi)

    def backward(ctx, g):
        x = ctx.saved_tensors[0]
        lo, hi = ctx.bounds
        inside = np.ones(x.shape, bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        return g * inside


class BinaryCrossEntropyWithLogits(Function):
    """ℓ = softplus(x) − t·x = −[t log σ(x) + (1−t) log(1−σ(x))], elementwise, stable for any x;
    x̄ = ḡ · (σ(x) − t),  t̄ = −ḡ · x"""
    def forward(ctx, x, t):
        ctx.save_for_backward(x, t)
        scratch = np.empty(np.broadcast_shapes(np.shape(x), np.shape(t)), np.result_type(x, t, 0.0))
        y = _softplus(x, out=scratch if scratch.shape == np.shape(x) else None)
        y -= np.multiply(x, t, out=scratch)
        return y

    def backward(ctx, g):
        x, t = ctx.saved_tensors
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = _sigmoid(x)
            gx -= t
            gx *= g
        if ctx.needs_input_grad[1]:
            gt = -g * x
        return gx, gt


class MSELoss(Function):
    """ℓ = Σ (x − t)² / N over all elements (N = their number for "mean", 1 for "sum"); one node;
    x̄ = ḡ · 2(x − t) / N,  t̄ = −x̄"""
    def forward(ctx, x, t, reduction="mean"):
        d = np.subtract(x, t)
        ctx.save_for_backward(d)
        ctx.scale = 2.0 / d.size if reduction == "mean" and d.size else 2.0
        return np.vdot(d, d) * (ctx.scale / 2)

    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gx = d * (g * ctx.scale)
        return (gx if ctx.needs_input_grad[0] else None), (-gx if ctx.needs_input_grad[1] else None)


# ----------------------------------------------------------------------------------------------
# Reductions


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


class Min(_Extremum):
    reduce = staticmethod(np.min)


class LogSumExp(Function):
    """y = log Σ_axis eˣ = m + log Σ e^(x−m) with m = max x (no overflow);  x̄ = ḡ · e^(x−y) (softmax)"""
    def forward(ctx, x, axis=None, keepdims=False):
        m = np.asarray(np.max(x, axis=axis, keepdims=True))    # an array even when x is 0-d
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


# ----------------------------------------------------------------------------------------------
# Shape and indexing


class Reshape(Function):
    """y = reshape(x);  x̄ = reshape(ḡ, x.shape)"""
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return np.reshape(x, shape)

    def backward(ctx, g):
        return np.reshape(g, ctx.shape)


class Transpose(Function):
    """y = transpose(x, p);  x̄ = transpose(ḡ, p⁻¹)"""
    def forward(ctx, x, axes=None):
        ctx.axes = axes
        return np.transpose(x, axes)

    def backward(ctx, g):
        return np.transpose(g, None if ctx.axes is None else np.argsort([a % g.ndim for a in ctx.axes]))


class BroadcastTo(Function):
    """y = broadcast_to(x, shape);  x̄ = ḡ (the engine sums the broadcast axes)"""
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    def backward(ctx, g):
        return g


class ExpandDims(Function):
    """y = expand_dims(x, axis);  x̄ = reshape(ḡ, x.shape)"""
    def forward(ctx, x, axis):
        ctx.shape = x.shape
        return np.expand_dims(x, axis)

    def backward(ctx, g):
        return np.reshape(g, ctx.shape)


class Squeeze(Function):
    """y = squeeze(x, axis);  x̄ = reshape(ḡ, x.shape)"""
    def forward(ctx, x, axis=None):
        ctx.shape = x.shape
        return np.squeeze(x, axis)

    def backward(ctx, g):
        return np.reshape(g, ctx.shape)


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


class Concatenate(Function):
    """y = concatenate(x₁…xₙ, axis);  x̄ᵢ = the slice of ḡ that xᵢ filled"""
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        ctx.splits = np.cumsum([np.shape(x)[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    def backward(ctx, g):
        return tuple(np.split(g, ctx.splits, axis=ctx.axis))


class Stack(Function):
    """y = stack(x₁…xₙ, axis);  x̄ᵢ = ḡ taken at index i along axis"""
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.axis, 0))


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


# ----------------------------------------------------------------------------------------------
# Matrix products


class MatMul(Function):
    """y = a @ b (NumPy's 1-D, 2-D and batched rules);  ā = ḡ @ bᵀ,  b̄ = aᵀ @ ḡ

    A 1-D operand is promoted to a matrix (a row for a, a column for b) and ḡ gets the matching
    unit axis, so one pair of formulas covers every case; batch axes are summed by unbroadcast."""
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:
            return (g @ b.T if need_a else None), (a.T @ g if need_b else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:                    # first: for 1-D @ 1-D, ḡ is 0-d and gains (1,) then (1, 1)
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if need_a:
            ga = g2 @ np.swapaxes(b2, -1, -2)
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if need_b:
            gb = np.swapaxes(a2, -1, -2) @ g2
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


class Linear(Function):
    """y = x Wᵀ + b (W: out × in, as in PyTorch);  x̄ = ḡ W,  W̄ = ḡᵀ x,  b̄ = Σ_batch ḡ

    One node instead of transpose + matmul + add: fewer temporaries, and no x̄ when x is data."""
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad + (False,) * (3 - len(ctx.needs_input_grad))
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        gx = (g @ w) if need_x else None
        gw = (g2.T @ x.reshape(-1, x.shape[-1])) if need_w else None
        gb = g2.sum(axis=0) if need_b else None
        return gx, gw, gb


# ----------------------------------------------------------------------------------------------
# Functions users call, and Tensor's operators and methods bound to them


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def pow(a, b):  # noqa: A001 - the op is called pow, like torch.pow / np.power
    return Pow.apply(a, b)


def matmul(a, b):
    return MatMul.apply(a, b)


def maximum(a, b):
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


def neg(x):
    return Neg.apply(x)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def log1p(x):
    return Log1p.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):  # noqa: A001
    return Abs.apply(x)


def sin(x):
    return Sin.apply(x)


def cos(x):
    return Cos.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return Relu.apply(x)


def leaky_relu(x, negative_slope=0.01):
    return LeakyRelu.apply(x, negative_slope)


def softplus(x):
    return Softplus.apply(x)


def log_sigmoid(x):
    return LogSigmoid.apply(x)


def clip(x, min=None, max=None):  # noqa: A002 - numpy/torch names
    return Clip.apply(x, min, max)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return Sum.apply(x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max.apply(x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return Min.apply(x, axis, keepdims)


def logsumexp(x, axis=None, keepdims=False):
    return LogSumExp.apply(x, axis, keepdims)


def reshape(x, *shape):
    return Reshape.apply(x, shape[0] if len(shape) == 1 else shape)


def transpose(x, axes=None):
    return Transpose.apply(x, axes)


def broadcast_to(x, shape):
    return BroadcastTo.apply(x, shape)


def expand_dims(x, axis):
    return ExpandDims.apply(x, axis)


def squeeze(x, axis=None):
    return Squeeze.apply(x, axis)


def concatenate(tensors, axis=0):
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    return Stack.apply(*tensors, axis=axis)


def where(condition, a, b):
    if isinstance(condition, Tensor):
        condition = condition.data
    return Where.apply(condition, a, b)


def _index(index):
    """Tensors inside an index are read as their data (integer or bool arrays), lists as arrays."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def getitem(x, index):
    return GetItem.apply(x, _index(index))


def _compare(ufunc):
    def compare(self, other):
        return Tensor(ufunc(self.data, other.data if isinstance(other, Tensor) else other))
    compare.__name__ = ufunc.__name__
    return compare


def _reshape_method(self, *shape):
    return reshape(self, *shape)


def _transpose_method(self, *axes):
    return transpose(self, (axes[0] if len(axes) == 1 else axes) or None)


for _name, _fn in {
    "__add__": add, "__radd__": lambda a, b: add(b, a),
    "__sub__": sub, "__rsub__": lambda a, b: sub(b, a),
    "__mul__": mul, "__rmul__": lambda a, b: mul(b, a),
    "__truediv__": div, "__rtruediv__": lambda a, b: div(b, a),
    "__pow__": pow, "__rpow__": lambda a, b: pow(b, a),
    "__matmul__": matmul, "__rmatmul__": lambda a, b: matmul(b, a),
    "__neg__": neg, "__getitem__": getitem,
    "__lt__": _compare(np.less), "__le__": _compare(np.less_equal),
    "__gt__": _compare(np.greater), "__ge__": _compare(np.greater_equal),
    "__eq__": _compare(np.equal), "__ne__": _compare(np.not_equal),
    "exp": exp, "log": log, "log1p": log1p, "sqrt": sqrt, "abs": abs, "sin": sin, "cos": cos, "tanh": tanh,
    "sigmoid": sigmoid, "relu": relu, "leaky_relu": leaky_relu, "softplus": softplus,
    "log_sigmoid": log_sigmoid, "clip": clip, "maximum": maximum, "minimum": minimum,
    "sum": sum, "mean": mean, "max": max, "min": min, "logsumexp": logsumexp,
    "reshape": _reshape_method, "transpose": _transpose_method, "broadcast_to": broadcast_to,
    "expand_dims": expand_dims, "squeeze": squeeze, "pow": pow, "matmul": matmul,
}.items():
    setattr(Tensor, _name, _fn)
Tensor.__hash__ = object.__hash__      # elementwise __eq__ must not make tensors unhashable
Tensor.__abs__ = abs
Tensor.T = property(lambda self: transpose(self))
