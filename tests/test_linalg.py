"""minigrad.linalg: forward values against numpy.linalg / scipy.linalg, gradients against central finite
differences, over several batch shapes, including ill-conditioned but valid matrices.

Tolerances. Gradients: `mg.gradcheck` in float64 at its defaults (eps=1e-6; an element passes when
|analytic − numerical| ≤ 1e-5 + 1e-4·|numerical|) unless a test states otherwise. Forward values: equal bit
for bit where minigrad calls the same NumPy/SciPy routine on the same matrix; otherwise (the batched
substitution path of solve_triangular, compositions) rtol=1e-12 relative to the result's scale, loosened by
the condition number where the matrix is ill-conditioned (stated at the test). Functions of a symmetric
matrix (cholesky, eigh) are checked through X ↦ f((X + Xᵀ)/2), since they read one triangle and their
gradient is the symmetric one. Every random draw is seeded.
"""

import numpy as np
import pytest
import scipy.linalg

import minigrad as mg

BATCHES = [(), (1,), (3,), (2, 3)]


def rng(seed=0):
    return np.random.default_rng(seed)


def leaf(x):
    return mg.tensor(x, requires_grad=True)


def mT(x):
    """The transpose of every matrix of a stack, for Tensors."""
    return mg.transpose(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def sym(x):
    return (x + mT(x)) * 0.5


def spd(batch, n, seed=0, cond=10.0):
    """Symmetric positive definite matrices Q diag(λ) Qᵀ with λ log-spaced in [1, cond]: condition number cond."""
    r = rng(seed)
    q, _ = np.linalg.qr(r.standard_normal(batch + (n, n)))
    lam = np.logspace(0, np.log10(cond), n)
    a = (q * lam[..., None, :]) @ np.swapaxes(q, -1, -2)
    return (a + np.swapaxes(a, -1, -2)) / 2


def triangular(batch, n, lower, seed=0):
    """Well-conditioned triangular matrices: unit-scale entries, a diagonal of magnitude 2..3 with random signs."""
    r = rng(seed)
    a = r.standard_normal(batch + (n, n)) * 0.5
    d = r.uniform(2, 3, batch + (n,)) * r.choice([-1.0, 1.0], batch + (n,))
    a = np.tril(a, -1) if lower else np.triu(a, 1)
    return a + d[..., None] * np.eye(n)


def per_matrix(fn, *arrays, core=None):
    """Apply a 2-D NumPy/SciPy routine to every matrix of broadcast stacks (the independent reference);
    `core` is the shape of one result, needed only for an empty stack."""
    batch = np.broadcast_shapes(*[x.shape[:-2] for x in arrays])
    arrays = [np.broadcast_to(x, batch + x.shape[-2:]) for x in arrays]
    out = [fn(*[x[i] for x in arrays]) for i in np.ndindex(batch)]
    return np.array(out).reshape(batch + (np.shape(out[0]) if out else core))


# ----------------------------------------------------------------------------------------------
# The namespace

def test_linalg_is_its_own_namespace_as_in_numpy():
    assert mg.linalg.cholesky is mg.ops.linalg.cholesky
    for name in ("cholesky", "solve_triangular"):
        assert hasattr(mg.linalg, name) and not hasattr(mg, name), name


# ----------------------------------------------------------------------------------------------
# cholesky

@pytest.mark.parametrize("batch", BATCHES + [(0,)])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_forward_and_grad(batch, upper):
    a = spd(batch, 4)
    got = mg.linalg.cholesky(mg.tensor(a), upper=upper).data
    np.testing.assert_array_equal(got, np.linalg.cholesky(a, upper=upper))
    assert mg.gradcheck(lambda x: mg.linalg.cholesky(sym(x), upper=upper), [leaf(a)]) is True


@pytest.mark.parametrize("n", [0, 1, 2])
def test_cholesky_small_and_empty_matrices(n):
    a = spd((2,), n) if n else np.zeros((2, 0, 0))
    np.testing.assert_array_equal(mg.linalg.cholesky(mg.tensor(a)).data, np.linalg.cholesky(a))
    if n:
        assert mg.gradcheck(lambda x: mg.linalg.cholesky(sym(x)), [leaf(a)]) is True


def test_cholesky_ill_conditioned():
    """Condition number 1e6 (eigenvalues 1 … 1e6): the triangular-solve VJP stays accurate. The finite
    differences are taken with eps = 1e-4 (still 1e-4 of the smallest eigenvalue), where their O(eps²)
    truncation error is below the tolerance and their rounding error, ~1e-16·|L|/eps, is too."""
    a = spd((2,), 5, seed=1, cond=1e6)
    assert np.linalg.cond(a).min() > 0.9e6
    L = mg.linalg.cholesky(mg.tensor(a)).data
    np.testing.assert_array_equal(L, np.linalg.cholesky(a))
    assert mg.gradcheck(lambda x: mg.linalg.cholesky(sym(x)), [leaf(a)], eps=1e-4) is True


def test_cholesky_gradient_is_symmetric_and_matches_the_explicit_formula():
    """Ā = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹ symmetrized, here with explicit inverses as an independent reference."""
    a = spd((), 4, seed=2)
    g = rng(3).standard_normal((4, 4))
    x = leaf(a)
    mg.linalg.cholesky(x).backward(g)
    L = np.linalg.cholesky(a)
    P = np.tril(L.T @ g)
    P -= np.diag(np.diag(P)) / 2
    Li = np.linalg.inv(L)
    ref = Li.T @ (P + P.T) / 2 @ Li
    np.testing.assert_allclose(x.grad, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad, x.grad.T, rtol=1e-14, atol=1e-15)   # symmetric to round-off


def test_cholesky_keeps_float32():
    a = leaf(spd((3,), 3).astype(np.float32))
    L = mg.linalg.cholesky(a)
    assert L.dtype == np.float32
    L.sum().backward()
    assert a.grad.dtype == np.float32


def test_cholesky_errors_say_which_check_failed():
    with pytest.raises(np.linalg.LinAlgError, match=r"Cholesky: a must be a square matrix.*\(3, 4\)"):
        mg.linalg.cholesky(mg.tensor(np.ones((3, 4))))
    with pytest.raises(np.linalg.LinAlgError, match=r"square.*\(4,\)"):
        mg.linalg.cholesky(mg.tensor(np.ones(4)))
    a = spd((3,), 3)
    a[1, 2, 2] = -1.0
    with pytest.raises(np.linalg.LinAlgError, match=r"batch index \(1,\) is not positive definite.*broke down"):
        mg.linalg.cholesky(mg.tensor(a))
    a[1, 2, 2] = np.nan
    with pytest.raises(np.linalg.LinAlgError, match="not finite"):
        mg.linalg.cholesky(mg.tensor(a))


# ----------------------------------------------------------------------------------------------
# solve_triangular

@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", [0, 1, "T"])
@pytest.mark.parametrize("unit_diagonal", [False, True])
def test_solve_triangular_options_against_scipy(lower, trans, unit_diagonal):
    a = triangular((), 3, lower)
    a += rng(1).standard_normal((3, 3))          # the other triangle is never read (nor differentiated)
    for b in (rng(2).standard_normal(3), rng(3).standard_normal((3, 2))):
        got = mg.linalg.solve_triangular(mg.tensor(a), mg.tensor(b), trans=trans, lower=lower,
                                         unit_diagonal=unit_diagonal).data
        want = scipy.linalg.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)
        np.testing.assert_array_equal(got, want)
    assert mg.gradcheck(lambda p, q: mg.linalg.solve_triangular(p, q, trans=trans, lower=lower,
                                                                unit_diagonal=unit_diagonal),
                        [leaf(a), leaf(b)]) is True


@pytest.mark.parametrize("a_batch,b_shape", [
    ((3,), (4,)),                 # a stack of 3 ≤ M: LAPACK per matrix; b one vector for all
    ((7,), (7, 4, 2)),            # a stack of 7 > M = 4: substitution over the stack
    ((7,), (4, 2)),               # b broadcast over a's stack
    ((2, 1), (1, 5, 4, 3)),       # batch axes broadcast both ways (10 matrices: substitution)
    ((), (6, 4, 1)),              # a broadcast over b's stack
    ((0,), (4, 2)),               # an empty stack
])
@pytest.mark.parametrize("lower,trans", [(True, 0), (False, 1)])
def test_solve_triangular_batched(a_batch, b_shape, lower, trans):
    a = triangular(a_batch, 4, lower, seed=4)
    b = rng(5).standard_normal(b_shape)
    got = mg.linalg.solve_triangular(mg.tensor(a), mg.tensor(b), trans=trans, lower=lower).data
    if b.ndim == 1:
        want = per_matrix(lambda p: scipy.linalg.solve_triangular(p, b, trans=trans, lower=lower), a)
    else:
        want = per_matrix(lambda p, q: scipy.linalg.solve_triangular(p, q, trans=trans, lower=lower), a, b,
                          core=b.shape[-2:])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(lambda p, q: mg.linalg.solve_triangular(p, q, trans=trans, lower=lower),
                        [leaf(a), leaf(b)]) is True


def test_solve_triangular_with_an_ill_conditioned_cholesky_factor():
    """L from an SPD matrix of condition number 1e6 (L's is 1e3): forward within cond(L)·1e-13 of scipy on
    both paths, gradient checked along with the factorization (eps = 1e-4: see the cholesky test)."""
    a = spd((6,), 5, seed=6, cond=1e6)
    b = rng(7).standard_normal((6, 5, 2))
    L = np.linalg.cholesky(a)
    want = per_matrix(lambda p, q: scipy.linalg.solve_triangular(p, q, lower=True), L, b)
    for stack in (1, 6):                 # 1 ≤ M: LAPACK; 6 > M = 5: substitution
        got = mg.linalg.solve_triangular(mg.tensor(L[:stack]), mg.tensor(b[:stack]), lower=True).data
        np.testing.assert_allclose(got, want[:stack], rtol=1e3 * 1e-13, atol=1e3 * 1e-13 * np.abs(want).max())
    assert mg.gradcheck(lambda p, q: mg.linalg.solve_triangular(mg.linalg.cholesky(sym(p)), q, lower=True),
                        [leaf(a), leaf(b)], eps=1e-4) is True


def test_solve_triangular_keeps_float32():
    a, b = leaf(triangular((5,), 3, True).astype(np.float32)), leaf(np.ones((5, 3, 2), np.float32))
    x = mg.linalg.solve_triangular(a, b, lower=True)
    assert x.dtype == np.float32
    x.sum().backward()
    assert a.grad.dtype == b.grad.dtype == np.float32


def test_solve_triangular_errors():
    a = mg.tensor(triangular((), 3, True))
    with pytest.raises(ValueError, match=r"SolveTriangular: b must have shape \(M,\) or \(…, M, K\) with M = 3"):
        mg.linalg.solve_triangular(a, mg.tensor(np.ones(4)))
    with pytest.raises(ValueError, match=r"batch axes of a \(2, 3, 3\) and b \(4, 3, 1\) do not broadcast"):
        mg.linalg.solve_triangular(mg.tensor(np.ones((2, 3, 3))), mg.tensor(np.ones((4, 3, 1))))
    with pytest.raises(np.linalg.LinAlgError, match=r"square.*\(3, 2\)"):
        mg.linalg.solve_triangular(mg.tensor(np.ones((3, 2))), mg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="trans must be"):
        mg.linalg.solve_triangular(a, mg.tensor(np.ones(3)), trans="X")
    singular = triangular((2,), 3, True)
    singular[1, 2, 2] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match=r"singular matrix: a zero on the diagonal .* \(1, 2\)"):
        mg.linalg.solve_triangular(mg.tensor(singular), mg.tensor(np.ones(3)), lower=True)
