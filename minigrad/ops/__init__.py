"""Every primitive op, read like a table: one short `Function` subclass per op, forward and VJP side by
side, with the function users call right under its class.

    elementwise.py   + − × ÷ **, max/min, exp, log, tanh, softplus, clip, … and the fused losses
    special.py       scipy.special's functions: Φ, Φ⁻¹, log Γ, ψ, …
    reductions.py    sum, mean, max, min, logsumexp, prod, var, std, average; the scans cumsum, cumprod; sort
    shape.py         reshape, transpose, broadcast_to, indexing, concatenate, stack, where, and NumPy's
                     rearrangements: moveaxis, flip, roll, repeat, tile, pad, split, diff, diagonal, tril, take, …
    matmul.py        matmul, the fused Linear, einsum and the products built on them
    linalg.py        minigrad.linalg: cholesky, solve_triangular, solve, inv, det, slogdet, eigh, norm, …
    kernels.py       the fused NumPy kernels several ops share (stable softplus and sigmoid)

Every function here is also reachable as `minigrad.<name>`; `bind_tensor_methods` below makes Tensor's
operators and methods call them, and NumPy's functions too (`np.sum(t)` is `mg.sum(t)`: `_array_function`).
"""

import inspect
import sys
from inspect import Parameter

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


# ----------------------------------------------------------------------------------------------
# NumPy's functions on tensors (the __array_function__ protocol): np.sum(t) is mg.sum(t), recorded.

_NUMPY_NAMES = {"amax": "max", "amin": "min"}                       # numpy name → minigrad name, where they differ
_NUMPY_KEYWORDS = {"a_min": "min", "a_max": "max"}                   # numpy keyword → minigrad keyword
_METADATA = {np.shape, np.ndim, np.size}                             # read the data; nothing to record


def _array_function(self, func, types, args, kwargs):
    """Run the minigrad function of a NumPy function's name (numpy.linalg.X → minigrad.linalg.X) with the same
    arguments; a NumPy function minigrad lacks, or an argument its minigrad counterpart does not take
    (out=, dtype=, where=, …), is a TypeError saying what to call instead."""
    if not all(issubclass(t, (Tensor, np.ndarray)) for t in types):
        return NotImplemented
    if func in _METADATA:
        return func(*[a.data if isinstance(a, Tensor) else a for a in args], **kwargs)
    numpy_name = f"{func.__module__}.{func.__name__}"
    home = sys.modules.get("minigrad" + func.__module__[len("numpy"):]) if func.__module__.startswith("numpy") else None
    name = _NUMPY_NAMES.get(func.__name__, func.__name__)
    ours = getattr(home, name, None)
    if not inspect.isfunction(ours):
        raise TypeError(f"{numpy_name}() was called on a minigrad Tensor, but minigrad has no {name}: its result "
                        f"could not be differentiated. Use minigrad's ops, or {numpy_name}(t.data) for the values "
                        "alone (no gradient)")
    numpy_signature, our_signature = inspect.signature(func), inspect.signature(ours)
    where = f"{numpy_name}() on a minigrad Tensor calls {home.__name__}.{name}{our_signature}"
    positional, keywords = [], {}
    for i, (key, value) in enumerate(numpy_signature.bind(*args, **kwargs).arguments.items()):
        mine = our_signature.parameters.get(_NUMPY_KEYWORDS.get(key, key))
        if numpy_signature.parameters[key].kind is Parameter.VAR_POSITIONAL:   # np.einsum(*operands), atleast_1d(*arys)
            positional.extend(value)
        elif i == 0 or numpy_signature.parameters[key].kind is Parameter.POSITIONAL_ONLY or (
                mine is not None and mine.kind is Parameter.VAR_POSITIONAL):
            positional.append(value)
        elif mine is not None:
            keywords[mine.name] = value
        elif value is not None and value is not np._NoValue:     # NumPy's defaults change nothing
            raise TypeError(f"{where}, which takes no {key}= (got {key}={value!r}): minigrad keeps each "
                            "result's dtype and writes no out= buffers")
    return ours(*positional, **keywords)


def bind_tensor_methods():
    """Give Tensor its operators (x + y, x @ w, -x, x[i], x < y) and methods (x.exp(), x.sum(axis))."""
    binary = {"add": add, "sub": sub, "mul": mul, "truediv": div, "pow": pow, "matmul": matmul,  # noqa: F405
              "mod": remainder}  # noqa: F405
    for name, op in binary.items():
        setattr(Tensor, f"__{name}__", op)
        setattr(Tensor, f"__r{name}__", _reflected(op))
    for name, ufunc in NONDIFFERENTIABLE.items():
        setattr(Tensor, name, _nondifferentiable(ufunc))
    Tensor.__neg__, Tensor.__abs__, Tensor.__getitem__ = neg, abs, getitem  # noqa: F405
    Tensor.__hash__ = object.__hash__      # elementwise __eq__ must not make tensors unhashable
    for op in (exp, log, log1p, sqrt, abs, sin, cos, tanh, sigmoid, relu, leaky_relu, softplus,  # noqa: F405
               log_sigmoid, clip, maximum, minimum, sum, max, min, mean, logsumexp, broadcast_to,  # noqa: F405
               expand_dims, squeeze, pow, matmul, dot, round,  # noqa: F405
               prod, var, std, cumsum, cumprod, ravel, flatten, swapaxes, repeat, diagonal,  # noqa: F405
               trace, take):  # noqa: F405
        setattr(Tensor, op.__name__, op)
    Tensor.reshape, Tensor.transpose = _reshape_method, _transpose_method
    Tensor.T = property(lambda self: transpose(self))  # noqa: F405
    Tensor.__array_function__ = _array_function


bind_tensor_methods()
