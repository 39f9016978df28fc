"""The matrix-product family (einsum, outer, inner, dot, tensordot, kron, cross): forward against NumPy,
gradient against central finite differences.

Tolerances. Gradients: `mg.gradcheck` at its defaults (float64, eps=1e-6, an element passes when
|analytic − numerical| ≤ 1e-5 + 1e-4·|numerical|); every function here is multilinear, so the central
difference is exact up to rounding. Forward values: minigrad calls the same NumPy function with the same
arguments, so they must be equal bit for bit (`assert_array_equal`), except where a product is composed
of other ops (stated at the test), compared with rtol=1e-12. Every random draw is seeded.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg


def randn(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def check_forward_and_grad(fn, reference, arrays, exact=True):
    got = fn(*[mg.tensor(a) for a in arrays]).data
    want = reference(*arrays)
    assert got.shape == np.shape(want)
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert mg.gradcheck(fn, [mg.tensor(a, requires_grad=True) for a in arrays]) is True


# ----------------------------------------------------------------------------------------------
# einsum

EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),                    # matmul
    ("ij,jk", [(2, 3), (3, 4)]),                        # implicit output: letters used once, sorted
    ("ji", [(2, 3)]),                                   # implicit: sorted order makes this a transpose
    ("Ba", [(2, 3)]),                                   # A–Z sort before a–z (NumPy's order)
    ("ij->", [(2, 3)]),                                 # full sum
    ("ij->j", [(2, 3)]),                                # a letter only the input has: ḡ broadcasts along it
    ("ii->i", [(3, 3)]),                                # diagonal: x̄ lives on the diagonal
    ("ii", [(3, 3)]),                                   # trace
    ("iii->", [(2, 2, 2)]),
    ("iij->ji", [(3, 3, 2)]),
    ("bii,bj->bij", [(2, 3, 3), (2, 4)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("i,i", [(3,), (3,)]),                              # inner product
    ("i,j->ij", [(3,), (4,)]),                          # outer product
    ("i,j,k->ijk", [(2,), (3,), (4,)]),
    ("ijk,jkl,lm->im", [(2, 3, 4), (3, 4, 5), (5, 2)]),
    (",ij->ij", [(), (2, 3)]),                          # 0-d operand
    ("", [()]),
    ("...", [()]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (5, 3, 4)]),  # ellipsis with broadcasting batch axes
    ("...ij,...jk", [(2, 3), (4, 3, 2)]),               # implicit output keeps the ellipsis axes first
    ("ij...", [(2, 3, 4)]),
    ("i...i", [(3, 2, 3)]),
    ("...i->...", [(2, 3, 4)]),
    ("i...->...", [(3,)]),                              # an ellipsis of no axes
    ("i,i", [(1,), (3,)]),                              # NumPy broadcasts a size-1 axis: x̄ sums it back
    ("ij,ij->i", [(3, 1), (1, 4)]),
    ("ii,i->i", [(1, 1), (3,)]),
    (" ij , jk -> ik ", [(2, 3), (3, 4)]),              # spaces are ignored
    ("ij,jk->ik", [(0, 3), (3, 2)]),                    # size-0 axes
    ("ij,jk->ik", [(2, 0), (0, 3)]),                    # contraction over nothing: zeros
]


@pytest.mark.parametrize("subscripts,shapes", EINSUM, ids=[s for s, _ in EINSUM])
def test_einsum(subscripts, shapes):
    check_forward_and_grad(lambda *xs: mg.einsum(subscripts, *xs),
                           lambda *xs: np.einsum(subscripts, *xs), randn(*shapes))


@st.composite
def einsum_problems(draw):
    """Random subscripts over the letters 'abcd' (repeated letters within a term allowed), an optional
    ellipsis with mutually broadcastable shapes, and an explicit output or none."""
    n = draw(st.integers(1, 3))
    size = {c: draw(st.integers(1, 3)) for c in "abcd"}
    terms = [draw(st.lists(st.sampled_from("abcd"), max_size=3)) for _ in range(n)]
    ellipsis = draw(st.booleans())
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=n, max_dims=2, max_side=2)).input_shapes \
        if ellipsis else [()] * n
    used = sorted({c for t in terms for c in t})
    if draw(st.booleans()):
        out = "".join(draw(st.permutations(used))[:draw(st.integers(0, len(used)))])
        out = ("..." if ellipsis else "") + out
        arrow = "->" + out
    else:
        arrow = ""
    spec = ",".join(("..." if ellipsis else "") + "".join(t) for t in terms) + arrow
    seed = draw(st.integers(0, 2**16))
    shapes = [tuple(b) + tuple(size[c] for c in t) for b, t in zip(batch, terms)]
    return spec, shapes, seed


@settings(max_examples=40, deadline=None)
@given(problem=einsum_problems())
def test_einsum_random_subscripts(problem):
    """40 random problems per run (hypothesis): forward equal to NumPy's, gradient against finite differences."""
    spec, shapes, seed = problem
    check_forward_and_grad(lambda *xs: mg.einsum(spec, *xs), lambda *xs: np.einsum(spec, *xs),
                           randn(*shapes, seed=seed))


def test_einsum_diagonal_vjp_scatters_onto_the_diagonal():
    x = mg.tensor(np.arange(9.0).reshape(3, 3), requires_grad=True)
    mg.einsum("ii->i", x).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad, np.diag([1.0, 2.0, 3.0]))


def test_einsum_sublist_form():
    a, b = randn((2, 3), (3, 4))
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    for sublists in ([[0, 1], [1, 2], [0, 2]], [[0, 1], [1, 2]], [[0, 1], [1, 2], [Ellipsis]]):
        got = mg.einsum(ta, sublists[0], tb, *sublists[1:]).data
        np.testing.assert_array_equal(got, np.einsum(a, sublists[0], b, *sublists[1:]))
    np.testing.assert_array_equal(mg.einsum(ta, [Ellipsis, 1]).data, np.einsum(a, [Ellipsis, 1]))
    assert mg.gradcheck(lambda p, q: mg.einsum(p, [0, 1], q, [1, 2], [2]), [ta, tb]) is True


def test_einsum_optimize_gives_the_same_contraction():
    xs = randn((2, 3, 4), (3, 4, 5), (5, 2))
    ts = [mg.tensor(x, requires_grad=True) for x in xs]
    got = mg.einsum("ijk,jkl,lm->im", *ts, optimize=True).data
    np.testing.assert_allclose(got, np.einsum("ijk,jkl,lm->im", *xs), rtol=1e-12)
    assert mg.gradcheck(lambda *t: mg.einsum("ijk,jkl,lm->im", *t, optimize="greedy"), ts) is True


def test_einsum_only_some_inputs_need_grad():
    a, b = randn((2, 3), (3, 4))
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b)
    mg.einsum("ij,jk->ik", ta, tb).sum().backward()
    np.testing.assert_allclose(ta.grad, np.ones((2, 4)) @ b.T, rtol=1e-12)
    assert tb.grad is None


def test_einsum_keeps_float32():
    a, b = (x.astype(np.float32) for x in randn((2, 3), (3, 4)))
    ta = mg.tensor(a, requires_grad=True)
    y = mg.einsum("ij,jk->ik", ta, mg.tensor(b))
    assert y.dtype == np.float32
    y.sum().backward()
    assert ta.grad.dtype == np.float32


@pytest.mark.parametrize("subscripts,shapes,message", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "Einsum"),          # mismatched contraction
    ("ij,jk->ik", [(2, 3)], "Einsum"),                  # too few operands
    ("ij", [(2, 3, 4)], "Einsum"),                      # wrong number of letters
])
def test_einsum_bad_input_names_the_op_and_shapes(subscripts, shapes, message):
    with pytest.raises(ValueError, match=message) as info:
        mg.einsum(subscripts, *[mg.tensor(x) for x in randn(*shapes)])
    assert str(shapes[0]) in str(info.value)


# ----------------------------------------------------------------------------------------------
# dot, inner, tensordot (NumPy's forward, einsum's VJP), outer and kron (compositions), cross

DOT = [((), ()), ((), (3,)), ((2, 3), ()), ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
       ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (5, 4, 2)), ((2, 3, 4), (4, 2)), ((0, 3), (3, 2)),
       ((2, 0), (0, 3))]


@pytest.mark.parametrize("shape_a,shape_b", DOT)
def test_dot(shape_a, shape_b):
    check_forward_and_grad(mg.dot, np.dot, randn(shape_a, shape_b))
    check_forward_and_grad(lambda a, b: a.dot(b), np.dot, randn(shape_a, shape_b, seed=1))


INNER = [((), ()), ((), (3,)), ((3,), (3,)), ((2, 3), (3,)), ((2, 3), (4, 3)), ((2, 3, 4), (5, 4)), ((4,), (2, 3, 4)),
         ((2, 0), (3, 0))]


@pytest.mark.parametrize("shape_a,shape_b", INNER)
def test_inner(shape_a, shape_b):
    check_forward_and_grad(mg.inner, np.inner, randn(shape_a, shape_b))


TENSORDOT = [((2, 3, 4), (3, 4, 5), 2), ((2, 3, 4), (4, 5), 1), ((2, 3), (4, 5), 0),
             ((2, 3, 4), (4, 3, 2), ([1, 2], [1, 0])), ((2, 3, 4), (5, 2), (0, 1)),
             ((3, 4), (4, 3), ([-1, 0], [0, -1])), ((2, 3), (2, 3), ([0, 1], [0, 1])),
             ((2, 1, 3), (1, 3, 2), 2)]


@pytest.mark.parametrize("shape_a,shape_b,axes", TENSORDOT)
def test_tensordot(shape_a, shape_b, axes):
    check_forward_and_grad(lambda a, b: mg.tensordot(a, b, axes), lambda a, b: np.tensordot(a, b, axes),
                           randn(shape_a, shape_b))


@pytest.mark.parametrize("shape_a,shape_b", [((3,), (4,)), ((2, 3), (4,)), ((), (3,)), ((0,), (2,))])
def test_outer(shape_a, shape_b):
    check_forward_and_grad(mg.outer, np.outer, randn(shape_a, shape_b))


@pytest.mark.parametrize("shape_a,shape_b", [((2, 3), (4, 5)), ((3,), (2,)), ((2, 3), (2,)), ((2,), (2, 3, 2)),
                                             ((), (2, 3)), ((2, 2), ()), ((1, 2), (3, 1))])
def test_kron(shape_a, shape_b):
    check_forward_and_grad(mg.kron, np.kron, randn(shape_a, shape_b))


CROSS = [((3,), (3,), {}), ((5, 3), (3,), {}), ((3, 5), (5, 3), {"axisa": 0}),
         ((3, 5), (7, 5, 3), {"axisa": 0, "axisc": 0}), ((2, 3, 4), (2, 3, 4), {"axis": 1}),
         ((4, 3), (3, 4), {"axisa": -1, "axisb": 0, "axisc": 1}), ((0, 3), (3,), {})]


@pytest.mark.parametrize("shape_a,shape_b,kwargs", CROSS)
def test_cross(shape_a, shape_b, kwargs):
    check_forward_and_grad(lambda a, b: mg.cross(a, b, **kwargs), lambda a, b: np.cross(a, b, **kwargs),
                           randn(shape_a, shape_b))


def test_products_keep_float32():
    a, b = (x.astype(np.float32) for x in randn((3, 3), (3, 3)))
    for fn in (mg.dot, mg.inner, lambda p, q: mg.tensordot(p, q, 1), mg.outer, mg.kron, mg.cross):
        x = mg.tensor(a, requires_grad=True)
        y = fn(x, mg.tensor(b))
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32


def test_product_errors_name_the_op_and_shapes():
    a, b = mg.tensor(np.ones((2, 3))), mg.tensor(np.ones((4, 2)))
    for fn, name in ((mg.dot, "Dot"), (mg.inner, "Inner"), (lambda p, q: mg.tensordot(p, q, 1), "Tensordot")):
        with pytest.raises(ValueError, match=rf"{name}: .*\(2, 3\) float64, \(4, 2\) float64"):
            fn(a, b)
    with pytest.raises(ValueError, match=r"Cross: b must be 3-vectors along axis -1, got shape \(4, 2\).*2-vectors"):
        mg.cross(mg.tensor(np.ones(3)), b)


def test_large_contractions_take_the_blas_path_with_the_same_gradient():
    """Above 1e5 elements the VJP einsum lets NumPy pick a BLAS path: the gradients must still be matmul's, to
    the rounding of 200-term sums of unit-scale products (atol 1e-12; the entries are ~10)."""
    a, b = randn((200, 300), (300, 200), seed=2)
    g = randn((200, 200), seed=3)[0]
    grads = []
    for fn in (mg.matmul, mg.dot, lambda p, q: mg.einsum("ij,jk->ik", p, q)):
        x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
        fn(x, y).backward(g)
        grads.append((x.grad, y.grad))
    for ga, gb in grads[1:]:
        np.testing.assert_allclose(ga, grads[0][0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb, grads[0][1], rtol=1e-12, atol=1e-12)


def test_products_accept_lists_as_numpy_does():
    a, b = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    for name in ("dot", "inner", "outer", "kron", "cross"):
        np.testing.assert_array_equal(getattr(mg, name)(a, b).data, getattr(np, name)(a, b), err_msg=name)
    np.testing.assert_array_equal(mg.tensordot(a, b, 1).data, np.tensordot(a, b, 1))
    np.testing.assert_array_equal(mg.einsum("i,i", a, b).data, np.einsum("i,i", a, b))


def test_numpy_functions_on_tensors_call_these_ops():
    """np.einsum(…, t) and friends dispatch to minigrad's ops (__array_function__), so the gradient flows."""
    a, b = randn((2, 3), (3, 4))
    for call in (lambda p, q: np.einsum("ij,jk->ik", p, q), lambda p, q: np.einsum(p, [0, 1], q, [1, 2]),
                 np.dot, lambda p, q: np.tensordot(p, q, 1), np.kron, lambda p, q: np.outer(p, q)):
        x = mg.tensor(a, requires_grad=True)
        y = call(x, mg.tensor(b))
        assert isinstance(y, mg.Tensor) and y.requires_grad
        np.testing.assert_array_equal(y.data, call(a, b))
