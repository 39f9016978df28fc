"""Matrix products."""

import numpy as np

from ..engine import Function

__all__ = ['MatMul', 'matmul', 'Linear']


class MatMul(Function):
    """y = a @ b (NumPy's 1-D, 2-D and batched rules);  ā = ḡ @ bᵀ,  b̄ = aᵀ @ ḡ

    A 1-D operand is promoted to a matrix (a row for a, a column for b) and ḡ gets the matching
    unit axis, so one pair of formulas covers every case; batch axes are summed by unbroadcast."""
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:
            return (g @ b.T if need_a else None), (a.T @ g if need_b else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:                    # first: for 1-D @ 1-D, ḡ is 0-d and gains (1,) then (1, 1)
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if need_a:
            ga = g2 @ np.swapaxes(b2, -1, -2)
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if need_b:
            gb = np.swapaxes(a2, -1, -2) @ g2
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def matmul(a, b):
    return MatMul.apply(a, b)


class Linear(Function):
    """y = x Wᵀ + b (W: out × in, as in PyTorch);  x̄ = ḡ W,  W̄ = ḡᵀ x,  b̄ = Σ_batch ḡ

    One node instead of transpose + matmul + add: fewer temporaries, and no x̄ when x is data."""
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad + (False,) * (3 - len(ctx.needs_input_grad))
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        gx = (g @ w) if need_x else None
        gw = (g2.T @ x.reshape(-1, x.shape[-1])) if need_w else None
        gb = g2.sum(axis=0) if need_b else None
        return gx, gw, gb
