"""The weak-scalar dtype rule (PyTorch's): a float32 tensor combined with a Python number, a NumPy scalar
(np.float64(2)) or a 0-d tensor/array of another dtype stays float32, for every binary op and every product
(dot, inner, tensordot, einsum, outer, kron), either operand order; no gradient changes dtype (each input's
gradient has that input's dtype).

Values are compared with the same op in float64 at rtol=1e-5 (float32 rounding of O(1) values).
"""

import inspect

import numpy as np
import pytest

import minigrad as mg
from minigrad import ops

# Every binary op, by class: the function that applies it. Operands in (0.5, 1.5) and the weak value
# 0.75 (or the integer 2) lie in every op's domain.
BINARY = {
    "Add": mg.add, "Sub": mg.sub, "Mul": mg.mul, "Div": mg.div, "Pow": mg.pow,
    "Maximum": mg.maximum, "Minimum": mg.minimum, "Remainder": mg.remainder, "Fmod": mg.fmod,
    "Arctan2": mg.arctan2, "Hypot": mg.hypot, "LogAddExp": mg.logaddexp, "LogAddExp2": mg.logaddexp2,
    "Fmax": mg.fmax, "Fmin": mg.fmin, "Beta": mg.beta, "Betaln": mg.betaln, "Xlogy": mg.xlogy,
    "Xlog1py": mg.xlog1py,
    "BinaryCrossEntropyWithLogits": ops.BinaryCrossEntropyWithLogits.apply, "MSELoss": ops.MSELoss.apply,
}

WEAK = {
    "python float": lambda: 0.75,
    "python int": lambda: 2,
    "np.float64 scalar": lambda: np.float64(0.75),
    "np.int64 scalar": lambda: np.int64(2),
    "0-d float64 ndarray": lambda: np.array(0.75),
    "0-d float64 tensor": lambda: mg.tensor(0.75, requires_grad=True),
    "0-d float16 tensor": lambda: mg.tensor(np.float16(0.75), requires_grad=True),
}


def two_array_ops():
    """Elementwise and special op classes whose forward takes exactly two array operands (options aside)."""
    found = set()
    for name, cls in vars(ops).items():
        if inspect.isclass(cls) and cls.__module__ in ("minigrad.ops.elementwise", "minigrad.ops.special"):
            params = list(inspect.signature(cls.forward).parameters.values())[1:]
            required = [p for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
            if len(required) == 2:
                found.add(name)
    return found


def test_the_table_lists_every_binary_op():
    assert two_array_ops() == set(BINARY)


def as64(w):
    if isinstance(w, mg.Tensor):
        return mg.tensor(w.data.astype(np.float64), requires_grad=True)
    return np.float64(w) if isinstance(w, np.generic) else w


@pytest.mark.parametrize("weak", list(WEAK))
@pytest.mark.parametrize("first", [True, False], ids=["tensor-first", "weak-first"])
@pytest.mark.parametrize("name", list(BINARY))
def test_float32_stays_float32(name, first, weak):
    fn = BINARY[name]
    x = np.random.default_rng(0).uniform(0.5, 1.5, (3, 4)).astype(np.float32)
    t, w = mg.tensor(x, requires_grad=True), WEAK[weak]()
    y = fn(t, w) if first else fn(w, t)
    assert y.dtype == np.float32, f"{name}: {y.dtype}"
    t64 = mg.tensor(x.astype(np.float64), requires_grad=True)
    w64 = as64(w)
    y64 = fn(t64, w64) if first else fn(w64, t64)
    np.testing.assert_allclose(y.data, y64.data, rtol=1e-5)
    y.sum().backward()
    y64.sum().backward()
    assert t.grad.dtype == np.float32
    np.testing.assert_allclose(t.grad, t64.grad, rtol=1e-4, atol=1e-6)
    if isinstance(w, mg.Tensor):
        assert w.grad.dtype == w.dtype and w.grad.shape == ()
        np.testing.assert_allclose(w.grad, w64.grad, rtol=1e-3 if w.dtype == np.float16 else 1e-4)


def test_standing_decides_and_equal_standing_is_numpy_promotion():
    s32 = mg.tensor(np.float32(2.0))
    assert (s32 * np.float64(3.0)).dtype == np.float32          # a 0-d tensor outranks a NumPy scalar
    assert (s32 * mg.tensor(3.0)).dtype == np.float64           # two 0-d tensors: promotion, as PyTorch
    assert (mg.tensor(np.ones(3, np.float32)) * mg.tensor(np.ones(3))).dtype == np.float64  # two arrays
    assert (mg.tensor(np.ones(3, np.float16)) * mg.tensor(3.0)).dtype == np.float16
    ints = mg.Tensor(np.arange(3))                              # an integer array does not take a float's dtype
    assert (ints * np.float32(2.0)).dtype == np.result_type(np.arange(3), np.float32(2.0))


def test_clip_with_numpy_scalar_bounds_stays_float32():
    t = mg.tensor(np.linspace(-2, 2, 5, dtype=np.float32), requires_grad=True)
    y = mg.clip(t, np.float64(-1.0), np.float64(1.0))
    assert y.dtype == np.float32
    y.sum().backward()
    assert t.grad.dtype == np.float32
    np.testing.assert_array_equal(t.grad, [0, 0, 1, 0, 0])


# The products: NumPy's own dot, inner, tensordot and einsum do not treat scalars as weak (np.dot(float32
# array, 2.0) is float64), and outer/kron reshape their operands; minigrad keeps the rule for them too.
PRODUCTS = {
    "dot": (mg.dot, mg.dot),
    "inner": (mg.inner, mg.inner),
    "tensordot": (lambda a, b: mg.tensordot(a, b, 0), lambda a, b: mg.tensordot(a, b, 0)),
    "einsum": (lambda t, w: mg.einsum("ij,->ij", t, w), lambda w, t: mg.einsum(",ij->ij", w, t)),
    "outer": (mg.outer, mg.outer),
    "kron": (mg.kron, mg.kron),
}


@pytest.mark.parametrize("weak", list(WEAK))
@pytest.mark.parametrize("first", [True, False], ids=["tensor-first", "weak-first"])
@pytest.mark.parametrize("name", list(PRODUCTS))
def test_products_keep_float32_with_a_weak_operand(name, first, weak):
    tensor_first, weak_first = PRODUCTS[name]
    x = np.random.default_rng(1).uniform(0.5, 1.5, (3, 4)).astype(np.float32)
    t, w = mg.tensor(x, requires_grad=True), WEAK[weak]()
    y = tensor_first(t, w) if first else weak_first(w, t)
    assert y.dtype == np.float32, f"{name}: {y.dtype}"
    t64, w64 = mg.tensor(x.astype(np.float64), requires_grad=True), as64(w)
    y64 = tensor_first(t64, w64) if first else weak_first(w64, t64)
    assert y.shape == y64.shape
    np.testing.assert_allclose(y.data, y64.data, rtol=1e-6)
    y.sum().backward()
    y64.sum().backward()
    assert t.grad.dtype == np.float32
    np.testing.assert_allclose(t.grad, t64.grad, rtol=1e-6)
    if isinstance(w, mg.Tensor):
        assert w.grad.dtype == w.dtype and w.grad.shape == ()
        np.testing.assert_allclose(w.grad, w64.grad, rtol=1e-3 if w.dtype == np.float16 else 1e-5)


def test_products_of_equal_standing_follow_numpy():
    """Two arrays with axes: NumPy's promotion (float32 with float64 is float64), as for the binary ops."""
    a, b = np.ones((2, 3), np.float32), np.ones((3, 2))
    cases = {"dot": (b, ()), "inner": (b.T, ()), "tensordot": (b, (1,)), "outer": (b, ()), "kron": (b, ())}
    for name, (other, extra) in cases.items():
        got = getattr(mg, name)(mg.tensor(a), mg.tensor(other), *extra)
        expected = getattr(np, name)(a, other, *extra)
        assert got.dtype == expected.dtype == np.float64 and got.shape == expected.shape, name
    assert mg.einsum("ij,jk->ik", mg.tensor(a), mg.tensor(b)).dtype == np.float64
