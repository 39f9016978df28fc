"""minigrad.linalg, as numpy.linalg (and scipy.linalg's solve_triangular): functions of matrices, batched
over leading axes: an array of shape (…, M, N) is a stack of M × N matrices (lstsq and multi_dot take single
matrices, as NumPy's do).

Reached as `mg.linalg.<name>` (`mg.linalg.solve`, not `mg.solve`, as in NumPy). The right-hand side b
of a solve is a vector when b.ndim == 1 and a stack of (M, K) matrices otherwise (NumPy 2's rule; write
b[..., None] for a stack of vectors). The VJPs solve with the factor the forward computed instead of
forming an inverse wherever a solve serves. Functions of a symmetric matrix (cholesky, eigh) read one
triangle, as LAPACK does, and take the matrix as symmetric: their gradient is the symmetric one
(PyTorch's convention), which is the gradient of f((X + Xᵀ)/2) with respect to X.
"""

import operator
import sys
from collections import namedtuple

import numpy as np
import scipy.linalg

from ..engine import Function, Tensor
from . import elementwise, reductions, shape
from .matmul import dot as _dot
from .matmul import matmul, tensordot  # noqa: F401 - numpy.linalg has both too (NumPy 2)

__all__ = ['Cholesky', 'cholesky', 'SolveTriangular', 'solve_triangular', 'Solve', 'solve', 'Inv', 'inv', 'Det',
    'det', 'Slogdet', 'slogdet', 'Eigh', 'eigh', 'eigvalsh', 'SvdVals', 'svdvals', 'Svd', 'svd', 'Pinv', 'pinv',
    'VectorNorm', 'norm', 'vector_norm', 'matrix_norm', 'vecdot', 'matrix_power', 'matmul', 'tensordot', 'QR', 'qr',
    'multi_dot', 'lstsq', 'cond']

LinAlgError = np.linalg.LinAlgError     # a ValueError, as NumPy raises it

# `import minigrad.linalg` works as `import numpy.linalg` does, and np.linalg.X(tensor) finds minigrad.linalg.X
sys.modules.setdefault("minigrad.linalg", sys.modules[__name__])


def _t(x):
    """The transpose of every matrix in a stack."""
    return np.swapaxes(x, -1, -2)


def _as_matrix(a):
    """a as an ndarray, checked to be a matrix or a stack of them."""
    a = np.asarray(a)
    if a.ndim < 2:
        raise LinAlgError(f"a must be a matrix or a stack of them, shape (…, M, N); got shape {a.shape}")
    return a


def _as_square(a, op=""):
    """a as an ndarray, checked to be a square matrix or a stack of them."""
    a = np.asarray(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise LinAlgError(f"{op}a must be a square matrix or a stack of them, shape (…, M, M); got shape {a.shape}")
    return a


def _as_rhs(a, b):
    """b as an ndarray, (…, M, K) or (M,) against a (…, M, M): the rows must match and the batch axes broadcast."""
    b = np.asarray(b)
    rows = b.shape[0] if b.ndim == 1 else (b.shape[-2] if b.ndim >= 2 else None)
    if rows != a.shape[-1]:
        raise ValueError(f"b must have shape (M,) or (…, M, K) with M = {a.shape[-1]} rows as a (…, M, M) "
                         f"has; got a {a.shape}, b {b.shape} (for a stack of vectors pass b[..., None])")
    if b.ndim > 1:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"the batch axes of a {a.shape} and b {b.shape} do not broadcast") from None
    return b


def _float_dtype(*arrays):
    dtype = np.result_type(*arrays)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _trsolve(a, b, lower, trans=0, unit_diagonal=False):
    """X with op(A) X = B for triangular A (…, M, M) and B (…, M, K), batch axes broadcast; op(A) = A or Aᵀ.

    One A for a whole stack of B is one LAPACK call (scipy.linalg.solve_triangular) with the stack's columns
    side by side; otherwise a short stack is solved matrix by matrix with LAPACK, a stack longer than M by
    substitution, one row at a time over the whole stack: whichever loops fewer times in Python.
    A zero on the diagonal (a singular A) is refused rather than divided by."""
    if not unit_diagonal:
        zero = np.argwhere(np.diagonal(a, axis1=-2, axis2=-1) == 0)
        if len(zero):
            where = tuple(int(i) for i in zero[0])
            raise LinAlgError(f"singular matrix: a zero on the diagonal of triangular a at index {where} (batch index, "
                              "then row)")
    dtype, m = _float_dtype(a, b), a.shape[-1]
    if a.ndim == 2 and b.ndim > 2 and b.size:
        columns = np.moveaxis(b, -2, 0).reshape(m, -1)
        x = scipy.linalg.solve_triangular(a, columns, trans=trans, lower=lower, unit_diagonal=unit_diagonal,
                                          check_finite=False)
        return np.moveaxis(x.reshape((m,) + b.shape[:-2] + b.shape[-1:]), 0, -2).astype(dtype, copy=False)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a, b = np.broadcast_to(a, batch + a.shape[-2:]), np.broadcast_to(b, batch + b.shape[-2:])
    x = np.empty(b.shape, dtype)
    if np.prod(batch, dtype=int) <= m:
        for i in np.ndindex(batch):
            x[i] = scipy.linalg.solve_triangular(a[i], b[i], trans=trans, lower=lower,
                                                 unit_diagonal=unit_diagonal, check_finite=False)
        return x
    t, forward = (_t(a), not lower) if trans else (a, lower)      # solve T X = B with T lower or upper
    for i in (range(m) if forward else range(m - 1, -1, -1)):
        done = slice(0, i) if forward else slice(i + 1, m)
        r = b[..., i, :] - (t[..., i, None, done] @ x[..., done, :])[..., 0, :]
        x[..., i, :] = r if unit_diagonal else r / t[..., i, i, None]
    return x


# ----------------------------------------------------------------------------------------------
# Triangular factors and solves

class Cholesky(Function):
    """L = cholesky(A), A = L Lᵀ symmetric positive definite, L lower triangular (U = Lᵀ with upper=True);
    Ā = L⁻ᵀ · ½(P + Pᵀ) · L⁻¹ with P = Φ(Lᵀ L̄), Φ = the lower triangle with its diagonal halved.

    The stable form (Murray 2016, PyTorch): two triangular solves with L, no inverse. Ā is symmetric."""
    def forward(ctx, a, upper=False):
        a = _as_square(a)
        if not np.isfinite(a).all():
            raise LinAlgError("the matrix is not finite (it holds NaN or inf), so it has no Cholesky factor")
        try:
            factor = np.linalg.cholesky(a, upper=True) if upper else np.linalg.cholesky(a)
        except LinAlgError:
            raise LinAlgError(_not_positive_definite(a, upper)) from None
        ctx.save_for_backward(_t(factor) if upper else factor)
        ctx.upper = upper
        return factor

    def backward(ctx, g):
        L = ctx.saved_tensors[0]
        if ctx.upper:
            g = _t(g)
        P = np.tril(_t(L) @ g)       # L̄'s upper triangle (L is 0 there) drops out: tril(Lᵀ triu(L̄, 1)) = 0
        P[..., np.arange(L.shape[-1]), np.arange(L.shape[-1])] *= 0.5
        S = 0.5 * (P + _t(P))
        Y = _trsolve(L, S, lower=True, trans=1)                   # L⁻ᵀ S
        return _t(_trsolve(L, _t(Y), lower=True, trans=1))        # (L⁻ᵀ (L⁻ᵀ S)ᵀ)ᵀ = L⁻ᵀ S L⁻¹ (S symmetric)


def _not_positive_definite(a, upper):
    """Name the first matrix of the stack whose factorization broke down, and its smallest eigenvalue."""
    for i in np.ndindex(a.shape[:-2]):
        low = np.linalg.eigvalsh(a[i], UPLO="U" if upper else "L")[0]     # the same triangle as the factorization
        if not low > 0:
            where = f"the matrix at batch index {i}" if i else "the matrix"
            return (f"{where} is not positive definite (the check that failed: the Cholesky factorization broke "
                    f"down; the symmetric matrix read from its {'upper' if upper else 'lower'} triangle has smallest "
                    f"eigenvalue {low:.3g})")
    return "the matrix is not positive definite (the Cholesky factorization broke down)"


def cholesky(a, upper=False):
    """numpy.linalg.cholesky: L lower triangular with A = L Lᵀ (or U = Lᵀ with upper=True), for A symmetric
    positive definite; only one triangle of A is read, as in NumPy."""
    return Cholesky.apply(a, upper=upper)


_TRANS = {0: 0, "N": 0, 1: 1, "T": 1, 2: 1, "C": 1}   # real matrices: the conjugate transpose is the transpose


class SolveTriangular(Function):
    """X = op(A)⁻¹ B, A triangular, op(A) = A (trans=0) or Aᵀ (trans=1);
    B̄ = op(A)⁻ᵀ Ḡ (another triangular solve),  Ā = −B̄ Xᵀ (trans=0) or −X B̄ᵀ (trans=1),
    kept on the triangle the forward reads (strictly below or above it with unit_diagonal)."""
    def forward(ctx, a, b, trans=0, lower=False, unit_diagonal=False):
        a = _as_square(a)
        b = _as_rhs(a, b)
        if trans not in _TRANS:
            raise ValueError(f"trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
        vector = b.ndim == 1
        ctx.args = lower, _TRANS[trans], unit_diagonal, vector
        x = _trsolve(a, b[:, None] if vector else b, *ctx.args[:3])
        ctx.save_for_backward(a, x)
        return x[..., 0] if vector else x

    def backward(ctx, g):
        a, x = ctx.saved_tensors
        lower, trans, unit, vector = ctx.args
        gb = _trsolve(a, g[..., None] if vector else g, lower, 1 - trans, unit)
        ga = None
        if ctx.needs_input_grad[0]:
            ga = -(x @ _t(gb)) if trans else -(gb @ _t(x))
            ga = np.tril(ga, -int(unit)) if lower else np.triu(ga, int(unit))
        return ga, ((gb[..., 0] if vector else gb) if ctx.needs_input_grad[1] else None)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False):
    """scipy.linalg.solve_triangular, batched: x with op(a) x = b, a (…, M, M) triangular, b (M,) or (…, M, K).
    Only the triangle named by `lower` is read (scipy's default: upper); unit_diagonal takes the diagonal as 1."""
    return SolveTriangular.apply(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


# ----------------------------------------------------------------------------------------------
# General square matrices: solve, inverse, determinants

def _broadcast_pair(a, b):
    """a (…, M, M) and b (…, M, K) broadcast to one batch shape (NumPy 1 and 2 then read b alike)."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return np.broadcast_to(a, batch + a.shape[-2:]), np.broadcast_to(b, batch + b.shape[-2:])


class Solve(Function):
    """X = A⁻¹ B;  B̄ = A⁻ᵀ Ḡ (a solve with Aᵀ),  Ā = −B̄ Xᵀ"""
    def forward(ctx, a, b):
        a = _as_square(a)
        b = _as_rhs(a, b)
        ctx.vector = b.ndim == 1
        x = np.linalg.solve(*_broadcast_pair(a, b[:, None] if ctx.vector else b))
        ctx.save_for_backward(a, x)
        return x[..., 0] if ctx.vector else x

    def backward(ctx, g):
        a, x = ctx.saved_tensors
        gb = np.linalg.solve(*_broadcast_pair(_t(a), g[..., None] if ctx.vector else g))
        ga = -(gb @ _t(x)) if ctx.needs_input_grad[0] else None
        return ga, ((gb[..., 0] if ctx.vector else gb) if ctx.needs_input_grad[1] else None)


def solve(a, b):
    """numpy.linalg.solve: x with a x = b, a (…, M, M), b (M,) or (…, M, K), batch axes broadcast."""
    return Solve.apply(a, b)


class Inv(Function):
    """Y = A⁻¹;  Ā = −Yᵀ Ḡ Yᵀ"""
    def forward(ctx, a):
        a = _as_square(a)
        y = np.linalg.inv(a)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        yt = _t(ctx.saved_tensors[0])
        return -(yt @ g @ yt)


def inv(a):
    """numpy.linalg.inv, batched."""
    return Inv.apply(a)


class Det(Function):
    """y = det A;  Ā = ḡ · cof(A), the cofactor matrix (= det(A) A⁻ᵀ when A is invertible), computed from the
    SVD A = U S Vᵀ as cof(A) = det(U) det(V) · U diag(∏ⱼ≠ᵢ sⱼ) Vᵀ: no inverse, and exact for singular A too
    (rank M − 1 has a non-zero gradient), as PyTorch."""
    def forward(ctx, a):
        a = _as_square(a)
        ctx.save_for_backward(a)
        return np.linalg.det(a)

    def backward(ctx, g):
        a = ctx.saved_tensors[0]
        if a.shape[-1] == 0:
            return np.zeros(a.shape, g.dtype)
        u, s, vt = np.linalg.svd(a)
        ones = np.ones(s.shape[:-1] + (1,), s.dtype)
        before = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)   # ∏ⱼ<ᵢ sⱼ
        after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]   # ∏ⱼ>ᵢ sⱼ
        sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))
        return (g * sign)[..., None, None] * ((u * (before * after)[..., None, :]) @ vt)


def det(a):
    """numpy.linalg.det, batched."""
    return Det.apply(a)


SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")


class Slogdet(Function):
    """y = (sign det A, log |det A|) stacked on a new first axis;  Ā = ḡ_log · A⁻ᵀ (a solve with Aᵀ).
    The sign is piecewise constant: it passes no gradient, and slogdet() hands it out as a constant."""
    def forward(ctx, a):
        a = _as_square(a)
        ctx.save_for_backward(a)
        return np.stack(np.linalg.slogdet(a))

    def backward(ctx, g):
        a = ctx.saved_tensors[0]
        eye = np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)
        return np.linalg.solve(_t(a), g[1][..., None, None] * eye)


def slogdet(a):
    """numpy.linalg.slogdet: (sign, logabsdet) with det A = sign · exp(logabsdet), without overflow; only
    logabsdet carries a gradient."""
    both = Slogdet.apply(a)
    return SlogdetResult(Tensor(both.data[0]), both[1])


# ----------------------------------------------------------------------------------------------
# Symmetric eigendecomposition and singular values

EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")


class Eigh(Function):
    """(w, V) = eigh(A), A = V diag(w) Vᵀ symmetric (one triangle read), packed as rows [w; V];
    Ā = V (diag(w̄) + F ∘ ½(Vᵀ V̄ − V̄ᵀ V)) Vᵀ with F_ij = 1 / (w_j − w_i), F_ii = 0 (symmetric Ā).

    Requires distinct eigenvalues when V carries a gradient (F is infinite otherwise); a loss of w alone,
    or of V through sign-independent terms, is what is well defined: each eigenvector's sign is arbitrary."""
    def forward(ctx, a, UPLO="L"):
        a = _as_square(a)
        w, v = np.linalg.eigh(a, UPLO=UPLO)
        ctx.save_for_backward(w, v)
        return np.concatenate([w[..., None, :], v], axis=-2)

    def backward(ctx, g):
        w, v = ctx.saved_tensors
        gw, gv = g[..., 0, :], g[..., 1:, :]
        inner = gw[..., None, :] * np.eye(w.shape[-1], dtype=g.dtype)
        if np.any(gv):                       # only then does the 1/(w_j − w_i) term enter
            vtgv = _t(v) @ gv
            gap = w[..., None, :] - w[..., :, None]
            diagonal = np.arange(w.shape[-1])
            gap[..., diagonal, diagonal] = np.inf                  # F_ii = 1/inf = 0
            inner = inner + 0.5 * (vtgv - _t(vtgv)) / gap
        return v @ inner @ _t(v)


def eigh(a, UPLO="L"):
    """numpy.linalg.eigh: eigenvalues in ascending order and orthonormal eigenvectors (columns) of symmetric a,
    read from its lower (UPLO='L') or upper triangle."""
    both = Eigh.apply(a, UPLO=UPLO)
    return EighResult(both[..., 0, :], both[..., 1:, :])


def eigvalsh(a, UPLO="L"):
    """numpy.linalg.eigvalsh, as eigh(a).eigenvalues (its gradient V diag(w̄) Vᵀ needs no distinct eigenvalues)."""
    return eigh(a, UPLO).eigenvalues


class SvdVals(Function):
    """s = singular values of A (…, M, N), descending;  Ā = U diag(s̄) Vᵀ (thin SVD)

    Exact where the singular values carrying a gradient are distinct and non-zero (the nuclear norm's
    U Vᵀ needs only full rank)."""
    def forward(ctx, a):
        a = _as_matrix(a)
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        ctx.save_for_backward(u, vt)
        return s

    def backward(ctx, g):
        u, vt = ctx.saved_tensors
        return (u * g[..., None, :]) @ vt


def svdvals(a):
    """numpy.linalg.svdvals: the singular values of a (…, M, N), in descending order."""
    return SvdVals.apply(a)


SVDResult = namedtuple("SVDResult", "U S Vh")


class Svd(Function):
    """(U, s, Vh) = svd(A), A = U diag(s) Vh, packed as one row [U.ravel(), s, Vh.ravel()] per matrix;
    with S = diag(s), F_ij = 1 / (s_j² − s_i²) (F_ii = 0), J = F ∘ (UᵀŪ − ŪᵀU), K = F ∘ (VᵀV̄ − V̄ᵀV), V = Vhᵀ:
    Ā = U (J S + diag(s̄) + S K) Vᵀ + (I − UUᵀ) Ū S⁻¹ Vᵀ + U S⁻¹ V̄ᵀ (I − VVᵀ)   (Townsend 2016; HIPS autograd).

    Needs distinct, non-zero singular values when U or V carry a gradient; the loss must not depend on the
    signs of the singular vector pairs (u_i, v_i), which are arbitrary. With full_matrices=True the columns
    beyond min(M, N) span the complement arbitrarily: they pass no gradient (as PyTorch)."""
    def forward(ctx, a, full_matrices=True, hermitian=False):
        a = _as_matrix(a)
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices, hermitian=hermitian)
        k = s.shape[-1]
        ctx.save_for_backward(u[..., :k], s, vh[..., :k, :])
        ctx.shapes = u.shape[-2:], vh.shape[-2:]
        batch = a.shape[:-2]
        return np.concatenate([u.reshape(batch + (-1,)), s, vh.reshape(batch + (-1,))], axis=-1)

    def backward(ctx, g):
        u, s, vh = ctx.saved_tensors
        (m, ku), (kv, n) = ctx.shapes
        k = s.shape[-1]
        batch = g.shape[:-1]
        gu = g[..., :m * ku].reshape(batch + (m, ku))[..., :k]
        gs = g[..., m * ku:m * ku + k]
        gv = _t(g[..., m * ku + k:].reshape(batch + (kv, n))[..., :k, :])
        v = _t(vh)
        inner = gs[..., None, :] * np.eye(k, dtype=g.dtype)
        if np.any(gu) or np.any(gv):          # only then do the 1/(s_j² − s_i²) and 1/s terms enter
            gap = s[..., None, :] ** 2 - s[..., :, None] ** 2
            diagonal = np.arange(k)
            gap[..., diagonal, diagonal] = np.inf                 # F_ii = 0
            utgu, vtgv = _t(u) @ gu, _t(v) @ gv
            inner = inner + (utgu - _t(utgu)) / gap * s[..., None, :] + s[..., :, None] * (vtgv - _t(vtgv)) / gap
            ga = u @ inner @ vh
            ga = ga + (gu - u @ (_t(u) @ gu)) / s[..., None, :] @ vh         # (I − UUᵀ) Ū S⁻¹ Vᵀ
            return ga + (u / s[..., None, :]) @ (_t(gv) - (_t(gv) @ v) @ vh)  # U S⁻¹ V̄ᵀ (I − VVᵀ)
        return u @ inner @ vh


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """numpy.linalg.svd: (U, S, Vh) with a = U diag(S) Vh (S descending), or only S with compute_uv=False."""
    if not compute_uv:
        return svdvals(a)
    shape = np.shape(a.data if isinstance(a, Tensor) else a)
    packed = Svd.apply(a, full_matrices=full_matrices, hermitian=hermitian)
    m, n = shape[-2:]
    k = min(m, n)
    ku, kv = (m, n) if full_matrices else (k, k)
    batch = shape[:-2]
    return SVDResult(packed[..., :m * ku].reshape(batch + (m, ku)), packed[..., m * ku:m * ku + k],
                     packed[..., m * ku + k:].reshape(batch + (kv, n)))


class Pinv(Function):
    """P = A⁺ (Moore–Penrose, through the SVD with singular values below rcond·s_max dropped);
    Ā = (−P Ḡᵀ P + P Pᵀ Ḡ (I − A P) + (I − P A) Ḡ Pᵀ P)ᵀ   (Golub & Pereyra 1973; HIPS autograd),
    the derivative along perturbations that keep the rank."""
    def forward(ctx, a, rcond=None):
        a = _as_matrix(a)
        p = np.linalg.pinv(a) if rcond is None else np.linalg.pinv(a, rcond=rcond)
        ctx.save_for_backward(a, p)
        return p

    def backward(ctx, g):
        a, p = ctx.saved_tensors
        pt = _t(p)
        ap, pa = a @ p, p @ a
        return _t(-(p @ _t(g) @ p) + (p @ pt) @ (g - g @ ap) + (g - pa @ g) @ (pt @ p))


def pinv(a, rcond=None):
    """numpy.linalg.pinv, batched (rcond as NumPy's default when None)."""
    return Pinv.apply(a, rcond=rcond)


# ----------------------------------------------------------------------------------------------
# Norms

class VectorNorm(Function):
    """y = ‖x‖_p over `axis` = (Σ |x|ᵖ)^(1/p), p = 2 by default (also the Frobenius norm over two axes);
    p = ±inf: max / min |x|; p = 0: the count of non-zeros.
    x̄ = ḡ · sign(x) |x|^(p−1) / y^(p−1)  (p = 2: ḡ x / y), and 0 where y = 0: PyTorch's subgradient at the zero
    vector (also 0 where x = 0 for p < 1); ±inf: ḡ · sign(x) shared evenly among the entries with |x| = y;
    p = 0: no gradient (the count is piecewise constant)."""
    def forward(ctx, x, ord=None, axis=None, keepdims=False):    # noqa: A002 - numpy's name
        y = np.linalg.norm(x, ord, axis, keepdims)
        ctx.save_for_backward(x, y)
        ctx.args = ord, axis, keepdims
        return y

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        ord, axis, keepdims = ctx.args                            # noqa: A001
        g, y = reductions._expand(g, x.shape, axis, keepdims), reductions._expand(y, x.shape, axis, keepdims)
        p = 2 if ord in (None, "fro") else ord
        if p == 0:
            return np.zeros(x.shape, g.dtype)
        if np.isinf(p):
            at = (np.abs(x) == y).astype(g.dtype)
            return g * np.sign(x) * at / reductions._expand(at.sum(axis, keepdims=True), x.shape, axis, True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(y == 0, 0, g / y) if p == 2 else np.where(y == 0, 0, g / y ** (p - 1))
            if p == 2:
                return scale * x
            power = np.abs(x) ** (p - 1)
            return scale * np.sign(x) * (np.where(x == 0, 0, power) if p < 1 else power)


_MATRIX_ORDS = {None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf}


def norm(x, ord=None, axis=None, keepdims=False):    # noqa: A002 - numpy's name
    """numpy.linalg.norm: a vector norm over one axis (ord None/2, p, ±inf, 0), a matrix norm over two
    ('fro', 'nuc', ±1, ±2, ±inf), or, with axis=None, the 2-norm of the flattened x (ord=None) or the
    norm of a vector or matrix x (ord given). Vector norms and 'fro' are one op (VectorNorm); the
    other matrix norms are compositions: Σ|x| then max/min for ±1 and ±inf, the singular values for
    'nuc' (sum), 2 (largest) and −2 (smallest)."""
    x_shape = np.shape(x.data if isinstance(x, Tensor) else x)
    ndim = len(x_shape)
    if axis is None:
        if ord is None or (ord == "fro" and ndim == 2):
            return VectorNorm.apply(x, ord, None, keepdims)
        if ndim not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} with axis=None needs a vector or a matrix; got shape {x_shape}")
        axis = tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    axes = tuple(operator.index(a) for a in axes)
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ValueError(f"norm: ord={ord!r} is a matrix norm; a vector norm takes a number")
        return VectorNorm.apply(x, ord, axes[0], keepdims)
    if len(axes) != 2 or axes[0] % ndim == axes[1] % ndim:
        raise ValueError(f"norm: axis must be one axis or two different axes of x {x_shape}; got {axis!r}")
    if ord not in _MATRIX_ORDS:
        raise ValueError(f"norm: invalid ord {ord!r} for a matrix norm (expected one of 'fro', 'nuc', ±1, ±2, ±inf)")
    if ord in (None, "fro"):
        return VectorNorm.apply(x, ord, axes, keepdims)
    row, col = (a % ndim for a in axes)
    if ord in ("nuc", 2, -2):
        rest = [i for i in range(ndim) if i not in (row, col)]
        s = svdvals(shape.transpose(x, tuple(rest) + (row, col)))
        y = {"nuc": reductions.sum, 2: reductions.max, -2: reductions.min}[ord](s, axis=-1)
    else:
        across, along = (row, col) if ord in (1, -1) else (col, row)   # ±1: column sums; ±inf: row sums
        sums = reductions.sum(elementwise.abs(x), axis=across)
        y = (reductions.max if ord > 0 else reductions.min)(sums, axis=along - (along > across))
    if keepdims:
        y = shape.reshape(y, tuple(1 if i in (row, col) else n for i, n in enumerate(x_shape)))
    return y


def vector_norm(x, axis=None, keepdims=False, ord=2):    # noqa: A002 - numpy's name
    """numpy.linalg.vector_norm: a vector norm over all axes (axis=None), one, or several (flattened into one
    first, as NumPy does)."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if axis is None:
        y = VectorNorm.apply(shape.reshape(x, -1), ord, 0)
    elif isinstance(axis, tuple):
        rest = tuple(i for i in range(data.ndim) if i not in {a % data.ndim for a in axis})
        flat = shape.reshape(shape.transpose(x, axis + rest),
                             (int(np.prod([data.shape[i] for i in axis])),) + tuple(data.shape[i] for i in rest))
        y = VectorNorm.apply(flat, ord, 0)
    else:
        y = VectorNorm.apply(x, ord, axis)
    if keepdims:
        kept = range(data.ndim) if axis is None else {a % data.ndim for a in np.atleast_1d(axis)}
        y = shape.reshape(y, tuple(1 if i in kept else n for i, n in enumerate(data.shape)))
    return y


def matrix_norm(x, keepdims=False, ord="fro"):    # noqa: A002 - numpy's name
    """numpy.linalg.matrix_norm: norm(x, ord, axis=(-2, -1), keepdims)."""
    return norm(x, ord, axis=(-2, -1), keepdims=keepdims)


def vecdot(x1, x2, axis=-1):
    """numpy.linalg.vecdot: Σ x1 · x2 along `axis`, the other axes broadcast."""
    return reductions.sum(elementwise.mul(x1, x2), axis=axis)


def matrix_power(a, n):
    """numpy.linalg.matrix_power: aⁿ for an integer n by repeated squaring (NumPy's order of products, so the
    same result); n < 0 inverts first; n = 0 gives the identity, a constant."""
    n = operator.index(n)
    data = _as_square(a.data if isinstance(a, Tensor) else a, "matrix_power: ")
    if n == 0:
        return Tensor(np.broadcast_to(np.eye(data.shape[-1], dtype=data.dtype), data.shape).copy())
    if n < 0:
        a, n = inv(a), -n
    if n == 3:                                   # NumPy's one short-cut whose order differs from the loop's
        return matmul(matmul(a, a), a)
    result = z = None
    while n > 0:
        z = a if z is None else matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else matmul(result, z)
    return result


# ----------------------------------------------------------------------------------------------
# QR, chained products, least squares, condition numbers

def _operand(x):
    """x itself when a Tensor, else x as an ndarray (a list, say)."""
    return x if isinstance(x, Tensor) else np.asarray(x)


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


QRResult = namedtuple("QRResult", "Q R")


def _copyltu(m):
    """The lower triangle of m mirrored onto the upper: tril(m) + tril(m, −1)ᵀ."""
    return np.tril(m) + _t(np.tril(m, -1))


def _qr_tall_vjp(q, r, gq, gr):
    """Ā for A = Q R, A (…, M, N) with M ≥ N, Q (…, M, N), R (…, N, N):
    Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ with M = R R̄ᵀ − Q̄ᵀ Q, R⁻ᵀ by a triangular solve."""
    b = gq + q @ _copyltu(r @ _t(gr) - _t(gq) @ q)
    return _t(_trsolve(r, _t(b), lower=False))          # B R⁻ᵀ = (R⁻¹ Bᵀ)ᵀ


class QR(Function):
    """(Q, R) = qr(A), A = Q R, Q orthonormal columns, R upper triangular (LAPACK's signs), packed as one row
    [Q.ravel(), R.ravel()] per matrix. M ≥ N (thin Q): Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ, M = R R̄ᵀ − Q̄ᵀ Q,
    copyltu(M) = tril(M) + tril(M, −1)ᵀ (Walter & Lehmann 2018; Liao et al. 2019). M < N, A = [X | Y],
    R = [U | V], X = Q U square: X̄ is the M ≥ N VJP with Q̄ + Y V̄ᵀ for Q̄ and Ū for R̄, Ȳ = Q V̄ (PyTorch's
    linalg_qr_backward). Needs R's diagonal non-zero (A of full rank). No gradient where Q is not computed
    (mode 'r') or not unique (mode 'complete' with M > N): backward raises there, as PyTorch does."""
    def forward(ctx, a, mode="reduced"):
        a = _as_matrix(a)
        if mode not in ("reduced", "complete", "r"):
            raise ValueError(f"mode must be 'reduced', 'complete' or 'r', got {mode!r}")
        ctx.mode, ctx.shape = mode, a.shape
        if mode == "r":
            return np.linalg.qr(a, mode="r")
        q, r = np.linalg.qr(a, mode=mode)
        ctx.save_for_backward(a, q, r)
        batch = a.shape[:-2]
        return np.concatenate([q.reshape(batch + (-1,)), r.reshape(batch + (-1,))], axis=-1)

    def backward(ctx, g):
        m, n = ctx.shape[-2:]
        if ctx.mode == "r":
            raise RuntimeError(f"qr: the derivative of linalg.qr depends on Q, which is not computed when "
                               f"mode='r' (a of shape {ctx.shape}); use qr(a, mode='reduced') to differentiate")
        if ctx.mode == "complete" and m > n:
            raise RuntimeError(f"qr: the QR decomposition is not differentiable when mode='complete' and "
                               f"nrows > ncols (a of shape {ctx.shape}: Q's last {m - n} columns are arbitrary); "
                               "use mode='reduced'")
        a, q, r = ctx.saved_tensors
        k = q.shape[-1]
        gq, gr = g[..., :m * k].reshape(q.shape), g[..., m * k:].reshape(r.shape)
        if m >= n:
            return _qr_tall_vjp(q, r, gq, gr)
        gv = gr[..., m:]
        gx = _qr_tall_vjp(q, r[..., :m], gq + a[..., m:] @ _t(gv), gr[..., :m])
        return np.concatenate([gx, q @ gv], axis=-1)


def qr(a, mode="reduced"):
    """numpy.linalg.qr, batched: (Q, R) with a = Q R, Q (…, M, K) with orthonormal columns and R (…, K, N) upper
    triangular, K = min(M, N) for mode 'reduced', K = M for 'complete'; R alone for mode 'r'. The factors are
    LAPACK's (unique up to the signs of R's diagonal); 'raw' (LAPACK's Householder form) is not offered."""
    dims = _data(a).shape
    out = QR.apply(a, mode=mode)
    if mode == "r":
        return out
    batch, (m, n) = dims[:-2], dims[-2:]
    k = m if mode == "complete" else min(m, n)
    return QRResult(out[..., :m * k].reshape(batch + (m, k)), out[..., m * k:].reshape(batch + (k, n)))


def _chain_order(dims):
    """NumPy's matrix-chain dynamic programme: split[i, j] = where the product of matrices i … j splits,
    for matrix i of shape (dims[i], dims[i + 1]), at the least count of scalar multiplications."""
    n = len(dims) - 1
    cost, split = np.zeros((n, n)), np.empty((n, n), dtype=np.intp)
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i, j] = np.inf
            for k in range(i, j):
                q = cost[i, k] + cost[k + 1, j] + dims[i] * dims[k + 1] * dims[j + 1]
                if q < cost[i, j]:
                    cost[i, j], split[i, j] = q, k
    return split


def multi_dot(arrays):
    """numpy.linalg.multi_dot: the product of two or more matrices in the cheapest order (NumPy's: the cost rule
    for three, the matrix-chain programme for more), through `dot`, so the same products as NumPy's. The first
    array may be 1-D (a row vector) and the last 1-D (a column vector); these axes are dropped from the result."""
    arrays = [_operand(x) for x in arrays]
    if len(arrays) < 2:
        raise ValueError(f"multi_dot: expecting at least two arrays, got {len(arrays)}")
    if len(arrays) == 2:
        return _dot(arrays[0], arrays[1])
    first, last = (_data(arrays[i]).ndim for i in (0, -1))
    if first == 1:
        arrays[0] = shape.reshape(arrays[0], (1, -1))
    if last == 1:
        arrays[-1] = shape.reshape(arrays[-1], (-1, 1))
    shapes = [_data(x).shape for x in arrays]
    for i, s in enumerate(shapes):
        if len(s) != 2:
            raise LinAlgError(f"multi_dot: array {i} has {len(s)} dimensions, shape {s}; the arrays must be "
                              "matrices (the first and the last may be 1-D)")
    if len(arrays) == 3:               # NumPy's short-cut: compare the two orders' costs
        (a0, a1), (_, c0), (_, c1) = shapes
        result = (_dot(_dot(arrays[0], arrays[1]), arrays[2]) if a0 * c0 * (a1 + c1) < a1 * c1 * (a0 + c0)
                  else _dot(arrays[0], _dot(arrays[1], arrays[2])))
    else:
        split = _chain_order([s[0] for s in shapes] + [shapes[-1][1]])

        def product(i, j):
            return arrays[i] if i == j else _dot(product(i, split[i, j]), product(split[i, j] + 1, j))
        result = product(0, len(arrays) - 1)
    if first == 1 and last == 1:
        return result[0, 0]
    return shape.reshape(result, -1) if first == 1 or last == 1 else result


def lstsq(a, b, rcond=None):
    """numpy.linalg.lstsq: (x, residuals, rank, s), x minimizing ‖b − a x‖₂ (the least-norm one when a is rank
    deficient), a (M, N), b (M,) or (M, K); not batched, as NumPy's. x = pinv(a, rcond) b, with singular values
    ≤ rcond · s_max taken as zero; rcond None is NumPy's default eps · max(M, N) and rcond ≤ 0 or ≥ 1 LAPACK's
    (machine precision), eps that of float64, in which NumPy computes. residuals = Σ (b − a x)² per column of
    b, shape (K,) or (1,), when rank == N < M, else empty (as NumPy); rank an int; s = svdvals(a). x,
    residuals and s are differentiable (pinv's gradient: exact while the rank stays constant)."""
    a, b = _operand(a), _operand(b)
    a_data, b_data = _data(a), _data(b)
    if a_data.ndim != 2 or b_data.ndim not in (1, 2):
        raise LinAlgError(f"lstsq: a must be a matrix (M, N) and b a vector (M,) or a matrix (M, K); got a "
                          f"{a_data.shape}, b {b_data.shape}")
    m, n = a_data.shape
    if b_data.shape[0] != m:
        raise LinAlgError(f"lstsq: incompatible dimensions: a {a_data.shape} has {m} rows, b {b_data.shape} "
                          f"has {b_data.shape[0]}")
    eps = np.finfo(np.float64).eps
    if rcond is None:
        rcond = eps * max(m, n)
    elif not 0 < rcond < 1:
        rcond = eps / 2                        # LAPACK's gelsd: dlamch('E'), the unit round-off
    s = svdvals(a)
    rank = int(np.sum(s.data > rcond * s.data.max(initial=0)))      # pinv's rule: s > rcond · s_max is kept
    x = matmul(pinv(a, rcond), b)
    if rank == n and m > n:
        r = elementwise.sub(b, matmul(a, x))
        residuals = shape.reshape(reductions.sum(elementwise.mul(r, r), axis=0), (-1,))
    else:
        residuals = Tensor(np.empty(0, x.dtype))
    return x, residuals, rank, s


def _singular(a):
    """Which matrices of the stack a (…, M, M) LAPACK cannot invert (an exactly zero pivot)."""
    out = np.zeros(a.shape[:-2], bool)
    for i in np.ndindex(out.shape):
        try:
            np.linalg.inv(a[i])
        except LinAlgError:
            out[i] = True
    return out


def cond(x, p=None):
    """numpy.linalg.cond, batched: p None, 2: s_max / s_min and −2: s_min / s_max from svdvals (any (…, M, N));
    p 'fro', 'nuc', ±1, ±inf: norm(x, p) · norm(inv(x), p) (square x). As NumPy: inf for a singular matrix and
    wherever the ratio is NaN unless x holds a NaN. At a singular matrix the inverse-based cond is a constant
    (no gradient), while the ratio of singular values passes on its non-finite gradient (1 / s_min)."""
    x = _operand(x)
    data = _data(x)
    if data.size == 0 and np.prod(data.shape[-2:]) == 0:
        raise LinAlgError(f"cond is not defined on empty matrices; got shape {data.shape}")
    if p is None or p in (2, -2):
        s = svdvals(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = elementwise.div(s[..., -1], s[..., 0]) if p == -2 else elementwise.div(s[..., 0], s[..., -1])
    else:
        _as_square(data, "cond: ")
        singular = np.zeros(data.shape[:-2], bool)
        try:
            inverse = inv(x)
        except LinAlgError:                    # NumPy gives inf there: invert the others, the identity in their place
            singular = _singular(data)
            x = shape.where(singular[..., None, None], np.eye(data.shape[-1], dtype=_float_dtype(data)), x)
            inverse = inv(x)
        with np.errstate(over="ignore", invalid="ignore"):
            r = shape.where(singular, np.inf, elementwise.mul(norm(x, p, axis=(-2, -1)),
                                                               norm(inverse, p, axis=(-2, -1))))
    nan = np.isnan(r.data) & ~np.isnan(data).any(axis=(-2, -1))
    return shape.where(nan, np.inf, r) if nan.any() else r
