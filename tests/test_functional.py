"""minigrad.nn.functional: values against textbook formulas, gradients against gradcheck and closed forms,
and numerical stability for |x| up to 1e4 (values and gradients finite and equal to the asymptotic
ones, no RuntimeWarning).

Tolerances: textbook comparisons at rtol=1e-12 (atol=1e-15) where the textbook formula is itself
finite and accurate (|x| ≤ 20), except the BCE textbook formula, whose log(1 − σ(x)) loses
≈ ε·e^|x| relative accuracy: it is compared for |x| ≤ 8 at rtol=1e-10. Asymptotic values at
|x| ≥ 1e3 must be exact (the rounding error of the stable forms is below one ulp there);
gradcheck at its defaults (eps=1e-6, atol=1e-5, rtol=1e-4).
"""

import warnings

import numpy as np
import pytest
import scipy.special

import minigrad as mg
import minigrad.nn.functional as F

SIG = scipy.special.expit
BIG = np.array([-1e4, -1e3, -50.0, 50.0, 1e3, 1e4])


def leaf(x):
    return mg.tensor(x, requires_grad=True)


def moderate(shape, seed):
    return np.random.default_rng(seed).uniform(-20, 20, shape)


@pytest.fixture(autouse=True)
def numerical_warnings_are_errors():
    """Independent of pytest's configuration: any RuntimeWarning (overflow, invalid) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def grad_of(fn, x):
    t = leaf(x)
    fn(t).sum().backward()
    return t.grad


# ----------------------------------------------------------------------------------------------
# softplus and log_sigmoid

def test_softplus_and_log_sigmoid_match_the_textbook_where_it_is_finite():
    x = moderate((50,), 0)
    np.testing.assert_allclose(F.softplus(mg.tensor(x)).data, np.log1p(np.exp(x)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(F.log_sigmoid(mg.tensor(x)).data, np.log(SIG(x)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad_of(F.softplus, x), SIG(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad_of(F.log_sigmoid, x), 1 - SIG(x), rtol=1e-12, atol=1e-15)


def test_softplus_and_log_sigmoid_gradcheck():
    x = np.random.default_rng(1).standard_normal((3, 4)) * 3
    assert mg.gradcheck(F.softplus, [leaf(x)])
    assert mg.gradcheck(F.log_sigmoid, [leaf(x)])


def test_softplus_is_stable_for_large_inputs():
    y = F.softplus(mg.tensor(BIG))
    assert np.isfinite(y.data).all()
    # softplus(x) = x for x ≫ 0, = e^x (≈ 0, never negative) for x ≪ 0
    np.testing.assert_array_equal(y.data[BIG > 0], BIG[BIG > 0])
    np.testing.assert_allclose(y.data[BIG < 0], np.exp(BIG[BIG < 0]), rtol=1e-12, atol=0)
    assert (y.data >= 0).all()
    g = grad_of(F.softplus, BIG)
    np.testing.assert_allclose(g, SIG(BIG), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(g[BIG >= 1e3], 1.0)
    np.testing.assert_array_equal(g[BIG <= -1e3], 0.0)


def test_log_sigmoid_is_stable_for_large_inputs():
    y = F.log_sigmoid(mg.tensor(BIG))
    assert np.isfinite(y.data).all()
    # log σ(x) = x for x ≪ 0, = −e^(−x) (≈ 0) for x ≫ 0
    np.testing.assert_array_equal(y.data[BIG < 0], BIG[BIG < 0])
    np.testing.assert_allclose(y.data[BIG > 0], -np.exp(-BIG[BIG > 0]), rtol=1e-12, atol=0)
    g = grad_of(F.log_sigmoid, BIG)
    np.testing.assert_allclose(g, SIG(-BIG), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(g[BIG <= -1e3], 1.0)
    np.testing.assert_array_equal(g[BIG >= 1e3], 0.0)


def test_sigmoid_and_tanh_are_stable_for_large_inputs():
    s = F.sigmoid(mg.tensor(BIG))
    np.testing.assert_array_equal(s.data[BIG >= 1e3], 1.0)
    np.testing.assert_array_equal(s.data[BIG <= -1e3], 0.0)
    assert np.isfinite(grad_of(F.sigmoid, BIG)).all()
    np.testing.assert_array_equal(F.tanh(mg.tensor(BIG)).data, np.sign(BIG))
    np.testing.assert_array_equal(grad_of(F.tanh, BIG), 0.0)


def test_functional_reexports_compute_the_textbook_values():
    """F's activations against NumPy/SciPy formulas (not against mg's functions, which are the same objects),
    at rtol 1e-12 on |x| ≤ 3, where the textbook forms are accurate."""
    x = np.random.default_rng(2).standard_normal((3, 4))
    textbook = {
        "relu": np.maximum(x, 0), "sigmoid": SIG(x), "tanh": np.tanh(x), "softplus": np.log1p(np.exp(x)),
        "log_sigmoid": -np.log1p(np.exp(-x)), "leaky_relu": np.where(x > 0, x, 0.01 * x),
    }
    for name, expected in textbook.items():
        np.testing.assert_allclose(getattr(F, name)(mg.tensor(x)).data, expected, rtol=1e-12, atol=1e-15,
                                   err_msg=name)
    np.testing.assert_allclose(F.logsumexp(mg.tensor(x), axis=1).data, np.log(np.exp(x).sum(axis=1)), rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# binary_cross_entropy_with_logits

def textbook_bce(x, t):
    return -(t * np.log(SIG(x)) + (1 - t) * np.log(1 - SIG(x)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_the_textbook(reduction):
    rng = np.random.default_rng(3)
    x = rng.uniform(-8, 8, (4, 5))
    t = np.where(rng.random((4, 5)) < 0.3, rng.uniform(0, 1, (4, 5)), rng.integers(0, 2, (4, 5)))  # hard & soft
    ref = textbook_bce(x, t)
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    y = F.binary_cross_entropy_with_logits(mg.tensor(x), mg.tensor(t), reduction=reduction)
    assert y.shape == np.shape(ref)
    np.testing.assert_allclose(y.data, ref, rtol=1e-10, atol=1e-15)
    # gradient w.r.t. the logits: (σ(x) − t), divided by N for the mean
    tx = leaf(x)
    F.binary_cross_entropy_with_logits(tx, mg.tensor(t), reduction=reduction).sum().backward()
    n = x.size if reduction == "mean" else 1
    np.testing.assert_allclose(tx.grad, (SIG(x) - t) / n, rtol=1e-12, atol=1e-15)
    # gradcheck w.r.t. both logits and targets
    assert mg.gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
                        [leaf(x / 5), leaf(t)])


def test_bce_with_logits_is_stable_for_large_logits():
    x = np.array([1e4, 1e4, 1e4, -1e4, -1e4, -1e4, 1e3, -1e3])
    t = np.array([1.0, 0.0, 0.3, 0.0, 1.0, 0.3, 1.0, 0.0])
    y = F.binary_cross_entropy_with_logits(mg.tensor(x), mg.tensor(t), reduction="none")
    # softplus(x) − t·x: exact in these limits
    np.testing.assert_array_equal(y.data, [0.0, 1e4, 7e3, 0.0, 1e4, 3e3, 0.0, 0.0])
    tx = leaf(x)
    F.binary_cross_entropy_with_logits(tx, mg.tensor(t), reduction="sum").backward()
    np.testing.assert_array_equal(tx.grad, [0.0, 1.0, 0.7, 0.0, -1.0, -0.3, 0.0, 0.0])


def test_bce_with_logits_keeps_its_saved_derivative_for_a_second_backward():
    """Forward computes σ(x) − t with the loss and saves it; backward must not write into it, so a second
    backward through the retained graph gives the same gradient — for x, for t alone, and for both."""
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((6, 5)), rng.random((6, 5))
    for needs in [(True, False), (False, True), (True, True)]:
        tx, tt = mg.tensor(x, requires_grad=needs[0]), mg.tensor(t, requires_grad=needs[1])
        loss = F.binary_cross_entropy_with_logits(tx, tt, reduction="sum")
        loss.backward(retain_graph=True)
        first = [None if a.grad is None else a.grad.copy() for a in (tx, tt)]
        tx.grad = tt.grad = None
        loss.backward()
        for a, g, need, expected in zip((tx, tt), first, needs, (SIG(x) - t, -x)):
            if need:
                np.testing.assert_array_equal(a.grad, g)
                np.testing.assert_allclose(g, expected, rtol=1e-13, atol=1e-15)
            else:
                assert a.grad is None and g is None


def test_bce_with_logits_errors():
    x, t = leaf(np.zeros((3, 2))), mg.tensor(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits") as info:
        F.binary_cross_entropy_with_logits(x, t)
    assert "(3, 2)" in str(info.value) and "(3, 1)" in str(info.value)
    with pytest.raises(ValueError, match="reduction"):
        F.binary_cross_entropy_with_logits(x, mg.tensor(np.zeros((3, 2))), reduction="avg")


# ----------------------------------------------------------------------------------------------
# logsumexp, softmax, log_softmax

@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)], ids=str)
def test_logsumexp_matches_scipy(axis):
    x = moderate((3, 4), 4)
    for keepdims in (False, True):
        np.testing.assert_allclose(F.logsumexp(mg.tensor(x), axis=axis, keepdims=keepdims).data,
                                   scipy.special.logsumexp(x, axis=axis, keepdims=keepdims), rtol=1e-13)
        assert mg.gradcheck(lambda t, keepdims=keepdims: F.logsumexp(t, axis=axis, keepdims=keepdims),
                            [leaf(x / 4)])


def test_logsumexp_is_stable_for_large_inputs():
    x = np.array([[1e4, 1e4, -1e4], [-1e4, -1e4, -1e4], [1e4, 0.0, -1e4]])
    y = F.logsumexp(mg.tensor(x), axis=1)
    np.testing.assert_allclose(y.data, [1e4 + np.log(2), -1e4 + np.log(3), 1e4], rtol=1e-15)
    # = softmax along axis 1, computed as exp(x − y): y is rounded to the ulp of 1e4 (1.8e-12), so rtol 1e-11
    g = grad_of(lambda t: F.logsumexp(t, axis=1), x)
    np.testing.assert_allclose(g, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]], rtol=1e-11)


def test_logsumexp_with_minus_infinity_entries():
    x = np.array([-np.inf, 0.0, np.log(3.0)])                    # a masked-out entry
    y = F.logsumexp(mg.tensor(x))
    np.testing.assert_allclose(y.data, np.log(4.0), rtol=1e-15)
    np.testing.assert_allclose(grad_of(F.logsumexp, x), [0.0, 0.25, 0.75], rtol=1e-14)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(axis):
    x = moderate((3, 4), 5)
    sm = scipy.special.softmax(x, axis=axis)
    np.testing.assert_allclose(F.softmax(mg.tensor(x), axis=axis).data, sm, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(F.log_softmax(mg.tensor(x), axis=axis).data,
                               x - scipy.special.logsumexp(x, axis=axis, keepdims=True), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(F.softmax(mg.tensor(x), axis=axis).data.sum(axis=axis), 1.0, rtol=1e-14)
    assert mg.gradcheck(lambda t: F.softmax(t, axis=axis), [leaf(x / 10)])
    assert mg.gradcheck(lambda t: F.log_softmax(t, axis=axis), [leaf(x / 10)])


def test_softmax_gradient_closed_form():
    # For L = Σ w ⊙ softmax(x): x̄ = s ⊙ (w − Σ s ⊙ w)
    x, w = moderate((5,), 6) / 5, np.random.default_rng(7).standard_normal(5)
    t = leaf(x)
    F.softmax(t).backward(w)
    s = scipy.special.softmax(x)
    np.testing.assert_allclose(t.grad, s * (w - np.dot(s, w)), rtol=1e-12, atol=1e-15)


def test_softmax_and_log_softmax_are_stable_for_large_inputs():
    x = np.array([1e4, 0.0, -1e4])
    np.testing.assert_array_equal(F.softmax(mg.tensor(x)).data, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(F.log_softmax(mg.tensor(x)).data, [0.0, -1e4, -2e4])
    for fn in (F.softmax, F.log_softmax):
        g = grad_of(lambda t, fn=fn: fn(t) * mg.tensor([1.0, 2.0, 3.0]), x)
        assert np.isfinite(g).all()
    # d/dx Σ w·log_softmax(x) = w − softmax(x)·Σw
    np.testing.assert_allclose(grad_of(lambda t: F.log_softmax(t) * mg.tensor([1.0, 2.0, 3.0]), x),
                               [1 - 6, 2, 3], rtol=1e-15)


# ----------------------------------------------------------------------------------------------
# mse_loss

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    rng = np.random.default_rng(8)
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    ref = (x - t) ** 2
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    y = F.mse_loss(mg.tensor(x), mg.tensor(t), reduction=reduction)
    np.testing.assert_allclose(y.data, ref, rtol=1e-14)
    tx, tt = leaf(x), leaf(t)
    F.mse_loss(tx, tt, reduction=reduction).sum().backward()
    n = x.size if reduction == "mean" else 1
    np.testing.assert_allclose(tx.grad, 2 * (x - t) / n, rtol=1e-14)
    np.testing.assert_allclose(tt.grad, -2 * (x - t) / n, rtol=1e-14)
    assert mg.gradcheck(lambda x, t: F.mse_loss(x, t, reduction=reduction), [leaf(x), leaf(t)])


def test_mse_loss_errors():
    with pytest.raises(ValueError, match="mse_loss") as info:
        F.mse_loss(leaf(np.zeros((4, 1))), mg.tensor(np.zeros(4)))
    assert "(4, 1)" in str(info.value) and "(4,)" in str(info.value)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(leaf(np.zeros(4)), mg.tensor(np.zeros(4)), reduction="batchmean")
