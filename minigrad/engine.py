"""The core: grad mode, Tensor, Function (a graph node), and the backward pass.

Reverse mode in one paragraph. Every differentiable operation is a `Function` subclass with a
`forward(ctx, *arrays)` that computes the output with NumPy and a `backward(ctx, grad)` that maps
ḡ = ∂L/∂output to the vector-Jacobian products ∂L/∂input_i = ḡ · ∂output/∂input_i. `Function.apply`
runs forward and, when an input requires grad and grad mode is on, records the Function instance
itself as the node that made the output. `Tensor.backward()` then visits the recorded nodes in
reverse creation order (a topological order, because a node's inputs always exist before it),
calls each node's backward once with the sum of the gradients that reached its output, and
accumulates the results into the leaves' `.grad`. Broadcasting is undone for every op in one place,
`unbroadcast`, so no op has to think about it.
"""

import heapq
import itertools
import os
import sys
import weakref

import numpy as np

__all__ = [
    "Tensor", "Function", "tensor", "zeros", "ones", "zeros_like", "ones_like",
    "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly", "unbroadcast", "Cut",
]


# ----------------------------------------------------------------------------------------------
# Grad mode: one config object, switched by context managers (usable as decorators too).

class Config:
    grad_enabled = True
    anomaly = False


class _Switch:
    """Context manager / decorator setting one Config flag and restoring it on exit."""

    flag = ""
    value = False

    def __init__(self):
        self._saved = []

    def __enter__(self):
        self._saved.append(getattr(Config, self.flag))
        setattr(Config, self.flag, self.value)
        return self

    def __exit__(self, *exc):
        setattr(Config, self.flag, self._saved.pop())
        return False

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = fn.__name__, fn.__doc__, fn
        return wrapper


class no_grad(_Switch):
    """Ops inside record nothing; their outputs have requires_grad=False."""
    flag, value = "grad_enabled", False


class enable_grad(_Switch):
    """Turn recording back on inside a no_grad region."""
    flag, value = "grad_enabled", True


class detect_anomaly(_Switch):
    """Check every forward output and backward gradient for NaN/inf; raise FloatingPointError naming
    the first op that produced one and the line of user code that created it."""
    flag, value = "anomaly", True


def is_grad_enabled():
    return Config.grad_enabled


# ----------------------------------------------------------------------------------------------
# Tensor

def _as_array(data, dtype=None, copy=False):
    """ndarray for `data`. Floats keep their dtype; Python numbers, lists and integer data that is
    not already an ndarray become float64 (ndarrays of integers stay integers, e.g. indices)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data, dtype=dtype, copy=True) if copy else np.asarray(data, dtype=dtype)
    else:
        arr = np.array(data, dtype=dtype)
        if dtype is None and arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"tensor(): cannot make a tensor of dtype {arr.dtype} "
                        "(expected floating, integer or bool data)")
    return arr


class Tensor:
    """An ndarray `.data` plus what reverse mode needs: `.grad`, `.requires_grad`, and the node
    (`grad_fn`) that produced it. `Tensor(ndarray)` wraps the array without copying it;
    `minigrad.tensor(data)` copies."""

    __slots__ = ("data", "grad", "requires_grad", "_node", "__weakref__")
    # Make `ndarray <op> Tensor` call Tensor's reflected operator instead of looping over the array.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: requires_grad=True needs floating-point data, got dtype "
                            f"{self.data.dtype} (integer and bool tensors have no gradient)")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None

    @classmethod
    def _wrap(cls, data, requires_grad, node):
        """Fast constructor for op outputs: no validation (the engine knows what it made)."""
        t = object.__new__(cls)
        t.data, t.grad, t.requires_grad, t._node = data, None, requires_grad, node
        return t

    # -- array-like properties
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)
    grad_fn = property(lambda self: self._node if self.requires_grad else None,
                       doc="The Function node whose backward gives this tensor's gradient (None for leaves).")
    is_leaf = property(lambda self: self._node is None or not self.requires_grad)

    def __len__(self):
        return len(self.data)

    def item(self):
        return self.data.item()

    def numpy(self):
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def __float__(self):
        return float(self.data.item()) if self.data.size == 1 else float(self.data)

    def __bool__(self):
        return bool(self.data)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = "" if self.data.dtype == np.float64 else f", dtype={self.data.dtype}"
        if self._node is not None and self.requires_grad:
            extra += f", grad_fn=<{type(self._node).__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def detach(self):
        """The same data, cut from the graph: no gradient flows back through the result."""
        cut = Cut.of("detach", "detach", (self,)) if (self.requires_grad or self._node is not None) else None
        return Tensor._wrap(self.data, False, cut)

    def zero_grad(self):
        self.grad = None

    def retain_grad(self):
        """Keep `.grad` on this interior tensor after backward (leaves always get theirs)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad(): this tensor does not require grad, so it will get no gradient")
        if self._node is not None:
            self._node.retained = weakref.ref(self)

    def backward(self, grad=None, retain_graph=False):
        """Accumulate ∂self/∂leaf (weighted by `grad`) into every leaf's `.grad`.

        A scalar output is seeded with 1; a non-scalar one needs `grad` of its own shape."""
        if not self.requires_grad:
            why = ""
            if isinstance(self._node, Cut):
                why = f" (its gradient path was cut: {self._node.describe()})"
            elif self._node is not None:
                why = f" (it was produced by {type(self._node).__name__}, which passes no gradient)"
            raise RuntimeError(f"backward(): this tensor does not require grad{why}; "
                               "nothing can flow back from it")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward(): grad can be created implicitly only for a scalar "
                                 f"output, but this tensor has shape {self.data.shape}; pass grad= "
                                 "of that shape")
            grad = np.ones_like(self.data)
        else:
            grad = _as_array(grad, dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape} but the tensor has "
                                 f"shape {self.data.shape}")
        _backward(self, grad, retain_graph)


def tensor(data, requires_grad=False, dtype=None):
    """A new tensor holding a copy of `data` (floats keep their dtype; lists and ints → float64)."""
    return Tensor(_as_array(data, dtype, copy=True), requires_grad=requires_grad)


def zeros(*shape, dtype=np.float64, requires_grad=False):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.zeros(shape, dtype), requires_grad)


def ones(*shape, dtype=np.float64, requires_grad=False):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.ones(shape, dtype), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor(np.zeros_like(_as_array(t), dtype=dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor(np.ones_like(_as_array(t), dtype=dtype), requires_grad)


# ----------------------------------------------------------------------------------------------
# Cut: where a gradient path was cut on purpose (detach(), or an op run under no_grad on inputs that
# require grad). It holds no arrays, only what explain() reports: for each leaf that requires grad
# upstream, the Cut nearest to this tensor on its way here. Made only off the differentiable path.

class Cut:
    __slots__ = ("kind", "op", "site", "origins")

    def __init__(self, kind, op, site):
        self.kind, self.op, self.site, self.origins = kind, op, site, {}

    @classmethod
    def of(cls, kind, op, inputs):
        """The marker for an output made from `inputs`: a new cut of `kind` made here (every leaf
        requiring grad upstream maps to it), or, with kind None, one that carries along where its
        inputs were cut: by an earlier Cut, or by a recorded node that passes no gradient (such as a
        direct sampling node)."""
        cut = cls(kind, op, _user_site() if kind else None)
        for t in inputs:
            if not isinstance(t, Tensor):
                continue
            node = t._node
            if isinstance(node, Cut):
                cut.origins.update(dict.fromkeys(node.origins, cut) if kind else node.origins)
            elif t.requires_grad or node is not None:
                cut.origins.update(dict.fromkeys(_leaves_upstream(t), cut if kind else node))
        return cut

    def describe(self):
        if self.kind == "detach":
            return f"detach() at {self.site}"
        if self.kind == "no_grad":
            return f"{self.op} run under no_grad at {self.site}"
        sources = {id(o): o for o in self.origins.values()}.values()
        return "; ".join(o.describe() if isinstance(o, Cut) else f"{type(o).__name__}, which passes no "
                         f"gradient, at {o.site}" for o in sources) or "made only from constants"


def _leaves_upstream(t):
    """ids of the tensors requiring grad that are leaves of t's recorded graph (t included)."""
    found, stack, seen = set(), [t], set()
    while stack:
        entry = stack.pop()
        node = entry if isinstance(entry, Function) else entry._node
        if node is None or isinstance(node, Cut):
            if entry.requires_grad:
                found.add(id(entry))
            if isinstance(node, Cut):
                found.update(node.origins)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.extend(i for i in (node.inputs or ()) if isinstance(i, (Tensor, Function)))
    return found


# ----------------------------------------------------------------------------------------------
# Function: a primitive op, and (once applied) the graph node that records one use of it.

_creation_order = itertools.count()


def _user_site():
    """'file:line' of the innermost caller outside minigrad (recorded only when it is needed)."""
    frame = sys._getframe(1)
    package_dir = os.path.dirname(__file__) + os.sep
    while frame is not None and frame.f_code.co_filename.startswith(package_dir):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "<unknown>"


def _describe(arrays):
    return ", ".join(f"{a.shape} {a.dtype}" if hasattr(a, "shape") else repr(a) for a in arrays)


class Function:
    """Subclass with `forward(ctx, *arrays, **options)` and `backward(ctx, grad)`; call `.apply`.

    `forward` receives ndarrays where the caller passed tensors (other arguments pass through) and
    may keep what backward needs with `ctx.save_for_backward(...)` or as attributes of ctx.
    `backward` returns one gradient per positional argument of forward (a bare array when there
    is one), each with the shape of the broadcast result or of the input: the engine reduces
    broadcast axes itself. Return None for inputs that get no gradient; check
    `ctx.needs_input_grad[i]` to skip work for inputs that do not need one. Positions listed in
    `nondifferentiable` never receive a gradient, however the inputs are flagged.

    A recorded node keeps, per input, the node that made it (or, for a leaf, a constant or a tensor cut
    from the graph, the input itself) and the shape and dtype of its own output (`output_meta`): not the
    intermediate tensors, so their arrays are freed as soon as nothing else — the user, or an op's
    save_for_backward — holds them.
    """

    nondifferentiable = ()
    needs_input_grad = ()
    saved_tensors = ()
    inputs = None
    retained = None
    site = None

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    @classmethod
    def apply(cls, *args, **options):
        ctx = object.__new__(cls)
        arrays = list(args)
        links = list(args)               # what the node keeps of each input: see `inputs` below
        needs = [False] * len(args)
        requires = marked = False
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                arrays[i] = a.data
                node = a._node
                if node is not None and type(node) is not Cut:
                    links[i] = node
                if a.requires_grad:
                    needs[i] = requires = True
                elif node is not None:
                    marked = True
        record = requires and Config.grad_enabled
        masked = False
        if record:
            for i in cls.nondifferentiable:
                masked |= needs[i]
                needs[i] = False
            ctx.needs_input_grad = tuple(needs)
        else:
            ctx.needs_input_grad = (False,) * len(args)
        anomaly = Config.anomaly
        try:
            if anomaly:                        # report the op below instead of NumPy's warning
                with np.errstate(all="ignore"):
                    out = cls.forward(ctx, *arrays, **options)
            else:
                out = cls.forward(ctx, *arrays, **options)
        except (ValueError, IndexError, TypeError) as e:
            said = str(e) if str(e).startswith(f"{cls.__name__}:") else f"{cls.__name__}: {e}"
            raise _with_context(e, f"{said} [inputs: {_describe(arrays)}]") from e
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        result = object.__new__(Tensor)
        result.data, result.grad = out, None
        if record:
            ctx.inputs = tuple(links)
            ctx.output_meta = out.shape, out.dtype
            ctx.seq = next(_creation_order)
            if masked or anomaly:
                ctx.site = _user_site()       # only for nodes that cut the flow, or when debugging
            result.requires_grad, result._node = True in ctx.needs_input_grad, ctx
        elif requires or marked:              # no graph, but remember where the flow was cut (explain())
            result.requires_grad, result._node = False, Cut.of("no_grad" if requires else None, cls.__name__, args)
        else:
            result.requires_grad, result._node = False, None
        if anomaly and out.dtype.kind == "f" and not np.isfinite(out).all():
            raise FloatingPointError(f"detect_anomaly: forward of {cls.__name__} produced non-finite "
                                     f"values (output shape {out.shape}; inputs: {_describe(arrays)}) "
                                     f"at {ctx.site or _user_site()}")
        return result

    def forward(ctx, *args, **options):
        raise NotImplementedError(f"{type(ctx).__name__} must define forward(ctx, *arrays)")

    def backward(ctx, grad):
        raise NotImplementedError(f"{type(ctx).__name__} must define backward(ctx, grad)")


def _with_context(error, message):
    try:
        return type(error)(message)
    except Exception:
        return ValueError(message)


def unbroadcast(grad, shape, op="unbroadcast"):
    """Reduce a gradient of the broadcast result back to an input's `shape`.

    If x of shape `shape` was broadcast to y, then x̄ = Σ ȳ over the leading axes that broadcasting
    added and over every axis where x had size 1 (keeping that axis)."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != gs for s, gs in zip(shape, grad.shape[lead:])):
        raise ValueError(f"{op}: backward returned a gradient of shape {grad.shape}, which does not "
                         f"broadcast to the input's shape {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes).reshape(shape)


# ----------------------------------------------------------------------------------------------
# The backward pass

_FRESH_REFS = 0       # reference count of a gradient nobody else holds, at the call below (_calibrate)
_refs_seen = None     # a list while calibrating


def _accumulate(t, g, refs=0):
    """t.grad += g, in place. The first gradient is taken as it is when nothing else refers to it
    (`refs`, its reference count at the call, is that of a freshly made array and it is not a view),
    as PyTorch's AccumulateGrad does; otherwise it is copied, so .grad never aliases an array that an
    op, the user or another tensor still holds."""
    if _refs_seen is not None:
        _refs_seen.append(refs)
    if t.grad is not None:
        t.grad += g
    elif (refs and refs <= _FRESH_REFS and type(g) is np.ndarray and g.base is None
          and g.dtype == t.data.dtype and g.flags.writeable):
        t.grad = g
    else:
        t.grad = np.array(g, dtype=t.data.dtype, copy=True)


def _calibrate():
    """Find the reference count a just-made gradient has when it reaches _accumulate, and check that a
    gradient something else still holds has more; if not (another interpreter), never take, always copy."""
    global _FRESH_REFS, _refs_seen

    class Fresh(Function):
        def forward(ctx, x):
            return x * 2

        def backward(ctx, g):
            return g * 2

    class Held(Fresh):
        def backward(ctx, g):
            ctx.held = g * 2
            return ctx.held

    _refs_seen = []
    try:
        for op in (Fresh, Held):
            op.apply(Tensor(np.ones(2), requires_grad=True)).backward(np.ones(2))
        fresh, held = _refs_seen
    finally:
        _refs_seen = None
    _FRESH_REFS = fresh if held > fresh else 0


def _backward(root, seed, retain_graph):
    node = root._node
    if node is None:                       # backward on a leaf: d leaf / d leaf = 1
        _accumulate(root, seed)
        return
    anomaly = Config.anomaly
    pending = {node: seed}                 # node -> summed gradient of its output
    heap = [(-node.seq, node)]             # max-heap on creation order = reverse topological order
    while heap:
        node = heapq.heappop(heap)[1]
        g = pending.pop(node)
        inputs = node.inputs
        if inputs is None:
            raise RuntimeError(f"backward(): trying to backward through {type(node).__name__} a second "
                               "time, but its saved values were freed after the first backward. Pass "
                               "retain_graph=True to the first backward() to call it again.")
        if node.retained is not None and node.retained() is not None:
            _accumulate(node.retained(), g)
        if anomaly:
            with np.errstate(all="ignore"):
                grads = type(node).backward(node, g)
        else:
            grads = type(node).backward(node, g)
        if type(grads) is not tuple:
            grads = (grads,)
        if len(grads) < len(inputs) and True in node.needs_input_grad[len(grads):]:
            raise ValueError(f"{type(node).__name__}: backward returned {len(grads)} gradients for "
                             f"{len(inputs)} inputs")
        for inp, need, gi in zip(inputs, node.needs_input_grad, grads):
            if not need or gi is None:
                continue
            leaf = isinstance(inp, Tensor)        # else it is the node that made this input
            if leaf:
                data = inp.data
                shape, dtype = data.shape, data.dtype
            else:
                shape, dtype = inp.output_meta
            if gi.shape != shape:
                gi = unbroadcast(gi, shape, type(node).__name__)
            if gi.dtype != dtype:
                gi = gi.astype(dtype)
            if anomaly and not np.isfinite(gi).all():
                raise FloatingPointError(f"detect_anomaly: backward of {type(node).__name__} produced a "
                                         f"non-finite gradient for an input of shape {shape} "
                                         f"(op created at {node.site})")
            if leaf:
                _accumulate(inp, gi, sys.getrefcount(gi))
            elif inp in pending:
                pending[inp] = pending[inp] + gi
            else:
                pending[inp] = gi
                heapq.heappush(heap, (-inp.seq, inp))
        if not retain_graph:
            seq, meta = node.seq, node.output_meta
            node.__dict__.clear()          # free saved arrays and inputs; `inputs` falls back to None
            node.seq, node.output_meta = seq, meta    # a later backward must still order this node, then refuse it


_calibrate()
