"""Sampling z ~ N(μ, σ²) two ways: through the reparameterization trick, and directly.

GaussianReparam writes z = g(ε, φ) = μ + σ ⊙ ε with ε ~ N(0, I) drawn *outside* the graph and passed
in as a constant, so z is a deterministic, differentiable function of μ and σ and backpropagation
reaches the encoder parameters φ that produced them:

    ∇_φ E_{q_φ(z|x)}[f(z)] = ∇_φ E_{ε~N(0,I)}[f(μ_φ + σ_φ ⊙ ε)] = E_ε[∇_φ f(μ_φ + σ_φ ⊙ ε)]
                          ≈ (1/M) Σ_j ∇_φ f(μ_φ + σ_φ ⊙ ε⁽ʲ⁾).

DirectGaussianSample draws z inside its forward pass. It is recorded in the graph, so tools can
point at it, but it declares that it passes no gradient to μ and σ — exactly what naive sampling does:
a random draw has no derivative with respect to the parameters of the distribution it came from.
"""

import numpy as np

from .engine import Function, Tensor
from .ops import exp
from .random import as_generator

__all__ = ["GaussianReparam", "DirectGaussianSample", "gaussian_reparam_logvar"]


def _batch_shape(op, mu, sigma):
    try:
        return np.broadcast_shapes(np.shape(mu), np.shape(sigma))
    except ValueError:
        raise ValueError(f"{op}: mu of shape {np.shape(mu)} and sigma of shape {np.shape(sigma)} do not "
                         "broadcast together") from None


def _check_scale(op, sigma):
    if not np.all(sigma > 0):
        raise ValueError(f"{op}: sigma must be > 0 everywhere, got min {np.min(sigma):.6g} "
                         f"(shape {np.shape(sigma)}); did you pass log σ² instead of σ "
                         "(gaussian_reparam_logvar(mu, logvar, eps) takes the log-variance), or did "
                         "σ = exp(½ log σ²) underflow to 0 because log σ² diverged?")


class GaussianReparam(Function):
    """z = μ + σ ⊙ ε, one graph node with ε a constant input.

    ε has the batch shape of μ and σ, or (M, *batch_shape) for M samples per input (more generally
    (*sample_shape, *batch_shape): any number of leading sample axes).
    VJP:  μ̄ = ḡ,  σ̄ = ḡ ⊙ ε  (summed over the sample axes by the engine's unbroadcast);  ε̄: none."""

    nondifferentiable = (2,)

    @classmethod
    def apply(cls, mu, sigma, eps):
        if isinstance(eps, Tensor) and eps.requires_grad:
            raise ValueError("GaussianReparam: eps requires grad, but ε must be a constant drawn outside "
                             "the graph (the point of the trick); pass eps.detach() or an ndarray")
        return super().apply(mu, sigma, eps)

    def forward(ctx, mu, sigma, eps):
        batch = _batch_shape("GaussianReparam", mu, sigma)
        eps = np.asarray(eps)
        if eps.ndim < len(batch) or eps.shape[eps.ndim - len(batch):] != batch:
            raise ValueError(f"GaussianReparam: eps has shape {eps.shape}, expected the batch shape {batch} of "
                             f"mu/sigma or (M, *{batch}) with a leading sample axis (or several: "
                             f"(*sample_shape, *{batch}))")
        if eps.dtype.kind not in "fiu":
            raise TypeError(f"GaussianReparam: eps must hold real numbers, got dtype {eps.dtype}")
        _check_scale("GaussianReparam", sigma)
        eps = eps.astype(np.result_type(mu, sigma), copy=False)     # ε never upcasts float32
        ctx.save_for_backward(eps)
        z = sigma * eps
        z += mu
        return z

    def backward(ctx, g):
        (eps,) = ctx.saved_tensors
        return g, (g * eps if ctx.needs_input_grad[1] else None), None


class DirectGaussianSample(Function):
    """z ~ N(μ, σ²) drawn inside forward from `rng` (z = μ + σ ε with ε from the Generator).

    Passes NO gradient to μ or σ: the node is recorded (with the line that created it) but cuts the
    path, which is what sampling without the reparameterization trick amounts to."""

    nondifferentiable = (0, 1, 2)
    stochastic = True        # drawn in red by minigrad.graph.draw

    def forward(ctx, mu, sigma, rng, sample_shape=()):
        rng = as_generator(rng, "DirectGaussianSample")
        batch = _batch_shape("DirectGaussianSample", mu, sigma)
        _check_scale("DirectGaussianSample", sigma)
        dtype = np.result_type(mu, sigma)
        eps = rng.standard_normal(tuple(sample_shape) + batch, dtype=dtype if dtype.kind == "f" else np.float64)
        return mu + sigma * eps

    def backward(ctx, g):
        return None, None, None


def gaussian_reparam_logvar(mu, logvar, eps):
    """z = μ + exp(½ log σ²) ⊙ ε: σ is built in the graph from the log-variance an encoder outputs.

    The name says what the second argument is: this takes log σ², `GaussianReparam.apply` takes σ."""
    return GaussianReparam.apply(mu, exp(0.5 * logvar), eps)
