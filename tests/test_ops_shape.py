"""NumPy's rearrangements (tests/test_ops.py has reshape, transpose, indexing, concatenate, stack, where):
forward against NumPy exactly (assert_array_equal: the same values moved), gradients with `mg.gradcheck` at its
defaults (float64, eps=1e-6, atol=1e-5, rtol=1e-4). Shapes include 0-d, size-0 and size-1 axes and negative axes.
Every random draw comes from a seeded numpy.random.default_rng.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg


def leaf(x):
    return mg.tensor(x, requires_grad=True)


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


IDX = np.array([[2, 0, 2, 1], [1, 1, 0, 0]])       # repeated indices: their gradients add up
# id: (minigrad function, NumPy reference, input shape)
CASES = {
    "ravel": (mg.ravel, np.ravel, (2, 3, 4)),
    "ravel-0d": (mg.ravel, np.ravel, ()),
    "flatten": (mg.flatten, lambda x: x.flatten(), (2, 3, 4)),
    "flatten-0d": (mg.flatten, lambda x: x.flatten(), ()),
    "flatten-1:": (lambda t: mg.flatten(t, 1), lambda x: x.reshape(2, 12), (2, 3, 4)),
    "flatten-0:-2": (lambda t: mg.flatten(t, 0, -2), lambda x: x.reshape(6, 4), (2, 3, 4)),
    "flatten-empty": (lambda t: mg.flatten(t, 1), lambda x: x.reshape(2, 0), (2, 0, 4)),
    "moveaxis": (lambda t: mg.moveaxis(t, 0, -1), lambda x: np.moveaxis(x, 0, -1), (2, 3, 4)),
    "moveaxis-multi": (lambda t: mg.moveaxis(t, (0, -1), (1, 0)), lambda x: np.moveaxis(x, (0, -1), (1, 0)),
                       (2, 3, 4)),
    "moveaxis-empty": (lambda t: mg.moveaxis(t, 1, 0), lambda x: np.moveaxis(x, 1, 0), (2, 0)),
    "swapaxes": (lambda t: mg.swapaxes(t, 0, 2), lambda x: np.swapaxes(x, 0, 2), (2, 3, 4)),
    "swapaxes-neg": (lambda t: mg.swapaxes(t, -1, 1), lambda x: np.swapaxes(x, -1, 1), (2, 3, 4)),
    "flip-all": (mg.flip, np.flip, (2, 3, 4)),
    "flip-1": (lambda t: mg.flip(t, 1), lambda x: np.flip(x, 1), (2, 3, 4)),
    "flip-neg-tuple": (lambda t: mg.flip(t, (-1, 0)), lambda x: np.flip(x, (-1, 0)), (2, 3, 4)),
    "flip-0d": (mg.flip, np.flip, ()),
    "roll-flat": (lambda t: mg.roll(t, 5), lambda x: np.roll(x, 5), (3, 4)),
    "roll-axis": (lambda t: mg.roll(t, -1, axis=1), lambda x: np.roll(x, -1, axis=1), (3, 4)),
    "roll-multi": (lambda t: mg.roll(t, (1, 7), axis=(0, -1)), lambda x: np.roll(x, (1, 7), axis=(0, -1)), (3, 4)),
    "roll-empty": (lambda t: mg.roll(t, 2, axis=0), lambda x: np.roll(x, 2, axis=0), (0, 3)),
    "repeat-flat": (lambda t: mg.repeat(t, 2), lambda x: np.repeat(x, 2), (3, 4)),
    "repeat-axis": (lambda t: mg.repeat(t, 3, axis=-1), lambda x: np.repeat(x, 3, axis=-1), (2, 3, 4)),
    "repeat-counts": (lambda t: mg.repeat(t, [2, 0, 1], axis=0), lambda x: np.repeat(x, [2, 0, 1], axis=0), (3, 4)),
    "repeat-counts-flat": (lambda t: mg.repeat(t, [0, 1, 3, 2, 1, 0]), lambda x: np.repeat(x, [0, 1, 3, 2, 1, 0]),
                           (2, 3)),
    "repeat-zero": (lambda t: mg.repeat(t, 0, axis=1), lambda x: np.repeat(x, 0, axis=1), (2, 3)),
    "repeat-0d": (lambda t: mg.repeat(t, 4), lambda x: np.repeat(x, 4), ()),
    "tile": (lambda t: mg.tile(t, 2), lambda x: np.tile(x, 2), (3, 4)),
    "tile-more-reps": (lambda t: mg.tile(t, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), (3, 4)),
    "tile-fewer-reps": (lambda t: mg.tile(t, (2,)), lambda x: np.tile(x, (2,)), (2, 3, 4)),
    "tile-0d": (lambda t: mg.tile(t, (2, 3)), lambda x: np.tile(x, (2, 3)), ()),
    "tile-zero": (lambda t: mg.tile(t, (0, 2)), lambda x: np.tile(x, (0, 2)), (3, 4)),
    "pad-int": (lambda t: mg.pad(t, 1), lambda x: np.pad(x, 1), (3, 4)),
    "pad-pairs": (lambda t: mg.pad(t, ((0, 2), (3, 1)), constant_values=1.5),
                  lambda x: np.pad(x, ((0, 2), (3, 1)), constant_values=1.5), (3, 4)),
    "pad-one-pair": (lambda t: mg.pad(t, (2, 0)), lambda x: np.pad(x, (2, 0)), (2, 3, 4)),
    "pad-empty": (lambda t: mg.pad(t, 1), lambda x: np.pad(x, 1), (0, 2)),
    "diff": (mg.diff, np.diff, (3, 5)),
    "diff-n2-axis0": (lambda t: mg.diff(t, 2, axis=0), lambda x: np.diff(x, 2, axis=0), (4, 3)),
    "diff-n3": (lambda t: mg.diff(t, 3), lambda x: np.diff(x, 3), (2, 6)),
    "diff-n0": (lambda t: mg.diff(t, 0), lambda x: np.diff(x, 0), (2, 3)),
    "diff-too-short": (lambda t: mg.diff(t, 3), lambda x: np.diff(x, 3), (2, 2)),
    "diff-prepend-append": (lambda t: mg.diff(t, prepend=0.5, append=np.ones((3, 2))),
                            lambda x: np.diff(x, prepend=0.5, append=np.ones((3, 2))), (3, 4)),
    "diagonal": (mg.diagonal, np.diagonal, (3, 4)),
    "diagonal-offset": (lambda t: mg.diagonal(t, 1), lambda x: np.diagonal(x, 1), (3, 4)),
    "diagonal-neg-offset": (lambda t: mg.diagonal(t, -2), lambda x: np.diagonal(x, -2), (4, 3)),
    "diagonal-axes": (lambda t: mg.diagonal(t, 1, -1, 0), lambda x: np.diagonal(x, 1, -1, 0), (4, 2, 3)),
    "diagonal-past-edge": (lambda t: mg.diagonal(t, 5), lambda x: np.diagonal(x, 5), (3, 4)),
    "diag-1d": (mg.diag, np.diag, (4,)),
    "diag-1d-k": (lambda t: mg.diag(t, -2), lambda x: np.diag(x, -2), (3,)),
    "diag-2d": (lambda t: mg.diag(t, 1), lambda x: np.diag(x, 1), (3, 4)),
    "trace": (mg.trace, np.trace, (3, 4)),
    "trace-batched": (lambda t: mg.trace(t, -1, 1, 2), lambda x: np.trace(x, -1, 1, 2), (2, 3, 4)),
    "tril": (mg.tril, np.tril, (4, 3)),
    "tril-k": (lambda t: mg.tril(t, -1), lambda x: np.tril(x, -1), (2, 3, 4)),
    "tril-1d": (mg.tril, np.tril, (3,)),          # NumPy broadcasts a 1-D input to a square matrix
    "triu": (mg.triu, np.triu, (3, 4)),
    "triu-k": (lambda t: mg.triu(t, 2), lambda x: np.triu(x, 2), (2, 4, 4)),
    "take-flat": (lambda t: mg.take(t, IDX), lambda x: np.take(x, IDX), (3, 4)),
    "take-axis": (lambda t: mg.take(t, IDX, axis=-1), lambda x: np.take(x, IDX, axis=-1), (3, 4)),
    "take-scalar": (lambda t: mg.take(t, 1, axis=0), lambda x: np.take(x, 1, axis=0), (3, 4)),
    "take-negative": (lambda t: mg.take(t, [-1, 0, -1]), lambda x: np.take(x, [-1, 0, -1]), (5,)),
    "take-wrap": (lambda t: mg.take(t, [7, -9, 3], axis=1, mode="wrap"),
                  lambda x: np.take(x, [7, -9, 3], axis=1, mode="wrap"), (2, 4)),
    "take-clip": (lambda t: mg.take(t, [7, -9, 3], axis=1, mode="clip"),
                  lambda x: np.take(x, [7, -9, 3], axis=1, mode="clip"), (2, 4)),
    "take_along_axis": (lambda t: mg.take_along_axis(t, IDX, axis=0),
                        lambda x: np.take_along_axis(x, IDX, axis=0), (3, 4)),
    "take_along_axis-broadcast": (lambda t: mg.take_along_axis(t, np.array([[3, 0, 3]]), axis=-1),
                                  lambda x: np.take_along_axis(x, np.array([[3, 0, 3]]), axis=-1), (3, 4)),
    "take_along_axis-argsort": (lambda t: mg.take_along_axis(t, np.argsort(t.data, axis=1), axis=1),
                                lambda x: np.sort(x, axis=1), (3, 4)),
    "take_along_axis-none": (lambda t: mg.take_along_axis(t, np.array([5, 5, 0]), axis=None),
                             lambda x: np.take_along_axis(x, np.array([5, 5, 0]), axis=None), (2, 3)),
    "atleast_1d": (mg.atleast_1d, np.atleast_1d, ()),
    "atleast_2d-0d": (mg.atleast_2d, np.atleast_2d, ()),
    "atleast_2d-1d": (mg.atleast_2d, np.atleast_2d, (3,)),
    "atleast_3d-0d": (mg.atleast_3d, np.atleast_3d, ()),
    "atleast_3d-1d": (mg.atleast_3d, np.atleast_3d, (3,)),
    "atleast_3d-2d": (mg.atleast_3d, np.atleast_3d, (2, 3)),
    "atleast_3d-4d": (mg.atleast_3d, np.atleast_3d, (2, 1, 3, 1)),
    "hstack-1d": (lambda t: mg.hstack([t, t[:2], mg.tensor([9.0])]),
                  lambda x: np.hstack([x, x[:2], [9.0]]), (4,)),
    "hstack-2d": (lambda t: mg.hstack([t, t[:, :1]]), lambda x: np.hstack([x, x[:, :1]]), (3, 4)),
    "vstack-1d": (lambda t: mg.vstack([t, t * 2]), lambda x: np.vstack([x, x * 2]), (4,)),
    "vstack-2d-0d": (lambda t: mg.vstack([t[:1], t[1:]]), lambda x: np.vstack([x[:1], x[1:]]), (3, 4)),
    "dstack": (lambda t: mg.dstack([t, t]), lambda x: np.dstack([x, x]), (3, 4)),
    "dstack-1d": (lambda t: mg.dstack([t, t[::-1]]), lambda x: np.dstack([x, x[::-1]]), (3,)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_forward_matches_numpy_and_gradient(name):
    fn, ref, shape = CASES[name]
    x = randn(shape, seed=len(name))
    y = fn(mg.tensor(x))
    expected = ref(x)
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y.data, expected)
    t = leaf(x)
    out = fn(t)
    if out.requires_grad:
        out.backward(np.ones(out.shape))
        assert t.grad.shape == shape
    if x.size:
        assert mg.gradcheck(fn, [leaf(x)])


@pytest.mark.parametrize("name", ["moveaxis", "flip-1", "roll-axis", "repeat-axis", "tile", "pad-int", "diff",
                                  "diagonal", "tril", "triu", "take-axis", "dstack"])
def test_float32_stays_float32(name):
    fn, _, shape = CASES[name]
    t = mg.tensor(randn(shape).astype(np.float32), requires_grad=True)
    y = fn(t)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, np.float32))
    assert t.grad.dtype == np.float32


def test_gradients_by_hand():
    t = leaf([1.0, 2.0, 3.0])
    mg.repeat(t, [2, 0, 3]).backward(np.arange(5.0))        # copies: x0 → 0, 1; x2 → 2, 3, 4
    np.testing.assert_array_equal(t.grad, [1, 0, 9])
    t.grad = None
    mg.tile(t, 2).backward(np.arange(6.0))
    np.testing.assert_array_equal(t.grad, [3, 5, 7])
    t.grad = None
    mg.diff(t).backward(np.array([10.0, 1.0]))              # y = (x1 − x0, x2 − x1)
    np.testing.assert_array_equal(t.grad, [-10, 9, 1])
    t.grad = None
    mg.take(t, [2, 2, 0]).backward(np.array([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(t.grad, [4, 0, 3])
    m = leaf(np.arange(12.0).reshape(3, 4))
    mg.trace(m, 1).backward()
    np.testing.assert_array_equal(m.grad, np.eye(3, 4, 1))


def test_method_forms():
    x = randn((3, 4), seed=1)
    t = mg.tensor(x)
    np.testing.assert_array_equal(t.flatten().data, x.flatten())
    np.testing.assert_array_equal(t.ravel().data, x.ravel())
    np.testing.assert_array_equal(t.swapaxes(0, 1).data, x.swapaxes(0, 1))
    np.testing.assert_array_equal(t.repeat(2, axis=0).data, x.repeat(2, axis=0))   # NumPy's repeat, not torch's
    np.testing.assert_array_equal(t.diagonal(1).data, x.diagonal(1))
    np.testing.assert_array_equal(t.trace().data, x.trace())
    np.testing.assert_array_equal(t.take([1, 5]).data, x.take([1, 5]))


# ----------------------------------------------------------------------------------------------
# Property: every op here is linear, so its VJP must be its exact adjoint: ⟨L v, g⟩ = ⟨v, Lᵀ g⟩ for any v, g.
# Checked on random shapes (1–4 axes of length 0–4) and axes, with forward against NumPy exactly.

def _indices(shape, axis, rng):
    return rng.integers(0, max(shape[axis], 1), shape) if shape[axis] else np.zeros(shape, int)


LINEAR = {  # name: (minigrad(t, axis, rng), NumPy(x, axis, rng)); rng gives the same draws to both
    "flip": (lambda t, a, r: mg.flip(t, a), lambda x, a, r: np.flip(x, a)),
    "roll": (lambda t, a, r: mg.roll(t, 3, a), lambda x, a, r: np.roll(x, 3, a)),
    "repeat": (lambda t, a, r: mg.repeat(t, 2, a), lambda x, a, r: np.repeat(x, 2, a)),
    "repeat-counts": (lambda t, a, r: mg.repeat(t, r.integers(0, 3, t.shape[a]), a),
                      lambda x, a, r: np.repeat(x, r.integers(0, 3, x.shape[a]), a)),
    "tile": (lambda t, a, r: mg.tile(t, (2,) + (1,) * a), lambda x, a, r: np.tile(x, (2,) + (1,) * a)),
    "pad": (lambda t, a, r: mg.pad(t, [(1, 2) if i == a else (0, 0) for i in range(t.ndim)]),
            lambda x, a, r: np.pad(x, [(1, 2) if i == a else (0, 0) for i in range(x.ndim)])),
    "diff": (lambda t, a, r: mg.diff(t, 2, a), lambda x, a, r: np.diff(x, 2, a)),
    "cumsum": (lambda t, a, r: mg.cumsum(t, a), lambda x, a, r: np.cumsum(x, a)),
    "moveaxis": (lambda t, a, r: mg.moveaxis(t, a, 0), lambda x, a, r: np.moveaxis(x, a, 0)),
    "swapaxes": (lambda t, a, r: mg.swapaxes(t, a, -1), lambda x, a, r: np.swapaxes(x, a, -1)),
    "diagonal": (lambda t, a, r: mg.diagonal(t, 1, a, -1) if t.ndim > 1 and a % t.ndim != t.ndim - 1 else t,
                 lambda x, a, r: np.diagonal(x, 1, a, -1) if x.ndim > 1 and a % x.ndim != x.ndim - 1 else x),
    "tril": (lambda t, a, r: mg.tril(t, -1), lambda x, a, r: np.tril(x, -1)),
    "triu": (lambda t, a, r: mg.triu(t, 1), lambda x, a, r: np.triu(x, 1)),
    "take": (lambda t, a, r: mg.take(t, r.integers(0, 9, 5), a, mode="wrap") if t.shape[a] else t,
             lambda x, a, r: np.take(x, r.integers(0, 9, 5), a, mode="wrap") if x.shape[a] else x),
    "take_along_axis": (lambda t, a, r: mg.take_along_axis(t, _indices(t.shape, a, r), a),
                        lambda x, a, r: np.take_along_axis(x, _indices(x.shape, a, r), a)),
    "array_split": (lambda t, a, r: mg.array_split(t, 3, a)[1], lambda x, a, r: np.array_split(x, 3, a)[1]),
}


@pytest.mark.parametrize("name", list(LINEAR))
@settings(max_examples=25, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4), data=st.data(),
       seed=st.integers(0, 2**32 - 1))
def test_property_vjp_is_the_adjoint(name, shape, data, seed):
    fn, ref = LINEAR[name]
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(shape)
    t = leaf(v)
    y = fn(t, axis, np.random.default_rng(seed + 1))
    expected = ref(v, axis, np.random.default_rng(seed + 1))
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y.data, expected)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_allclose(np.sum(v * t.grad), np.sum(y.data * g), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# split / array_split: a list of tensors, one node each


@pytest.mark.parametrize("args", [(3,), (3, 1), ([1, 3],), ([1, 3], -1), ([2, 2],), ([0, 5],), ([-1],), ([3, 1],)],
                         ids=str)
def test_split_and_array_split_match_numpy(args):
    x = randn((6, 3), seed=2) if len(args) == 1 else randn((2, 6), seed=2)
    for name in ("split", "array_split"):
        pieces, expected = getattr(mg, name)(mg.tensor(x), *args), getattr(np, name)(x, *args)
        assert isinstance(pieces, list) and len(pieces) == len(expected)
        for p, e in zip(pieces, expected):
            assert p.shape == e.shape
            np.testing.assert_array_equal(p.data, e)


def test_array_split_unequal_sections():
    x = randn((7, 2), seed=3)
    pieces = mg.array_split(mg.tensor(x), 3)
    assert [p.shape[0] for p in pieces] == [3, 2, 2] == [e.shape[0] for e in np.array_split(x, 3)]
    assert [p.shape[1] for p in mg.array_split(mg.tensor(x), 4, axis=1)] == [1, 1, 0, 0]


def test_split_gradient_when_only_some_pieces_are_used():
    x = randn((6, 2), seed=4)
    t = leaf(x)
    a, b, c = mg.split(t, 3)
    (a.sum() * 2 + (c * c).sum()).backward()             # b unused
    np.testing.assert_array_equal(t.grad, np.concatenate([np.full((2, 2), 2.0), np.zeros((2, 2)), 2 * x[4:]]))
    assert mg.gradcheck(lambda t: mg.array_split(t, 4, axis=0)[1] * mg.array_split(t, 4, axis=0)[3], [leaf(x)])
    assert mg.gradcheck(lambda t: mg.concatenate(mg.split(t, [1, 4])[::-1]), [leaf(x)])


def test_split_errors_name_the_function():
    t = mg.tensor(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"split: axis 0 of length 5 \(x of shape \(5, 2\)\) does not split into 2"):
        mg.split(t, 2)
    with pytest.raises(ValueError, match="array_split: the number of sections must be positive"):
        mg.array_split(t, 0)
    with pytest.raises(ValueError, match=r"split: axis 2 is out of range for x of shape \(5, 2\)"):
        mg.split(t, 1, axis=2)


# ----------------------------------------------------------------------------------------------
# errors


def test_errors_name_the_op_and_what_was_expected():
    t = mg.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="pad: only mode='constant'"):
        mg.pad(t, 1, mode="reflect")
    with pytest.raises(ValueError, match=r"diag: expected a 1-D or 2-D input, got shape \(2, 1, 3\)"):
        mg.diag(mg.tensor(np.zeros((2, 1, 3))))
    with pytest.raises(IndexError, match="take: indices must be integers, got dtype float64"):
        mg.take(t, [0.5])
    with pytest.raises(ValueError, match="take: mode must be"):
        mg.take(t, [0], mode="bogus")
    with pytest.raises(ValueError, match=r"take_along_axis: indices of shape \(3,\) must have as many dimensions"):
        mg.take_along_axis(t, np.array([0, 1, 0]), axis=1)
    with pytest.raises(ValueError, match="flatten: start_dim 1 comes after end_dim 0"):
        mg.flatten(t, 1, 0)
    with pytest.raises(IndexError, match="flatten: start_dim 2"):
        mg.flatten(t, 2)
    with pytest.raises(ValueError, match="SwapAxes"):
        mg.swapaxes(t, 0, 2)
    with pytest.raises(IndexError, match="GetItem"):
        mg.take(t, [6])
