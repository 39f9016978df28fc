"""Matrix products."""

import functools
import string

import numpy as np

from ..engine import Function, Tensor, buffer
from .elementwise import mul, weak_operands_all
from .shape import reshape

__all__ = ['MatMul', 'matmul', 'Linear', 'Einsum', 'einsum', 'Dot', 'dot', 'Inner', 'inner', 'Tensordot', 'tensordot',
    'outer', 'kron', 'Cross', 'cross']


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
        y = _matmul(x, weight.T)
        if bias is not None:
            y += bias
        return y

    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad + (False,) * (3 - len(ctx.needs_input_grad))
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        gx = _matmul(g, w) if need_x else None
        gw = _matmul(g2.T, x.reshape(-1, x.shape[-1])) if need_w else None
        gb = g2.sum(axis=0) if need_b else None
        return gx, gw, gb


def _matmul(a, b):
    """a @ b written into a buffer from the engine's pool (reused from step to step)."""
    if a.ndim < 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype.kind != "f":
        return a @ b
    return np.matmul(a, b, out=buffer(a.shape[:-1] + b.shape[-1:], a.dtype))


# ----------------------------------------------------------------------------------------------
# einsum: one op for every contraction; its VJP for each operand is another einsum.

_LETTERS = string.ascii_uppercase + string.ascii_lowercase   # NumPy's labels, in its implicit-output order


@functools.lru_cache(maxsize=256)          # a model repeats its few contractions at every step
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
    return tuple(full), out


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
        operands = weak_operands_all(operands)
        y = np.einsum(subscripts, *operands, optimize=optimize)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(*operands)
            ctx.terms = _einsum_terms(subscripts, tuple(np.shape(x) for x in operands))
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
    # NumPy's path search (≈25 µs) pays off with three or more operands, or with large ones (it then contracts
    # with BLAS, 4× faster than einsum's own loops at 300 × 300)
    big = len(others) > 1 or g.size + sum(np.size(operands[i]) for i in others) > 100_000
    gx = np.einsum(spec, g, *[operands[i] for i in others], optimize=big)
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


# ----------------------------------------------------------------------------------------------
# NumPy's other products. Each is einsum's VJP under NumPy's own forward (np.dot, np.inner, np.tensordot sum
# in their own order, so calling them keeps the forward bit for bit); outer and kron are one product per
# entry, so a broadcast multiply composes them exactly.

class Dot(Einsum):
    """y = dot(a, b): Σ over a's last axis and b's second-to-last (b's only axis when 1-D); a product when
    either is 0-d;  the VJP of the same contraction written as an einsum"""
    def forward(ctx, a, b):
        a, b = map(np.asarray, weak_operands_all((a, b)))
        y = np.dot(a, b)
        ctx.save_for_backward(a, b)
        if a.ndim == 0 or b.ndim == 0:
            aterm, bterm = _LETTERS[:a.ndim], _LETTERS[a.ndim:a.ndim + b.ndim]
            ctx.terms = [aterm, bterm], aterm + bterm
        else:
            lead, last = _LETTERS[:a.ndim - 1], _LETTERS[a.ndim - 1]
            rest = _LETTERS[a.ndim:a.ndim + b.ndim - 1]
            bterm = rest[:-1] + last + rest[-1:] if b.ndim > 1 else last
            ctx.terms = [lead + last, bterm], lead + rest
        return y


def dot(a, b):
    """numpy.dot (N-D rule included)."""
    return Dot.apply(a, b)


class Inner(Einsum):
    """y = inner(a, b) = Σ over the last axes of both (a product when either is 0-d);  the VJP of that einsum"""
    def forward(ctx, a, b):
        a, b = map(np.asarray, weak_operands_all((a, b)))
        y = np.inner(a, b)
        ctx.save_for_backward(a, b)
        shared = min(a.ndim, b.ndim, 1)
        aterm = _LETTERS[:a.ndim]
        bterm = _LETTERS[a.ndim:a.ndim + b.ndim - shared] + aterm[a.ndim - shared:]
        ctx.terms = [aterm, bterm], aterm[:a.ndim - shared] + bterm[:b.ndim - shared]
        return y


def inner(a, b):
    """numpy.inner."""
    return Inner.apply(a, b)


class Tensordot(Einsum):
    """y = tensordot(a, b, axes): Σ over a's `axes[0]` paired with b's `axes[1]` (an int n: a's last n with b's
    first n), the free axes of a then of b;  the VJP of that einsum"""
    def forward(ctx, a, b, axes=2):
        a, b = map(np.asarray, weak_operands_all((a, b)))
        y = np.tensordot(a, b, axes)
        ctx.save_for_backward(a, b)
        if np.ndim(axes) == 0:
            axes = (range(a.ndim - axes, a.ndim), range(axes))
        pairs = [[int(i) for i in np.atleast_1d(ax)] for ax in axes]
        aterm = list(_LETTERS[:a.ndim])
        bterm = list(_LETTERS[a.ndim:a.ndim + b.ndim])
        for i, j in zip(*pairs):
            bterm[j] = aterm[i]
        out = [c for c in aterm if c not in bterm] + [c for c in bterm if c not in aterm]
        ctx.terms = ["".join(aterm), "".join(bterm)], "".join(out)
        return y


def tensordot(a, b, axes=2):
    """numpy.tensordot: axes an int or a pair of axis lists."""
    return Tensordot.apply(a, b, axes=axes)


def _tensor_or_array(x):
    """x as it is when a tensor or a scalar (a Python or NumPy number stays weak), else as an array."""
    return x if isinstance(x, (Tensor, np.generic, int, float)) else np.asarray(x)


def outer(a, b):
    """numpy.outer: y_ij = a_i b_j over the flattened inputs (a broadcast multiply: one product per entry).
    A scalar operand is not reshaped, so it stays weak in the multiply."""
    a, b = _tensor_or_array(a), _tensor_or_array(b)
    if np.ndim(a) or not np.ndim(b):
        a = reshape(a, (-1, 1))
    if np.ndim(b):
        b = reshape(b, (1, -1))
    return mul(a, b)


def kron(a, b):
    """numpy.kron: the block matrix [a_ij · b], for any ndim (the shorter shape padded with leading 1s):
    a broadcast multiply of interleaved axes, then one reshape."""
    a, b = _tensor_or_array(a), _tensor_or_array(b)
    if not np.ndim(a) or not np.ndim(b):             # a scalar factor: a product that keeps it weak
        return mul(a, b)
    sa, sb = np.shape(a), np.shape(b)
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    blocks = mul(reshape(a, [d for s in sa for d in (s, 1)]), reshape(b, [d for s in sb for d in (1, s)]))
    return reshape(blocks, tuple(p * q for p, q in zip(sa, sb)))


class Cross(Function):
    """y = a × b over 3-vectors (along axisa, axisb; the result's along axisc);  ā = b × ḡ,  b̄ = ḡ × a
    (ḡ · (a × b) = a · (b × ḡ) = b · (ḡ × a))"""
    def forward(ctx, a, b, axisa=-1, axisb=-1, axisc=-1):
        for name, x, axis in (("a", a, axisa), ("b", b, axisb)):
            if np.shape(x)[axis] != 3:
                raise ValueError(f"{name} must be 3-vectors along axis {axis}, got shape {np.shape(x)} (2-vectors are "
                                 "deprecated in NumPy 2: pad them with a zero third component)")
        ctx.save_for_backward(a, b)
        ctx.axes = axisa, axisb, axisc
        return np.cross(a, b, axisa=axisa, axisb=axisb, axisc=axisc)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        axisa, axisb, axisc = ctx.axes
        ga = gb = None       # each computed with its vector axis last, then moved to where the input has it
        if ctx.needs_input_grad[0]:
            ga = np.moveaxis(np.cross(b, g, axisa=axisb, axisb=axisc), -1, axisa % a.ndim - a.ndim)
        if ctx.needs_input_grad[1]:
            gb = np.moveaxis(np.cross(g, a, axisa=axisc, axisb=axisa), -1, axisb % b.ndim - b.ndim)
        return ga, gb


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """numpy.cross of 3-vectors; `axis`, when given, sets all three axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    return Cross.apply(a, b, axisa=axisa, axisb=axisb, axisc=axisc)
