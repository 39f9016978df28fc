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
