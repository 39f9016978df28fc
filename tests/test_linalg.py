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
    for name in ("cholesky", "solve_triangular", "solve", "inv", "det", "slogdet", "eigh", "eigvalsh", "svdvals",
                 "svd", "pinv", "norm", "vector_norm", "matrix_norm", "vecdot", "matrix_power", "qr", "multi_dot",
                 "lstsq", "cond"):
        assert hasattr(mg.linalg, name) and not hasattr(mg, name), name
    assert mg.linalg.matmul is mg.matmul and mg.linalg.tensordot is mg.tensordot      # in both, as NumPy 2


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
    ((), (6, 4, 1)),              # one a for b's whole stack: one LAPACK call, the columns side by side
    ((), (2, 3, 4, 2)),
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


@pytest.mark.parametrize("a_batch", [(), (2,), (5,)])      # the three paths: one call, per matrix, substitution
def test_solve_triangular_keeps_float32(a_batch):
    a = leaf(triangular(a_batch, 3, True).astype(np.float32))
    b = leaf(np.ones(a_batch + (3, 2) if a_batch else (5, 3, 2), np.float32))
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


# ----------------------------------------------------------------------------------------------
# solve, inv, det, slogdet

def general(batch, n, seed=0):
    """Well-conditioned general square matrices: Gaussian entries plus 3·I."""
    return rng(seed).standard_normal(batch + (n, n)) + 3 * np.eye(n)


def ill_conditioned(batch, n, seed=0, cond=1e6):
    """U diag(σ) Vᵀ with σ log-spaced in [1, cond] and random orthogonal U, V: condition number cond."""
    r = rng(seed)
    u, _ = np.linalg.qr(r.standard_normal(batch + (n, n)))
    v, _ = np.linalg.qr(r.standard_normal(batch + (n, n)))
    return (u * np.logspace(0, np.log10(cond), n)) @ np.swapaxes(v, -1, -2)


@pytest.mark.parametrize("a_batch,b_shape", [((), (4,)), ((), (4, 2)), ((3,), (4,)), ((3,), (3, 4, 2)),
                                             ((2, 1), (3, 4, 1)), ((), (2, 4, 3)), ((0,), (4, 2))])
def test_solve(a_batch, b_shape):
    a, b = general(a_batch, 4), rng(1).standard_normal(b_shape)
    got = mg.linalg.solve(mg.tensor(a), mg.tensor(b)).data
    if b.ndim == 1:
        want = per_matrix(lambda p: np.linalg.solve(p, b), a, core=(4,))
    else:
        want = per_matrix(np.linalg.solve, a, b, core=b.shape[-2:])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert mg.gradcheck(mg.linalg.solve, [leaf(a), leaf(b)]) is True


def test_solve_matches_numpy_exactly_where_numpy_reads_b_the_same_way():
    a, b = general((3,), 4), rng(1).standard_normal((3, 4, 2))
    np.testing.assert_array_equal(mg.linalg.solve(mg.tensor(a), mg.tensor(b)).data, np.linalg.solve(a, b))


@pytest.mark.parametrize("batch", BATCHES + [(0,)])
def test_inv(batch):
    a = general(batch, 3)
    np.testing.assert_array_equal(mg.linalg.inv(mg.tensor(a)).data, np.linalg.inv(a))
    assert mg.gradcheck(mg.linalg.inv, [leaf(a)]) is True


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n", [1, 3])
def test_det_and_slogdet(batch, n):
    a = general(batch, n)
    a[..., 0, :] *= -1                                  # both signs of det in the stack
    np.testing.assert_array_equal(mg.linalg.det(mg.tensor(a)).data, np.linalg.det(a))
    sign, logabsdet = mg.linalg.slogdet(mg.tensor(a))
    want = np.linalg.slogdet(a)
    np.testing.assert_array_equal(sign.data, want.sign)
    np.testing.assert_array_equal(logabsdet.data, want.logabsdet)
    assert mg.gradcheck(mg.linalg.det, [leaf(a)]) is True
    assert mg.gradcheck(lambda x: mg.linalg.slogdet(x).logabsdet, [leaf(a)]) is True


def test_slogdet_sign_is_a_constant_and_logabsdet_has_the_inverse_transpose_gradient():
    a = general((2,), 3, seed=3)
    x = leaf(a)
    sign, logabsdet = mg.linalg.slogdet(x)
    assert not sign.requires_grad and sign.grad_fn is None
    logabsdet.sum().backward()
    np.testing.assert_allclose(x.grad, np.swapaxes(np.linalg.inv(a), -1, -2), rtol=1e-12)


def test_det_of_empty_matrices():
    a = np.zeros((2, 0, 0))
    x = leaf(a)
    y = mg.linalg.det(x)
    np.testing.assert_array_equal(y.data, np.linalg.det(a))      # the empty product: 1
    y.sum().backward()
    assert x.grad.shape == (2, 0, 0)


def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix():
    """det is a polynomial, so it has a gradient everywhere; at rank M − 1 it is the non-zero cofactor matrix,
    which the SVD form computes without an inverse (det(A)·A⁻ᵀ would be 0·∞)."""
    a = rng(4).standard_normal((3, 3))
    a[2] = a[0] - 2 * a[1]                              # rank 2: det = 0
    x = leaf(a)
    mg.linalg.det(x).backward()
    cof = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(3)]
                    for i in range(3)])
    np.testing.assert_allclose(x.grad, cof, rtol=1e-10, atol=1e-12)
    assert np.abs(cof).max() > 0.1
    assert mg.gradcheck(mg.linalg.det, [leaf(a)]) is True


def test_ill_conditioned_solve_inv_slogdet():
    """Condition number 1e6 (singular values 1 … 1e6, so ‖A⁻¹‖ = 1 and solve, inv and log|det| have unit-scale
    derivatives): forward equal to NumPy's, gradients against finite differences. The entries of A are up to
    1e6, so a step of 1e-6 would be lost in rounding (error ~cond·ε_mach / eps ≈ 1e-4); eps = 1e-3 keeps that at
    1e-7 while the O(eps²) truncation error stays ~1e-6."""
    a = ill_conditioned((2,), 4, seed=5)
    assert np.linalg.cond(a).min() > 0.9e6
    b = rng(6).standard_normal((2, 4, 1))
    np.testing.assert_array_equal(mg.linalg.solve(mg.tensor(a), mg.tensor(b)).data, np.linalg.solve(a, b))
    np.testing.assert_array_equal(mg.linalg.inv(mg.tensor(a)).data, np.linalg.inv(a))
    np.testing.assert_array_equal(mg.linalg.slogdet(mg.tensor(a)).logabsdet.data, np.linalg.slogdet(a).logabsdet)
    assert mg.gradcheck(mg.linalg.solve, [leaf(a), leaf(b)], eps=1e-3) is True
    assert mg.gradcheck(mg.linalg.inv, [leaf(a)], eps=1e-3) is True
    assert mg.gradcheck(lambda p: mg.linalg.slogdet(p).logabsdet, [leaf(a)], eps=1e-3) is True


def test_solve_inv_det_keep_float32():
    a = leaf(general((2,), 3).astype(np.float32))
    b = leaf(np.ones((2, 3, 1), np.float32))
    for y in (mg.linalg.solve(a, b), mg.linalg.inv(a), mg.linalg.det(a), mg.linalg.slogdet(a).logabsdet):
        assert y.dtype == np.float32
        a.grad = None
        y.sum().backward()
        assert a.grad.dtype == np.float32


def test_solve_inv_det_errors():
    with pytest.raises(np.linalg.LinAlgError, match=r"Solve: a must be a square matrix.*\(2, 3\)"):
        mg.linalg.solve(mg.tensor(np.ones((2, 3))), mg.tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"Solve: b must have shape .* M = 3.*b \(4, 2\)"):
        mg.linalg.solve(mg.tensor(general((), 3)), mg.tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match=r"Solve: the batch axes of a \(2, 3, 3\) and b \(5, 3, 1\) do not broadcast"):
        mg.linalg.solve(mg.tensor(general((2,), 3)), mg.tensor(np.ones((5, 3, 1))))
    with pytest.raises(np.linalg.LinAlgError, match="Solve: Singular matrix"):
        mg.linalg.solve(mg.tensor(np.ones((3, 3))), mg.tensor(np.ones(3)))
    with pytest.raises(np.linalg.LinAlgError, match="Inv: Singular matrix"):
        mg.linalg.inv(mg.tensor(np.ones((3, 3))))
    for fn, name in ((mg.linalg.inv, "Inv"), (mg.linalg.det, "Det"), (mg.linalg.slogdet, "Slogdet")):
        with pytest.raises(np.linalg.LinAlgError, match=rf"{name}: a must be a square matrix.*\(3,\)"):
            fn(mg.tensor(np.ones(3)))


# ----------------------------------------------------------------------------------------------
# eigh, eigvalsh, svdvals

def sign_free(v):
    """A function of the eigenvectors that does not depend on their arbitrary signs: V ⊙ (first row of V)."""
    return v * v[..., :1, :]


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("UPLO", ["L", "U"])
def test_eigh(batch, UPLO):
    a = rng(7).standard_normal(batch + (4, 4))           # not symmetric: eigh reads one triangle, as NumPy
    w, v = mg.linalg.eigh(mg.tensor(a), UPLO=UPLO)
    want = np.linalg.eigh(a, UPLO=UPLO)
    np.testing.assert_array_equal(w.data, want.eigenvalues)
    np.testing.assert_array_equal(v.data, want.eigenvectors)
    np.testing.assert_array_equal(mg.linalg.eigvalsh(mg.tensor(a), UPLO).data, want.eigenvalues)
    s = spd(batch, 4, seed=8, cond=30)                   # eigenvalues 1 … 30, log-spaced: distinct
    assert mg.gradcheck(lambda x: mg.linalg.eigh(sym(x), UPLO).eigenvalues, [leaf(s)]) is True
    assert mg.gradcheck(lambda x: sign_free(mg.linalg.eigh(sym(x), UPLO).eigenvectors), [leaf(s)]) is True


def test_eigh_eigenvalue_gradient_with_repeated_eigenvalues():
    """With V unused, Ā = V diag(w̄) Vᵀ needs no eigenvalue gap: sum(w) = trace(A) has gradient I even at A = I."""
    x = leaf(np.eye(3))
    mg.sum(mg.linalg.eigvalsh(x)).backward()
    np.testing.assert_allclose(x.grad, np.eye(3), atol=1e-15)
    assert np.isfinite(x.grad).all()


def test_eigh_ill_conditioned():
    """Eigenvalues 1 … 1e6 of an SPD matrix (distinct, gaps ≥ 1): eigenvalues and sign-free eigenvector
    functions against finite differences (eps = 1e-5 ≪ the smallest gap)."""
    s = spd((2,), 4, seed=9, cond=1e6)
    assert mg.gradcheck(lambda x: mg.linalg.eigh(sym(x)).eigenvalues * 1e-6, [leaf(s)], eps=1e-5) is True
    assert mg.gradcheck(lambda x: sign_free(mg.linalg.eigh(sym(x)).eigenvectors), [leaf(s)], eps=1e-5) is True


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 3), (2, 3, 5), (1, 2, 2)])
def test_svdvals(shape):
    a = rng(10).standard_normal(shape)
    np.testing.assert_allclose(mg.linalg.svdvals(mg.tensor(a)).data, np.linalg.svd(a, compute_uv=False),
                               rtol=1e-12)
    assert mg.gradcheck(mg.linalg.svdvals, [leaf(a)]) is True


def weighted_pairs(result, k):
    """Σᵢ cᵢ uᵢ vᵢᵀ with fixed weights c = 1 … k: a function of U and V that does not depend on the arbitrary
    sign of each singular pair (uᵢ, vᵢ)."""
    return mg.matmul(result.U[..., :, :k] * mg.tensor(np.arange(1.0, k + 1)), result.Vh[..., :k, :])


@pytest.mark.parametrize("shape", [(3, 3), (4, 3), (3, 5), (2, 4, 3), (2, 3, 4)])
@pytest.mark.parametrize("full_matrices", [False, True])
def test_svd(shape, full_matrices):
    a = rng(19).standard_normal(shape)
    got = mg.linalg.svd(mg.tensor(a), full_matrices=full_matrices)
    want = np.linalg.svd(a, full_matrices=full_matrices)
    for ours, theirs in zip(got, want):
        np.testing.assert_array_equal(ours.data, theirs)
    k = min(shape[-2:])
    assert mg.gradcheck(lambda x: mg.linalg.svd(x, full_matrices).S, [leaf(a)]) is True
    assert mg.gradcheck(lambda x: weighted_pairs(mg.linalg.svd(x, full_matrices), k), [leaf(a)]) is True


def test_svd_compute_uv_false_is_svdvals():
    a = rng(20).standard_normal((2, 3, 4))
    np.testing.assert_allclose(mg.linalg.svd(mg.tensor(a), compute_uv=False).data,
                               np.linalg.svd(a, compute_uv=False), rtol=1e-12)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 5), (3, 4, 2)])
def test_pinv(shape):
    a = rng(21).standard_normal(shape)                  # full rank, so the rank is locally constant
    np.testing.assert_array_equal(mg.linalg.pinv(mg.tensor(a)).data, np.linalg.pinv(a))
    assert mg.gradcheck(mg.linalg.pinv, [leaf(a)]) is True


def test_eigh_and_svdvals_errors():
    with pytest.raises(np.linalg.LinAlgError, match=r"Eigh: a must be a square matrix.*\(2, 3\)"):
        mg.linalg.eigh(mg.tensor(np.ones((2, 3))))
    for fn, name in ((mg.linalg.svdvals, "SvdVals"), (mg.linalg.svd, "Svd"), (mg.linalg.pinv, "Pinv")):
        with pytest.raises(np.linalg.LinAlgError, match=rf"{name}: a must be a matrix.*\(3,\)"):
            fn(mg.tensor(np.ones(3)))


# ----------------------------------------------------------------------------------------------
# norm

NORMS = [  # (ord, axis): vector norms over one axis, matrix norms over two, and axis=None
    (None, None), (None, 1), (2, -1), (1, 0), (3, 2), (0.5, 1), (-1, 1), (np.inf, 1), (-np.inf, 2), (0, 1),
    (None, (1, 2)), ("fro", (0, 2)), ("nuc", (1, 2)), (2, (2, 1)), (-2, (1, 2)), (1, (1, 2)), (-1, (2, 0)),
    (np.inf, (1, 2)), (-np.inf, (0, 1)),
]


@pytest.mark.parametrize("ord,axis", NORMS, ids=[f"{o}-{a}" for o, a in NORMS])
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm(ord, axis, keepdims):
    x = rng(11).standard_normal((3, 4, 5))
    got = mg.linalg.norm(mg.tensor(x), ord, axis, keepdims).data
    want = np.linalg.norm(x, ord, axis, keepdims)
    assert got.shape == want.shape
    if ord in (2, -2, "nuc") and np.ndim(axis) == 1:
        np.testing.assert_allclose(got, want, rtol=1e-12)   # singular values from the SVD with U, V: last bits differ
    else:
        np.testing.assert_array_equal(got, want)
    assert mg.gradcheck(lambda t: mg.linalg.norm(t, ord, axis, keepdims), [leaf(x)]) is True


@pytest.mark.parametrize("ord", [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
def test_norm_of_a_matrix_with_axis_none(ord):
    x = rng(12).standard_normal((4, 3))
    np.testing.assert_allclose(mg.linalg.norm(mg.tensor(x), ord).data, np.linalg.norm(x, ord), rtol=1e-12)
    assert mg.gradcheck(lambda t: mg.linalg.norm(t, ord), [leaf(x)]) is True


@pytest.mark.parametrize("ord", [None, 1, 2, 3, np.inf, -np.inf, 0])
def test_norm_of_a_vector_with_axis_none(ord):
    x = rng(13).standard_normal(5)
    np.testing.assert_array_equal(mg.linalg.norm(mg.tensor(x), ord).data, np.linalg.norm(x, ord))
    assert mg.gradcheck(lambda t: mg.linalg.norm(t, ord), [leaf(x)]) is True


@pytest.mark.parametrize("ord", [None, 1, 3, 0.5, np.inf, -np.inf])
def test_norm_subgradient_at_the_zero_vector_is_zero_as_pytorch(ord):
    x = leaf(np.zeros((2, 3)))
    mg.linalg.norm(x, ord, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))


def test_norm_subgradients_at_ties_and_zeros_match_pytorch():
    torch = pytest.importorskip("torch")
    for ord in (np.inf, -np.inf, 1, 0.5, 2):
        v = np.array([0.0, -3.0, 3.0, 1.0])
        x = leaf(v)
        mg.linalg.norm(x, ord).backward()
        t = torch.tensor(v, requires_grad=True)
        torch.linalg.vector_norm(t, float(ord)).backward()
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-15, err_msg=f"ord={ord}")


def test_norm_keeps_float32():
    x = leaf(rng(14).standard_normal((3, 4)).astype(np.float32))
    for ord in (None, 1, "nuc", np.inf):
        y = mg.linalg.norm(x, ord)
        assert y.dtype == np.float32, ord
        x.grad = None
        y.backward()
        assert x.grad.dtype == np.float32


def test_norm_errors():
    x = mg.tensor(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"norm: ord=1 with axis=None needs a vector or a matrix.*\(2, 3, 4\)"):
        mg.linalg.norm(x, 1)
    with pytest.raises(ValueError, match="norm: ord='fro' is a matrix norm"):
        mg.linalg.norm(x, "fro", axis=1)
    with pytest.raises(ValueError, match="norm: invalid ord 3 for a matrix norm"):
        mg.linalg.norm(x, 3, axis=(1, 2))
    with pytest.raises(ValueError, match="norm: axis must be one axis or two different axes"):
        mg.linalg.norm(x, None, axis=(1, -2))


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (2, 0), (-1, 1), (0, 1, 2)])
@pytest.mark.parametrize("ord", [2, 1, np.inf, 3])
def test_vector_norm(axis, ord):
    x = rng(22).standard_normal((3, 4, 5))
    for keepdims in (False, True):
        got = mg.linalg.vector_norm(mg.tensor(x), axis=axis, keepdims=keepdims, ord=ord).data
        np.testing.assert_array_equal(got, np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord))
    assert mg.gradcheck(lambda t: mg.linalg.vector_norm(t, axis=axis, keepdims=True, ord=ord), [leaf(x)]) is True


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, 2, -np.inf])
def test_matrix_norm(ord):
    x = rng(23).standard_normal((2, 4, 3))
    for keepdims in (False, True):
        got = mg.linalg.matrix_norm(mg.tensor(x), keepdims=keepdims, ord=ord).data
        np.testing.assert_allclose(got, np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord), rtol=1e-12)
    assert mg.gradcheck(lambda t: mg.linalg.matrix_norm(t, ord=ord), [leaf(x)]) is True


@pytest.mark.parametrize("shapes,axis", [(((4,), (4,)), -1), (((2, 1, 4), (3, 4)), -1), (((4, 2), (4, 1)), 0)])
def test_vecdot(shapes, axis):
    a, b = (rng(24 + i).standard_normal(s) for i, s in enumerate(shapes))
    np.testing.assert_allclose(mg.linalg.vecdot(mg.tensor(a), mg.tensor(b), axis=axis).data,
                               np.linalg.vecdot(a, b, axis=axis), rtol=1e-12)
    assert mg.gradcheck(lambda p, q: mg.linalg.vecdot(p, q, axis=axis), [leaf(a), leaf(b)]) is True


# ----------------------------------------------------------------------------------------------
# matrix_power

@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, -1, -2, -3])
@pytest.mark.parametrize("batch", [(), (2,)])
def test_matrix_power(n, batch):
    a = general(batch, 3) / 3
    got = mg.linalg.matrix_power(mg.tensor(a), n)
    np.testing.assert_array_equal(got.data, np.linalg.matrix_power(a, n))   # NumPy's order of products
    if n == 0:
        assert not got.requires_grad                     # the identity: a constant
    else:
        assert mg.gradcheck(lambda x: mg.linalg.matrix_power(x, n), [leaf(a)]) is True


def test_matrix_power_errors():
    with pytest.raises(np.linalg.LinAlgError, match=r"matrix_power: a must be a square matrix.*\(2, 3\)"):
        mg.linalg.matrix_power(mg.tensor(np.ones((2, 3))), 2)
    with pytest.raises(TypeError):
        mg.linalg.matrix_power(mg.tensor(np.eye(2)), 1.5)


# ----------------------------------------------------------------------------------------------
# An independent reference: PyTorch's gradients in float64 (skipped where PyTorch is absent)

def test_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    a, s = general((2,), 3, seed=15), spd((2,), 3, seed=16)
    b = rng(17).standard_normal((2, 3, 2))
    g = rng(18)
    cases = {
        "cholesky": (lambda m: mg.linalg.cholesky(m), lambda m: torch.linalg.cholesky(m), s),
        "solve": (lambda m: mg.linalg.solve(m, mg.tensor(b)), lambda m: torch.linalg.solve(m, torch.tensor(b)), a),
        "inv": (mg.linalg.inv, torch.linalg.inv, a),
        "det": (mg.linalg.det, torch.linalg.det, a),
        "logabsdet": (lambda m: mg.linalg.slogdet(m).logabsdet, lambda m: torch.linalg.slogdet(m).logabsdet, a),
        "eigvalsh": (mg.linalg.eigvalsh, torch.linalg.eigvalsh, s),
        "nuc": (lambda m: mg.linalg.norm(m, "nuc", axis=(1, 2)), lambda m: torch.linalg.matrix_norm(m, "nuc"), a),
        "pinv": (mg.linalg.pinv, torch.linalg.pinv, a[:, :, :2]),
        "qr tall": (qr_pair(mg.linalg.qr, mg.concatenate), qr_pair(torch.linalg.qr, torch.cat), a[:, :, :2]),
        "qr wide": (qr_pair(mg.linalg.qr, mg.concatenate), qr_pair(torch.linalg.qr, torch.cat), a[:, :2, :]),
        "cond": (mg.linalg.cond, torch.linalg.cond, a),
        "cond 1": (lambda m: mg.linalg.cond(m, 1),         # torch.linalg.cond(m, 1)'s backward fails (in-place)
                   lambda m: torch.linalg.matrix_norm(m, 1) * torch.linalg.matrix_norm(torch.linalg.inv(m), 1), a),
        "svd": (lambda m: weighted_pairs(mg.linalg.svd(m, False), 2),
                lambda m: (lambda u, s, vh: (u * torch.tensor([1.0, 2.0], dtype=m.dtype)) @ vh)(
                    *torch.linalg.svd(m, full_matrices=False)), a[:, :, :2]),
    }
    for name, (ours, theirs, m) in cases.items():
        x, t = leaf(m), torch.tensor(m, requires_grad=True)
        y = ours(x)
        w = g.standard_normal(y.shape)
        y.backward(w)
        theirs(t).backward(torch.tensor(w))
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def qr_pair(qr, cat):
    """Q and R of a stack of two matrices side by side, one row per matrix, in either library."""
    return lambda m: (lambda q, r: cat([q.reshape(2, -1), r.reshape(2, -1)], 1))(*qr(m))


def test_functions_accept_arrays_and_lists_as_numpy_does():
    a = [[4.0, 1.0], [1.0, 3.0]]
    np.testing.assert_array_equal(mg.linalg.norm([3.0, 4.0]).data, 5.0)
    np.testing.assert_array_equal(mg.linalg.solve(np.array(a), [1.0, 2.0]).data, np.linalg.solve(a, [1.0, 2.0]))
    np.testing.assert_array_equal(mg.linalg.cholesky(np.array(a)).data, np.linalg.cholesky(a))
    np.testing.assert_array_equal(mg.linalg.matrix_power(np.array(a), 2).data, np.linalg.matrix_power(a, 2))
    np.testing.assert_array_equal(mg.linalg.multi_dot([a, a, [1.0, 2.0]]).data, np.linalg.multi_dot([a, a, [1.0, 2.0]]))
    np.testing.assert_array_equal(mg.linalg.qr(a).R.data, np.linalg.qr(a).R)
    np.testing.assert_allclose(mg.linalg.lstsq(a, [1.0, 2.0])[0].data, np.linalg.lstsq(a, [1.0, 2.0])[0], rtol=1e-12)
    np.testing.assert_array_equal(mg.linalg.cond(a, 1).data, np.linalg.cond(a, 1))


def test_minigrad_linalg_imports_as_numpy_linalg_does_and_numpy_dispatches_to_it():
    import minigrad.linalg
    from minigrad.linalg import solve
    assert minigrad.linalg is mg.linalg and solve is mg.linalg.solve
    a, b = general((), 3), rng(30).standard_normal(3)
    x = leaf(a)
    y = np.linalg.solve(x, mg.tensor(b))                 # __array_function__: minigrad.linalg.solve, recorded
    assert isinstance(y, mg.Tensor) and y.requires_grad
    np.testing.assert_array_equal(y.data, np.linalg.solve(a, b))
    assert isinstance(np.linalg.norm(x, axis=1), mg.Tensor)
    q, r = np.linalg.qr(x)
    assert isinstance(q, mg.Tensor) and q.requires_grad and isinstance(np.linalg.cond(x), mg.Tensor)


def test_ill_conditioned_cholesky_gradient_matches_pytorch():
    """Condition number 1e6: the two implementations of the same stable formula agree to 1e-9 of the gradient's
    scale (rounding amplified by at most cond(L) = 1e3 from ~1e-16)."""
    torch = pytest.importorskip("torch")
    a = spd((3,), 6, seed=1, cond=1e6)
    g = rng(31).standard_normal(a.shape)
    x, t = leaf(a), torch.tensor(a, requires_grad=True)
    mg.linalg.cholesky(x).backward(g)
    torch.linalg.cholesky(t).backward(torch.tensor(g))
    want = t.grad.numpy()
    assert np.abs(x.grad - want).max() <= 1e-9 * np.abs(want).max()


# ----------------------------------------------------------------------------------------------
# qr

def rectangular(batch, m, n, seed=0, cond=1e6):
    """U diag(σ) Vᵀ of shape (…, M, N), σ log-spaced in [1, cond], U, V with random orthonormal columns."""
    r = rng(seed)
    u, _ = np.linalg.qr(r.standard_normal(batch + (m, m)))
    v, _ = np.linalg.qr(r.standard_normal(batch + (n, n)))
    k = min(m, n)
    return (u[..., :k] * np.logspace(0, np.log10(cond), k)) @ np.swapaxes(v[..., :k], -1, -2)


def qr_packed(mode="reduced"):
    """Q and R of qr(x, mode) flattened into one vector, so that gradcheck weighs every entry of both."""
    def fn(x):
        q, r = mg.linalg.qr(x, mode)
        return mg.concatenate([q.reshape(-1), r.reshape(-1)])
    return fn


QR_SHAPES = [(3, 3), (5, 3), (3, 5), (2, 4, 3), (2, 3, 4), (2, 2, 3, 3), (1, 1), (4, 1), (1, 4)]


@pytest.mark.parametrize("shape", QR_SHAPES)
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr_forward_and_grad(shape, mode):
    """The factors are LAPACK's, as NumPy's, so equal bit for bit; the gradient (square, tall, wide, batched)
    against finite differences, everywhere it is defined (complete mode: M ≤ N)."""
    a = rng(40).standard_normal(shape)
    got, want = mg.linalg.qr(mg.tensor(a), mode), np.linalg.qr(a, mode)
    assert type(got).__name__ == "QRResult" and got._fields == ("Q", "R")
    np.testing.assert_array_equal(got.Q.data, want.Q)
    np.testing.assert_array_equal(got.R.data, want.R)
    if mode == "reduced" or shape[-2] <= shape[-1]:
        assert mg.gradcheck(qr_packed(mode), [leaf(a)]) is True
        assert mg.gradcheck(lambda x: mg.linalg.qr(x, mode).R, [leaf(a)]) is True     # Q̄ = 0
        assert mg.gradcheck(lambda x: mg.linalg.qr(x, mode).Q, [leaf(a)]) is True     # R̄ = 0


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (3, 5)])
def test_qr_ill_conditioned(shape):
    """Condition number 1e6 (σ in [1, 1e6]). eps = 1e-4 as for cholesky: the truncation error O((eps/σ_min)²)
    and the rounding error ~1e-16·|R|/eps ≈ 1e-6 both stay below the tolerance (at the default eps = 1e-6
    rounding alone is ~1e-4 of |R| ~ 1e6, and the check would accuse a correct VJP)."""
    a = rectangular((2,), *shape, seed=41)
    assert np.linalg.cond(a).min() > 0.9e6
    assert mg.gradcheck(qr_packed(), [leaf(a)], eps=1e-4) is True


def test_qr_mode_r_and_tall_complete_refuse_a_gradient_as_pytorch():
    a = rng(42).standard_normal((4, 3))
    r = mg.linalg.qr(leaf(a), "r")
    np.testing.assert_array_equal(r.data, np.linalg.qr(a, "r"))
    with pytest.raises(RuntimeError, match=r"qr: .*depends on Q.*mode='r'.*\(4, 3\)"):
        r.sum().backward()
    q, r = mg.linalg.qr(leaf(a), "complete")
    assert q.shape == (4, 4)
    with pytest.raises(RuntimeError, match=r"qr: .*not differentiable when mode='complete'.*\(4, 3\)"):
        r.sum().backward()
    q, r = mg.linalg.qr(leaf(a.T), "complete")                   # M ≤ N: Q is unique, so complete differentiates
    (q.sum() + r.sum()).backward()


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0), (2, 0, 3), (2, 3, 0)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_of_empty_matrices(shape, mode):
    a = np.zeros(shape)
    got, want = mg.linalg.qr(mg.tensor(a), mode), np.linalg.qr(a, mode)
    for ours, theirs in (zip(got, want) if mode != "r" else [(got, want)]):
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours.data, theirs)
    if mode == "reduced":
        x = leaf(a)
        (mg.linalg.qr(x).Q.sum() + mg.linalg.qr(x).R.sum()).backward()
        assert x.grad.shape == shape


def test_qr_keeps_float32():
    a = rng(43).standard_normal((2, 4, 3)).astype(np.float32)
    q, r = mg.linalg.qr(leaf(a))
    assert q.dtype == r.dtype == np.float32
    x = leaf(a)
    (mg.linalg.qr(x).Q.sum() + mg.linalg.qr(x).R.sum()).backward()
    assert x.grad.dtype == np.float32
    assert mg.gradcheck(qr_packed(), [leaf(a)]) is True                      # float32 tolerances, gradcheck's
    assert mg.linalg.qr(np.eye(3, dtype=int)).Q.dtype == np.float64          # as NumPy


def test_qr_errors():
    with pytest.raises(np.linalg.LinAlgError, match=r"QR: a must be a matrix.*\(3,\)"):
        mg.linalg.qr(mg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match=r"QR: mode must be 'reduced', 'complete' or 'r', got 'raw'"):
        mg.linalg.qr(mg.tensor(np.ones((3, 3))), "raw")


# ----------------------------------------------------------------------------------------------
# multi_dot

CHAINS = [[(3, 4), (4, 5)], [(4,), (4, 5)], [(4,), (4,)], [(10, 100), (100, 5), (5, 50)], [(10, 30), (30, 5), (5, 60)],
          [(4,), (4, 3), (3,)], [(6,), (6, 3), (3, 8), (8,)], [(10,), (10, 2), (2, 30), (30, 4), (4,)],
          [(5, 10), (10, 3), (3, 20), (20, 2), (2, 7)], [(3, 1), (1, 4), (4, 2), (2, 6), (6, 5), (5, 2)]]


@pytest.mark.parametrize("shapes", CHAINS, ids=[str(len(c)) + ":" + "x".join(map(str, c[0])) for c in CHAINS])
def test_multi_dot(shapes):
    """NumPy's order and NumPy's products (dot), so the same floats bit for bit."""
    arrays = [rng(50 + i).standard_normal(s) for i, s in enumerate(shapes)]
    got, want = mg.linalg.multi_dot([mg.tensor(a) for a in arrays]), np.linalg.multi_dot(arrays)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.data, want)
    assert mg.gradcheck(lambda *xs: mg.linalg.multi_dot(xs), [leaf(a) for a in arrays]) is True


def test_multi_dot_chooses_numpys_order():
    """The textbook chain (CLRS 15.2: dims 30, 35, 15, 5, 10, 20, 25) has the optimum ((A1 (A2 A3)) ((A4 A5) A6));
    and a chain whose orders round differently: only NumPy's order gives NumPy's floats."""
    split = mg.ops.linalg._chain_order([30, 35, 15, 5, 10, 20, 25])
    assert (split[0, 5], split[0, 2], split[3, 5]) == (2, 0, 4)
    arrays = [rng(60 + i).standard_normal(s) for i, s in enumerate([(20, 3), (3, 30), (30, 4), (4, 25)])]
    a, b, c, d = arrays
    want = np.linalg.multi_dot(arrays)
    assert not np.array_equal(want, ((a @ b) @ c) @ d)                 # the test can tell orders apart
    np.testing.assert_array_equal(mg.linalg.multi_dot(arrays).data, want)
    square = [rng(65 + i).standard_normal((5, 5)) for i in range(4)]  # every order costs the same: NumPy keeps the
    a, b, c, d = square                                               # first split at a tie, a (b (c d))
    want = np.linalg.multi_dot(square)
    np.testing.assert_array_equal(want, a @ (b @ (c @ d)))
    assert not np.array_equal(want, ((a @ b) @ c) @ d)
    np.testing.assert_array_equal(mg.linalg.multi_dot(square).data, want)


def test_multi_dot_errors():
    with pytest.raises(ValueError, match="multi_dot: expecting at least two arrays, got 1"):
        mg.linalg.multi_dot([np.ones((2, 2))])
    with pytest.raises(np.linalg.LinAlgError, match=r"multi_dot: array 0 has 3 dimensions, shape \(2, 2, 2\)"):
        mg.linalg.multi_dot([np.ones((2, 2, 2)), np.ones((2, 2)), np.ones((2, 2))])
    with pytest.raises(ValueError, match="not aligned"):
        mg.linalg.multi_dot([np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 3))])


# ----------------------------------------------------------------------------------------------
# lstsq

LSTSQ = [((6, 3), (6,)), ((6, 3), (6, 2)), ((4, 4), (4,)), ((4, 4), (4, 3)), ((3, 5), (3,)), ((3, 5), (3, 2))]


@pytest.mark.parametrize("a_shape,b_shape", LSTSQ)
def test_lstsq(a_shape, b_shape):
    """Well-conditioned full-rank problems: x through pinv against LAPACK's gelsd to 1e-12 of |x|, residuals
    (the tall case) to 1e-12 of ‖b‖², s to 1e-12; rank exact. Gradients of x (full column rank tall, square, full
    row rank wide) and of the residuals w.r.t. a and b."""
    a, b = rng(70).standard_normal(a_shape), rng(71).standard_normal(b_shape)
    x, residuals, rank, s = mg.linalg.lstsq(mg.tensor(a), mg.tensor(b))
    want = np.linalg.lstsq(a, b)
    assert x.shape == want[0].shape and residuals.shape == want[1].shape and s.shape == want[3].shape
    np.testing.assert_allclose(x.data, want[0], rtol=0, atol=1e-12 * np.abs(want[0]).max())
    np.testing.assert_allclose(residuals.data, want[1], rtol=0, atol=1e-12 * np.sum(b ** 2))
    assert type(rank) is int and rank == want[2] == min(a_shape)
    np.testing.assert_allclose(s.data, want[3], rtol=1e-12)
    assert mg.gradcheck(lambda a, b: mg.linalg.lstsq(a, b)[0], [leaf(a), leaf(b)]) is True
    if residuals.size:
        assert a_shape[0] > a_shape[1]
        assert mg.gradcheck(lambda a, b: mg.linalg.lstsq(a, b)[1], [leaf(a), leaf(b)]) is True


def test_lstsq_rank_deficient_gives_numpys_least_norm_solution():
    a = rng(72).standard_normal((5, 2)) @ rng(73).standard_normal((2, 4))          # rank 2 of 4
    b = rng(74).standard_normal((5, 2))
    x, residuals, rank, s = mg.linalg.lstsq(a, b)
    want = np.linalg.lstsq(a, b)
    np.testing.assert_allclose(x.data, want[0], rtol=0, atol=1e-12 * np.abs(want[0]).max())
    assert rank == want[2] == 2 and residuals.shape == want[1].shape == (0,)


@pytest.mark.parametrize("rcond", [None, -1, 0, 1.0, 2.0, 1.5e-16, 0.3])
def test_lstsq_rcond_as_numpy(rcond):
    """Singular values 1, 0.5, 1.3e-15, 1.5e-16, 1e-16 of a 7 × 5 matrix: NumPy's default eps · max(M, N) =
    1.55e-15 (eps · min(M, N) = 1.11e-15 would keep 1.3e-15), LAPACK's unit round-off eps/2 for rcond ≤ 0 or ≥ 1
    (keeps 1.5e-16, drops 1e-16), and a given cut-off (s ≤ rcond · s_max dropped)."""
    a, b = np.eye(7, 5) * [1.0, 0.5, 1.3e-15, 1.5e-16, 1e-16], np.ones(7)
    x, _, rank, _ = mg.linalg.lstsq(a, b, rcond)
    want = np.linalg.lstsq(a, b, rcond)
    assert rank == want[2]
    np.testing.assert_allclose(x.data, want[0], rtol=1e-12)


@pytest.mark.parametrize("a_shape,b_shape", [((3, 0), (3,)), ((0, 3), (0,)), ((0, 3), (0, 2)), ((3, 2), (3, 0)),
                                             ((0, 0), (0,))])
def test_lstsq_empty_as_numpy(a_shape, b_shape):
    a, b = rng(75).standard_normal(a_shape), np.ones(b_shape)
    got, want = mg.linalg.lstsq(a, b), np.linalg.lstsq(a, b)
    for i in (0, 1, 3):
        assert got[i].shape == want[i].shape
        np.testing.assert_allclose(got[i].data, want[i], rtol=1e-12)
    assert got[2] == want[2]


def test_lstsq_keeps_float32_and_errors():
    a, b = rng(76).standard_normal((5, 3)).astype(np.float32), rng(77).standard_normal(5).astype(np.float32)
    got, want = mg.linalg.lstsq(a, b), np.linalg.lstsq(a, b)
    assert [got[i].dtype for i in (0, 1, 3)] == [want[i].dtype for i in (0, 1, 3)] == [np.float32] * 3
    np.testing.assert_allclose(got[0].data, want[0], rtol=1e-5)
    with pytest.raises(np.linalg.LinAlgError, match=r"lstsq: a must be a matrix.*got a \(3,\), b \(3,\)"):
        mg.linalg.lstsq(np.ones(3), np.ones(3))
    with pytest.raises(np.linalg.LinAlgError, match=r"lstsq: a must be a matrix.*b \(2, 3, 1\)"):
        mg.linalg.lstsq(np.ones((3, 2)), np.ones((2, 3, 1)))
    with pytest.raises(np.linalg.LinAlgError, match=r"lstsq: incompatible dimensions: a \(3, 2\) has 3 rows, b"):
        mg.linalg.lstsq(np.ones((3, 2)), np.ones(4))


# ----------------------------------------------------------------------------------------------
# cond

CONDS = [None, 2, -2, "fro", "nuc", np.inf, -np.inf, 1, -1]


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
@pytest.mark.parametrize("p", CONDS, ids=str)
def test_cond(batch, p):
    """The same routines as NumPy's on the same matrices: 1e-12 relative (the sum of singular values for 'nuc'
    is the one that rounds differently)."""
    a = rng(80).standard_normal(batch + (4, 4))
    got = mg.linalg.cond(mg.tensor(a), p)
    want = np.linalg.cond(a, p)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got.data, want, rtol=1e-12)
    assert mg.gradcheck(lambda x: mg.linalg.cond(x, p), [leaf(a)]) is True


@pytest.mark.parametrize("shape", [(3, 5), (2, 5, 3)])
def test_cond_of_rectangular_matrices(shape):
    a = rng(81).standard_normal(shape)
    for p in (None, 2, -2):
        np.testing.assert_allclose(mg.linalg.cond(a, p).data, np.linalg.cond(a, p), rtol=1e-12)
        assert mg.gradcheck(lambda x, p=p: mg.linalg.cond(x, p), [leaf(a)]) is True
    with pytest.raises(np.linalg.LinAlgError, match=r"cond: a must be a square matrix.*" + re_shape(shape)):
        mg.linalg.cond(a, 1)


def re_shape(shape):
    return r"\(" + ", ".join(map(str, shape)) + r"\)"


@pytest.mark.parametrize("p", CONDS, ids=str)
def test_cond_of_singular_matrices_is_inf_as_numpy(p):
    """A regular, a singular and a zero matrix in one stack: inf where NumPy gives inf ('nuc' too, where NumPy
    itself stumbles on the NaN inverse with "SVD did not converge"); the regular one keeps its value and gradient."""
    a = np.stack([general((), 3, seed=82), [[1.0, 2, 3], [2, 4, 6], [1, 1, 1]], np.zeros((3, 3))])
    x = leaf(a)
    got = mg.linalg.cond(x, p)
    want = np.linalg.cond(a, p) if p != "nuc" else np.array([np.linalg.cond(a[0], p), np.inf, np.inf])
    np.testing.assert_allclose(got.data, want, rtol=1e-12)
    if p not in (None, 2, -2):                     # the inverse-based cond: the singular ones are constants
        got.sum().backward()
        assert np.isfinite(x.grad).all() and not x.grad[1:].any()
        assert mg.gradcheck(lambda x: mg.linalg.cond(x, p), [leaf(a[:1])]) is True


def test_cond_empty_nan_and_float32():
    with pytest.raises(np.linalg.LinAlgError, match=r"cond is not defined on empty matrices.*\(2, 0, 0\)"):
        mg.linalg.cond(np.zeros((2, 0, 0)))
    assert mg.linalg.cond(np.zeros((0, 3, 3))).shape == np.linalg.cond(np.zeros((0, 3, 3))).shape == (0,)
    a = np.stack([general((), 3, seed=83), np.zeros((3, 3))])
    a[0, 0, 0] = np.nan                              # NaN stays NaN; the zero matrix's NaN becomes inf
    np.testing.assert_array_equal(mg.linalg.cond(a, 1).data, np.linalg.cond(a, 1))
    a32 = general((2,), 3, seed=84).astype(np.float32)
    for p in CONDS:
        got = mg.linalg.cond(mg.tensor(a32), p)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.data, np.linalg.cond(a32, p), rtol=1e-6)


def test_ill_conditioned_qr_gradient_matches_pytorch():
    """Condition number 1e6, tall, square and wide: the same formula in both libraries, to 1e-8 of the gradient's
    scale (rounding amplified by up to cond(R) = 1e6 from ~1e-16)."""
    torch = pytest.importorskip("torch")
    for shape in ((6, 4), (4, 4), (4, 6)):
        a = rectangular((3,), *shape, seed=85)
        x, t = leaf(a), torch.tensor(a, requires_grad=True)
        ours, theirs = mg.linalg.qr(x), torch.linalg.qr(t)
        wq, wr = rng(86).standard_normal(ours.Q.shape), rng(87).standard_normal(ours.R.shape)
        (mg.sum(ours.Q * wq) + mg.sum(ours.R * wr)).backward()
        ((theirs.Q * torch.tensor(wq)).sum() + (theirs.R * torch.tensor(wr)).sum()).backward()
        want = t.grad.numpy()
        assert np.abs(x.grad - want).max() <= 1e-8 * np.abs(want).max(), shape
