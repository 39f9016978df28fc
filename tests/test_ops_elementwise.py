"""Elementwise ops (minigrad/ops/elementwise.py): the bugs of issue 13 and the ops it adds.

Gradients are checked with `mg.gradcheck` at its defaults (float64 central differences, eps=1e-6,
atol=1e-5, rtol=1e-4); forward values against NumPy exactly where minigrad calls the same NumPy function.
Inputs stay away from the points where an op is not differentiable. Every draw comes from
numpy.random.default_rng(seed).
"""

import numpy as np
import pytest
import scipy.special

import minigrad as mg
from minigrad import ops


def leaf(x):
    return mg.tensor(x, requires_grad=True)


def sum_to(g, shape):
    """Reference reduction of a broadcast gradient to `shape` (independent of the engine's unbroadcast)."""
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape))))
    return np.sum(g, axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True).reshape(shape)


# ----------------------------------------------------------------------------------------------
# pow at 0 (PyTorch's and autograd's conventions)

@pytest.mark.parametrize("p", [0.0, 0], ids=["0.0", "int 0"])
def test_pow_zero_exponent_at_zero_base_has_zero_gradient(p):
    x = leaf(0.0)
    y = x ** p
    assert y.item() == 1.0
    y.backward()
    assert x.grad == 0.0                              # was nan: 0 · 0⁻¹


def test_pow_exponent_gradient_at_zero_base():
    # d/db 0ᵇ: 0 where b ≥ 0 (PyTorch; b = 0 gave −inf before), −inf·inf = −inf where b < 0 (PyTorch too)
    b = leaf([0.0, 0.5, 2.0, -1.0])
    with np.errstate(divide="ignore"):                # 0⁻¹ = inf in the forward, as NumPy says
        y = mg.tensor([0.0, 0.0, 0.0, 0.0]) ** b
    np.testing.assert_array_equal(y.data, [1.0, 0.0, 0.0, np.inf])
    y.sum().backward()
    np.testing.assert_array_equal(b.grad, [0.0, 0.0, 0.0, -np.inf])


def test_pow_both_gradients_at_zero_zero():
    a, b = leaf(0.0), leaf(0.0)
    (a ** b).backward()
    assert a.grad == 0.0 and b.grad == 0.0


def test_pow_away_from_zero_is_unchanged():
    a, b = np.array([0.5, 2.0, 3.0]), np.array([0.0, -1.5, 2.5])
    ta, tb = leaf(a), leaf(b)
    (ta ** tb).sum().backward()
    np.testing.assert_allclose(ta.grad, b * a ** (b - 1), rtol=1e-14)
    np.testing.assert_allclose(tb.grad, a ** b * np.log(a), rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# clip at its bounds (HIPS autograd and PyTorch ≥ 2.14: zero there)

def test_clip_gradient_is_zero_at_exactly_the_bounds():
    t = leaf([-3.0, -1.0, -0.2, 0.0, 1.0, 5.0])
    t.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 0.0, 1.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize("lo,hi,expected", [(-1.0, None, [0.0, 1.0, 1.0]), (None, 1.0, [1.0, 1.0, 0.0])])
def test_clip_one_sided_at_the_bound(lo, hi, expected):
    t = leaf([-1.0, 0.5, 1.0])
    mg.clip(t, lo, hi).sum().backward()
    np.testing.assert_array_equal(t.grad, expected)


def test_clip_with_equal_bounds_is_a_constant_with_zero_gradient():
    t = leaf([-2.0, 0.5, 0.5, 3.0])
    y = mg.clip(t, 0.5, 0.5)
    np.testing.assert_array_equal(y.data, np.full(4, 0.5))
    y.sum().backward()
    np.testing.assert_array_equal(t.grad, np.zeros(4))


# ----------------------------------------------------------------------------------------------
# BinaryCrossEntropyWithLogits broadcasts both ways

SIG = scipy.special.expit


@pytest.mark.parametrize("sx,st", [((3, 1), (1, 4)), ((), (3,)), ((1, 4), (3, 1)), ((3,), ()), ((2, 1, 3), (4, 1))],
                         ids=str)
def test_bce_with_logits_broadcasts_either_way(sx, st):
    rng = np.random.default_rng(0)
    x, t = 3 * rng.standard_normal(sx), rng.uniform(0, 1, st)
    y = ops.BinaryCrossEntropyWithLogits.apply(mg.tensor(x), mg.tensor(t))
    textbook = -(t * np.log(SIG(x)) + (1 - t) * np.log(1 - SIG(x)))
    assert y.shape == textbook.shape
    np.testing.assert_allclose(y.data, textbook, rtol=1e-12)
    assert mg.gradcheck(lambda x, t: ops.BinaryCrossEntropyWithLogits.apply(x, t), [leaf(x), leaf(t)])
    tx = leaf(x)
    ops.BinaryCrossEntropyWithLogits.apply(tx, mg.tensor(t)).sum().backward()
    expected = sum_to(np.broadcast_to(SIG(x) - t, textbook.shape), sx)
    np.testing.assert_allclose(tx.grad, expected, rtol=1e-12, atol=1e-15)


def test_bce_functional_still_requires_equal_shapes():
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits.*must match"):
        mg.functional.binary_cross_entropy_with_logits(mg.tensor(np.zeros((3, 1))), mg.tensor(np.zeros((1, 4))))


# ----------------------------------------------------------------------------------------------
# The unary ops issue 13 adds

SHAPES = [(), (1,), (5,), (3, 1), (0,), (2, 0, 3), (2, 3, 4)]     # 0-d, size-1 and size-0 axes included


def draw(shape, lo, hi, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def off_integers(shape, seed=0):
    """Values in (−3, 3) at least 0.05 from every integer and half-integer (the jumps of floor, ceil, round)."""
    return np.floor(draw(shape, -6, 6, seed)) / 2 + draw(shape, 0.05, 0.45, seed + 1)


UNARY = {
    # name: (minigrad function, NumPy reference, input maker)
    "square": (mg.square, np.square, lambda s, k: draw(s, -2, 2, k)),
    "reciprocal": (mg.reciprocal, np.reciprocal, lambda s, k: draw(s, 0.3, 2, k) * np.sign(draw(s, -1, 1, k + 7))),
    "exp2": (mg.exp2, np.exp2, lambda s, k: draw(s, -3, 3, k)),
    "log2": (mg.log2, np.log2, lambda s, k: draw(s, 0.2, 5, k)),
    "log10": (mg.log10, np.log10, lambda s, k: draw(s, 0.2, 5, k)),
    "tan": (mg.tan, np.tan, lambda s, k: draw(s, -1.3, 1.3, k)),
    "sinh": (mg.sinh, np.sinh, lambda s, k: draw(s, -3, 3, k)),
    "cosh": (mg.cosh, np.cosh, lambda s, k: draw(s, -3, 3, k)),
    "arcsin": (mg.arcsin, np.arcsin, lambda s, k: draw(s, -0.9, 0.9, k)),
    "arccos": (mg.arccos, np.arccos, lambda s, k: draw(s, -0.9, 0.9, k)),
    "arcsinh": (mg.arcsinh, np.arcsinh, lambda s, k: draw(s, -3, 3, k)),
    "arccosh": (mg.arccosh, np.arccosh, lambda s, k: draw(s, 1.1, 4, k)),
    "arctanh": (mg.arctanh, np.arctanh, lambda s, k: draw(s, -0.9, 0.9, k)),
    "sinc": (mg.sinc, np.sinc, lambda s, k: draw(s, -2.5, 2.5, k)),
    "deg2rad": (mg.deg2rad, np.deg2rad, lambda s, k: draw(s, -360, 360, k)),
    "rad2deg": (mg.rad2deg, np.rad2deg, lambda s, k: draw(s, -7, 7, k)),
    "nan_to_num": (mg.nan_to_num, np.nan_to_num, lambda s, k: draw(s, -3, 3, k)),
    "sign": (mg.sign, np.sign, lambda s, k: draw(s, 0.1, 2, k) * np.sign(draw(s, -1, 1, k + 7))),
    "floor": (mg.floor, np.floor, off_integers),
    "ceil": (mg.ceil, np.ceil, off_integers),
    "round": (mg.round, np.round, off_integers),
    "round 1 decimal": (lambda x: mg.round(x, 1), lambda x: np.round(x, 1), lambda s, k: off_integers(s, k) / 10),
}
ZERO_GRADIENT = {"sign", "floor", "ceil", "round", "round 1 decimal"}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_forward_is_numpy_and_gradient_is_finite_differences(name, shape):
    fn, ref, make = UNARY[name]
    x = make(shape, 0)
    y = fn(mg.tensor(x))
    assert y.shape == np.shape(ref(x)) and y.dtype == np.float64
    np.testing.assert_array_equal(y.data, ref(x))
    t = leaf(make(shape, 1))
    assert mg.gradcheck(fn, [t])
    fn(t).sum().backward()
    assert t.grad.shape == shape
    if name in ZERO_GRADIENT:
        np.testing.assert_array_equal(t.grad, np.zeros(shape))


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_float32_stays_float32_forward_and_backward(name):
    fn, ref, make = UNARY[name]
    x = make((3, 4), 2).astype(np.float32)
    t = mg.tensor(x, requires_grad=True)
    y = fn(t)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, ref(x.astype(np.float64)), rtol=2e-6, atol=1e-6)
    grad = type(y.grad_fn).backward(y.grad_fn, np.ones(y.shape, np.float32))   # the op's own VJP, uncast
    assert grad.dtype == np.float32, f"{name}: backward gave {grad.dtype}"


UNARY_TEXTBOOK = {
    # name: the derivative, written independently of the op
    "square": lambda x: 2 * x, "reciprocal": lambda x: -1 / x ** 2, "exp2": lambda x: np.log(2) * 2 ** x,
    "log2": lambda x: 1 / (x * np.log(2)), "log10": lambda x: 1 / (x * np.log(10)),
    "tan": lambda x: 1 / np.cos(x) ** 2, "sinh": np.cosh, "cosh": np.sinh,
    "arcsin": lambda x: 1 / np.sqrt(1 - x ** 2), "arccos": lambda x: -1 / np.sqrt(1 - x ** 2),
    "arcsinh": lambda x: 1 / np.sqrt(1 + x ** 2), "arccosh": lambda x: 1 / np.sqrt(x ** 2 - 1),
    "arctanh": lambda x: 1 / (1 - x ** 2),
    "sinc": lambda x: (np.pi * x * np.cos(np.pi * x) - np.sin(np.pi * x)) / (np.pi * x ** 2),
    "deg2rad": lambda x: np.full_like(x, np.pi / 180), "rad2deg": lambda x: np.full_like(x, 180 / np.pi),
}


@pytest.mark.parametrize("name", list(UNARY_TEXTBOOK))
def test_unary_gradients_have_the_textbook_values(name):
    fn, _, make = UNARY[name]
    x = make((20,), 3)
    t = leaf(x)
    fn(t).sum().backward()
    np.testing.assert_allclose(t.grad, UNARY_TEXTBOOK[name](x), rtol=1e-12, atol=1e-14)


def test_sinc_slope_at_zero_is_zero():
    t = leaf([0.0, 1e-3])
    mg.sinc(t).sum().backward()
    assert t.grad[0] == 0.0
    np.testing.assert_allclose(t.grad[1], -np.pi ** 2 * 1e-3 / 3, rtol=1e-5)    # sinc′(x) ≈ −π²x/3 near 0


def test_nan_to_num_replaced_elements_get_no_gradient():
    x = np.array([1.5, np.nan, np.inf, -np.inf, -2.0])
    t = leaf(x)
    y = mg.nan_to_num(t, nan=7.0, posinf=9.0)
    np.testing.assert_array_equal(y.data, np.nan_to_num(x, nan=7.0, posinf=9.0))
    y.backward(np.arange(1.0, 6.0))
    np.testing.assert_array_equal(t.grad, [1.0, 0.0, 0.0, 0.0, 5.0])


def test_round_method_and_decimals():
    x = np.array([1.25, -2.5, 0.5, 3.14159])
    np.testing.assert_array_equal(mg.tensor(x).round().data, np.round(x))
    np.testing.assert_array_equal(mg.tensor(x).round(2).data, np.round(x, 2))
    np.testing.assert_array_equal(np.round(mg.tensor(x), 3).data, np.round(x, 3))     # __array_function__


# ----------------------------------------------------------------------------------------------
# The binary ops issue 13 adds (broadcasting and the property tests: tests/test_ops.py's BINARY table)

def test_remainder_and_fmod_follow_numpy_signs_and_their_gradients():
    a = np.array([5.5, -5.5, 5.5, -5.5, 7.0])
    b = np.array([2.0, 2.0, -2.0, -2.0, 2.5])
    for fn, ref in ((mg.remainder, np.remainder), (mg.mod, np.mod), (lambda a, b: a % b, np.remainder),
                    (mg.fmod, np.fmod)):
        ta, tb = leaf(a), leaf(b)
        y = fn(ta, tb)
        np.testing.assert_array_equal(y.data, ref(a, b))
        y.sum().backward()
        np.testing.assert_array_equal(ta.grad, np.ones(5))
        np.testing.assert_array_equal(tb.grad, -(a - ref(a, b)) / b)      # −⌊a/b⌋ or −trunc(a/b)
        assert mg.gradcheck(fn, [leaf(a), leaf(b)])
    np.testing.assert_array_equal((7.5 % mg.tensor(b)).data, 7.5 % b)


@pytest.mark.parametrize("fn,ref", [(mg.logaddexp, np.logaddexp), (mg.logaddexp2, np.logaddexp2)])
def test_logaddexp_is_finite_and_exact_far_out(fn, ref):
    a = np.array([1e4, -1e4, 1e4, -1e4, 0.0, 1e4])
    b = np.array([1e4, -1e4, -1e4, 1e4, -1e4, 1e4 - 1])
    ta, tb = leaf(a), leaf(b)
    y = fn(ta, tb)
    assert np.isfinite(y.data).all()
    np.testing.assert_array_equal(y.data, ref(a, b))
    y.sum().backward()
    assert np.isfinite(ta.grad).all() and np.isfinite(tb.grad).all()
    # the weights sum to 1; a − y carries y's rounding (ulp(1e4) ≈ 2e-12), hence rtol 1e-11
    np.testing.assert_allclose(ta.grad + tb.grad, np.ones(6), rtol=1e-11)
    np.testing.assert_allclose(ta.grad[:4], [0.5, 0.5, 1.0, 0.0], rtol=1e-11)
    base = np.e if fn is mg.logaddexp else 2.0
    np.testing.assert_allclose(ta.grad[5], base / (base + 1), rtol=1e-11)


def test_fmax_fmin_ignore_nan_and_send_the_gradient_to_the_number():
    a, b = np.array([1.0, np.nan, 3.0, np.nan, 2.0]), np.array([2.0, 5.0, np.nan, np.nan, 2.0])
    for fn, ref, wa in ((mg.fmax, np.fmax, [0, 0, 1, 1, 0.5]), (mg.fmin, np.fmin, [1, 0, 1, 1, 0.5])):
        ta, tb = leaf(a), leaf(b)
        y = fn(ta, tb)
        np.testing.assert_array_equal(y.data, ref(a, b))
        y.backward(np.ones(5))
        np.testing.assert_array_equal(ta.grad, wa)
        np.testing.assert_array_equal(tb.grad, 1 - np.array(wa))


def test_arctan2_and_hypot_textbook_gradients():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(20), rng.standard_normal(20)
    ta, tb = leaf(a), leaf(b)
    mg.arctan2(ta, tb).sum().backward()
    np.testing.assert_allclose(ta.grad, b / (a ** 2 + b ** 2), rtol=1e-13)
    np.testing.assert_allclose(tb.grad, -a / (a ** 2 + b ** 2), rtol=1e-13)
    ta, tb = leaf(a), leaf(b)
    mg.hypot(ta, tb).sum().backward()
    np.testing.assert_allclose(ta.grad, a / np.sqrt(a ** 2 + b ** 2), rtol=1e-13)
    np.testing.assert_allclose(tb.grad, b / np.sqrt(a ** 2 + b ** 2), rtol=1e-13)
    big = mg.hypot(mg.tensor(3e200), mg.tensor(4e200))            # no overflow in a² + b²
    np.testing.assert_allclose(big.item(), 5e200, rtol=1e-15)
