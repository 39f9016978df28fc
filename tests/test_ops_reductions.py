"""Reductions and scans beyond sum/mean/max/min (tests/test_ops.py has those): prod, var, std, cumsum, cumprod,
average, sort, and the empty-input answers of mse_loss and logsumexp.

Tolerances. Gradients with `mg.gradcheck` at its defaults (float64, eps=1e-6, atol=1e-5, rtol=1e-4).
Forward values against NumPy/SciPy with rtol=1e-12 (the same quantity, possibly summed in another order),
exactly where minigrad calls the same NumPy function. Every random draw comes from a seeded
numpy.random.default_rng.
"""

import numpy as np
import pytest
import scipy.special

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
