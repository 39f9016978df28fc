"""Elementwise ops: each class is one primitive, forward and VJP side by side, and the function users
call right under it.

Notation: y is the output, ḡ = ∂L/∂y the incoming gradient, x̄ = ∂L/∂x what backward returns. Binary ops
return gradients of the broadcast shape; the engine's `unbroadcast` reduces them to each input's shape.
"""

import math
import numbers

import numpy as np

from ..engine import Function, buffer
from . import kernels

__all__ = ['Add', 'add', 'Sub', 'sub', 'Mul', 'mul', 'Div', 'div', 'Pow', 'pow', 'Maximum', 'maximum', 'Minimum',
    'minimum', 'Neg', 'neg', 'Exp', 'exp', 'Log', 'log', 'Log1p', 'log1p', 'Sqrt', 'sqrt', 'Abs', 'abs', 'Sin',
    'sin', 'Cos', 'cos', 'Arctan', 'arctan', 'Expm1', 'expm1', 'Tanh', 'tanh', 'Sigmoid', 'sigmoid', 'Relu', 'relu',
    'LeakyRelu', 'leaky_relu', 'Softplus', 'softplus', 'LogSigmoid', 'log_sigmoid', 'Clip', 'clip',
    'Remainder', 'remainder', 'mod', 'Fmod', 'fmod', 'Arctan2', 'arctan2', 'Hypot', 'hypot', 'LogAddExp', 'logaddexp',
    'LogAddExp2', 'logaddexp2', 'Fmax', 'fmax', 'Fmin', 'fmin', 'Square', 'square', 'Reciprocal', 'reciprocal',
    'Exp2', 'exp2', 'Log2', 'log2', 'Log10', 'log10', 'Tan', 'tan', 'Sinh', 'sinh', 'Cosh', 'cosh', 'Arcsin', 'arcsin',
    'Arccos', 'arccos', 'Arcsinh', 'arcsinh', 'Arccosh', 'arccosh', 'Arctanh', 'arctanh', 'Sinc', 'sinc', 'Deg2rad',
    'deg2rad', 'Rad2deg', 'rad2deg', 'NanToNum', 'nan_to_num', 'Sign', 'sign', 'Floor', 'floor', 'Ceil', 'ceil',
    'Round', 'round', 'BinaryCrossEntropyWithLogits', 'MSELoss']

_LN2, _LN10 = math.log(2), math.log(10)     # Python floats: weak, so float32 stays float32
_NUMBERS = (float, int, bool)

# ----------------------------------------------------------------------------------------------
# Binary


def weak_operands(a, b, numbers=False):
    """The two operands of a binary op in one float dtype under PyTorch's weak-scalar rule.

    An operand's standing: an array with axes (2) > a 0-d array, i.e. a 0-d tensor (1) > a NumPy scalar or a
    Python number (0). Where the operands differ in standing and the stronger one is floating point, the
    weaker one takes its dtype: float32 · np.float64(2) and float32 · mg.tensor(2.0) stay float32, as in
    PyTorch (NumPy 2 alone gives float64, and SciPy's ufuncs do even for Python numbers). Equal standing is
    NumPy's promotion. Every binary op's forward starts here, so its saved arrays, its output and the
    gradients it computes keep that dtype. NumPy's own ufuncs already treat Python numbers as weak, so
    they are cast only with numbers=True (the scipy.special ops): x * 2.0 pays nothing here."""
    da, db = getattr(a, "dtype", None), getattr(b, "dtype", None)
    if da is db:                                    # one dtype, the common case
        return a, b
    if db is None:                                  # b a Python number (or None, a list: left to NumPy)
        return a, (da.type(b) if numbers and type(b) in _NUMBERS and da.kind == "f" else b)
    if da is None:
        return (db.type(a) if numbers and type(a) in _NUMBERS and db.kind == "f" else a), b
    sa = 2 if a.ndim else 1 if type(a) is np.ndarray else 0
    sb = 2 if b.ndim else 1 if type(b) is np.ndarray else 0
    if sa > sb and da.kind == "f" and db.kind in "biuf":
        b = b.astype(da, copy=False) if sb else da.type(b)
    elif sb > sa and db.kind == "f" and da.kind in "biuf":
        a = a.astype(db, copy=False) if sa else db.type(a)
    return a, b


def weak_operands_all(operands):
    """weak_operands' rule for any number of operands (einsum and the products built on it, whose NumPy
    forwards do not treat scalars as weak): the operands of the highest standing decide the dtype, and
    when it is floating point every weaker real operand takes it. Returns a list (of arrays for lists)."""
    operands = [x if isinstance(x, (np.ndarray, numbers.Number)) else np.asarray(x) for x in operands]
    standing = [2 if np.ndim(x) else 1 if type(x) is np.ndarray else 0 for x in operands]
    top = max(standing, default=0)
    dtype = np.result_type(*[x for x, s in zip(operands, standing) if s == top]) if operands else None
    if dtype is None or dtype.kind != "f" or min(standing) == top:
        return list(operands)
    return [x if s == top or np.result_type(x).kind not in "biuf" else np.asarray(x, dtype)
            for x, s in zip(operands, standing)]


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




class Remainder(Function):
    """y = a mod b = a − b·⌊a/b⌋ (the sign of b, as np.remainder / torch.remainder);  ā = ḡ,  b̄ = −ḡ · ⌊a/b⌋"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        y = np.remainder(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        gb = -g * np.rint((a - y) / b) if ctx.needs_input_grad[1] else None     # ⌊a/b⌋ exactly as forward took it
        return g, gb


def remainder(a, b):
    return Remainder.apply(a, b)


def mod(a, b):
    """NumPy's other name for remainder (np.mod is np.remainder); also `a % b`."""
    return Remainder.apply(a, b)


class Fmod(Function):
    """y = fmod(a, b) = a − b·trunc(a/b) (the sign of a, as C's fmod / torch.fmod);  ā = ḡ,  b̄ = −ḡ · trunc(a/b)"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        y = np.fmod(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        gb = -g * np.rint((a - y) / b) if ctx.needs_input_grad[1] else None
        return g, gb


def fmod(a, b):
    return Fmod.apply(a, b)


class Arctan2(Function):
    """y = atan2(a, b), the angle of the point (b, a);  ā = ḡ · b / (a² + b²),  b̄ = −ḡ · a / (a² + b²)"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        ctx.save_for_backward(a, b)
        return np.arctan2(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        s = g / (a * a + b * b)
        return (s * b if ctx.needs_input_grad[0] else None), (-s * a if ctx.needs_input_grad[1] else None)


def arctan2(a, b):
    return Arctan2.apply(a, b)


class Hypot(Function):
    """y = √(a² + b²) (no overflow for large a, b);  ā = ḡ · a / y,  b̄ = ḡ · b / y  (nan at a = b = 0, as PyTorch)"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        y = np.hypot(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        s = g / y
        return (s * a if ctx.needs_input_grad[0] else None), (s * b if ctx.needs_input_grad[1] else None)


def hypot(a, b):
    return Hypot.apply(a, b)


class LogAddExp(Function):
    """y = log(eᵃ + eᵇ) (NumPy's stable form);  ā = ḡ · e^(a−y),  b̄ = ḡ · e^(b−y)  (both exponents ≤ 0: no overflow)"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        y = np.logaddexp(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        return ((g * np.exp(a - y) if ctx.needs_input_grad[0] else None),
                (g * np.exp(b - y) if ctx.needs_input_grad[1] else None))


def logaddexp(a, b):
    return LogAddExp.apply(a, b)


class LogAddExp2(Function):
    """y = log₂(2ᵃ + 2ᵇ);  ā = ḡ · 2^(a−y),  b̄ = ḡ · 2^(b−y)  (both exponents ≤ 0: no overflow)"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        y = np.logaddexp2(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        return ((g * np.exp2(a - y) if ctx.needs_input_grad[0] else None),
                (g * np.exp2(b - y) if ctx.needs_input_grad[1] else None))


def logaddexp2(a, b):
    return LogAddExp2.apply(a, b)


class Fmax(Function):
    """y = fmax(a, b), the maximum ignoring NaN;  ā = ḡ·([a > b] + ½[a = b] + [b is NaN]),  b̄ = ḡ − ā
    (ties split as in maximum; the gradient goes to the operand that is not NaN, to a when both are)"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        ctx.save_for_backward(a, b)
        return np.fmax(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        wa = (np.greater(a, b) + 0.5 * np.equal(a, b) + np.isnan(b)).astype(g.dtype, copy=False)
        return (g * wa if ctx.needs_input_grad[0] else None), (g * (1 - wa) if ctx.needs_input_grad[1] else None)


def fmax(a, b):
    return Fmax.apply(a, b)


class Fmin(Function):
    """y = fmin(a, b), the minimum ignoring NaN;  ā = ḡ·([a < b] + ½[a = b] + [b is NaN]),  b̄ = ḡ − ā"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b)
        ctx.save_for_backward(a, b)
        return np.fmin(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        wa = (np.less(a, b) + 0.5 * np.equal(a, b) + np.isnan(b)).astype(g.dtype, copy=False)
        return (g * wa if ctx.needs_input_grad[0] else None), (g * (1 - wa) if ctx.needs_input_grad[1] else None)


def fmin(a, b):
    return Fmin.apply(a, b)


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
        y = np.tanh(x, out=buffer(x.shape, x.dtype)) if x.dtype.kind == "f" else np.tanh(x)
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




class Square(Function):
    """y = x²;  x̄ = 2ḡx"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.square(x)

    def backward(ctx, g):
        return 2 * g * ctx.saved_tensors[0]


def square(x):
    return Square.apply(x)


class Reciprocal(Function):
    """y = 1/x;  x̄ = −ḡ · y²"""
    def forward(ctx, x):
        y = np.reciprocal(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return -g * (y * y)


def reciprocal(x):
    return Reciprocal.apply(x)


class Exp2(Function):
    """y = 2ˣ;  x̄ = ḡ · y · ln 2"""
    def forward(ctx, x):
        y = np.exp2(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        return g * ctx.saved_tensors[0] * _LN2


def exp2(x):
    return Exp2.apply(x)


class Log2(Function):
    """y = log₂ x;  x̄ = ḡ / (x ln 2)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log2(x)

    def backward(ctx, g):
        return g / (ctx.saved_tensors[0] * _LN2)


def log2(x):
    return Log2.apply(x)


class Log10(Function):
    """y = log₁₀ x;  x̄ = ḡ / (x ln 10)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log10(x)

    def backward(ctx, g):
        return g / (ctx.saved_tensors[0] * _LN10)


def log10(x):
    return Log10.apply(x)


class Tan(Function):
    """y = tan x;  x̄ = ḡ · (1 + y²)"""
    def forward(ctx, x):
        y = np.tan(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 + y * y)


def tan(x):
    return Tan.apply(x)


class Sinh(Function):
    """y = sinh x;  x̄ = ḡ · cosh x"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sinh(x)

    def backward(ctx, g):
        return g * np.cosh(ctx.saved_tensors[0])


def sinh(x):
    return Sinh.apply(x)


class Cosh(Function):
    """y = cosh x;  x̄ = ḡ · sinh x"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cosh(x)

    def backward(ctx, g):
        return g * np.sinh(ctx.saved_tensors[0])


def cosh(x):
    return Cosh.apply(x)


class Arcsin(Function):
    """y = arcsin x, |x| ≤ 1;  x̄ = ḡ / √(1 − x²)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arcsin(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / np.sqrt(1 - x * x)


def arcsin(x):
    return Arcsin.apply(x)


class Arccos(Function):
    """y = arccos x, |x| ≤ 1;  x̄ = −ḡ / √(1 − x²)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arccos(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g / np.sqrt(1 - x * x)


def arccos(x):
    return Arccos.apply(x)


class Arcsinh(Function):
    """y = arsinh x;  x̄ = ḡ / √(x² + 1)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arcsinh(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / np.sqrt(x * x + 1)


def arcsinh(x):
    return Arcsinh.apply(x)


class Arccosh(Function):
    """y = arcosh x, x ≥ 1;  x̄ = ḡ / √(x² − 1)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arccosh(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / np.sqrt(x * x - 1)


def arccosh(x):
    return Arccosh.apply(x)


class Arctanh(Function):
    """y = artanh x, |x| < 1;  x̄ = ḡ / (1 − x²)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arctanh(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 - x * x)


def arctanh(x):
    return Arctanh.apply(x)


class Sinc(Function):
    """y = sin(πx) / (πx), 1 at x = 0 (np.sinc);  x̄ = ḡ · (cos(πx) − y) / x, 0 at x = 0 (the limit)"""
    def forward(ctx, x):
        y = np.sinc(x)
        ctx.save_for_backward(x, y)
        return y

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        slope = np.divide(np.cos(np.pi * x) - y, x, out=np.zeros_like(y), where=x != 0)   # sinc is even: 0 at 0
        return g * slope


def sinc(x):
    return Sinc.apply(x)


class Deg2rad(Function):
    """y = x · π/180;  x̄ = ḡ · π/180"""
    def forward(ctx, x):
        return np.deg2rad(x)

    def backward(ctx, g):
        return g * (np.pi / 180)


def deg2rad(x):
    return Deg2rad.apply(x)


class Rad2deg(Function):
    """y = x · 180/π;  x̄ = ḡ · 180/π"""
    def forward(ctx, x):
        return np.rad2deg(x)

    def backward(ctx, g):
        return g * (180 / np.pi)


def rad2deg(x):
    return Rad2deg.apply(x)


class NanToNum(Function):
    """y = x where finite, else the constant NumPy puts there (nan → 0, ±inf → the dtype's extremes, or the
    values given);  x̄ = ḡ · [x finite]  (a replaced element is a constant, as in PyTorch)"""
    def forward(ctx, x, nan=0.0, posinf=None, neginf=None):
        ctx.save_for_backward(x)
        return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def backward(ctx, g):
        return g * np.isfinite(ctx.saved_tensors[0])


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    return NanToNum.apply(x, nan=nan, posinf=posinf, neginf=neginf)


# -- piecewise constant: zero gradient wherever it exists (the jumps have none; PyTorch gives 0 there too)

class _PiecewiseConstant(Function):
    def backward(ctx, g):
        return np.zeros_like(g)


class Sign(_PiecewiseConstant):
    """y = sign x ∈ {−1, 0, 1};  x̄ = 0"""
    def forward(ctx, x):
        return np.sign(x)


def sign(x):
    return Sign.apply(x)


class Floor(_PiecewiseConstant):
    """y = ⌊x⌋;  x̄ = 0"""
    def forward(ctx, x):
        return np.floor(x)


def floor(x):
    return Floor.apply(x)


class Ceil(_PiecewiseConstant):
    """y = ⌈x⌉;  x̄ = 0"""
    def forward(ctx, x):
        return np.ceil(x)


def ceil(x):
    return Ceil.apply(x)


class Round(_PiecewiseConstant):
    """y = x rounded to `decimals` places, halves to even (np.round);  x̄ = 0"""
    def forward(ctx, x, decimals=0):
        return np.round(x, decimals)


def round(x, decimals=0):  # noqa: A001 - numpy's name
    return Round.apply(x, decimals=decimals)


# ----------------------------------------------------------------------------------------------
# Fused losses: one node each, as PyTorch's kernels (called through minigrad.nn.functional)



class BinaryCrossEntropyWithLogits(Function):
    """ℓ = softplus(x) − t·x = −[t log σ(x) + (1−t) log(1−σ(x))], elementwise, stable for any x; x and t
    broadcast against each other either way;  x̄ = ḡ · (σ(x) − t),  t̄ = −ḡ · x

    When x̄ will be needed, forward computes σ(x) − t with the loss (kernels.bce_with_logits shares
    e^(−|x|) between them) and saves it instead of x: backward is then one multiplication."""
    def forward(ctx, x, t):
        x, t = weak_operands(x, t)
        shape = np.broadcast_shapes(np.shape(x), np.shape(t))
        if shape != np.shape(x):                 # x broadcasts up to t: the textbook passes
            ctx.save_for_backward(x, t, None)
            y = np.multiply(x, t)
            return np.subtract(kernels.softplus(x), y, out=y)
        y, dx = kernels.bce_with_logits(np.asarray(x), t, ctx.needs_input_grad[0])
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, t, dx)
        return y

    def backward(ctx, g):
        x, t, dx = ctx.saved_tensors
        gx = gt = None
        if ctx.needs_input_grad[0]:
            if dx is None:
                dx = np.subtract(kernels.sigmoid(x), t)
            gx = np.multiply(dx, g, out=buffer(np.broadcast_shapes(dx.shape, g.shape), dx.dtype))
        if ctx.needs_input_grad[1]:
            gt = -g * x
        return gx, gt


class MSELoss(Function):
    """ℓ = Σ (x − t)² / N over all elements (N = their number for "mean", 1 for "sum"); one node;
    x̄ = ḡ · 2(x − t) / N,  t̄ = −x̄. The mean of no elements is nan, as np.mean (without its warning)."""
    def forward(ctx, x, t, reduction="mean"):
        x, t = weak_operands(x, t)
        d = np.subtract(x, t)
        ctx.save_for_backward(d)
        ctx.scale = 2.0 if reduction != "mean" else 2.0 / d.size if d.size else np.nan
        return np.vdot(d, d) * (ctx.scale / 2)

    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gx = d * (g * ctx.scale)
        return (gx if ctx.needs_input_grad[0] else None), (-gx if ctx.needs_input_grad[1] else None)
