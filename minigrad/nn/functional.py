"""Stable composites, called like torch.nn.functional (also reachable as `minigrad.functional`).

Each function is either one primitive from ops (already stable by construction: softplus as
max(x, 0) + log1p(e^(−|x|)), log-sigmoid as −softplus(−x), BCE-with-logits as softplus(x) − t·x,
logsumexp shifted by its max; none overflows for any finite x) or a short expression of primitives, so
its gradient needs no code of its own.
"""

from .. import ops
from ..ops import (  # noqa: F401 - re-exported: the functional API is the ops users call most
    leaky_relu,
    log_sigmoid,
    logsumexp,
    relu,
    sigmoid,
    softplus,
    tanh,
)

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss, reduction, name):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_same_shape(a, b, name):
    if a.shape != b.shape:
        raise ValueError(f"{name}: input has shape {a.shape} but target has shape {b.shape}; "
                         "they must match (broadcasting a target is almost always a bug)")


def linear(x, weight, bias=None):
    """y = x Wᵀ + b, with W of shape (out_features, in_features)."""
    return ops.Linear.apply(x, weight, bias)


def softmax(x, axis=-1):
    """softmax(x)_i = exp(x_i − logsumexp(x))."""
    return ops.exp(log_softmax(x, axis))


def log_softmax(x, axis=-1):
    """log softmax(x)_i = x_i − logsumexp_axis(x)."""
    return x - ops.logsumexp(x, axis=axis, keepdims=True)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """ℓ = −[t log σ(x) + (1 − t) log(1 − σ(x))] = softplus(x) − t·x, finite for any logit x.

    The negative Bernoulli log-likelihood of `target` under logits x."""
    _check_same_shape(logits, target, "binary_cross_entropy_with_logits")
    loss = ops.BinaryCrossEntropyWithLogits.apply(logits, target)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def mse_loss(input, target, reduction="mean"):  # noqa: A002 - torch's name
    """ℓ = (input − target)², averaged ("mean"), summed ("sum", both one node) or elementwise ("none")."""
    _check_same_shape(input, target, "mse_loss")
    if reduction in ("mean", "sum"):
        return ops.MSELoss.apply(input, target, reduction)
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")
