"""NumPy's functions on tensors (__array_function__): np.sum(t) is mg.sum(t) and is recorded; what minigrad
cannot do is one clear TypeError saying what to call instead."""

import numpy as np
import pytest

import minigrad as mg


def leaf(x):
    return mg.tensor(x, requires_grad=True)


X = np.arange(1.0, 7.0).reshape(2, 3)


@pytest.mark.parametrize("call,ours", [
    (lambda t: np.sum(t), lambda t: mg.sum(t)),
    (lambda t: np.sum(t, axis=1, keepdims=True), lambda t: mg.sum(t, axis=1, keepdims=True)),
    (lambda t: np.sum(t, 0), lambda t: mg.sum(t, 0)),
    (lambda t: np.max(t), lambda t: mg.max(t)),
    (lambda t: np.amax(t, axis=0), lambda t: mg.max(t, axis=0)),
    (lambda t: np.min(t, axis=-1), lambda t: mg.min(t, axis=-1)),
    (lambda t: np.mean(t, axis=0, dtype=None, out=None), lambda t: mg.mean(t, axis=0)),
    (lambda t: np.clip(t, 2.0, 5.0), lambda t: mg.clip(t, 2.0, 5.0)),
    (lambda t: np.clip(t, a_min=2.0, a_max=None), lambda t: mg.clip(t, 2.0)),
    (lambda t: np.reshape(t, (3, 2)), lambda t: t.reshape(3, 2)),
    (lambda t: np.transpose(t), lambda t: t.T),
    (lambda t: np.expand_dims(t, 0), lambda t: mg.expand_dims(t, 0)),
    (lambda t: np.broadcast_to(t, (4, 2, 3)), lambda t: mg.broadcast_to(t, (4, 2, 3))),
    (lambda t: np.where(X > 2, t, 0.0), lambda t: mg.where(X > 2, t, 0.0)),
    (lambda t: np.concatenate([t, X], axis=0), lambda t: mg.concatenate([t, X], axis=0)),
    (lambda t: np.stack([X, t], axis=-1), lambda t: mg.stack([X, t], axis=-1)),
], ids=["sum", "sum axis keepdims", "sum positional axis", "max", "amax", "min", "mean with None defaults", "clip",
        "clip a_min", "reshape", "transpose", "expand_dims", "broadcast_to", "where", "concatenate", "stack"])
def test_numpy_function_is_the_minigrad_op_and_is_recorded(call, ours):
    t, u = leaf(X), leaf(X)
    y, expected = call(t), ours(u)
    assert isinstance(y, mg.Tensor) and y.grad_fn is not None
    assert type(y.grad_fn) is type(expected.grad_fn)
    np.testing.assert_array_equal(y.data, expected.data)
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(g)
    expected.backward(g)
    np.testing.assert_array_equal(t.grad, u.grad)


def test_shape_ndim_size_read_the_data():
    t = leaf(X)
    assert np.shape(t) == (2, 3) and np.ndim(t) == 2 and np.size(t) == 6


@pytest.mark.parametrize("call,word", [
    (lambda t: np.mean(t, dtype=np.float32), "dtype="),
    (lambda t: np.sum(t, out=np.zeros(())), "out="),
    (lambda t: np.max(t, initial=10.0), "initial="),
    (lambda t: np.sum(t, where=X > 2), "where="),
])
def test_an_argument_minigrad_does_not_take_is_a_clear_type_error(call, word):
    said = rf"numpy\.\w+\(\) on a minigrad Tensor calls minigrad\.\w+\(x, .*takes no {word}"
    with pytest.raises(TypeError, match=said):
        call(leaf(X))


@pytest.mark.parametrize("call,name", [(lambda t: np.unique(t), "numpy.unique"),
                                       (lambda t: np.linalg.eig(t), "numpy.linalg.eig")])
def test_a_function_minigrad_lacks_is_a_clear_type_error(call, name):
    with pytest.raises(TypeError, match=rf"{name}\(\) was called on a minigrad Tensor, but minigrad has no .*\.data"):
        call(leaf(X))


def test_other_array_types_are_left_to_numpy():
    class Other:
        def __array_function__(self, func, types, args, kwargs):
            return NotImplemented
    with pytest.raises(TypeError, match="no implementation found"):
        np.concatenate([leaf(X), Other()])
