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



class Add(Function):
    """y = a + b;  ā = ḡ,  b̄ = ḡ"""
    def forward(ctx, a, b):
        return a + b

    def backward(ctx, g):
        return g, g


def add(a, b):
    return Add.apply(a, b)


class Sub(Function):
    """y = a − b;  ā = ḡ,  b̄ = −ḡ"""
    def forward(ctx, a, b):
        return a - b

    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


def sub(a, b):
    return Sub.apply(a, b)


class Mul(Function):
    """y = a · b;  ā = ḡ · b,  b̄ = ḡ · a"""
    def forward(ctx, a, b):
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


def pow(a, b):  # noqa: A001 - the op is called pow, like torch.pow / np.power
    return Pow.apply(a, b)


class Maximum(Function):
    """y = max(a, b);  ā = ḡ·[a > b] + ½ḡ·[a = b],  b̄ = ḡ·[b > a] + ½ḡ·[a = b]  (ties split evenly)"""
    def forward(ctx, a, b):
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


def clip(x, min=None, max=None):  # noqa: A002 - numpy/torch names
    return Clip.apply(x, min, max)




# ----------------------------------------------------------------------------------------------
# Fused losses: one node each, as PyTorch's kernels (called through minigrad.nn.functional)



class BinaryCrossEntropyWithLogits(Function):
    """ℓ = softplus(x) − t·x = −[t log σ(x) + (1−t) log(1−σ(x))], elementwise, stable for any x;
    x̄ = ḡ · (σ(x) − t),  t̄ = −ḡ · x"""
    def forward(ctx, x, t):
        ctx.save_for_backward(x, t)
        scratch = np.empty(np.broadcast_shapes(np.shape(x), np.shape(t)), np.result_type(x, t, 0.0))
        y = kernels.softplus(x, scratch if scratch.shape == np.shape(x) else None)
        y -= np.multiply(x, t, out=scratch)
        return y

    def backward(ctx, g):
        x, t = ctx.saved_tensors
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = kernels.sigmoid(x)
            gx -= t
            gx *= g
        if ctx.needs_input_grad[1]:
            gt = -g * x
        return gx, gt


class MSELoss(Function):
    """ℓ = Σ (x − t)² / N over all elements (N = their number for "mean", 1 for "sum"); one node;
    x̄ = ḡ · 2(x − t) / N,  t̄ = −x̄. The mean of no elements is nan, as np.mean (without its warning)."""
    def forward(ctx, x, t, reduction="mean"):
        d = np.subtract(x, t)
        ctx.save_for_backward(d)
        ctx.scale = 2.0 if reduction != "mean" else 2.0 / d.size if d.size else np.nan
        return np.vdot(d, d) * (ctx.scale / 2)

    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gx = d * (g * ctx.scale)
        return (gx if ctx.needs_input_grad[0] else None), (-gx if ctx.needs_input_grad[1] else None)
