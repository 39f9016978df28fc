"""Every op: forward against NumPy's own result, gradient against central finite differences.

Tolerances. Gradients are checked with `mg.gradcheck` at its defaults (float64, eps=1e-6,
atol=1e-5, rtol=1e-4: an element passes when |analytic − numerical| ≤ 1e-5 + 1e-4·|numerical|).
Forward values are compared with NumPy exactly (`assert_array_equal`) where minigrad calls the same
NumPy function, and with rtol=1e-12 where the reference is a different formula of the same value.

Inputs are kept away from the points where an op is not differentiable (0 for abs/relu/leaky_relu,
the bounds for clip, ties for maximum/minimum/max/min), since finite differences are meaningless there.
Every random draw is seeded with numpy.random.default_rng(seed).
"""

import operator

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import ops

SHAPES = [(), (5,), (3, 4), (2, 3, 4)]


def values(shape, kind="any", seed=0):
    """float64 data of `shape` drawn from a domain where the op under test is smooth."""
    rng = np.random.default_rng(seed)
    if kind == "any":
        x = rng.standard_normal(shape)
    elif kind == "positive":                     # log, sqrt, pow's base
        x = rng.uniform(0.5, 2.0, shape)
    elif kind == "gt-1":                         # log1p
        x = rng.uniform(-0.5, 2.0, shape)
    elif kind == "nonzero":                      # abs, relu, leaky_relu, a divisor
        x = rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == "low":                          # maximum/minimum: "low" and "high" values never tie:
        x = rng.integers(-3, 3, shape) + 0.25 + rng.uniform(-0.1, 0.1, shape)   # their fractional parts
    elif kind == "high":                         # differ by at least 0.3
        x = rng.integers(-3, 3, shape) + 0.75 + rng.uniform(-0.1, 0.1, shape)
    elif kind == "distinct":                     # max/min reductions: all values at least 0.27 apart
        x = rng.permutation(int(np.prod(shape, dtype=int))).reshape(shape) * 0.37 + rng.uniform(0, 0.1, shape)
    else:
        raise AssertionError(kind)
    return np.asarray(x, dtype=np.float64)


def leaf(x):
    return mg.tensor(x, requires_grad=True)


def sum_to(g, shape):
    """Reference reduction of a broadcast gradient to `shape` (independent of the engine's unbroadcast)."""
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape))))
    return np.sum(g, axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True).reshape(shape)


def check(fn, *arrays):
    """gradcheck fn at float64 copies of `arrays` (all requiring grad); return the tensors."""
    tensors = [leaf(a) for a in arrays]
    assert mg.gradcheck(fn, tensors) is True
    return tensors


# ----------------------------------------------------------------------------------------------
# Unary elementwise ops

SIG = scipy.special.expit
UNARY = {
    # name: (minigrad function, NumPy reference, domain, exact forward?)
    "neg": (mg.neg, np.negative, "any", True),
    "exp": (mg.exp, np.exp, "any", True),
    "log": (mg.log, np.log, "positive", True),
    "log1p": (mg.log1p, np.log1p, "gt-1", True),
    "sqrt": (mg.sqrt, np.sqrt, "positive", True),
    "abs": (mg.abs, np.abs, "nonzero", True),
    "tanh": (mg.tanh, np.tanh, "any", True),
    "sin": (mg.sin, np.sin, "any", True),
    "cos": (mg.cos, np.cos, "any", True),
    "sigmoid": (mg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "any", False),
    "relu": (mg.relu, lambda x: np.maximum(x, 0), "nonzero", True),
    "leaky_relu": (mg.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), "nonzero", True),
    "leaky_relu_0.2": (lambda x: mg.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), "nonzero", True),
    "softplus": (mg.softplus, lambda x: np.log1p(np.exp(x)), "any", False),
    "log_sigmoid": (mg.log_sigmoid, lambda x: -np.log1p(np.exp(-x)), "any", False),
    "clip": (lambda x: mg.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), "any", True),
    "clip_min_only": (lambda x: mg.clip(x, min=-0.5), lambda x: np.maximum(x, -0.5), "any", True),
    "clip_max_only": (lambda x: mg.clip(x, max=0.7), lambda x: np.minimum(x, 0.7), "any", True),
}


def unary_input(name, shape, seed=0):
    x = values(shape, UNARY[name][2], seed)
    if name.startswith("clip"):                  # keep 0.05 away from the bounds -0.5 and 0.7
        x = np.where(np.abs(x + 0.5) < 0.05, x + 0.1, x)
        x = np.where(np.abs(x - 0.7) < 0.05, x + 0.1, x)
    return x


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_forward_matches_numpy(name, shape):
    fn, ref, _, exact = UNARY[name]
    x = unary_input(name, shape)
    y = fn(mg.tensor(x))
    assert isinstance(y, mg.Tensor) and y.shape == np.shape(ref(x)) and y.dtype == np.float64
    if exact:
        np.testing.assert_array_equal(y.data, ref(x))
    else:
        np.testing.assert_allclose(y.data, ref(x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradcheck(name, shape):
    check(UNARY[name][0], unary_input(name, shape, seed=1))


def test_unary_gradients_have_the_textbook_values():
    x = np.array([-2.0, -0.5, 0.3, 1.5])
    cases = {
        "exp": np.exp(x), "tanh": 1 - np.tanh(x) ** 2, "sigmoid": SIG(x) * (1 - SIG(x)),
        "relu": (x > 0) * 1.0, "leaky_relu": np.where(x > 0, 1.0, 0.01), "softplus": SIG(x),
        "log_sigmoid": SIG(-x), "abs": np.sign(x), "neg": -np.ones(4),
        "clip": ((x > -0.5) & (x < 0.7)) * 1.0, "sin": np.cos(x), "cos": -np.sin(x),
    }
    for name, expected in cases.items():
        t = leaf(x)
        UNARY[name][0](t).sum().backward()
        np.testing.assert_allclose(t.grad, expected, rtol=1e-12, atol=1e-15, err_msg=name)


METHODS = ["exp", "log", "log1p", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "leaky_relu", "softplus",
           "log_sigmoid"]


@pytest.mark.parametrize("name", METHODS)
def test_tensor_methods_are_the_ops(name):
    """The method's value against the op's NumPy reference (exact where minigrad calls the same NumPy
    function, rtol 1e-12 otherwise), and its gradient against finite differences."""
    _, ref, domain, exact = UNARY[name]
    x = values((3, 4), domain, seed=2)
    t = leaf(x)
    if exact:
        np.testing.assert_array_equal(getattr(t, name)().data, ref(x))
    else:
        np.testing.assert_allclose(getattr(t, name)().data, ref(x), rtol=1e-12, atol=1e-15)
    assert mg.gradcheck(lambda t: getattr(t, name)(), [t])


def test_neg_operator_abs_builtin_and_clip_method():
    x = values((3, 4), "nonzero", seed=3)
    np.testing.assert_array_equal((-mg.tensor(x)).data, -x)
    np.testing.assert_array_equal(abs(mg.tensor(x)).data, np.abs(x))
    np.testing.assert_array_equal(mg.tensor(x).clip(-0.5, 0.7).data, np.clip(x, -0.5, 0.7))
    assert mg.gradcheck(lambda t: -t, [leaf(x)])
    assert mg.gradcheck(lambda t: abs(t), [leaf(x)])
    assert mg.gradcheck(lambda t: t.leaky_relu(0.3), [leaf(x)])
    assert mg.gradcheck(lambda t: t.clip(-0.5, 0.7), [leaf(unary_input("clip", (3, 4), 3))])


def test_clip_passes_no_gradient_outside_the_bounds():
    t = leaf([-3.0, -0.2, 0.0, 0.4, 5.0])
    t.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


# ----------------------------------------------------------------------------------------------
# Binary elementwise ops, broadcasting

BINARY = {
    # name: (function, operator form, NumPy reference, domain of a, domain of b)
    "add": (mg.add, operator.add, np.add, "any", "any"),
    "sub": (mg.sub, operator.sub, np.subtract, "any", "any"),
    "mul": (mg.mul, operator.mul, np.multiply, "any", "any"),
    "div": (mg.div, operator.truediv, np.divide, "any", "nonzero"),
    "pow": (mg.pow, operator.pow, np.power, "positive", "any"),
    "maximum": (mg.maximum, lambda a, b: a.maximum(b), np.maximum, "low", "high"),
    "minimum": (mg.minimum, lambda a, b: a.minimum(b), np.minimum, "low", "high"),
    "remainder": (mg.remainder, operator.mod, np.remainder, "low", "nonzero"),
    "fmod": (mg.fmod, mg.fmod, np.fmod, "low", "nonzero"),
    "arctan2": (mg.arctan2, mg.arctan2, np.arctan2, "nonzero", "nonzero"),
    "hypot": (mg.hypot, mg.hypot, np.hypot, "nonzero", "nonzero"),
    "logaddexp": (mg.logaddexp, mg.logaddexp, np.logaddexp, "any", "any"),
    "logaddexp2": (mg.logaddexp2, mg.logaddexp2, np.logaddexp2, "any", "any"),
    "fmax": (mg.fmax, mg.fmax, np.fmax, "low", "high"),
    "fmin": (mg.fmin, mg.fmin, np.fmin, "low", "high"),
    "beta": (mg.beta, mg.beta, scipy.special.beta, "positive", "positive"),
    "betaln": (mg.betaln, mg.betaln, scipy.special.betaln, "positive", "positive"),
    "xlogy": (mg.xlogy, mg.xlogy, scipy.special.xlogy, "any", "positive"),
    "xlog1py": (mg.xlog1py, mg.xlog1py, scipy.special.xlog1py, "any", "gt-1"),
}

BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((), (3, 4)),                # scalar × matrix
    ((3, 4), ()),
    ((2, 3, 4), (4,)),
    ((4,), (2, 3, 4)),
    ((5, 1, 3), (4, 1)),
    ((1,), (2, 1)),
]


def binary_inputs(name, sa, sb, seed=0):
    _, _, _, ka, kb = BINARY[name]
    a, b = values(sa, ka, seed), values(sb, kb, seed + 1000)
    if seed % 2 and name in ("maximum", "minimum", "fmax", "fmin"):
        a, b = b, a                  # either argument may be the larger one
    if name in ("remainder", "fmod"):    # |b| in [1.002, 1.02] keeps a/b ≥ 0.1 from every integer (the jumps)
        b = np.sign(b) * (1 + 0.01 * np.abs(b))
    return a, b


@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_forward_matches_numpy(name, sa, sb):
    fn, op, ref, _, _ = BINARY[name]
    a, b = binary_inputs(name, sa, sb)
    expected = ref(a, b)
    for form in (fn, op):
        y = form(mg.tensor(a), mg.tensor(b))
        assert y.shape == expected.shape
        np.testing.assert_array_equal(y.data, expected)


@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradcheck_broadcasting(name, sa, sb):
    fn, op, _, _, _ = BINARY[name]
    for seed in (0, 1):
        a, b = binary_inputs(name, sa, sb, seed)
        ta, tb = check(fn, a, b)
        check(op, a, b)
        assert ta.grad is None and tb.grad is None      # gradcheck leaves the inputs' .grad alone


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradient_only_for_the_input_that_requires_it(name):
    fn = BINARY[name][0]
    a, b = binary_inputs(name, (3, 1), (1, 4))
    for i in (0, 1):
        ta, tb = mg.tensor(a, requires_grad=(i == 0)), mg.tensor(b, requires_grad=(i == 1))
        assert mg.gradcheck(fn, [ta, tb])
        fn(ta, tb).sum().backward()
        wanted, other = (ta, tb) if i == 0 else (tb, ta)
        assert wanted.grad is not None and wanted.grad.shape == wanted.shape
        assert other.grad is None


def test_broadcast_gradient_is_the_sum_over_broadcast_axes():
    a, b = leaf(np.ones((3, 1))), leaf(np.ones((1, 4)))
    (a * b).sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((3, 1), 4.0))
    np.testing.assert_array_equal(b.grad, np.full((1, 4), 3.0))
    c, d = leaf(np.ones((2, 3, 4))), leaf(np.arange(4.0))
    (c * d).sum().backward()
    np.testing.assert_array_equal(d.grad, np.full(4, 6.0))
    np.testing.assert_array_equal(c.grad, np.broadcast_to(np.arange(4.0), (2, 3, 4)))


def test_maximum_minimum_split_ties_evenly():
    a, b = leaf([1.0, 2.0, 3.0]), leaf([2.0, 2.0, 1.0])
    mg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(b.grad, [1.0, 0.5, 0.0])
    a.grad = b.grad = None
    mg.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(b.grad, [0.0, 0.5, 1.0])


# -- pow: scalar exponents and tensor exponents

@pytest.mark.parametrize("p", [0, 1, 2, 3, -1, 0.5, -1.5, 2.5])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3)], ids=str)
def test_pow_scalar_exponent(p, shape):
    x = values(shape, "positive" if p != int(p) or p < 0 else "any", seed=4)
    np.testing.assert_array_equal((mg.tensor(x) ** p).data, x ** p)
    check(lambda t: t ** p, x)
    check(lambda t: mg.pow(t, p), x)
    check(lambda t: t.pow(p), x)


def test_pow_integer_exponent_of_negative_bases():
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    t = leaf(x)
    (t ** 3).sum().backward()
    np.testing.assert_allclose(t.grad, 3 * x ** 2, rtol=1e-14)


@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((3, 4), ()), ((), (3, 4)), ((2, 1), (1, 3))], ids=str)
def test_pow_tensor_exponent(sa, sb):
    a, b = values(sa, "positive", 5), values(sb, "any", 6)
    np.testing.assert_array_equal((mg.tensor(a) ** mg.tensor(b)).data, a ** b)
    ta, tb = check(lambda a, b: a ** b, a, b)
    # the exponent's gradient by hand: d(a^b)/db = a^b log a
    ta, tb = leaf(a), leaf(b)
    (ta ** tb).sum().backward()
    full = np.broadcast_shapes(sa, sb)
    np.testing.assert_allclose(tb.grad, sum_to(np.broadcast_to(a ** b * np.log(a), full), sb), rtol=1e-12)
    np.testing.assert_allclose(ta.grad, sum_to(np.broadcast_to(b * a ** (b - 1), full), sa), rtol=1e-12)


def test_pow_exponent_gradient_is_zero_where_the_power_is_zero():
    base, p = mg.tensor([0.0, 2.0]), leaf(2.0)
    (base ** p).sum().backward()                     # d/dp 0^p = 0 (the limit), not nan
    np.testing.assert_allclose(p.grad, 4 * np.log(2.0), rtol=1e-14)


def test_pow_negative_base_with_constant_tensor_exponent_computes_no_log():
    # the exponent needs no gradient, so log(base) (nan for base < 0) is never taken: no RuntimeWarning
    x = leaf([-2.0, -1.5, 3.0])
    (x ** mg.tensor(2.0)).sum().backward()
    np.testing.assert_allclose(x.grad, [-4.0, -3.0, 6.0], rtol=1e-14)


# -- reflected forms with Python numbers and ndarrays

REFLECTED = [
    ("2 + x", lambda x: 2 + x, lambda x: 2 + x, "any"),
    ("2 - x", lambda x: 2 - x, lambda x: 2 - x, "any"),
    ("2 * x", lambda x: 2 * x, lambda x: 2 * x, "any"),
    ("2 / x", lambda x: 2 / x, lambda x: 2 / x, "nonzero"),
    ("2 ** x", lambda x: 2 ** x, lambda x: 2 ** x, "any"),
    ("0.5 ** x", lambda x: 0.5 ** x, lambda x: 0.5 ** x, "any"),
    ("x - 2", lambda x: x - 2, lambda x: x - 2, "any"),
    ("x / 2", lambda x: x / 2, lambda x: x / 2, "any"),
    ("nd + x", lambda x: np.arange(4.0) + x, lambda x: np.arange(4.0) + x, "any"),
    ("nd - x", lambda x: np.arange(4.0) - x, lambda x: np.arange(4.0) - x, "any"),
    ("nd * x", lambda x: np.arange(4.0) * x, lambda x: np.arange(4.0) * x, "any"),
    ("nd / x", lambda x: np.arange(1.0, 5.0) / x, lambda x: np.arange(1.0, 5.0) / x, "nonzero"),
    ("nd ** x", lambda x: np.arange(1.0, 5.0) ** x, lambda x: np.arange(1.0, 5.0) ** x, "any"),
    ("x * nd", lambda x: x * np.arange(4.0), lambda x: x * np.arange(4.0), "any"),
    ("nd @ x", lambda x: np.arange(6.0).reshape(2, 3) @ x.reshape(3, 4),
     lambda x: np.arange(6.0).reshape(2, 3) @ x.reshape(3, 4), "any"),
    ("x @ nd", lambda x: x.reshape(3, 4) @ np.arange(4.0), lambda x: x.reshape(3, 4) @ np.arange(4.0), "any"),
]


@pytest.mark.parametrize("fn,ref,kind", [r[1:] for r in REFLECTED], ids=[r[0] for r in REFLECTED])
def test_reflected_forms(fn, ref, kind):
    x = values((3, 4), kind, seed=7)
    y = fn(mg.tensor(x))
    assert isinstance(y, mg.Tensor), type(y)         # never an ndarray of tensors
    np.testing.assert_array_equal(y.data, ref(x))
    check(fn, x)


# ----------------------------------------------------------------------------------------------
# Hypothesis: random broadcastable shapes for every binary op

HYP = settings(max_examples=40, deadline=None)
SEEDS = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("name", list(BINARY))
@HYP
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3), seed=SEEDS)
def test_property_binary_ops_broadcast_like_numpy(name, shapes, seed):
    fn, op, ref, _, _ = BINARY[name]
    sa, sb = shapes.input_shapes
    a, b = binary_inputs(name, sa, sb, seed % 10_000)
    y = fn(mg.tensor(a), mg.tensor(b))
    assert y.shape == shapes.result_shape
    np.testing.assert_array_equal(y.data, ref(a, b))
    check(fn, a, b)


@HYP
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, max_side=3), seed=SEEDS)
def test_property_where_broadcasts_like_numpy(shapes, seed):
    sc, sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    c = rng.random(sc) < 0.5
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    y = mg.where(c, mg.tensor(a), mg.tensor(b))
    assert y.shape == shapes.result_shape
    np.testing.assert_array_equal(y.data, np.where(c, a, b))
    check(lambda a, b: mg.where(c, a, b), a, b)


# ----------------------------------------------------------------------------------------------
# where

@pytest.mark.parametrize("sc,sa,sb", [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), ()), ((4,), (3, 4), (3, 1)),
                                      ((), (2, 3), (2, 3))], ids=str)
def test_where(sc, sa, sb):
    rng = np.random.default_rng(8)
    c = rng.random(sc) < 0.5
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_array_equal(mg.where(c, mg.tensor(a), mg.tensor(b)).data, np.where(c, a, b))
    np.testing.assert_array_equal(mg.where(mg.tensor(c), mg.tensor(a), mg.tensor(b)).data, np.where(c, a, b))
    check(lambda a, b: mg.where(c, a, b), a, b)
    ta, tb = leaf(a), leaf(b)
    mg.where(c, ta, tb).sum().backward()
    full = np.broadcast_shapes(sc, sa, sb)
    cb = np.broadcast_to(c, full)
    np.testing.assert_array_equal(ta.grad, sum_to(cb * 1.0, np.shape(a)))
    np.testing.assert_array_equal(tb.grad, sum_to(~cb * 1.0, np.shape(b)))


def test_where_with_python_scalars_and_a_condition_from_a_comparison():
    x = values((3, 4), "nonzero", seed=9)
    t = leaf(x)
    y = mg.where(t > 0, t, 0.0)                      # relu by hand
    np.testing.assert_array_equal(y.data, np.maximum(x, 0))
    y.sum().backward()
    np.testing.assert_array_equal(t.grad, (x > 0) * 1.0)


def test_where_condition_never_gets_a_gradient():
    c = mg.tensor([1.0, 0.0, 1.0], requires_grad=True)  # even a float condition that asks for one
    a, b = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    y = ops.Where.apply(c, a, b)
    np.testing.assert_array_equal(y.data, [1.0, 5.0, 3.0])
    y.sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad, [0.0, 1.0, 0.0])


# ----------------------------------------------------------------------------------------------
# matmul

MATMUL_SHAPES = [
    ((4,), (4,)),                # 1-D · 1-D → scalar
    ((3, 4), (4,)),              # 2-D · 1-D
    ((4,), (4, 5)),              # 1-D · 2-D
    ((3, 4), (4, 5)),            # 2-D · 2-D
    ((2, 3, 4), (4, 5)),         # batched · matrix
    ((3, 4), (2, 4, 5)),         # matrix · batched
    ((2, 3, 4), (2, 4, 5)),
    ((5, 1, 3, 4), (2, 4, 6)),   # broadcasting batch dims
    ((2, 3, 4), (4,)),           # batched · vector
    ((4,), (2, 4, 5)),           # vector · batched
    ((1, 3, 4), (2, 1, 4, 2)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul(sa, sb):
    a, b = values(sa, "any", 10), values(sb, "any", 11)
    expected = np.matmul(a, b)
    for form in (mg.matmul, operator.matmul, lambda a, b: a.matmul(b)):
        y = form(mg.tensor(a), mg.tensor(b))
        assert y.shape == expected.shape
        np.testing.assert_array_equal(y.data, expected)
    check(operator.matmul, a, b)
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b)      # one side constant
    assert mg.gradcheck(operator.matmul, [ta, tb])
    ta, tb = mg.tensor(a), mg.tensor(b, requires_grad=True)
    assert mg.gradcheck(operator.matmul, [ta, tb])


def test_matmul_gradients_by_hand():
    a, b = values((3, 4), "any", 12), values((4, 5), "any", 13)
    g = values((3, 5), "any", 14)
    ta, tb = leaf(a), leaf(b)
    (ta @ tb).backward(g)
    np.testing.assert_allclose(ta.grad, g @ b.T, rtol=1e-13)
    np.testing.assert_allclose(tb.grad, a.T @ g, rtol=1e-13)
    u, v = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    (u @ v).backward()
    np.testing.assert_array_equal(u.grad, [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(v.grad, [1.0, 2.0, 3.0])


def test_empty_tensors_flow_through_matmul_and_reductions():
    x, w = leaf(np.zeros((0, 3))), leaf(values((3, 4), "any", 39))
    y = (x @ w).tanh().sum(axis=0)
    np.testing.assert_array_equal(y.data, np.zeros(4))
    y.sum().backward()
    assert x.grad.shape == (0, 3)
    np.testing.assert_array_equal(w.grad, np.zeros((3, 4)))


# ----------------------------------------------------------------------------------------------
# Reductions

AXES = [None, 0, 1, 2, -1, -2, (0, 2), (-1, 0), (0, 1, 2)]
REDUCTIONS = {
    "sum": (mg.sum, np.sum),
    "mean": (mg.mean, np.mean),
    "max": (mg.max, np.max),
    "min": (mg.min, np.min),
    "logsumexp": (mg.logsumexp, scipy.special.logsumexp),
}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction(name, axis, keepdims):
    fn, ref = REDUCTIONS[name]
    x = values((2, 3, 4), "distinct", seed=15) - 4.0
    expected = ref(x, axis=axis, keepdims=keepdims)
    for y in (fn(mg.tensor(x), axis=axis, keepdims=keepdims),
              getattr(mg.tensor(x), name)(axis=axis, keepdims=keepdims)):
        assert y.shape == np.shape(expected)
        if name in ("max", "min"):
            np.testing.assert_array_equal(y.data, expected)
        else:
            np.testing.assert_allclose(y.data, expected, rtol=1e-13)
    check(lambda t: fn(t, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("shape,axis", [((), None), ((5,), None), ((5,), 0), ((5,), -1), ((3, 1), 1)], ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_small_shapes(name, shape, axis):
    fn, ref = REDUCTIONS[name]
    x = values(shape, "distinct", seed=16)
    for keepdims in (False, True):
        y = fn(mg.tensor(x), axis=axis, keepdims=keepdims)
        np.testing.assert_allclose(y.data, ref(x, axis=axis, keepdims=keepdims), rtol=1e-13)
        check(lambda t, keepdims=keepdims: fn(t, axis=axis, keepdims=keepdims), x)


def test_max_min_gradient_goes_to_the_extremum_and_ties_share_it():
    t = leaf([[1.0, 5.0, 5.0], [7.0, 2.0, 3.0]])
    t.max().backward()
    np.testing.assert_array_equal(t.grad, [[0, 0, 0], [1, 0, 0]])
    t.grad = None
    t.max(axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad, [[0, 0.5, 0.5], [1, 0, 0]])
    t.grad = None
    t.min(axis=0).sum().backward()
    np.testing.assert_array_equal(t.grad, [[1, 0, 0], [0, 1, 1]])


def test_mean_gradient_is_one_over_n():
    t = leaf(np.zeros((4, 5)))
    t.mean(axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad, np.full((4, 5), 0.2))


def test_logsumexp_gradient_is_softmax():
    x = values((3, 4), "any", 17)
    t = leaf(x)
    t.logsumexp(axis=1).sum().backward()
    np.testing.assert_allclose(t.grad, scipy.special.softmax(x, axis=1), rtol=1e-13)


# ----------------------------------------------------------------------------------------------
# Shape ops

def test_reshape():
    x = values((2, 3, 4), "any", 18)
    for shape in [(4, 6), (24,), (-1,), (2, -1), (1, 2, 12, 1)]:
        for y in (mg.tensor(x).reshape(shape), mg.tensor(x).reshape(*shape), mg.reshape(mg.tensor(x), shape)):
            np.testing.assert_array_equal(y.data, x.reshape(shape))
        check(lambda t, shape=shape: t.reshape(shape), x)
    check(lambda t: t.reshape(()), values((1, 1), "any", 19))


@pytest.mark.parametrize("axes", [None, (0, 1, 2), (1, 0, 2), (2, 0, 1), (1, 2, 0), (-1, 0, 1), (0, -1, -2)], ids=str)
def test_transpose(axes):
    x = values((2, 3, 4), "any", 20)
    expected = np.transpose(x, axes)
    forms = [mg.transpose(mg.tensor(x), axes), mg.tensor(x).transpose(axes)]
    forms.append(mg.tensor(x).transpose(*axes) if axes is not None else mg.tensor(x).transpose())
    for y in forms:
        np.testing.assert_array_equal(y.data, expected)
    check(lambda t: mg.transpose(t, axes), x)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)], ids=str)
def test_T(shape):
    x = values(shape, "any", 21)
    np.testing.assert_array_equal(mg.tensor(x).T.data, x.T)
    check(lambda t: t.T, x)


@pytest.mark.parametrize("shape,target", [((3,), (2, 3)), ((3, 1), (2, 3, 4)), ((), (2, 2)), ((1, 4), (3, 4)),
                                          ((2, 3), (2, 3))], ids=str)
def test_broadcast_to(shape, target):
    x = values(shape, "any", 22)
    for y in (mg.broadcast_to(mg.tensor(x), target), mg.tensor(x).broadcast_to(target)):
        np.testing.assert_array_equal(y.data, np.broadcast_to(x, target))
    check(lambda t: mg.broadcast_to(t, target), x)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, (0, 2), (0, -1)], ids=str)
def test_expand_dims(axis):
    x = values((3, 4), "any", 23)
    for y in (mg.expand_dims(mg.tensor(x), axis), mg.tensor(x).expand_dims(axis)):
        np.testing.assert_array_equal(y.data, np.expand_dims(x, axis))
    check(lambda t: mg.expand_dims(t, axis), x)


@pytest.mark.parametrize("axis", [None, 0, 2, -1, (0, 2), (2, -1)], ids=str)
def test_squeeze(axis):
    x = values((1, 3, 1, 2, 1), "any", 24)
    for y in (mg.squeeze(mg.tensor(x), axis), mg.tensor(x).squeeze(axis)):
        np.testing.assert_array_equal(y.data, np.squeeze(x, axis))
    check(lambda t: mg.squeeze(t, axis), x)


# ----------------------------------------------------------------------------------------------
# Indexing

_rng_mask = np.random.default_rng(25)
MASK = _rng_mask.random((3, 4, 5)) < 0.5
INDICES = {
    "int": 1,
    "negative int": -1,
    "slice": slice(1, 3),
    "negative step": slice(None, None, -1),
    "negative step 2": slice(None, None, -2),
    "tuple of slices": (slice(None), slice(1, None, 2)),
    "int and slice": (1, slice(None, None, -1)),
    "None": None,
    "None inside": (slice(None), None, slice(1, 3)),
    "Ellipsis": (Ellipsis, 0),
    "Ellipsis and None": (1, Ellipsis, None),
    "int array": np.array([0, 2]),
    "repeated int array": np.array([0, 2, 2, 0, 0]),
    "2-D int array": np.array([[0, 1], [1, 1]]),
    "list": [2, 0, 2],
    "array on axis 1": (slice(None), np.array([3, 0, 3])),
    "two arrays": (np.array([0, 1, 1]), np.array([2, 3, 2])),
    "array, slice, array": (np.array([0, 2]), slice(None), np.array([4, 4])),
    "bool mask (full)": MASK,
    "bool mask (axis 0)": np.array([True, False, True]),
    "bool mask (axis 1)": (slice(None), np.array([False, True, True, False])),
    "0-d bool": np.True_,
}


@pytest.mark.parametrize("index", list(INDICES.values()), ids=list(INDICES))
def test_getitem(index):
    x = values((3, 4, 5), "any", 26)
    y = mg.tensor(x)[index]
    np.testing.assert_array_equal(y.data, x[index])
    check(lambda t: t[index], x)


def test_getitem_repeated_indices_accumulate():
    t = leaf([1.0, 2.0, 3.0])
    t[[0, 0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(t.grad, [3.0, 0.0, 1.0])
    m = leaf(np.zeros((2, 3)))
    m[np.array([1, 1, 0]), np.array([2, 2, 2])].backward(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(m.grad, [[0, 0, 100.0], [0, 0, 11.0]])


def test_getitem_with_tensor_indices_and_masks():
    x = values((4, 3), "nonzero", 27)
    t = leaf(x)
    idx = mg.Tensor(np.array([3, 1, 3]))              # an integer tensor used as an index
    np.testing.assert_array_equal(t[idx].data, x[[3, 1, 3]])
    y = t[t > 0]                                      # a boolean tensor used as a mask
    np.testing.assert_array_equal(y.data, x[x > 0])
    y.sum().backward()
    np.testing.assert_array_equal(t.grad, (x > 0) * 1.0)
    check(lambda t: t[idx], x)


def test_getitem_out_of_range_is_an_error_naming_the_op():
    with pytest.raises(IndexError, match="GetItem"):
        mg.tensor(np.zeros((3, 4)))[5]


# ----------------------------------------------------------------------------------------------
# concatenate and stack

@pytest.mark.parametrize("axis,shapes", [(0, [(2, 3), (1, 3), (4, 3)]), (1, [(2, 1), (2, 3)]),
                                         (-1, [(2, 2, 1), (2, 2, 3), (2, 2, 2)]), (1, [(2, 2, 3), (2, 1, 3)]),
                                         (0, [(3,)])], ids=str)
def test_concatenate(axis, shapes):
    xs = [values(s, "any", 28 + i) for i, s in enumerate(shapes)]
    y = mg.concatenate([mg.tensor(x) for x in xs], axis=axis)
    np.testing.assert_array_equal(y.data, np.concatenate(xs, axis=axis))
    check(lambda *ts: mg.concatenate(ts, axis=axis), *xs)


def test_concatenate_with_a_constant():
    x, c = values((2, 3), "any", 29), values((1, 3), "any", 30)
    t = leaf(x)
    y = mg.concatenate([c, t, mg.tensor(c)])
    np.testing.assert_array_equal(y.data, np.concatenate([c, x, c]))
    assert mg.gradcheck(lambda t: mg.concatenate([c, t, mg.tensor(c)]), [t])
    y.backward(np.arange(12.0).reshape(4, 3))
    np.testing.assert_array_equal(t.grad, np.arange(3.0, 9.0).reshape(2, 3))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3], ids=str)
def test_stack(axis):
    xs = [values((2, 3), "any", 31 + i) for i in range(3)]
    y = mg.stack([mg.tensor(x) for x in xs], axis=axis)
    np.testing.assert_array_equal(y.data, np.stack(xs, axis=axis))
    check(lambda *ts: mg.stack(ts, axis=axis), *xs)


def test_stack_of_scalars_and_a_constant():
    a, b = leaf(2.0), leaf(3.0)
    y = mg.stack([a, b, mg.tensor(7.0)])
    np.testing.assert_array_equal(y.data, [2.0, 3.0, 7.0])
    y.backward(np.array([1.0, 10.0, 100.0]))
    assert a.grad == 1.0 and b.grad == 10.0


# ----------------------------------------------------------------------------------------------
# Fused ops: Linear, BinaryCrossEntropyWithLogits

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xshape", [(4,), (3, 4), (2, 3, 4)], ids=str)
def test_linear(xshape, bias):
    x, w = values(xshape, "any", 32), values((5, 4), "any", 33)
    b = values((5,), "any", 34) if bias else None
    expected = x @ w.T + (b if bias else 0)
    args = [mg.tensor(x), mg.tensor(w)] + ([mg.tensor(b)] if bias else [])
    for y in (ops.Linear.apply(*args), mg.functional.linear(*args)):
        assert y.shape == expected.shape
        np.testing.assert_allclose(y.data, expected, rtol=1e-13, atol=1e-15)
    if bias:
        check(lambda x, w, b: ops.Linear.apply(x, w, b), x, w, b)
        check(lambda x, w, b: mg.functional.linear(x, w, b), x, w, b)
    else:
        check(lambda x, w: ops.Linear.apply(x, w), x, w)
        check(lambda x, w: ops.Linear.apply(x, w, None), x, w)
    # x as data: only the parameters get gradients (and they are right)
    tw = leaf(w)
    tb = leaf(b) if bias else None
    assert mg.gradcheck(lambda w, *b: mg.functional.linear(mg.tensor(x), w, *b), [tw] + ([tb] if bias else []))


def test_linear_gradients_by_hand():
    x, w, b = values((6, 4), "any", 35), values((3, 4), "any", 36), values((3,), "any", 37)
    g = values((6, 3), "any", 38)
    tx, tw, tb = leaf(x), leaf(w), leaf(b)
    mg.functional.linear(tx, tw, tb).backward(g)
    np.testing.assert_allclose(tx.grad, g @ w, rtol=1e-13)
    np.testing.assert_allclose(tw.grad, g.T @ x, rtol=1e-13)
    np.testing.assert_allclose(tb.grad, g.sum(axis=0), rtol=1e-13)


@pytest.mark.parametrize("shape", [(), (5,), (3, 4)], ids=str)
def test_bce_with_logits_op(shape):
    x = values(shape, "any", 39) * 3
    t = np.random.default_rng(40).uniform(0, 1, shape)
    textbook = -(t * np.log(SIG(x)) + (1 - t) * np.log(1 - SIG(x)))
    y = ops.BinaryCrossEntropyWithLogits.apply(mg.tensor(x), mg.tensor(t))
    np.testing.assert_allclose(y.data, textbook, rtol=1e-12)
    check(lambda x, t: ops.BinaryCrossEntropyWithLogits.apply(x, t), x, t)
    tx = leaf(x)
    ops.BinaryCrossEntropyWithLogits.apply(tx, mg.tensor(t)).sum().backward()
    np.testing.assert_allclose(tx.grad, SIG(x) - t, rtol=1e-12, atol=1e-15)
