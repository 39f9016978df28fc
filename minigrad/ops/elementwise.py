"""Elementwise ops: each class is one primitive, forward and VJP side by side, and the function users
call right under it.

Notation: y is the output, ḡ = ∂L/∂y the incoming gradient, x̄ = ∂L/∂x what backward returns. Binary ops
return gradients of the broadcast shape; the engine's `unbroadcast` reduces them to each input's shape.
"""

import numpy as np

from ..engine import Function
from . import kernels

__all__ = ['Add', 'add', 'Sub', 'sub', 'Mul', 'mul', 'Div', 'div', 'Pow', 'pow', 'Maximum', 'maximum', 'Minimum',
    'minimum', 'Neg', 'neg', 'Exp', 'exp', 'Log', 'log', 'Log1p', 'log1p', 'Sqrt', 'sqrt', 'Abs', 'abs', 'Sin',
    'sin', 'Cos', 'cos', 'Arctan', 'arctan', 'Expm1', 'expm1', 'Tanh', 'tanh', 'Sigmoid', 'sigmoid', 'Relu', 'relu',
    'LeakyRelu', 'leaky_relu', 'Softplus', 'softplus', 'LogSigmoid', 'log_sigmoid', 'Clip', 'clip',
    'BinaryCrossEntropyWithLogits', 'MSELoss']


# ----------------------------------------------------------------------------------------------
# Binary


def weak_operands(a, b):
    """The two operands of a binary op in one float dtype under PyTorch's weak-scalar rule.

    An operand's standing: an array with axes (2) > a 0-d array, i.e. a 0-d tensor (1) > a NumPy scalar or a
    Python number (0). Where the operands differ in standing and the stronger one is floating point, the
    weaker one takes its dtype: float32 · np.float64(2) and float32 · mg.tensor(2.0) stay float32, as in
    PyTorch (NumPy 2 would give float64). Equal standing: NumPy's promotion. Every binary op's forward
    starts here, so its saved arrays, its output and the gradients it computes keep that dtype."""
    da, db = getattr(a, "dtype", None), getattr(b, "dtype", None)
    if da == db:                                    # the common case: one test and out
        return a, b
    sa, sb = _standing(a, da), _standing(b, db)
    if sa > sb >= 0 and da.kind == "f":
        b = b.astype(da) if db is not None else da.type(b)
    elif sb > sa >= 0 and db.kind == "f":
        a = a.astype(db) if da is not None else db.type(a)
    return a, b


def _standing(x, dtype):
    """2: an array with axes, 1: a 0-d array, 0: a NumPy scalar or Python number, −1: anything else (None)."""
    if dtype is not None:
        return -1 if dtype.kind not in "biuf" else 2 if x.ndim else int(type(x) is np.ndarray)
    return 0 if isinstance(x, (int, float)) else -1


class Add(Function):
    """y = a + b;  ā = ḡ,  b̄ = ḡ"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        return a + b

    def backward(ctx, g):
        return g, g


def add(a, b):
    return Add.apply(a, b)


class Sub(Function):
    """y = a − b;  ā = ḡ,  b̄ = −ḡ"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        return a - b

    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


def sub(a, b):
    return Sub.apply(a, b)


class Mul(Function):
    """y = a · b;  ā = ḡ · b,  b̄ = ḡ · a"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        ctx.save_for_backward(a, b)
        return a * b

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


def mul(a, b):
    return Mul.apply(a, b)


class Div(Function):
    """y = a / b;  ā = ḡ / b,  b̄ = −ḡ · y / b"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        y = a / b
        ctx.save_for_backward(b, y)
        return y

    def backward(ctx, g):
        b, y = ctx.saved_tensors
        ga = g / b
        return (ga if ctx.needs_input_grad[0] else None), (-ga * y if ctx.needs_input_grad[1] else None)


def div(a, b):
    return Div.apply(a, b)


class Pow(Function):
    """y = a ** b;  ā = ḡ · b · a^(b−1) (0 where b = 0: a⁰ is constant),  b̄ = ḡ · y · log a (0 where a = 0 and
    b ≥ 0, PyTorch's convention: the one-sided limit as b moves within the domain where 0ᵇ is finite)"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):     # 0 · ∞ and log 0 are masked by the wheres
            if ctx.needs_input_grad[0]:
                ga = g * np.where(b == 0, 0, b * a ** (b - 1))
            if ctx.needs_input_grad[1]:
                gb = g * np.where((a == 0) & (b >= 0), 0, y * np.log(a))
        return ga, gb


def pow(a, b):  # noqa: A001 - the op is called pow, like torch.pow / np.power
    return Pow.apply(a, b)


class Maximum(Function):
    """y = max(a, b);  ā = ḡ·[a > b] + ½ḡ·[a = b],  b̄ = ḡ·[b > a] + ½ḡ·[a = b]  (ties split evenly)"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        wa = (np.greater(a, b) + 0.5 * np.equal(a, b)).astype(g.dtype, copy=False)
        return (g * wa if ctx.needs_input_grad[0] else None), (g * (1 - wa) if ctx.needs_input_grad[1] else None)


def maximum(a, b):
    return Maximum.apply(a, b)


class Minimum(Function):
    """y = min(a, b);  ā = ḡ·[a < b] + ½ḡ·[a = b],  b̄ = ḡ·[b < a] + ½ḡ·[a = b]"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        wa = (np.less(a, b) + 0.5 * np.equal(a, b)).astype(g.dtype, copy=False)
        return (g * wa if ctx.needs_input_grad[0] else None), (g * (1 - wa) if ctx.needs_input_grad[1] else None)


def minimum(a, b):
    return Minimum.apply(a, b)




# ----------------------------------------------------------------------------------------------
# Unary



class Neg(Function):
    """y = −x;  x̄ = −ḡ"""
    def forward(ctx, x):
        return -x

    def backward(ctx, g):
        return -g


def neg(x):
    return Neg.apply(x)


class Exp(Function):
    """y = eˣ;  x̄ = ḡ · y"""
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


def exp(x):
    return Exp.apply(x)


class Log(Function):
    """y = log x;  x̄ = ḡ / x"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


def log(x):
    return Log.apply(x)


class Log1p(Function):
    """y = log(1 + x);  x̄ = ḡ / (1 + x)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log1p(x)

    def backward(ctx, g):
        return g / (1 + ctx.saved_tensors[0])


def log1p(x):
    return Log1p.apply(x)


class Sqrt(Function):
    """y = √x;  x̄ = ḡ / (2y)"""
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return g / (2 * ctx.saved_tensors[0])


def sqrt(x):
    return Sqrt.apply(x)


class Abs(Function):
    """y = |x|;  x̄ = ḡ · sign(x)  (0 at x = 0)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    def backward(ctx, g):
        return g * np.sign(ctx.saved_tensors[0])


def abs(x):  # noqa: A001
    return Abs.apply(x)


class Sin(Function):
    """y = sin x;  x̄ = ḡ · cos x"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    def backward(ctx, g):
        return g * np.cos(ctx.saved_tensors[0])


def sin(x):
    return Sin.apply(x)


class Cos(Function):
    """y = cos x;  x̄ = −ḡ · sin x"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    def backward(ctx, g):
        return -g * np.sin(ctx.saved_tensors[0])


def cos(x):
    return Cos.apply(x)


class Arctan(Function):
    """y = arctan x;  x̄ = ḡ / (1 + x²)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arctan(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 + x * x)


def arctan(x):
    return Arctan.apply(x)


class Expm1(Function):
    """y = eˣ − 1 (accurate for small x);  x̄ = ḡ · (y + 1)"""
    def forward(ctx, x):
        y = np.expm1(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y + 1)


def expm1(x):
    return Expm1.apply(x)


class Tanh(Function):
    """y = tanh x;  x̄ = ḡ · (1 − y²)   (from the saved output, no second tanh)"""
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return kernels.one_minus_square_times(ctx.saved_tensors[0], g)


def tanh(x):
    return Tanh.apply(x)


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ);  x̄ = ḡ · y (1 − y)"""
    def forward(ctx, x):
        y = kernels.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        y = ctx.saved_tensors[0]
        return g * y * (1 - y)


def sigmoid(x):
    return Sigmoid.apply(x)


class Relu(Function):
    """y = max(x, 0);  x̄ = ḡ · [x > 0]"""
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return g * (ctx.saved_tensors[0] > 0)


def relu(x):
    return Relu.apply(x)


class LeakyRelu(Function):
    """y = x if x > 0 else αx;  x̄ = ḡ if x > 0 else αḡ"""
    def forward(ctx, x, slope=0.01):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return np.where(x > 0, x, slope * x)

    def backward(ctx, g):
        return np.where(ctx.saved_tensors[0] > 0, g, ctx.slope * g)


def leaky_relu(x, negative_slope=0.01):
    return LeakyRelu.apply(x, negative_slope)


class Softplus(Function):
    """y = log(1 + eˣ) = max(x, 0) + log1p(e^(−|x|)) (no overflow);  x̄ = ḡ · σ(x)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return kernels.softplus(x)

    def backward(ctx, g):
        y = kernels.sigmoid(ctx.saved_tensors[0])
        y *= g
        return y


def softplus(x):
    return Softplus.apply(x)


class LogSigmoid(Function):
    """y = log σ(x) = −softplus(−x);  x̄ = ḡ · σ(−x)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        y = kernels.softplus(-x)
        return np.negative(y, out=y)

    def backward(ctx, g):
        y = kernels.sigmoid(-ctx.saved_tensors[0])
        y *= g
        return y


def log_sigmoid(x):
    return LogSigmoid.apply(x)


class Clip(Function):
    """y = min(max(x, lo), hi);  x̄ = ḡ · [lo < x < hi]

    Zero at the bounds themselves, as HIPS autograd and PyTorch ≥ 2.14 (y is flat on one side there), and
    so zero everywhere when lo = hi (y is a constant). Scalar bounds follow the weak-scalar rule."""
    def forward(ctx, x, lo=None, hi=None):
        x, lo = weak_operands(x, lo)
        x, hi = weak_operands(x, hi)
        ctx.save_for_backward(x)
        ctx.bounds = lo, hi
        return np.clip(x, lo, hi)

    def backward(ctx, g):
        x = ctx.saved_tensors[0]
        lo, hi = ctx.bounds
        inside = np.ones(x.shape, bool)
        if lo is not None:
            inside &= x > lo
        if hi is not None:
            inside &= x < hi
        return g * inside


def clip(x, min=None, max=None):  # noqa: A002 - numpy/torch names
    return Clip.apply(x, min, max)




# ----------------------------------------------------------------------------------------------
# Fused losses: one node each, as PyTorch's kernels (called through minigrad.nn.functional)



class BinaryCrossEntropyWithLogits(Function):
    """ℓ = softplus(x) − t·x = −[t log σ(x) + (1−t) log(1−σ(x))], elementwise, stable for any x; x and t
    broadcast against each other either way;  x̄ = ḡ · (σ(x) − t),  t̄ = −ḡ · x"""
    def forward(ctx, x, t):
        x, t = weak_operands(x, t)
        ctx.save_for_backward(x, t)
        shape = np.broadcast_shapes(np.shape(x), np.shape(t))
        if shape != np.shape(x):                 # x broadcasts up to t: no buffer of x's shape to reuse
            return np.subtract(kernels.softplus(x), np.multiply(x, t))
        scratch = np.empty(shape, np.result_type(x, t, 0.0))
        y = kernels.softplus(x, scratch)
        y -= np.multiply(x, t, out=scratch)
        return y

    def backward(ctx, g):
        x, t = ctx.saved_tensors
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = kernels.sigmoid(x)
            gx = np.subtract(gx, t, out=gx if gx.shape == g.shape else None)
            gx *= g
        if ctx.needs_input_grad[1]:
            gt = -g * x
        return gx, gt


class MSELoss(Function):
    """ℓ = Σ (x − t)² / N over all elements (N = their number for "mean", 1 for "sum"); one node;
    x̄ = ḡ · 2(x − t) / N,  t̄ = −x̄"""
    def forward(ctx, x, t, reduction="mean"):
        x, t = weak_operands(x, t)
        d = np.subtract(x, t)
        ctx.save_for_backward(d)
        ctx.scale = 2.0 / d.size if reduction == "mean" and d.size else 2.0
        return np.vdot(d, d) * (ctx.scale / 2)

    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gx = d * (g * ctx.scale)
        return (gx if ctx.needs_input_grad[0] else None), (-gx if ctx.needs_input_grad[1] else None)
