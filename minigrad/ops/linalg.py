"""minigrad.linalg, as numpy.linalg (and scipy.linalg's solve_triangular): functions of square matrices,
batched over leading axes: an array of shape (…, M, M) is a stack of M × M matrices.

Reached as `mg.linalg.<name>` (`mg.linalg.solve`, not `mg.solve`, as in NumPy). The right-hand side b
of a solve is a vector when b.ndim == 1 and a stack of (M, K) matrices otherwise (NumPy 2's rule; write
b[..., None] for a stack of vectors). The VJPs solve with the factor the forward computed instead of
forming an inverse wherever a solve serves. Functions of a symmetric matrix (cholesky, eigh) read one
triangle, as LAPACK does, and take the matrix as symmetric: their gradient is the symmetric one
(PyTorch's convention), which is the gradient of f((X + Xᵀ)/2) with respect to X.
"""

import numpy as np
import scipy.linalg

from ..engine import Function

__all__ = ['Cholesky', 'cholesky', 'SolveTriangular', 'solve_triangular']

LinAlgError = np.linalg.LinAlgError     # a ValueError, as NumPy raises it


def _t(x):
    """The transpose of every matrix in a stack."""
    return np.swapaxes(x, -1, -2)


def _check_square(a, what="a"):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise LinAlgError(f"{what} must be a square matrix or a stack of them, shape (…, M, M); got shape {a.shape}")


def _check_rhs(a, b):
    """b (…, M, K) or (M,) against a (…, M, M): the rows must match and the batch axes broadcast."""
    rows = b.shape[0] if b.ndim == 1 else (b.shape[-2] if b.ndim >= 2 else None)
    if rows != a.shape[-1]:
        raise ValueError(f"b must have shape (M,) or (…, M, K) with M = {a.shape[-1]} rows as a (…, M, M) "
                         f"has; got a {a.shape}, b {b.shape} (for a stack of vectors pass b[..., None])")
    if b.ndim > 1:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"the batch axes of a {a.shape} and b {b.shape} do not broadcast") from None


def _float_dtype(*arrays):
    dtype = np.result_type(*arrays)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _trsolve(a, b, lower, trans=0, unit_diagonal=False):
    """X with op(A) X = B for triangular A (…, M, M) and B (…, M, K), batch axes broadcast; op(A) = A or Aᵀ.

    A short stack is solved matrix by matrix with LAPACK (scipy.linalg.solve_triangular); a stack longer
    than M by substitution, one row at a time over the whole stack: whichever loops fewer times in Python.
    A zero on the diagonal (a singular A) is refused rather than divided by."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a, b = np.broadcast_to(a, batch + a.shape[-2:]), np.broadcast_to(b, batch + b.shape[-2:])
    m = a.shape[-1]
    if not unit_diagonal:
        zero = np.argwhere(np.diagonal(a, axis1=-2, axis2=-1) == 0)
        if len(zero):
            where = tuple(int(i) for i in zero[0])
            raise LinAlgError(f"singular matrix: a zero on the diagonal of triangular a at index {where} (batch index, "
                              "then row)")
    x = np.empty(b.shape, _float_dtype(a, b))
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
        _check_square(a)
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
        P = np.tril(_t(L) @ g)
        P[..., np.arange(L.shape[-1]), np.arange(L.shape[-1])] *= 0.5
        S = 0.5 * (P + _t(P))
        Y = _trsolve(L, S, lower=True, trans=1)                   # L⁻ᵀ S
        return _t(_trsolve(L, _t(Y), lower=True, trans=1))        # (L⁻ᵀ (L⁻ᵀ S)ᵀ)ᵀ = L⁻ᵀ S L⁻¹ (S symmetric)


def _not_positive_definite(a, upper):
    """Name the first matrix of the stack whose factorization broke down, and its smallest eigenvalue."""
    for i in np.ndindex(a.shape[:-2]):
        side = np.triu(a[i]) if upper else np.tril(a[i])
        sym = side + _t(side) - np.diag(np.diagonal(a[i]))
        low = np.linalg.eigvalsh(sym)[0]
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
        _check_square(a)
        _check_rhs(a, b)
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
