"""The core: grad mode, Tensor, Function (a graph node), the backward pass, and unbroadcast.

Reverse mode in one paragraph. Every differentiable operation is a `Function` subclass with a
`forward(ctx, *arrays)` that computes the output with NumPy and a `backward(ctx, grad)` that maps
ḡ = ∂L/∂output to the vector-Jacobian products ∂L/∂input_i = ḡ · ∂output/∂input_i.
An instantiation of the Function is the Context: `Function.apply` makes one instance, runs
forward with it as `ctx`, and, when an input requires grad and grad mode is on, keeps that same
instance as the node that made the output. `Tensor.backward()` visits the recorded nodes in
reverse creation order (a topological order, because a node's inputs always exist before it),
calls each node's backward once with the sum of the gradients that reached its output, and
accumulates the results into the leaves' `.grad`. Broadcasting is undone for every op in one
place, `unbroadcast`, so no op has to think about it.

Read top to bottom: grad mode → Tensor → Function.apply → backward → unbroadcast. After them,
under their own headings: making tensors and writing into them, what explain() is told about cut
gradient paths, anomaly checks and error messages, and the one speed trick (a fresh leaf gradient
taken without a copy).
"""

import functools
import heapq
import itertools
import os
import sys
import threading
import weakref

import numpy as np

__all__ = [
    "Tensor", "Function", "tensor", "zeros", "ones", "zeros_like", "ones_like",
    "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly", "unbroadcast", "Cut", "clock",
]

# One clock orders everything the engine records: node creation (a node's inputs are older than it)
# and in-place writes (a tensor written after a node saved it is newer than that node).
_clock = itertools.count(1)


def clock():
    """The next tick of the engine's clock (Module.__call__ brackets the nodes it makes)."""
    return next(_clock)


# ----------------------------------------------------------------------------------------------
# Grad mode: one config object (per thread), switched by context managers that are also decorators
# (detect_anomaly, the third switch, is with the diagnostics below).

class _Config(threading.local):
    """The switches, one set per thread (as PyTorch's grad mode is thread-local): a `with no_grad()` in
    one thread never stops another from recording. A new thread starts with the defaults below."""
    grad_enabled = True
    anomaly = False
    no_grad_site = None       # where the innermost no_grad region was entered (for explain)


Config = _Config()


class _Switch:
    """Sets Config flags for a `with` block or a decorated function, and restores them on exit.
    Works as `@no_grad`, `@no_grad()` and `with no_grad():`, like PyTorch's."""

    settings = {}

    def __new__(cls, fn=None):
        switch = super().__new__(cls)
        return switch if fn is None else switch(fn)     # @no_grad without parentheses

    def __init__(self, fn=None):
        self._saved = []

    def __enter__(self):
        self._saved.append({k: getattr(Config, k) for k in self.settings})
        for k, v in self.settings.items():
            setattr(Config, k, v() if callable(v) else v)
        return self

    def __exit__(self, *exc):
        for k, v in self._saved.pop().items():
            setattr(Config, k, v)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_Switch):
    """Ops inside record nothing; their outputs have requires_grad=False."""
    settings = {"grad_enabled": False, "no_grad_site": lambda: _user_site()}


class enable_grad(_Switch):
    """Turn recording back on inside a no_grad region."""
    settings = {"grad_enabled": True}


def is_grad_enabled():
    return Config.grad_enabled


# ----------------------------------------------------------------------------------------------
# Tensor

class Tensor:
    """An ndarray `.data` plus what reverse mode needs: `.grad`, `.requires_grad`, and the node
    (`grad_fn`) that produced it. `Tensor(ndarray)` wraps the array without copying it;
    `minigrad.tensor(data)` copies. Operators and methods (x + y, x @ w, x.sum()) are the ops of
    minigrad.ops, bound to Tensor by `minigrad.ops.bind_tensor_methods`; len(), item(), repr(),
    retain_grad() and in-place writes (x[i] = v) are defined with the tensor factories, after the
    backward pass."""

    __slots__ = ("data", "grad", "requires_grad", "_node", "_version", "__weakref__")
    # Make `ndarray <op> Tensor` call Tensor's reflected operator instead of looping over the array.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: requires_grad=True needs floating-point data, got dtype "
                            f"{self.data.dtype} (integer and bool tensors have no gradient)")
        self.grad, self.requires_grad = None, bool(requires_grad)
        self._node, self._version = None, 0

    @classmethod
    def _wrap(cls, data, requires_grad, node):
        """Fast constructor for op outputs: no validation (the engine knows what it made)."""
        t = object.__new__(cls)
        t.data, t.grad, t.requires_grad, t._node, t._version = data, None, requires_grad, node, 0
        return t

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)
    grad_fn = property(lambda self: self._node if self.requires_grad else None,
                       doc="The node whose backward gives this tensor's gradient (None: a leaf).")
    is_leaf = property(lambda self: self.grad_fn is None)

    def detach(self):
        """The same data, cut from the graph: no gradient flows back through the result."""
        cut = Cut("detach", "detach", _user_site(), (self._node or self,)) \
            if self.requires_grad or self._node is not None else None
        return Tensor._wrap(self.data, False, cut)

    def backward(self, grad=None, retain_graph=False):
        """Accumulate ∂self/∂leaf (weighted by `grad`) into every leaf's `.grad`.

        A scalar output is seeded with 1; a non-scalar one needs `grad` of its own shape."""
        if not self.requires_grad:
            raise RuntimeError(f"backward(): this tensor does not require grad"
                               f"{_why_no_grad(self)}; nothing can flow back from it")
        if grad is None and self.data.size != 1:
            raise ValueError(f"backward(): grad can be created implicitly only for a scalar "
                             f"output, but this tensor has shape {self.data.shape}; pass grad= "
                             "of that shape")
        grad = np.ones_like(self.data) if grad is None else _as_array(grad, dtype=self.data.dtype)
        if grad.shape != self.data.shape:
            raise ValueError(f"backward(): grad has shape {grad.shape} but the tensor has shape "
                             f"{self.data.shape}")
        _backward(self, grad, retain_graph)


# ----------------------------------------------------------------------------------------------
# Function: a primitive op, and (once applied) the graph node that records one use of it.

class Function:
    """Subclass with `forward(ctx, *arrays, **options)` and `backward(ctx, grad)`; call `.apply`.

    `forward` gets ndarrays for tensors (other arguments pass through) and keeps what backward needs
    with `ctx.save_for_backward(...)` or as attributes of ctx. `backward` returns one gradient per
    positional input (a bare array for one), of the broadcast result's or the input's shape (the
    engine undoes broadcasting), None where `ctx.needs_input_grad[i]` is False. Positions listed in
    `nondifferentiable` never receive a gradient.

    A node keeps its `parents` (per input, the node that made it, or the input itself when it is
    a leaf, a constant or a tensor cut from the graph): not the intermediate tensors, whose arrays
    are freed as soon as nothing else holds them. Backward frees the rest with one
    `__dict__.clear()`: only the slots, which order the node and size its gradient, survive it."""

    __slots__ = ("seq", "out_shape", "out_dtype", "__dict__", "__weakref__")
    nondifferentiable = ()
    needs_input_grad = ()
    saved_tensors = ()
    parents = None            # None once backward has released the node
    retained = None           # a weakref to the output, when the user asked for retain_grad()
    site = None               # file:line of the user code, kept for nodes that cut a gradient path

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    @classmethod
    def apply(cls, *args, **options):
        ctx = object.__new__(cls)
        arrays, parents, needs = list(args), list(args), [False] * len(args)
        requires = carries_cut = False
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                arrays[i], node = a.data, a._node
                if isinstance(node, Function):
                    parents[i] = node
                if a.requires_grad:
                    needs[i] = requires = True
                elif node is not None:
                    carries_cut = True
        record = requires and Config.grad_enabled
        if record and cls.nondifferentiable:
            _mask_nondifferentiable(ctx, needs)
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(args)
        try:
            out = cls.forward(ctx, *arrays, **options)
        except (ValueError, IndexError, TypeError) as e:
            raise _op_error(cls, e, arrays) from e
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if record:
            ctx.parents = tuple(parents)
            ctx.seq, ctx.out_shape, ctx.out_dtype = next(_clock), out.shape, out.dtype
            result = Tensor._wrap(out, True in ctx.needs_input_grad, ctx)
        else:
            cut = Cut.of(cls, args, requires) if requires or carries_cut else None
            result = Tensor._wrap(out, False, cut)
        if Config.anomaly:
            _check_forward(ctx, out, arrays)
        return result

    def forward(ctx, *args, **options):
        raise NotImplementedError(f"{type(ctx).__name__} must define forward(ctx, *arrays)")

    def backward(ctx, grad):
        raise NotImplementedError(f"{type(ctx).__name__} must define backward(ctx, grad)")


# ----------------------------------------------------------------------------------------------
# The backward pass

def _backward(root, seed, retain_graph):
    node = root._node
    if node is None:                       # backward on a leaf: d leaf / d leaf = 1
        _accumulate(root, seed)
        return
    anomaly = Config.anomaly               # the mode when backward starts holds for all of it
    pending = {node: seed}                 # node -> summed gradient of its output
    heap = [(-node.seq, node)]             # max-heap on creation order = reverse topological order
    while heap:
        node = heapq.heappop(heap)[1]
        g = pending.pop(node)
        parents = node.parents
        if parents is None:
            raise _released(node)
        for p in parents:                  # a saved input written in place since forward: refuse
            if isinstance(p, Tensor) and p._version > node.seq:
                _check_not_modified(node, p)
        if node.retained is not None and node.retained() is not None:
            _accumulate(node.retained(), g)
        # forward and backward are functions of the node itself (the ctx): call them as such
        grads = type(node).backward(node, g)
        if type(grads) is not tuple:
            grads = (grads,)
        if len(grads) < len(parents) and True in node.needs_input_grad[len(grads):]:
            raise ValueError(f"{type(node).__name__}: backward returned {len(grads)} gradients "
                             f"for {len(parents)} inputs")
        for parent, need, gi in zip(parents, node.needs_input_grad, grads):
            if not need or gi is None:
                continue
            leaf = isinstance(parent, Tensor)
            if leaf:
                shape, dtype = parent.data.shape, parent.data.dtype
            else:
                shape, dtype = parent.out_shape, parent.out_dtype
            if gi.shape != shape:
                gi = unbroadcast(gi, shape, type(node).__name__)
            if gi.dtype != dtype:
                gi = gi.astype(dtype)
            if anomaly:
                _check_backward(node, gi, shape)
            if leaf:
                _accumulate(parent, gi, sys.getrefcount(gi))
            elif parent in pending:
                pending[parent] = pending[parent] + gi
            else:
                pending[parent] = gi
                heapq.heappush(heap, (-parent.seq, parent))
        if not retain_graph:
            node.__dict__.clear()          # saved arrays, parents: freed; seq and out_* stay


def _accumulate(t, g, refs=0):
    """t.grad += g, in place; a first gradient nothing else holds is taken without a copy."""
    if t.grad is not None:
        t.grad += g
    else:
        t.grad = g if _is_fresh(t, g, refs) else np.array(g, dtype=t.data.dtype, copy=True)


def unbroadcast(grad, shape, op="unbroadcast"):
    """Reduce a gradient of the broadcast result back to an input's `shape`.

    If x of shape `shape` was broadcast to y, then x̄ = Σ ȳ over the leading axes that
    broadcasting added and over every axis where x had size 1 (keeping that axis)."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != gs for s, gs in zip(shape, grad.shape[lead:])):
        raise ValueError(f"{op}: backward returned a gradient of shape {grad.shape}, which does "
                         f"not broadcast to the input's shape {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes).reshape(shape)


# ----------------------------------------------------------------------------------------------
# Making tensors, reading them as arrays, and writing into them in place (each write ticks the
# tensor's version, so that a node that saved the tensor can tell it changed: _check_not_modified)

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


def index_arrays(index):
    """An index with Tensors read as their data (integer or bool arrays) and lists as arrays."""
    if isinstance(index, tuple):
        return tuple(index_arrays(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def tensor(data, requires_grad=False, dtype=None):
    """A new tensor holding a copy of `data` (floats keep their dtype; lists, ints → float64)."""
    return Tensor(_as_array(data, dtype, copy=True), requires_grad=requires_grad)


def _shape(shape):
    return shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def zeros(*shape, dtype=np.float64, requires_grad=False):
    return Tensor(np.zeros(_shape(shape), dtype), requires_grad)


def ones(*shape, dtype=np.float64, requires_grad=False):
    return Tensor(np.ones(_shape(shape), dtype), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor(np.zeros_like(_as_array(t), dtype=dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor(np.ones_like(_as_array(t), dtype=dtype), requires_grad)


def _bump_version(self):
    """Record an in-place write to `.data` (optimizers call this; so does x[i] = v)."""
    self._version = next(_clock)


def _setitem(self, index, value):
    """x[index] = value, in place. As in PyTorch, a tensor that requires grad may be written only
    under no_grad (as an optimizer does), and never one computed by an op."""
    if self.requires_grad and (Config.grad_enabled or self._node is not None):
        raise RuntimeError(f"x[...] = v: this tensor (shape {self.data.shape}) requires grad; "
                           "write into it under minigrad.no_grad(), or make a new tensor with "
                           "minigrad.where")
    self.data[index_arrays(index)] = value.data if isinstance(value, Tensor) else value
    self._bump_version()


Tensor._bump_version, Tensor.__setitem__ = _bump_version, _setitem


def _len(self):
    return len(self.data)

def _item(self):
    return self.data.item()

def _numpy(self):
    """The underlying ndarray (shared, not copied)."""
    return self.data

def _float(self):
    return float(self.data.item()) if self.data.size == 1 else float(self.data)

def _bool(self):
    return bool(self.data)

def _repr(self):
    body = np.array2string(self.data, separator=", ", prefix="tensor(")
    extra = "" if self.data.dtype == np.float64 else f", dtype={self.data.dtype}"
    if self.grad_fn is not None:
        extra += f", grad_fn=<{type(self._node).__name__}>"
    elif self.requires_grad:
        extra += ", requires_grad=True"
    return f"tensor({body}{extra})"


def _zero_grad(self):
    self.grad = None

def _retain_grad(self):
    """Keep `.grad` on this interior tensor after backward (leaves always get theirs)."""
    if not self.requires_grad:
        raise RuntimeError("retain_grad(): this tensor does not require grad, so it will get "
                           "no gradient")
    if self._node is not None:
        self._node.retained = weakref.ref(self)


Tensor.zero_grad, Tensor.retain_grad = _zero_grad, _retain_grad


Tensor.__len__, Tensor.item, Tensor.numpy = _len, _item, _numpy
Tensor.__float__, Tensor.__bool__, Tensor.__repr__ = _float, _bool, _repr


# ----------------------------------------------------------------------------------------------
# Diagnostics: where a gradient path was cut (for explain()). O(1) per op, and made only off the
# differentiable path: by detach(), and by ops that record no node although an input needs or
# carries a gradient path (every op of an evaluation under no_grad, for instance).

class Cut:
    """A marker on a tensor whose gradient path was cut: `kind` "detach", "no_grad", or None for
    an op that only carries an earlier cut along (an op on a directly sampled z, say). It keeps
    the nodes, markers and leaves it came from (`sources`, as a node keeps its parents) and no
    arrays of its own; explain() walks them when it runs. `site` is the user's file:line: of
    detach(), of the `with no_grad()` that opened the region (of the op, under detect_anomaly)."""

    __slots__ = ("kind", "op", "site", "sources")

    def __init__(self, kind, op, site, sources):
        self.kind, self.op, self.site, self.sources = kind, op, site, sources

    @classmethod
    def of(cls, op, args, requires):
        """The marker for the output of `op` that recorded no node: a new no_grad cut when an input
        requires grad, else one that carries its inputs' cuts along."""
        sources = []                   # a plain loop: twice as fast here as tuple(generator)
        for a in args:
            if isinstance(a, Tensor) and (a.requires_grad or a._node is not None):
                sources.append(a._node or a)
        if not requires:
            return cls(None, op.__name__, None, sources)
        site = _user_site() if Config.anomaly else Config.no_grad_site
        return cls("no_grad", op.__name__, site, sources)

    def describe(self):
        if self.kind == "detach":
            return f"detach() at {self.site}"
        if self.kind == "no_grad":
            return f"{self.op} run under no_grad at {self.site}"
        said = []
        for s in self.sources:
            if isinstance(s, Cut):
                text = s.describe()
            elif isinstance(s, Function):
                text = f"{type(s).__name__}, which passes no gradient, at {s.site}"
            else:
                continue
            if text not in said:
                said.append(text)
        return "; ".join(said) or "made only from constants"


def _why_no_grad(t):
    if isinstance(t._node, Cut):
        return f" (its gradient path was cut: {t._node.describe()})"
    if t._node is not None:
        return f" (it was produced by {type(t._node).__name__}, which passes no gradient)"
    return ""


def _mask_nondifferentiable(ctx, needs):
    """Positions in nondifferentiable get no gradient; if one needed it, keep the site (explain)."""
    if any(needs[i] for i in ctx.nondifferentiable):
        ctx.site = _user_site()
    for i in ctx.nondifferentiable:
        needs[i] = False


def _user_site():
    """'file:line' of the innermost caller outside minigrad."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "<unknown>"


_PACKAGE_DIR = os.path.dirname(__file__) + os.sep


# ----------------------------------------------------------------------------------------------
# Diagnostics: anomaly checks, saved inputs written in place, error messages that name the op

class detect_anomaly(_Switch):
    """Check every forward output and backward gradient for NaN/inf; raise FloatingPointError naming
    the first op that produced one and the line of user code that created it. NumPy's own
    floating-point warnings are silenced inside (the op is reported instead)."""
    settings = {"anomaly": True}

    def __enter__(self):
        self._errstate = np.errstate(all="ignore")
        self._errstate.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        self._errstate.__exit__(*exc)
        return super().__exit__(*exc)



def _describe(arrays):
    return ", ".join(f"{a.shape} {a.dtype}" if hasattr(a, "shape") else repr(a) for a in arrays)


def _op_error(cls, error, arrays):
    """The same kind of error, prefixed with the op's name (once) and followed by its inputs."""
    said = str(error) if str(error).startswith(f"{cls.__name__}:") else f"{cls.__name__}: {error}"
    message = f"{said} [inputs: {_describe(arrays)}]"
    try:
        return type(error)(message)
    except Exception:
        return ValueError(message)


def _check_forward(ctx, out, arrays):
    if ctx.site is None:
        ctx.site = _user_site()
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        raise FloatingPointError(f"detect_anomaly: forward of {type(ctx).__name__} produced "
                                 f"non-finite values (output shape {out.shape}; inputs: "
                                 f"{_describe(arrays)}) at {ctx.site}")


def _check_backward(node, grad, shape):
    if not np.isfinite(grad).all():
        raise FloatingPointError(f"detect_anomaly: backward of {type(node).__name__} produced a "
                                 f"non-finite gradient for an input of shape {shape} (op created "
                                 f"at {node.site})")


def _released(node):
    return RuntimeError(f"backward(): trying to backward through {type(node).__name__} a second "
                        "time, but its saved values were freed after the first backward. Pass "
                        "retain_graph=True to the first backward() to call it again.")


def _check_not_modified(node, tensor):
    """Refuse a gradient computed from a saved input that was written in place after forward."""
    if any(saved is tensor.data for saved in node.saved_tensors):
        raise RuntimeError(f"backward(): an input of {type(node).__name__} (shape "
                           f"{tensor.data.shape}) that it saved for backward was modified in place "
                           "afterwards (an optimizer step, or x[...] = v), so its gradient would "
                           "be wrong. Call backward() before changing the tensor, or compute the "
                           "output again after the change.")


# ----------------------------------------------------------------------------------------------
# Speed: a leaf's first gradient taken without a copy (as PyTorch's AccumulateGrad does). Worth
# 5–45 % of an MLP step: the copy is a full pass over every weight-sized gradient, in fresh memory.
#
# Safe because the gradient is taken only when nothing else can see it: an ndarray of the leaf's
# dtype that owns its memory (not a view) and whose reference count at the call in _backward is
# that of an array only the engine holds. That count depends on the interpreter, so it is measured
# once at import by _calibrate(); where a held gradient cannot be told from a fresh one, every
# gradient is copied.

_FRESH_REFS = 0       # reference count of a gradient nobody else holds, at the call in _backward
_refs_seen = None     # a list while calibrating


def _is_fresh(t, g, refs):
    if _refs_seen is not None:
        _refs_seen.append(refs)
    if id(g) in _pooled:               # the buffer pool's own reference is the only other one
        refs -= 1
    return (0 < refs <= _FRESH_REFS and type(g) is np.ndarray and g.base is None
            and g.dtype == t.data.dtype and g.flags.writeable)


def _calibrate():
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



# ----------------------------------------------------------------------------------------------
# Speed: buffers reused from step to step, for the large arrays of the hot kernels.
#
# Why: on this kind of machine a memory page touched for the first time costs ~4 µs, and glibc hands
# a large array's memory back to the kernel when it is freed, so a step whose temporaries are
# megabytes paid for ~3,000 fresh pages every step at batch 1000 (PyTorch's caching allocator pays
# none). `buffer` keeps every large array it hands out and hands it out again once nothing but the
# pool refers to it, so in steady state a step reuses memory it already has.
#
# Safe because an array is handed out again only when its reference count shows that nothing else
# can see it: no tensor, no node's saved values, no view (a view keeps a reference to its base).
# Bounded: at most BUFFER_CAP_BYTES are kept; past that, `buffer` is plain np.empty.

BUFFER_MIN_BYTES = 1 << 17        # smaller arrays come from malloc's free lists, already warm
BUFFER_CAP_BYTES = 1 << 28        # 256 MiB: a VAE step at batch 1000 keeps ~40 MB
_buffers = {}                     # (shape, dtype) → the arrays handed out
_pooled = set()                   # their ids (a pooled array is never freed, so ids stay unique)
_buffer_bytes = 0


def buffer(shape, dtype):
    """An uninitialized array, as np.empty(shape, dtype), from the pool when it is large."""
    global _buffer_bytes
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= n
    if nbytes < BUFFER_MIN_BYTES:
        return np.empty(shape, dtype)
    arrays = _buffers.setdefault((tuple(shape), dtype), [])
    for a in arrays:
        if sys.getrefcount(a) <= _FREE_BUFFER_REFS:
            return a
    a = np.empty(shape, dtype)
    if _buffer_bytes + nbytes <= BUFFER_CAP_BYTES:
        arrays.append(a)
        _pooled.add(id(a))
        _buffer_bytes += nbytes
    return a


def release_buffers():
    """Forget every pooled array (those still in use stay valid): frees the pool's memory."""
    global _buffer_bytes
    _buffers.clear()
    _pooled.clear()
    _buffer_bytes = 0


def _free_buffer_refs():
    """The reference count, inside buffer()'s loop, of an array only the pool holds (the list, the
    loop variable, getrefcount's argument): measured, as it may differ between interpreters."""
    for a in [np.empty(1)]:
        return sys.getrefcount(a)


_FREE_BUFFER_REFS = _free_buffer_refs()


_calibrate()
