"""Special functions (scipy.special) as primitive ops: forward from SciPy, VJP beside it."""

import math

import numpy as np
from scipy import special

from ..engine import Function

__all__ = ['Ndtr', 'ndtr', 'Ndtri', 'ndtri', 'StandardCauchyQuantile', 'LogGamma', 'gammaln', 'Digamma', 'digamma']

_SQRT_2PI = math.sqrt(2 * math.pi)


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
        return g * special.polygamma(1, x)


def digamma(x):
    return Digamma.apply(x)
