"""Special functions (scipy.special) as primitive ops: forward from SciPy, VJP beside it.

Constants are Python floats (weak: float32 stays float32); the one SciPy function that upcasts float32
(polygamma) goes through `_polygamma`, which casts back.
"""

import math

import numpy as np
from scipy import special

from ..engine import Function
from .elementwise import Sigmoid, weak_operands

__all__ = ['Ndtr', 'ndtr', 'Ndtri', 'ndtri', 'StandardCauchyQuantile', 'LogGamma', 'gammaln', 'Digamma', 'digamma',
           'Erf', 'erf', 'Erfc', 'erfc', 'Erfinv', 'erfinv', 'Erfcinv', 'erfcinv', 'Polygamma', 'polygamma', 'Gamma',
           'gamma', 'Beta', 'beta', 'Betaln', 'betaln', 'Logit', 'logit', 'expit', 'LogNdtr', 'log_ndtr', 'Xlogy',
           'xlogy', 'Xlog1py', 'xlog1py', 'I0', 'i0', 'I1', 'i1']

_SQRT_2PI = math.sqrt(2 * math.pi)
_LOG_SQRT_2PI = math.log(_SQRT_2PI)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _polygamma(n, x):
    """ψ⁽ⁿ⁾(x) in x's float dtype (scipy.special.polygamma computes in float64)."""
    y, dtype = np.asarray(special.polygamma(n, x)), np.asarray(x).dtype
    return y.astype(dtype, copy=False) if dtype.kind == "f" else y


class Ndtr(Function):
    """y = Φ(x), the standard normal CDF;  x̄ = ḡ · φ(x) = ḡ · exp(−x²/2) / √(2π)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special.ndtr(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (np.exp(-0.5 * x * x) / _SQRT_2PI)


def ndtr(x):
    return Ndtr.apply(x)


class Ndtri(Function):
    """y = Φ⁻¹(u), the standard normal quantile (scipy.special.ndtri);  ū = ḡ / φ(y) = ḡ · √(2π) e^{y²/2}

    In an inverse-CDF sample u is a constant and no ū is ever computed; the VJP is there so that
    icdf can also be differentiated in u (and gradient-checked)."""
    def forward(ctx, u):
        y = special.ndtri(u)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        with np.errstate(over="ignore"):          # 1/φ(y) is +inf, correctly, in the far tails
            return g * (_SQRT_2PI * np.exp(0.5 * y * y))


def ndtri(u):
    return Ndtri.apply(u)


class StandardCauchyQuantile(Function):
    """y = tan(π(u − ½));  ū = ḡ · π (1 + y²)

    Evaluated as −cot(πu) for u < ½ and cot(π(1 − u)) otherwise: 1 − u is exact there, so both
    tails keep full relative precision (tan(π(u − ½)) loses it to the rounding of u − ½)."""
    def forward(ctx, u):
        lower = u < 0.5
        y = np.where(lower, -1.0 / np.tan(np.pi * np.where(lower, u, 0.25)),
                     1.0 / np.tan(np.pi * np.where(lower, 0.25, 1 - u))).astype(u.dtype, copy=False)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (np.pi * (1 + y * y))


class LogGamma(Function):
    """y = log Γ(x) for x > 0;  x̄ = ḡ · ψ(x) (the digamma function)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special.gammaln(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * special.digamma(x)


def gammaln(x):
    return LogGamma.apply(x)


class Digamma(Function):
    """y = ψ(x) = d log Γ(x) / dx;  x̄ = ḡ · ψ′(x) (the trigamma function, polygamma(1, x))"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special.digamma(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _polygamma(1, x)


def digamma(x):
    return Digamma.apply(x)


class Erf(Function):
    """y = erf x = (2/√π) ∫₀ˣ e^(−t²) dt;  x̄ = ḡ · (2/√π) e^(−x²)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special.erf(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (_TWO_OVER_SQRT_PI * np.exp(-x * x))


def erf(x):
    return Erf.apply(x)


class Erfc(Function):
    """y = erfc x = 1 − erf x (accurate where erf x ≈ 1);  x̄ = −ḡ · (2/√π) e^(−x²)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special.erfc(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (-_TWO_OVER_SQRT_PI * np.exp(-x * x))


def erfc(x):
    return Erfc.apply(x)


class Erfinv(Function):
    """y = erf⁻¹(x), −1 < x < 1;  x̄ = ḡ · (√π/2) e^(y²)"""
    def forward(ctx, x):
        y = special.erfinv(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        with np.errstate(over="ignore"):          # +inf at x = ±1, correctly
            return g * (np.exp(y * y) / _TWO_OVER_SQRT_PI)


def erfinv(x):
    return Erfinv.apply(x)


class Erfcinv(Function):
    """y = erfc⁻¹(x), 0 < x < 2;  x̄ = −ḡ · (√π/2) e^(y²)"""
    def forward(ctx, x):
        y = special.erfcinv(x)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        with np.errstate(over="ignore"):
            return g * (-np.exp(y * y) / _TWO_OVER_SQRT_PI)


def erfcinv(x):
    return Erfcinv.apply(x)


class Polygamma(Function):
    """y = ψ⁽ⁿ⁾(x), the n-th derivative of the digamma function (n = 0, 1, … a constant);  x̄ = ḡ · ψ⁽ⁿ⁺¹⁾(x)"""
    def forward(ctx, x, *, n):
        n = np.asarray(n)
        if n.dtype.kind not in "iu" or (n < 0).any():
            raise ValueError(f"polygamma: n must be a non-negative integer (or integer array), got {n!r}")
        ctx.n = n
        ctx.save_for_backward(x)
        return _polygamma(n, x)

    def backward(ctx, g):
        return g * _polygamma(ctx.n + 1, ctx.saved_tensors[0])


def polygamma(n, x):
    """ψ⁽ⁿ⁾(x), in scipy.special's and torch's argument order; n gets no gradient."""
    return Polygamma.apply(x, n=n)


class Gamma(Function):
    """y = Γ(x);  x̄ = ḡ · y · ψ(x)"""
    def forward(ctx, x):
        y = special.gamma(x)
        ctx.save_for_backward(x, y)
        return y

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y * special.digamma(x)


def gamma(x):
    return Gamma.apply(x)


class Beta(Function):
    """y = B(a, b) = Γ(a)Γ(b) / Γ(a + b);  ā = ḡ · y · (ψ(a) − ψ(a + b)),  b̄ = ḡ · y · (ψ(b) − ψ(a + b))"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b, numbers=True)
        y = special.beta(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        gy, psi_ab = g * y, special.digamma(a + b)
        return ((gy * (special.digamma(a) - psi_ab) if ctx.needs_input_grad[0] else None),
                (gy * (special.digamma(b) - psi_ab) if ctx.needs_input_grad[1] else None))


def beta(a, b):
    return Beta.apply(a, b)


class Betaln(Function):
    """y = log |B(a, b)|;  ā = ḡ · (ψ(a) − ψ(a + b)),  b̄ = ḡ · (ψ(b) − ψ(a + b))"""
    def forward(ctx, a, b):
        a, b = weak_operands(a, b, numbers=True)
        ctx.save_for_backward(a, b)
        return special.betaln(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        psi_ab = special.digamma(a + b)
        return ((g * (special.digamma(a) - psi_ab) if ctx.needs_input_grad[0] else None),
                (g * (special.digamma(b) - psi_ab) if ctx.needs_input_grad[1] else None))


def betaln(a, b):
    return Betaln.apply(a, b)


class Logit(Function):
    """y = log(p / (1 − p)), the inverse of σ;  p̄ = ḡ / (p (1 − p))"""
    def forward(ctx, p):
        ctx.save_for_backward(p)
        return special.logit(p)

    def backward(ctx, g):
        (p,) = ctx.saved_tensors
        return g / (p * (1 - p))


def logit(p):
    return Logit.apply(p)


def expit(x):
    """scipy.special's name for the logistic sigmoid σ(x): the Sigmoid op itself."""
    return Sigmoid.apply(x)


class LogNdtr(Function):
    """y = log Φ(x) (accurate far into the lower tail);  x̄ = ḡ · φ(x) / Φ(x) = ḡ · exp(−x²/2 − log √(2π) − y)
    (taken in logs: finite where φ and Φ both underflow)"""
    def forward(ctx, x):
        y = special.log_ndtr(x)
        ctx.save_for_backward(x, y)
        return y

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * np.exp(-0.5 * x * x - _LOG_SQRT_2PI - y)


def log_ndtr(x):
    return LogNdtr.apply(x)


class Xlogy(Function):
    """z = x log y, 0 where x = 0 (whatever y);  x̄ = ḡ · log y (0 where x = y = 0),  ȳ = ḡ · x / y (0 where x = 0:
    z is 0 all along x = 0). PyTorch also sets x̄ = 0 at x = 0 for y > 0; here it is log y, the derivative."""
    def forward(ctx, x, y):
        x, y = weak_operands(x, y, numbers=True)
        ctx.save_for_backward(x, y)
        return special.xlogy(x, y)

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gx = gy = None
        with np.errstate(divide="ignore", invalid="ignore"):     # log 0 and 0/0, masked by the wheres
            if ctx.needs_input_grad[0]:
                gx = g * np.where((x == 0) & (y == 0), 0, np.log(y))
            if ctx.needs_input_grad[1]:
                gy = g * np.where(x == 0, 0, x / y)
        return gx, gy


def xlogy(x, y):
    return Xlogy.apply(x, y)


class Xlog1py(Function):
    """z = x log(1 + y), 0 where x = 0;  x̄ = ḡ · log1p(y) (0 where x = 0, y = −1),
    ȳ = ḡ · x / (1 + y) (0 where x = 0)"""
    def forward(ctx, x, y):
        x, y = weak_operands(x, y, numbers=True)
        ctx.save_for_backward(x, y)
        return special.xlog1py(x, y)

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gx = gy = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if ctx.needs_input_grad[0]:
                gx = g * np.where((x == 0) & (y == -1), 0, np.log1p(y))
            if ctx.needs_input_grad[1]:
                gy = g * np.where(x == 0, 0, x / (1 + y))
        return gx, gy


def xlog1py(x, y):
    return Xlog1py.apply(x, y)


class I0(Function):
    """y = I₀(x), the modified Bessel function of order 0;  x̄ = ḡ · I₁(x)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special.i0(x)

    def backward(ctx, g):
        return g * special.i1(ctx.saved_tensors[0])


def i0(x):
    return I0.apply(x)


class I1(Function):
    """y = I₁(x), the modified Bessel function of order 1;  x̄ = ḡ · (I₀(x) − y/x), ½ḡ at x = 0 (the limit)"""
    def forward(ctx, x):
        y = special.i1(x)
        ctx.save_for_backward(x, y)
        return y

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        ratio = np.divide(y, x, out=np.full_like(y, 0.5), where=x != 0)      # I₁(x)/x → ½ as x → 0
        return g * (special.i0(x) - ratio)


def i1(x):
    return I1.apply(x)
