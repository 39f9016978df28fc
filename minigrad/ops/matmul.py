"""Matrix products."""

import string

import numpy as np

from ..engine import Function

__all__ = ['MatMul', 'matmul', 'Linear', 'Einsum', 'einsum']


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


# ----------------------------------------------------------------------------------------------
# einsum: one op for every contraction; its VJP for each operand is another einsum.

_LETTERS = string.ascii_uppercase + string.ascii_lowercase   # NumPy's labels, in its implicit-output order


def _einsum_terms(subscripts, shapes):
    """The input terms and the output term of `subscripts` with '...' spelled out in unused letters
    (right-aligned, as broadcasting aligns axes) and the output made explicit: NumPy's implicit output
    is the ellipsis axes, then every letter used exactly once, in alphabetical order (A–Z before a–z)."""
    spec = subscripts.replace(" ", "")
    lhs, arrow, out = spec.partition("->")
    terms = lhs.split(",")
    free = [c for c in _LETTERS if c not in spec]
    ndim = max([len(s) - (len(t) - 3) for t, s in zip(terms, shapes) if "..." in t], default=0)
    ellipsis = "".join(free[:ndim])
    full = [t.replace("...", ellipsis[ndim - (len(s) - (len(t) - 3)):]) for t, s in zip(terms, shapes)]
    if arrow:
        out = out.replace("...", ellipsis)
    else:
        once = [c for c in lhs if c in _LETTERS and lhs.count(c) == 1]
        out = ellipsis + "".join(sorted(once))
    return full, out


def _sublists_to_subscripts(args):
    """einsum(x, [0, 1], y, [1, 2], [0, 2]) → ('AB,BC->AC', [x, y]): NumPy's sublist form as a string."""
    def term(sublist):
        return "".join("..." if i is Ellipsis else _LETTERS[i] for i in sublist)
    out = args[-1] if len(args) % 2 else None                    # an odd count ends with the output's
    pairs = args[:len(args) - len(args) % 2]
    operands, sublists = pairs[0::2], pairs[1::2]
    spec = ",".join(term(s) for s in sublists)
    return (spec if out is None else f"{spec}->{term(out)}"), operands


class Einsum(Function):
    """y = einsum('s₁,…,sₙ->o', x₁, …, xₙ);  x̄ₖ = einsum('o,s₁,…(all but sₖ)…->sₖ', ḡ, x₁, …)

    The VJP of a multilinear map is the same contraction with ḡ in xₖ's place. Three cases need more
    than one einsum, because an output term may not repeat or invent letters: a letter only xₖ has
    (summed in forward) gets ḡ broadcast along it; an axis of size 1 that NumPy broadcast is summed back;
    and a letter repeated inside sₖ (a diagonal, as in 'ii->i') puts x̄ₖ on that diagonal, zeros elsewhere."""
    def forward(ctx, *operands, subscripts, optimize=False):
        y = np.einsum(subscripts, *operands, optimize=optimize)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(*operands)
            ctx.terms = _einsum_terms(subscripts, [np.shape(x) for x in operands])
        return y

    def backward(ctx, g):
        operands, (terms, out) = ctx.saved_tensors, ctx.terms
        return tuple(_einsum_vjp(g, out, terms, operands, k) if need else None
                     for k, need in enumerate(ctx.needs_input_grad))


def _einsum_vjp(g, out, terms, operands, k):
    x, term = operands[k], terms[k]
    others = [i for i in range(len(terms)) if i != k]
    letters = "".join(dict.fromkeys(term))                        # each of xₖ's letters once, in order
    size = {c: x.shape[term.index(c)] for c in letters}
    kept = "".join(c for c in letters if c in out or any(c in terms[i] for i in others))
    spec = ",".join([out] + [terms[i] for i in others]) + "->" + kept
    gx = np.einsum(spec, g, *[operands[i] for i in others], optimize=len(others) > 1)
    broadcast = tuple(i for i, c in enumerate(kept) if size[c] == 1 and gx.shape[i] != 1)
    if broadcast:                                       # NumPy stretched a size-1 axis of xₖ: sum it back
        gx = gx.sum(axis=broadcast, keepdims=True)
    got = dict(zip(kept, gx.shape))          # a letter missing here, or of size 1 only in the others, broadcasts
    gx = np.broadcast_to(gx.reshape([got.get(c, 1) for c in letters]), [size[c] for c in letters])
    if len(letters) == len(term):
        return gx
    full = np.zeros(x.shape, gx.dtype)                  # a repeated letter: x̄ₖ lives on that diagonal
    strides = [sum(full.strides[i] for i, t in enumerate(term) if t == c) for c in letters]
    np.lib.stride_tricks.as_strided(full, gx.shape, strides)[...] = gx
    return full


def einsum(*operands, optimize=False):
    """einsum('ij,jk->ik', a, b) as numpy.einsum: explicit or implicit output, '...', repeated letters,
    and NumPy's sublist form einsum(a, [0, 1], b, [1, 2], [0, 2])."""
    if isinstance(operands[0], str):
        subscripts, operands = operands[0], operands[1:]
    else:
        subscripts, operands = _sublists_to_subscripts(operands)
    return Einsum.apply(*operands, subscripts=subscripts, optimize=optimize)
