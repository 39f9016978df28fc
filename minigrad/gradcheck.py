"""Gradient checking against central finite differences.

For an output y = fn(x₁, …, xₙ) the check compares the engine's vector-Jacobian product with a
finite-difference estimate of the same quantity. A non-scalar output is reduced with fixed random
weights w: L = Σ w ⊙ y, so ∂L/∂x = Jᵀw. A wrong VJP J'ᵀ agrees with Jᵀ on a random w only on a set of
measure zero, so one projection checks the whole Jacobian with probability 1. Each element is
checked by the central difference

    ∂L/∂x_i ≈ (L(x + h e_i) − L(x − h e_i)) / 2h,

whose error is O(h²) plus rounding O(ε_mach |L| / h): with h = 1e-6 in float64 both are ≈1e-10.
"""

import warnings

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


class _writable_copies:
    """Perturb private copies of the inputs' data, so the user's arrays are never touched."""

    def __init__(self, tensors):
        self.tensors = tensors

    def __enter__(self):
        self.originals = [t.data for t in self.tensors]
        for t in self.tensors:
            t.data = np.array(t.data, copy=True)

    def __exit__(self, *exc):
        for t, data in zip(self.tensors, self.originals):
            t.data = data


def numerical_grad(fn, inputs, eps=1e-6, grad_output=None):
    """Central-difference gradients of Σ grad_output ⊙ fn(*inputs) (grad_output defaults to ones)
    with respect to every input that requires grad; None for the other inputs."""
    inputs, checked = _checked_inputs(inputs)
    with no_grad():
        out = fn(*inputs)
    w = np.ones(out.shape) if grad_output is None else np.asarray(grad_output, np.float64)
    grads = [None] * len(inputs)
    with _writable_copies([inputs[i] for i in checked]):
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
    Use float64 inputs: in float32 the difference quotient is dominated by rounding."""
    inputs, checked = _checked_inputs(inputs)
    low = [i for i in checked if inputs[i].dtype != np.float64]
    if low:
        warnings.warn(f"gradcheck: inputs {low} are not float64 ({[str(inputs[i].dtype) for i in low]}); "
                      "finite differences in low precision are unreliable", UserWarning, stacklevel=2)
    rng = np.random.default_rng(seed)
    out, weights = _output_weights(fn, inputs, grad_output, rng)
    analytic = _analytic_grads(out, weights, inputs, checked)
    with _writable_copies([inputs[i] for i in checked]):
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
            excess = np.abs(ana - numeric) - (atol + rtol * np.abs(numeric))
            worst = int(np.argmax(np.where(np.isnan(excess), np.inf, excess)))
            _compare(ana[worst], numeric[worst], atol, rtol,
                     f"input {i} (shape {x.shape}, {x.dtype}), worst element at index {indices[worst]}")
            if x.size > max_elements:
                v = rng.standard_normal(x.shape)
                base = x.data.copy()
                x.data[...] = base + eps * v
                plus = _scalar_objective(fn, inputs, weights)
                x.data[...] = base - eps * v
                minus = _scalar_objective(fn, inputs, weights)
                x.data[...] = base
                _compare(float(np.sum(a * v)), (plus - minus) / (2 * eps), atol, rtol,
                         f"input {i} (shape {x.shape}) along a random direction")
    return True


def _compare(analytic, numerical, atol, rtol, where):
    error = abs(analytic - numerical)
    if not error <= atol + rtol * abs(numerical):      # `not <=` also catches NaN
        raise GradcheckError(f"gradcheck: wrong gradient for {where}: analytic {analytic:.10g} vs "
                             f"numerical {numerical:.10g} (error {error:.3g} > atol {atol} + rtol {rtol}"
                             f" × |numerical|)")
