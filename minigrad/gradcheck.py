"""Gradient checking against central finite differences.

For an output y = fn(x₁, …, xₙ) the check compares the engine's vector-Jacobian product with a
finite-difference estimate of the same quantity. A non-scalar output is reduced with fixed random
weights w: L = Σ w ⊙ y, so ∂L/∂x = Jᵀw. A wrong VJP J'ᵀ agrees with Jᵀ on a random w only on a set of
measure zero, so one projection checks the whole Jacobian with probability 1. Each element is
checked by the central difference

    ∂L/∂x_i ≈ (L(x + h e_i) − L(x − h e_i)) / 2h,

whose error is O(h²) plus rounding O(ε_mach |L| / h): with h = 1e-6 in float64 both are ≈1e-10.

float32 inputs. In float32 the same quotient is dominated by rounding (ε_mach |L| / h ≈ 0.1 |L| at
h = 1e-6, and no h makes it reliable), so a correct VJP would be accused. gradcheck therefore takes the
finite differences in float64 — on float64 copies of the float32 inputs, which fn must then compute
in float64 (it is refused with a TypeError if it returns anything else) — while the analytic gradient
is the engine's own, computed in float32 from the float32 inputs, since that is the code under test.
The float32 analytic gradient carries float32 rounding (ε₃₂ = 1.2e-7 per operation, accumulated), so
it is compared with tolerances fitted to float32, about 8,000 ε₃₂: an element passes when
|analytic − numerical| ≤ max(atol, 1e-3 · s) + max(rtol, 1e-3) · |numerical|, with s the largest
|numerical| over that input (at least 1). A VJP that is wrong by more than 0.1 % of the gradient's
scale fails. Other dtypes (float16, …) are refused: check them in float64.
"""

import numpy as np

from .engine import Tensor, no_grad

__all__ = ["GradcheckError", "gradcheck", "numerical_grad"]


class GradcheckError(RuntimeError):
    """The engine's gradient and the finite-difference gradient disagree."""


def _checked_inputs(inputs):
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    return inputs, checked


def _scalar_objective(fn, inputs, weights):
    """L(inputs) = Σ weights ⊙ fn(*inputs), evaluated without recording a graph."""
    with no_grad():
        out = fn(*inputs)
    return float(np.sum(np.asarray(out.data, dtype=np.float64) * weights))


def _output_weights(fn, inputs, grad_output, rng):
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if grad_output is not None:
        w = np.asarray(grad_output.data if isinstance(grad_output, Tensor) else grad_output, np.float64)
        if w.shape != out.shape:
            raise ValueError(f"gradcheck: grad_output has shape {w.shape}, output has shape {out.shape}")
    elif out.size == 1:
        w = np.ones(out.shape)
    else:
        w = rng.standard_normal(out.shape)
    return out, w


def _central_difference(fn, inputs, weights, x, index, eps):
    original = x.data[index]
    x.data[index] = original + eps
    plus = _scalar_objective(fn, inputs, weights)
    x.data[index] = original - eps
    minus = _scalar_objective(fn, inputs, weights)
    x.data[index] = original
    return (plus - minus) / (2 * eps)


# gradcheck's tolerance floor for float32 inputs (see the module docstring)
FLOAT32_TOLERANCE = 1e-3


class _writable_copies:
    """Perturb private copies of the inputs' data, so the user's arrays are never touched; the copies
    are float64 (finite differences are always taken in float64)."""

    def __init__(self, tensors):
        self.tensors = tensors

    def __enter__(self):
        self.originals = [t.data for t in self.tensors]
        for t in self.tensors:
            t.data = np.array(t.data, dtype=np.float64, copy=True)

    def __exit__(self, *exc):
        for t, data in zip(self.tensors, self.originals):
            t.data = data


def _require_float64_output(fn, inputs, checked):
    """fn on the float64 copies must compute in float64, or its finite differences mean nothing."""
    with no_grad():
        out = fn(*inputs)
    dtype = getattr(out, "dtype", None)
    if dtype != np.float64:
        raise TypeError(f"gradcheck: fn returned {dtype} for float64 copies of inputs {checked}; finite "
                        "differences are taken in float64, so fn must compute in its inputs' dtype (does it "
                        "cast to float32, or use a float32 module? check a float64 one)")


def numerical_grad(fn, inputs, eps=1e-6, grad_output=None):
    """Central-difference gradients of Σ grad_output ⊙ fn(*inputs) (grad_output defaults to ones)
    with respect to every input that requires grad, taken in float64 (on float64 copies of the inputs);
    None for the other inputs."""
    inputs, checked = _checked_inputs(inputs)
    with no_grad():
        out = fn(*inputs)
    w = np.ones(out.shape) if grad_output is None else np.asarray(grad_output, np.float64)
    grads = [None] * len(inputs)
    with _writable_copies([inputs[i] for i in checked]):
        _require_float64_output(fn, inputs, checked)
        for i in checked:
            x = inputs[i]
            g = np.zeros(x.shape, np.float64)
            for index in np.ndindex(x.shape):
                g[index] = _central_difference(fn, inputs, w, x, index, eps)
            grads[i] = g
    return grads


def _analytic_grads(out, weights, inputs, checked):
    saved = [inputs[i].grad for i in checked]
    for i in checked:
        inputs[i].grad = None
    try:
        if out.requires_grad:                  # else no input reaches the output: all gradients are 0
            (out * Tensor(weights.astype(out.dtype))).sum().backward()
        return [np.zeros(inputs[i].shape) if inputs[i].grad is None else inputs[i].grad.astype(np.float64)
                for i in checked]
    finally:
        for i, g in zip(checked, saved):
            inputs[i].grad = g


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, max_elements=10_000, n_subset=200,
              grad_output=None, seed=0):
    """Check fn's gradients against central finite differences; return True or raise GradcheckError.

    An element passes when |analytic − numerical| ≤ atol + rtol·|numerical|. Inputs with more than
    `max_elements` elements are checked on a random subset of `n_subset` elements plus one
    directional derivative along a random direction v: ∇L·v ≈ (L(x + hv) − L(x − hv)) / 2h.

    The finite differences are always taken in float64. float32 inputs are checked too: their analytic
    gradient is computed in float32, the differences on float64 copies (fn must then compute in
    float64), and the tolerances are raised to float32's (module docstring: rtol, and atol per unit of
    the gradient's scale, at least 1e-3). Other dtypes are refused with a TypeError."""
    inputs, checked = _checked_inputs(inputs)
    dtypes = {i: inputs[i].dtype for i in checked}
    unsupported = {i: str(d) for i, d in dtypes.items() if d not in (np.float64, np.float32)}
    if unsupported:
        raise TypeError(f"gradcheck: inputs {list(unsupported)} have dtype {list(unsupported.values())}; "
                        "gradcheck checks float64 and float32 inputs: pass float64 copies")
    rng = np.random.default_rng(seed)
    out, weights = _output_weights(fn, inputs, grad_output, rng)
    if out.dtype == np.float32:                # backward gets w in float32: use that same w for the differences
        weights = weights.astype(np.float32).astype(np.float64)
    analytic = _analytic_grads(out, weights, inputs, checked)     # in the inputs' own dtype
    with _writable_copies([inputs[i] for i in checked]):
        _require_float64_output(fn, inputs, checked)
        for i, a in zip(checked, analytic):
            x = inputs[i]
            if x.size == 0:                # nothing to compare (and np.argmax of nothing would raise)
                continue
            if x.size <= max_elements:
                indices = list(np.ndindex(x.shape))
            else:
                flat = rng.choice(x.size, size=n_subset, replace=False)
                indices = [tuple(int(j) for j in np.unravel_index(f, x.shape)) for f in flat]
            numeric = np.array([_central_difference(fn, inputs, weights, x, k, eps) for k in indices])
            ana = np.array([a[k] for k in indices])
            atol_i, rtol_i = atol, rtol
            if dtypes[i] == np.float32:
                scale = max(1.0, float(np.max(np.abs(numeric))))
                atol_i, rtol_i = max(atol, FLOAT32_TOLERANCE * scale), max(rtol, FLOAT32_TOLERANCE)
            excess = np.abs(ana - numeric) - (atol_i + rtol_i * np.abs(numeric))
            worst = int(np.argmax(np.where(np.isnan(excess), np.inf, excess)))
            _compare(ana[worst], numeric[worst], atol_i, rtol_i,
                     f"input {i} (shape {x.shape}, {dtypes[i]}), worst element at index {indices[worst]}")
            if x.size > max_elements:
                v = rng.standard_normal(x.shape)
                base = x.data.copy()
                x.data[...] = base + eps * v
                plus = _scalar_objective(fn, inputs, weights)
                x.data[...] = base - eps * v
                minus = _scalar_objective(fn, inputs, weights)
                x.data[...] = base
                _compare(float(np.sum(a * v)), (plus - minus) / (2 * eps), atol_i, rtol_i,
                         f"input {i} (shape {x.shape}, {dtypes[i]}) along a random direction")
    return True


def _compare(analytic, numerical, atol, rtol, where):
    error = abs(analytic - numerical)
    if not error <= atol + rtol * abs(numerical):      # `not <=` also catches NaN
        raise GradcheckError(f"gradcheck: wrong gradient for {where}: analytic {analytic:.10g} vs "
                             f"numerical {numerical:.10g} (error {error:.3g} > atol {atol} + rtol {rtol}"
                             f" × |numerical|)")
