"""Every primitive op, read like a table: one short `Function` subclass per op, forward and VJP side by
side, with the function users call right under its class.

    elementwise.py   + − × ÷ **, max/min, exp, log, tanh, softplus, clip, … and the fused losses
    special.py       scipy.special's functions: Φ, Φ⁻¹, log Γ, ψ, …
    reductions.py    sum, mean, max, min, logsumexp
    shape.py         reshape, transpose, broadcast_to, indexing, concatenate, stack, where
    matmul.py        matmul, the fused Linear, einsum and the products built on them
    linalg.py        minigrad.linalg: cholesky, solve_triangular, solve, inv, det, slogdet, eigh, norm, …
    kernels.py       the fused NumPy kernels several ops share (stable softplus and sigmoid)

Every function here is also reachable as `minigrad.<name>`; `bind_tensor_methods` below makes Tensor's
operators and methods call them.
"""

import numpy as np

from ..engine import Tensor
from . import linalg  # mg.linalg.<name>, not mg.<name>, as in numpy.linalg
from .elementwise import *  # noqa: F403
from .matmul import *  # noqa: F403
from .reductions import *  # noqa: F403
from .shape import *  # noqa: F403
from .special import *  # noqa: F403

globals().update((n, getattr(linalg, n)) for n in linalg.__all__ if n[0].isupper())  # its classes: ops.<Name>

# `from minigrad.ops import *` (as minigrad/__init__.py does) gives the functions; the classes stay ops.<Name>.
__all__ = sorted(name for name, obj in dict(globals()).items() if callable(obj) and not isinstance(obj, type)
                 and name[0] != "_" and getattr(obj, "__module__", "").startswith(__name__ + "."))

# ----------------------------------------------------------------------------------------------
# Non-differentiable functions: their results are data, never recorded (HIPS autograd keeps the same
# kind of declared list). Comparisons give bool tensors, as NumPy's do.

NONDIFFERENTIABLE = {
    "__lt__": np.less, "__le__": np.less_equal, "__gt__": np.greater, "__ge__": np.greater_equal,
    "__eq__": np.equal, "__ne__": np.not_equal,
}


def _nondifferentiable(ufunc):
    def method(self, other):
        return Tensor(ufunc(self.data, other.data if isinstance(other, Tensor) else other))
    method.__name__ = ufunc.__name__
    return method


# ----------------------------------------------------------------------------------------------
# Tensor's operators and methods: each one calls the op function of the same name.

def _reflected(op):
    """The reflected operator of a binary op: `a.__radd__(b)` computes b + a."""
    def reflected(a, b):
        return op(b, a)
    reflected.__name__ = f"r{op.__name__}"
    return reflected


def _reshape_method(self, *shape):
    return reshape(self, *shape)  # noqa: F405


def _transpose_method(self, *axes):
    return transpose(self, (axes[0] if len(axes) == 1 else axes) or None)  # noqa: F405


def bind_tensor_methods():
    """Give Tensor its operators (x + y, x @ w, -x, x[i], x < y) and methods (x.exp(), x.sum(axis))."""
    binary = {"add": add, "sub": sub, "mul": mul, "truediv": div, "pow": pow, "matmul": matmul}  # noqa: F405
    for name, op in binary.items():
        setattr(Tensor, f"__{name}__", op)
        setattr(Tensor, f"__r{name}__", _reflected(op))
    for name, ufunc in NONDIFFERENTIABLE.items():
        setattr(Tensor, name, _nondifferentiable(ufunc))
    Tensor.__neg__, Tensor.__abs__, Tensor.__getitem__ = neg, abs, getitem  # noqa: F405
    Tensor.__hash__ = object.__hash__      # elementwise __eq__ must not make tensors unhashable
    for op in (exp, log, log1p, sqrt, abs, sin, cos, tanh, sigmoid, relu, leaky_relu, softplus,  # noqa: F405
               log_sigmoid, clip, maximum, minimum, sum, max, min, mean, logsumexp, broadcast_to,  # noqa: F405
               expand_dims, squeeze, pow, matmul, dot):  # noqa: F405
        setattr(Tensor, op.__name__, op)
    Tensor.reshape, Tensor.transpose = _reshape_method, _transpose_method
    Tensor.T = property(lambda self: transpose(self))  # noqa: F405


bind_tensor_methods()
