"""Utilities on parameters' gradients."""

import numpy as np

from ..engine import Tensor


def clip_grad_norm_(parameters, max_norm, eps=1e-6):
    """Scale all gradients in place so their joint L2 norm is at most max_norm.

    ‖g‖ = √(Σ_p Σ_i g_pi²);  if ‖g‖ > max_norm every g_p is multiplied by max_norm / (‖g‖ + eps).
    Returns ‖g‖ before clipping (as a float). Parameters without a gradient are ignored."""
    if isinstance(parameters, Tensor):     # one tensor, not an iterable of its rows
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    total = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
    scale = max_norm / (total + eps)
    if scale < 1:
        for g in grads:
            g *= scale
    return total
