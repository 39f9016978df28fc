"""Sampling z ~ N(μ, σ²) two ways: through the reparameterization trick, and directly.

GaussianReparam writes z = g(ε, φ) = μ + σ ⊙ ε with ε ~ N(0, I) drawn *outside* the graph and passed
in as a constant, so z is a deterministic, differentiable function of μ and σ and backpropagation
reaches the encoder parameters φ that produced them:

    ∇_φ E_{q_φ(z|x)}[f(z)] = ∇_φ E_{ε~N(0,I)}[f(μ_φ + σ_φ ⊙ ε)] = E_ε[∇_φ f(μ_φ + σ_φ ⊙ ε)]
                          ≈ (1/M) Σ_j ∇_φ f(μ_φ + σ_φ ⊙ ε⁽ʲ⁾).

DirectGaussianSample draws z inside its forward pass. It is recorded in the graph, so tools can
point at it, but it declares that it passes no gradient to μ and σ — exactly what naive sampling does:
a random draw has no derivative with respect to the parameters of the distribution it came from.

The same pair for a full covariance Σ = L Lᵀ (L lower triangular with a positive diagonal, e.g. its
Cholesky factor): MultivariateGaussianReparam writes z = μ + L ε, and DirectMultivariateGaussianSample
draws z ~ N(μ, L Lᵀ) inside forward and passes no gradient. z = μ + L ε has covariance
E[(L ε)(L ε)ᵀ] = L E[ε εᵀ] Lᵀ = L Lᵀ = Σ, so L serves as the Σ^{1/2} of z = μ + Σ^{1/2} ε.
"""

import numpy as np

from .engine import Function, Tensor
from .ops import exp
from .random import as_generator

__all__ = ["GaussianReparam", "DirectGaussianSample", "gaussian_reparam_logvar",
           "MultivariateGaussianReparam", "DirectMultivariateGaussianSample"]


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


def _constant_noise(op, eps):
    """ε as given to a reparameterization node: it must be a constant, drawn outside the graph."""
    if isinstance(eps, Tensor) and eps.requires_grad:
        raise ValueError(f"{op}: eps requires grad, but ε must be a constant drawn outside the graph (the "
                         "point of the trick); pass eps.detach() or an ndarray")


def _noise_array(op, eps, event, expected, dtype):
    """ε as an array of `dtype` ending in the shape `event`, or an error saying what was `expected`."""
    eps = np.asarray(eps)
    if eps.ndim < len(event) or eps.shape[eps.ndim - len(event):] != event:
        raise ValueError(f"{op}: eps has shape {eps.shape}, expected {expected}")
    if eps.dtype.kind not in "fiu":
        raise TypeError(f"{op}: eps must hold real numbers, got dtype {eps.dtype}")
    return eps.astype(dtype, copy=False)      # ε never upcasts float32


class GaussianReparam(Function):
    """z = μ + σ ⊙ ε, one graph node with ε a constant input.

    ε has the batch shape of μ and σ, or (M, *batch_shape) for M samples per input (more generally
    (*sample_shape, *batch_shape): any number of leading sample axes).
    VJP:  μ̄ = ḡ,  σ̄ = ḡ ⊙ ε  (summed over the sample axes by the engine's unbroadcast);  ε̄: none."""

    nondifferentiable = (2,)

    @classmethod
    def apply(cls, mu, sigma, eps):
        _constant_noise("GaussianReparam", eps)
        return super().apply(mu, sigma, eps)

    def forward(ctx, mu, sigma, eps):
        batch = _batch_shape("GaussianReparam", mu, sigma)
        eps = _noise_array("GaussianReparam", eps, batch,
                           f"the batch shape {batch} of mu/sigma or (M, *{batch}) with a leading sample "
                           f"axis (or several: (*sample_shape, *{batch}))", np.result_type(mu, sigma))
        _check_scale("GaussianReparam", sigma)
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


# ----------------------------------------------------------------------------------------------
# Full covariance: z = μ + L ε, L lower triangular with a positive diagonal (Σ = L Lᵀ)


def _mvn_batch_shape(op, mu, L):
    """The batch shape of μ (…, D) and L (…, D, D), after checking the event sizes agree."""
    mu_shape, L_shape = np.shape(mu), np.shape(L)
    if len(mu_shape) < 1 or len(L_shape) < 2 or L_shape[-1] != L_shape[-2] or L_shape[-1] != mu_shape[-1]:
        raise ValueError(f"{op}: expected mu of shape (…, D) and scale_tril of shape (…, D, D) with the same D, "
                         f"got mu {mu_shape} and scale_tril {L_shape}")
    try:
        return np.broadcast_shapes(mu_shape[:-1], L_shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: the batch axes of mu {mu_shape} and scale_tril {L_shape} do not broadcast "
                         "together") from None


def _check_scale_tril(op, L):
    diagonal = np.diagonal(L, axis1=-2, axis2=-1)
    if not np.all(diagonal > 0):
        raise ValueError(f"{op}: scale_tril must have a positive diagonal, got min {np.min(diagonal):.6g} "
                         f"(shape {np.shape(L)}); a Cholesky factor's diagonal is > 0")


def _affine_tril(mu, L, eps):
    """μ + tril(L) ε over the last axis, every other axis broadcast (ε may carry leading sample axes)."""
    return mu + np.einsum("...ij,...j->...i", np.tril(L), eps)


class MultivariateGaussianReparam(Function):
    """z = μ + L ε, one graph node with ε a constant input; L is read on and below its diagonal only.

    μ (…, D), L (…, D, D), ε (*sample_shape, *batch_shape, D) with leading sample axes optional.
    VJP:  μ̄ = ḡ,  L̄ = tril(ḡ εᵀ)  (both summed over the sample and broadcast axes by the engine's
    unbroadcast);  ε̄: none."""

    nondifferentiable = (2,)

    @classmethod
    def apply(cls, mu, L, eps):
        _constant_noise("MultivariateGaussianReparam", eps)
        return super().apply(mu, L, eps)

    def forward(ctx, mu, L, eps):
        batch = _mvn_batch_shape("MultivariateGaussianReparam", mu, L)
        event = batch + np.shape(mu)[-1:]
        eps = _noise_array("MultivariateGaussianReparam", eps, event,
                           f"(*sample_shape, *{batch}, {event[-1]}): the batch shape of mu/scale_tril and the "
                           "event size", np.result_type(mu, L))
        _check_scale_tril("MultivariateGaussianReparam", L)
        ctx.save_for_backward(eps)
        return _affine_tril(mu, L, eps)

    def backward(ctx, g):
        (eps,) = ctx.saved_tensors
        gL = np.tril(np.einsum("...i,...j->...ij", g, eps)) if ctx.needs_input_grad[1] else None
        return g, gL, None


class DirectMultivariateGaussianSample(Function):
    """z ~ N(μ, L Lᵀ) drawn inside forward from `rng` (z = μ + L ε with ε from the Generator).

    Passes NO gradient to μ or L: recorded (with the line that created it), but it cuts the path,
    as sampling without the reparameterization trick does. With the same seed it draws the z that
    MultivariateGaussianReparam gives for ε = rng.standard_normal((*sample_shape, *batch_shape, D))."""

    nondifferentiable = (0, 1, 2)
    stochastic = True        # drawn in red by minigrad.graph.draw, named by explain as the sampler

    def forward(ctx, mu, L, rng, sample_shape=()):
        rng = as_generator(rng, "DirectMultivariateGaussianSample")
        batch = _mvn_batch_shape("DirectMultivariateGaussianSample", mu, L)
        _check_scale_tril("DirectMultivariateGaussianSample", L)
        dtype = np.result_type(mu, L)
        shape = tuple(sample_shape) + batch + np.shape(mu)[-1:]
        eps = rng.standard_normal(shape, dtype=dtype if dtype.kind == "f" else np.float64)
        return _affine_tril(mu, L, eps)

    def backward(ctx, g):
        return None, None, None
