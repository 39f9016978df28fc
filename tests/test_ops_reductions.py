"""Reductions and scans beyond sum/mean/max/min (tests/test_ops.py has those): prod, var, std, cumsum, cumprod,
average, sort, and the empty-input answers of mse_loss and logsumexp.

Tolerances. Gradients with `mg.gradcheck` at its defaults (float64, eps=1e-6, atol=1e-5, rtol=1e-4).
Forward values against NumPy/SciPy with rtol=1e-12 (the same quantity, possibly summed in another order),
exactly where minigrad calls the same NumPy function. Every random draw comes from a seeded
numpy.random.default_rng.
"""

import warnings

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.nn.functional as F


def leaf(x):
    return mg.tensor(x, requires_grad=True)


def randn(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def check(fn, *arrays):
    assert mg.gradcheck(fn, [leaf(a) for a in arrays]) is True


# ----------------------------------------------------------------------------------------------
# Bugs: empty inputs


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)], ids=str)
def test_mse_loss_of_empty_inputs_is_nan_like_its_elementwise_mean(shape):
    # NumPy (and PyTorch) answer nan for the mean of nothing; the fused node must agree with "none" + .mean().
    x, t = leaf(np.zeros(shape)), mg.tensor(np.zeros(shape))
    fused = F.mse_loss(x, t)
    composed = F.mse_loss(x, t, reduction="none").mean()
    assert np.isnan(fused.item()) and np.isnan(composed.item())
    fused.backward()
    assert x.grad.shape == shape
    assert F.mse_loss(x, t, reduction="sum").item() == 0.0          # the sum of nothing is 0
    x32 = mg.tensor(np.zeros(shape, np.float32), requires_grad=True)
    assert F.mse_loss(x32, mg.tensor(np.zeros(shape, np.float32))).dtype == np.float32


@pytest.mark.parametrize("shape,axis", [((0,), None), ((0,), 0), ((3, 0), 1), ((3, 0), -1), ((0, 4), 0),
                                        ((0, 4), 1), ((2, 0, 3), (0, 1)), ((0, 4), None)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_over_an_empty_axis_is_minus_infinity(shape, axis, keepdims):
    x = np.zeros(shape)
    with np.errstate(divide="ignore"):       # log 0 = −∞ (scipy's own logsumexp fails on some empty shapes)
        expected = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    t = leaf(x)
    y = mg.logsumexp(t, axis=axis, keepdims=keepdims)
    assert y.shape == np.shape(expected)
    np.testing.assert_array_equal(y.data, expected)
    y.sum().backward()
    np.testing.assert_array_equal(t.grad, np.zeros(shape))        # the gradient of an empty input is empty


def test_logsumexp_of_integers_and_float32_keep_numpy_dtypes():
    assert mg.logsumexp(mg.tensor(np.arange(3))).dtype == np.float64
    np.testing.assert_allclose(mg.logsumexp(mg.tensor(np.arange(3))).item(), scipy.special.logsumexp([0, 1, 2]))
    assert mg.logsumexp(mg.tensor(np.zeros((0, 2), np.float32)), axis=0).dtype == np.float32


# ----------------------------------------------------------------------------------------------
# prod, var, std: forward against NumPy, gradients against finite differences

AXES = [None, 0, 1, 2, -1, -3, (0, 2), (-1, 0), (0, 1, 2)]
SMALL = [((), None), ((5,), 0), ((5,), -1), ((3, 1), 1), ((1, 4), None), ((0, 3), 0), ((0, 3), 1),
         ((2, 0, 3), (0, 2)), ((2, 0, 3), None)]


def reductions():
    return {
        "prod": (mg.prod, np.prod, {}),
        "var": (mg.var, np.var, {}),
        "var_ddof1": (lambda t, **k: mg.var(t, ddof=1, **k), lambda x, **k: np.var(x, ddof=1, **k), {}),
        "std": (mg.std, np.std, {}),
        "std_ddof1": (lambda t, **k: mg.std(t, ddof=1, **k), lambda x, **k: np.std(x, ddof=1, **k), {}),
    }


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", list(reductions()))
def test_reduction_forward_and_gradient(name, axis, keepdims):
    fn, ref, _ = reductions()[name]
    x = randn((2, 3, 4), seed=1) + 0.5
    y = fn(mg.tensor(x), axis=axis, keepdims=keepdims)
    expected = ref(x, axis=axis, keepdims=keepdims)
    assert y.shape == np.shape(expected)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)
    check(lambda t: fn(t, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("shape,axis", SMALL, ids=str)
@pytest.mark.parametrize("name", ["prod", "var", "std_ddof1"])
def test_reduction_small_and_empty_shapes(name, shape, axis):
    fn, ref, _ = reductions()[name]
    x = randn(shape, seed=2)
    for keepdims in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                # NumPy warns about empty inputs and ddof ≥ N
            expected = ref(x, axis=axis, keepdims=keepdims)
        t = leaf(x)
        y = fn(t, axis=axis, keepdims=keepdims)             # minigrad itself must not warn
        assert y.shape == np.shape(expected)
        np.testing.assert_allclose(y.data, expected, rtol=1e-12)
        if np.all(np.isfinite(expected)):
            check(lambda t, keepdims=keepdims: fn(t, axis=axis, keepdims=keepdims), x)
        y.sum().backward()
        assert t.grad.shape == shape


def test_tensor_methods_for_reductions_and_scans():
    x = randn((3, 4), seed=3)
    t = mg.tensor(x)
    np.testing.assert_allclose(t.prod(axis=1).data, x.prod(axis=1), rtol=1e-12)
    np.testing.assert_allclose(t.var(axis=0, ddof=1).data, x.var(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(t.std(keepdims=True).data, x.std(keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(t.cumsum(axis=-1).data, x.cumsum(axis=-1), rtol=1e-12)
    np.testing.assert_allclose(t.cumprod().data, x.cumprod(), rtol=1e-12)


@pytest.mark.parametrize("name", ["prod", "var", "std", "cumsum", "cumprod", "sort"])
def test_float32_stays_float32(name):
    x = mg.tensor(randn((3, 4), seed=4).astype(np.float32), requires_grad=True)
    y = getattr(mg, name)(x, axis=1)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_prod_gradient_with_zeros_is_exact():
    x = np.array([[2.0, 0.0, 3.0, 5.0],       # one zero: its gradient is the product of the others
                  [0.0, 4.0, 0.0, 7.0],       # two zeros: every gradient is 0
                  [1.5, 2.0, -3.0, 0.5]])     # no zero: the product of the others everywhere
    t = leaf(x)
    t.prod(axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad, [[0, 30, 0, 0], [0, 0, 0, 0], [-3, -2.25, 1.5, -9]])
    t.grad = None
    t.prod().backward()                       # two zeros overall
    np.testing.assert_array_equal(t.grad, np.zeros((3, 4)))
    # prod is a polynomial, so finite differences are valid at zeros too
    for axis in (None, 0, 1, (0, 1)):
        check(lambda t, axis=axis: t.prod(axis=axis), x)


def test_var_and_std_with_ddof_at_least_n_follow_numpy_without_warnings():
    x = np.array([[1.0, 2.0], [3.0, 3.0]])
    for ddof in (2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev, es = np.var(x, axis=1, ddof=ddof), np.std(x, axis=1, ddof=ddof)
        np.testing.assert_array_equal(mg.var(mg.tensor(x), axis=1, ddof=ddof).data, ev)     # [inf, nan]
        np.testing.assert_array_equal(mg.std(mg.tensor(x), axis=1, ddof=ddof).data, es)
    assert np.isinf(ev[0]) and np.isnan(ev[1])
    t = leaf(x)
    mg.var(t, axis=1, ddof=2).sum().backward()       # 2(x − m)/0: ±inf, and 0/0 = nan where x = m
    np.testing.assert_array_equal(t.grad[0], [-np.inf, np.inf])
    assert np.isnan(t.grad[1]).all()


def test_std_gradient_is_zero_where_all_values_are_equal():
    t = leaf([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    t.std(axis=1).sum().backward()
    x = t.data[1]
    np.testing.assert_array_equal(t.grad[0], [0, 0, 0])
    np.testing.assert_allclose(t.grad[1], (x - x.mean()) / (x.size * x.std()), rtol=1e-14)


def test_var_and_std_of_integers_are_float64():
    x = np.arange(6).reshape(2, 3)
    for fn, ref in ((mg.var, np.var), (mg.std, np.std)):
        y = fn(mg.tensor(x), axis=0)
        assert y.dtype == np.float64
        np.testing.assert_allclose(y.data, ref(x, axis=0), rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# Scans

SCAN_CASES = [((), None), ((5,), None), ((5,), 0), ((5,), -1), ((3, 4), None), ((3, 4), 0), ((3, 4), 1),
              ((2, 3, 4), -2), ((0, 3), 0), ((0, 3), 1), ((3, 0), None), ((1, 1), 1)]


@pytest.mark.parametrize("shape,axis", SCAN_CASES, ids=str)
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scans(name, shape, axis):
    fn, ref = getattr(mg, name), getattr(np, name)
    x = randn(shape, seed=5)
    y = fn(mg.tensor(x), axis=axis)
    np.testing.assert_allclose(y.data, ref(x, axis=axis), rtol=1e-12)
    assert y.shape == ref(x, axis=axis).shape
    t = leaf(x)
    fn(t, axis=axis).sum().backward()
    assert t.grad.shape == shape
    if x.size:
        check(lambda t: fn(t, axis=axis), x)


def test_cumsum_gradient_is_the_reversed_cumsum():
    t = leaf(np.zeros(4))
    t.cumsum().backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(t.grad, [10, 9, 7, 4])


def test_cumprod_gradient_with_zeros_is_exact():
    x = np.array([[1.0, 0.0, 2.0, 0.0, 3.0],     # two zeros: PyTorch gives [1, 3, 0, 0, 0] for g = ones
                  [0.0, 2.0, 3.0, 4.0, 5.0],     # a zero first
                  [2.0, 3.0, 4.0, 5.0, 0.0],     # a zero last
                  [1.5, -2.0, 0.5, 3.0, -1.0]])  # none
    t = leaf(x)
    t.cumprod(axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad[0], [1, 3, 0, 0, 0])
    np.testing.assert_array_equal(t.grad[1], [1 + 2 + 6 + 24 + 120, 0, 0, 0, 0])
    np.testing.assert_array_equal(t.grad[2], [1 + 3 + 12 + 60, 2 + 8 + 40, 6 + 30, 24, 120])
    for axis in (None, 0, 1, -1):        # cumprod is a polynomial: finite differences hold at zeros
        check(lambda t, axis=axis: t.cumprod(axis=axis), x)
    check(lambda t: t.cumprod(axis=1), x.T.copy())


def test_cumprod_gradient_with_many_zeros():
    x = np.random.default_rng(6).integers(-1, 2, (6, 7)).astype(np.float64)   # a third zeros: most lines have 2+
    for axis in (0, 1):
        check(lambda t, axis=axis: t.cumprod(axis=axis), x)


# ----------------------------------------------------------------------------------------------
# average


@pytest.mark.parametrize("axis,wshape", [(None, (3, 4)), (0, (3, 4)), (1, (4,)), (-1, (4,)), (0, (3,)),
                                         ((0, 1), (3, 4)), (-2, (3, 4))], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_average_with_weights(axis, wshape, keepdims):
    x, w = randn((3, 4), seed=8), np.random.default_rng(9).uniform(0.5, 2.0, wshape)
    y, total = mg.average(mg.tensor(x), axis=axis, weights=mg.tensor(w), returned=True, keepdims=keepdims)
    ey, etotal = np.average(x, axis=axis, weights=w, returned=True, keepdims=keepdims)
    np.testing.assert_allclose(y.data, ey, rtol=1e-12)
    np.testing.assert_allclose(total.data, etotal, rtol=1e-12)
    assert y.shape == np.shape(ey) and total.shape == np.shape(etotal)
    check(lambda x, w: mg.average(x, axis=axis, weights=w, keepdims=keepdims), x, w)
    check(lambda x: mg.average(x, axis=axis, weights=w, keepdims=keepdims), x)      # constant weights


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)], ids=str)
def test_average_without_weights_is_the_mean(axis):
    x = randn((3, 4), seed=10)
    y, total = mg.average(mg.tensor(x), axis=axis, returned=True)
    ey, etotal = np.average(x, axis=axis, returned=True)
    np.testing.assert_allclose(y.data, ey, rtol=1e-14)
    np.testing.assert_array_equal(total.data, etotal)
    check(lambda x: mg.average(x, axis=axis), x)


def test_average_errors_name_the_function_and_shapes():
    x = mg.tensor(np.ones((3, 4)))
    with pytest.raises(ZeroDivisionError, match="average: the weights sum to zero"):
        mg.average(x, axis=1, weights=np.array([1.0, -1.0, 0.0, 0.0]))
    with pytest.raises(TypeError, match=r"average: weights of shape \(4,\).*\(3, 4\)"):
        mg.average(x, weights=np.ones(4))
    with pytest.raises(ValueError, match="average: 4 weights for axis 0 of length 3"):
        mg.average(x, axis=0, weights=np.ones(4))


# ----------------------------------------------------------------------------------------------
# sort


@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((3, 4), None),
                                        ((), None), ((0, 3), 0), ((3, 0), -1)], ids=str)
def test_sort(shape, axis):
    x = randn(shape, seed=11)
    y = mg.sort(mg.tensor(x), axis=axis)
    np.testing.assert_array_equal(y.data, np.sort(x, axis=axis))
    t = leaf(x)
    mg.sort(t, axis=axis).sum().backward()
    assert t.grad.shape == shape
    if x.size:
        check(lambda t: mg.sort(t, axis=axis), x)


def test_sort_gradient_follows_the_stable_permutation_at_ties():
    t = leaf([2.0, 1.0, 2.0, 1.0])
    mg.sort(t).backward(np.array([10.0, 20.0, 30.0, 40.0]))     # sorted: x[1], x[3], x[0], x[2]
    np.testing.assert_array_equal(t.grad, [30, 10, 40, 20])
    assert not hasattr(mg.Tensor, "sort")       # NumPy's ndarray.sort sorts in place: use mg.sort


# ----------------------------------------------------------------------------------------------
# Property: random shapes (0–4 axes of length 0–3), axes and keepdims; forward against NumPy, gradcheck


PROPERTY = {  # name: (minigrad(t, axis, keepdims), NumPy(x, axis, keepdims)); scans and sort take one axis
    "prod": (lambda t, a, k: mg.prod(t, a, k), lambda x, a, k: np.prod(x, a, keepdims=k)),
    "var": (lambda t, a, k: mg.var(t, a, keepdims=k), lambda x, a, k: np.var(x, a, keepdims=k)),
    "std": (lambda t, a, k: mg.std(t, a, ddof=1, keepdims=k), lambda x, a, k: np.std(x, a, ddof=1, keepdims=k)),
    "cumsum": (lambda t, a, k: mg.cumsum(t, a), lambda x, a, k: np.cumsum(x, a)),
    "cumprod": (lambda t, a, k: mg.cumprod(t, a), lambda x, a, k: np.cumprod(x, a)),
    "sort": (lambda t, a, k: mg.sort(t, a), lambda x, a, k: np.sort(x, a)),
}


@pytest.mark.parametrize("name", list(PROPERTY))
@settings(max_examples=25, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3), data=st.data(),
       keepdims=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_property_reductions_and_scans(name, shape, data, keepdims, seed):
    fn, ref = PROPERTY[name]
    single = st.integers(-len(shape), len(shape) - 1) if shape else st.just(None)
    if name in ("prod", "var", "std") and shape:
        axes = st.one_of(st.none(), single, st.lists(single, min_size=1, unique_by=lambda a: a % len(shape))
                         .map(tuple))
    else:
        axes = st.one_of(st.none(), single)
    axis = data.draw(axes, label="axis")
    x = np.random.default_rng(seed).standard_normal(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # NumPy warns for empty inputs and ddof ≥ N
        expected = ref(x, axis, keepdims)
    y = fn(mg.tensor(x), axis, keepdims)
    assert y.shape == np.shape(expected)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-15)
    if x.size and np.all(np.isfinite(expected)):
        check(lambda t: fn(t, axis, keepdims), x)
