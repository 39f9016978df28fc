"""Special functions (minigrad/ops/special.py): forward against scipy.special, gradients against central
finite differences (`mg.gradcheck` at its defaults: float64, eps=1e-6, atol=1e-5, rtol=1e-4) and against
the textbook derivative written independently (rtol 1e-12 unless stated). Inputs lie inside each function's
domain; every draw comes from numpy.random.default_rng(seed).
"""

import numpy as np
import pytest
import scipy.special as sp

import minigrad as mg


def leaf(x):
    return mg.tensor(x, requires_grad=True)


def sum_to(g, shape):
    """Reference reduction of a broadcast gradient to `shape` (independent of the engine's unbroadcast)."""
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape))))
    return np.sum(g, axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True).reshape(shape)


def draw(shape, lo, hi, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


SHAPES = [(), (1,), (5,), (3, 1), (0,), (2, 0, 3), (2, 3, 4)]

UNARY = {
    # name: (minigrad function, scipy reference, domain (lo, hi), textbook derivative)
    "erf": (mg.erf, sp.erf, (-2.5, 2.5), lambda x: 2 / np.sqrt(np.pi) * np.exp(-x ** 2)),
    "erfc": (mg.erfc, sp.erfc, (-2.5, 2.5), lambda x: -2 / np.sqrt(np.pi) * np.exp(-x ** 2)),
    "erfinv": (mg.erfinv, sp.erfinv, (-0.95, 0.95), lambda x: np.sqrt(np.pi) / 2 * np.exp(sp.erfinv(x) ** 2)),
    "erfcinv": (mg.erfcinv, sp.erfcinv, (0.05, 1.95), lambda x: -np.sqrt(np.pi) / 2 * np.exp(sp.erfcinv(x) ** 2)),
    "gammaln": (mg.gammaln, sp.gammaln, (0.2, 6.0), sp.digamma),
    "digamma": (mg.digamma, sp.digamma, (0.2, 6.0), lambda x: sp.polygamma(1, x)),
    "polygamma 0": (lambda x: mg.polygamma(0, x), lambda x: sp.polygamma(0, x), (0.2, 6.0),
                    lambda x: sp.polygamma(1, x)),
    "polygamma 2": (lambda x: mg.polygamma(2, x), lambda x: sp.polygamma(2, x), (0.5, 6.0),
                    lambda x: sp.polygamma(3, x)),
    "gamma": (mg.gamma, sp.gamma, (0.3, 4.0), lambda x: sp.gamma(x) * sp.digamma(x)),
    "logit": (mg.logit, sp.logit, (0.05, 0.95), lambda p: 1 / (p * (1 - p))),
    "expit": (mg.expit, sp.expit, (-6.0, 6.0), lambda x: sp.expit(x) * sp.expit(-x)),
    "log_ndtr": (mg.log_ndtr, sp.log_ndtr, (-8.0, 5.0), lambda x: np.exp(-x ** 2 / 2) / np.sqrt(2 * np.pi)
                 / sp.ndtr(x)),
    "ndtr": (mg.ndtr, sp.ndtr, (-4.0, 4.0), lambda x: np.exp(-x ** 2 / 2) / np.sqrt(2 * np.pi)),
    "ndtri": (mg.ndtri, sp.ndtri, (0.02, 0.98), lambda u: np.sqrt(2 * np.pi) * np.exp(sp.ndtri(u) ** 2 / 2)),
    "i0": (mg.i0, sp.i0, (-4.0, 4.0), sp.i1),
    "i1": (mg.i1, sp.i1, (-4.0, 4.0), lambda x: sp.i0(x) - sp.i1(x) / x),
}
NOT_EXACT = {"expit"}        # minigrad's sigmoid kernel, not scipy's: compared at rtol 1e-12


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_forward_is_scipy_and_gradient_is_finite_differences(name, shape):
    fn, ref, (lo, hi), _ = UNARY[name]
    x = draw(shape, lo, hi)
    y = fn(mg.tensor(x))
    assert y.shape == shape and y.dtype == np.float64
    if name in NOT_EXACT:
        np.testing.assert_allclose(y.data, ref(x), rtol=1e-12)
    else:
        np.testing.assert_array_equal(y.data, ref(x))
    t = leaf(draw(shape, lo, hi, seed=1))
    assert mg.gradcheck(fn, [t])


@pytest.mark.parametrize("name", list(UNARY))
def test_gradient_is_the_textbook_derivative(name):
    fn, _, (lo, hi), derivative = UNARY[name]
    x = draw((50,), lo, hi, seed=2)
    t = leaf(x)
    fn(t).sum().backward()
    np.testing.assert_allclose(t.grad, derivative(x), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", list(UNARY))
def test_float32_stays_float32_forward_and_backward(name):
    fn, ref, (lo, hi), _ = UNARY[name]
    x = draw((3, 4), lo, hi, seed=3).astype(np.float32)
    y = fn(mg.tensor(x, requires_grad=True))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    grad = type(y.grad_fn).backward(y.grad_fn, np.ones(y.shape, np.float32))   # the op's own VJP, uncast
    assert grad.dtype == np.float32, f"{name}: backward gave {grad.dtype}"


def test_i1_slope_at_zero_is_one_half():
    t = leaf([0.0, 1e-4])
    mg.i1(t).sum().backward()
    assert t.grad[0] == 0.5
    np.testing.assert_allclose(t.grad[1], 0.5, rtol=1e-7)


def test_log_ndtr_gradient_is_finite_far_in_the_lower_tail():
    x = np.array([-40.0, -200.0, 30.0])
    t = leaf(x)
    y = mg.log_ndtr(t)
    np.testing.assert_array_equal(y.data, sp.log_ndtr(x))
    y.sum().backward()
    assert np.isfinite(t.grad).all()
    # φ(x)/Φ(x) = −x − 1/x + 2/x³ − … as x → −∞ (Mills' ratio); φ(x) where Φ(x) = 1
    np.testing.assert_allclose(t.grad[:2], -x[:2] - 1 / x[:2] + 2 / x[:2] ** 3, rtol=1e-7)
    np.testing.assert_allclose(t.grad[2], np.exp(-450.0) / np.sqrt(2 * np.pi), rtol=1e-12)


def test_polygamma_refuses_a_non_integer_order():
    with pytest.raises(ValueError, match="Polygamma: polygamma: n must be a non-negative integer"):
        mg.polygamma(1.5, mg.tensor([1.0]))
    with pytest.raises(ValueError, match="non-negative"):
        mg.polygamma(-1, mg.tensor([1.0]))


def test_polygamma_with_an_array_of_orders():
    n, x = np.array([0, 1, 2]), np.array([0.7, 1.3, 2.1])
    t = leaf(x)
    y = mg.polygamma(n, t)
    np.testing.assert_array_equal(y.data, sp.polygamma(n, x))
    y.sum().backward()
    np.testing.assert_allclose(t.grad, sp.polygamma(n + 1, x), rtol=1e-12)


def test_expit_is_sigmoid():
    x = leaf([-1.0, 0.5])
    assert type(mg.expit(x).grad_fn) is type(mg.sigmoid(x).grad_fn)


# ----------------------------------------------------------------------------------------------
# Binary special functions (broadcasting and property tests: tests/test_ops.py's BINARY table)

BINARY = {
    # name: (minigrad function, scipy reference, domain of a, domain of b, textbook (ā, b̄))
    "beta": (mg.beta, sp.beta, (0.3, 4), (0.3, 4),
             lambda a, b: (sp.beta(a, b) * (sp.digamma(a) - sp.digamma(a + b)),
                           sp.beta(a, b) * (sp.digamma(b) - sp.digamma(a + b)))),
    "betaln": (mg.betaln, sp.betaln, (0.3, 4), (0.3, 4),
               lambda a, b: (sp.digamma(a) - sp.digamma(a + b), sp.digamma(b) - sp.digamma(a + b))),
    "xlogy": (mg.xlogy, sp.xlogy, (-2, 2), (0.1, 3), lambda a, b: (np.log(b), a / b)),
    "xlog1py": (mg.xlog1py, sp.xlog1py, (-2, 2), (-0.9, 3), lambda a, b: (np.log1p(b), a / (1 + b))),
}


@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((), (2, 3)), ((0, 3), (3,))], ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_forward_gradient_and_textbook(name, sa, sb):
    fn, ref, da, db, textbook = BINARY[name]
    a, b = draw(sa, *da, seed=4), draw(sb, *db, seed=5)
    np.testing.assert_array_equal(fn(mg.tensor(a), mg.tensor(b)).data, ref(a, b))
    assert mg.gradcheck(fn, [leaf(a), leaf(b)])
    ta, tb = leaf(a), leaf(b)
    fn(ta, tb).sum().backward()
    full = np.broadcast_shapes(sa, sb)
    ga, gb = (np.broadcast_to(g, full) for g in textbook(a, b))
    np.testing.assert_allclose(ta.grad, sum_to(ga, sa), rtol=1e-12)
    np.testing.assert_allclose(tb.grad, sum_to(gb, sb), rtol=1e-12)


def test_xlogy_at_x_zero():
    # z(0, y) = 0 for every y: ȳ = 0 there; x̄ = log y (finite differences agree) and 0 at y = 0
    x, y = leaf([0.0, 0.0, 0.0]), leaf([2.0, 0.0, 0.5])
    z = mg.xlogy(x, y)
    np.testing.assert_array_equal(z.data, [0.0, 0.0, 0.0])
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [np.log(2.0), 0.0, np.log(0.5)])
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, 0.0])
    assert mg.gradcheck(mg.xlogy, [leaf([0.0, 0.0]), leaf([2.0, 0.5])])


def test_xlog1py_at_x_zero():
    x, y = leaf([0.0, 0.0]), leaf([1.0, -1.0])
    z = mg.xlog1py(x, y)
    np.testing.assert_array_equal(z.data, [0.0, 0.0])
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [np.log(2.0), 0.0])
    np.testing.assert_array_equal(y.grad, [0.0, 0.0])
