"""Monte-Carlo gradients of an expectation, ∇_θ E_{p_θ}[f(z)], two ways, side by side.

- `pathwise_gradient` (the reparameterization estimator): draw z = g(noise, θ) with the noise outside
  the graph (`rsample`), so by LOTUS ∇_θ E_{p_θ}[f(z)] = E_noise[∇_θ f(g(noise, θ))], and average
  backpropagated gradients:  (1/M) Σ_j ∇_θ f(g(noise⁽ʲ⁾, θ)).  Needs f differentiable (minigrad ops) and
  a reparameterized sampler.
- `score_function_gradient` (log-derivative, REINFORCE): ∇_θ E_{p_θ}[f(z)] = E_{p_θ}[f(z) ∇_θ log p_θ(z)],
  estimated by (1/M) Σ_j (f(z⁽ʲ⁾) − b) ∇_θ log p_θ(z⁽ʲ⁾). Needs only samples and log_prob: f may be
  a black box (NumPy) and z may be discrete. A baseline b that does not depend on z⁽ʲ⁾ keeps it unbiased
  and can cut its variance.

Both take the same arguments:

    make_dist(*params) -> distribution   builds p_θ from the parameters, elementwise (see below)
    params        list of Tensors / arrays: the θ to differentiate with respect to (not modified)
    f             the integrand; its value for sample j is the sum over all axes but the first
    n_samples     M
    rng           a numpy.random.Generator: every draw comes from it

and return one ndarray per parameter: the M-sample estimate, or with `per_sample=True` the M
single-sample estimates stacked on a leading axis (shape (M, *param.shape)) — their mean is the
M-sample estimate, their variance the single-sample estimator's variance.

How the per-sample gradients are obtained in one backward pass: each parameter is replicated along a
new leading axis of length M (shape (M, 1, …, *param.shape), padded so parameters of different rank
still broadcast against each other), so make_dist builds M independent copies of p_θ, one per sample.
The gradient of Σ_j f(z_j) w.r.t. copy j is then exactly the single-sample gradient of sample j. This
requires make_dist to treat its arguments elementwise, as NumPy broadcasting would (true for the
distributions here built from elementwise expressions of the parameters); a make_dist that indexes or
reduces a parameter is detected when the batch shape does not come out as (M, *batch_shape).
"""

import numpy as np

from .engine import Tensor, no_grad
from .random import as_generator

__all__ = ["pathwise_gradient", "score_function_gradient"]


def _param_arrays(params, where):
    if isinstance(params, (Tensor, np.ndarray)) or np.isscalar(params):
        raise TypeError(f"{where}: params must be a list of parameters (wrap a single one: [theta])")
    arrays = []
    for i, p in enumerate(params):
        a = np.asarray(p.data if isinstance(p, Tensor) else p)
        if a.dtype.kind != "f":
            a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{where}: parameter {i} has non-finite values")
        arrays.append(a)
    if not arrays:
        raise ValueError(f"{where}: params is empty, so there is nothing to differentiate")
    return arrays


def _n_samples(m, where):
    if isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"{where}: n_samples must be a positive integer, got {m!r}")
    return int(m)


def _replicated_dist(make_dist, arrays, m, where):
    """(leaves of shape (M, 1…, *param.shape) requiring grad, make_dist(*leaves)), checked."""
    with no_grad():
        batch = make_dist(*[Tensor(a) for a in arrays]).batch_shape
    rank = max(max(a.ndim for a in arrays), len(batch))
    leaves = [Tensor(np.ascontiguousarray(np.broadcast_to(a, (m,) + (1,) * (rank - a.ndim) + a.shape)),
                     requires_grad=True) for a in arrays]
    dist = make_dist(*leaves)
    expected = np.broadcast_shapes((m,) + (1,) * rank, (1,) + batch)
    if dist.batch_shape != expected:
        raise ValueError(f"{where}: make_dist must build the distribution elementwise from its parameters: with "
                         f"each parameter given a leading sample axis of length {m} the batch shape should be "
                         f"{expected}, but it is {dist.batch_shape} (does make_dist index or reduce a parameter?)")
    return leaves, dist


def _per_sample_values(values, m, where):
    """f's output reduced to one value per sample: shape (M,)."""
    if values.ndim == 0 or values.shape[0] != m:
        raise ValueError(f"{where}: f must return one value per sample on a leading axis of length {m}, got "
                         f"shape {values.shape}")
    return values.reshape(m, -1).sum(axis=1) if values.ndim > 1 else values


def _collect(leaves, arrays, m, per_sample):
    out = []
    for leaf, a in zip(leaves, arrays):
        g = np.zeros((m,) + a.shape, leaf.dtype) if leaf.grad is None else leaf.grad.reshape((m,) + a.shape)
        out.append(g if per_sample else g.mean(axis=0))
    return out


def pathwise_gradient(make_dist, params, f, n_samples, rng, *, method="rsample", per_sample=False):
    """Reparameterization estimate of ∇_θ E_{p_θ}[f(z)]: (1/M) Σ_j ∇_θ f(g(noise⁽ʲ⁾, θ)).

    f maps the samples z (a Tensor of shape (M, *batch_shape)) to a Tensor built with minigrad ops, so
    backward can reach θ through z; `method` names the sampler: "rsample" (default) or, for Normal,
    "rsample_icdf" (its inverse-CDF path). Returns one ndarray per parameter (see the module docstring;
    per_sample=True gives the M single-sample estimates). Parameters inside f that require grad (say, a
    decoder's weights) get their summed gradient accumulated into `.grad` as a side effect of backward."""
    where = "pathwise_gradient"
    rng = as_generator(rng, where)
    m = _n_samples(n_samples, where)
    arrays = _param_arrays(params, where)
    leaves, dist = _replicated_dist(make_dist, arrays, m, where)
    if not getattr(dist, "has_rsample", False):
        raise TypeError(f"{where}: {type(dist).__name__} has no reparameterized sampler, so there is no path "
                        "from θ to z to differentiate; use score_function_gradient")
    z = getattr(dist, method)(rng=rng)
    values = f(z)
    if not isinstance(values, Tensor) or not values.requires_grad:
        got = "a Tensor that does not require grad" if isinstance(values, Tensor) else type(values).__name__
        raise TypeError(f"{where}: f(z) must be a Tensor computed from z with minigrad ops (got {got}); "
                        "for a black-box f use score_function_gradient")
    _per_sample_values(values.data, m, where)     # shape check only
    values.sum().backward()
    return _collect(leaves, arrays, m, per_sample)


def _baseline_values(baseline, fz, where):
    """b_j for each sample: 0, a constant, or the leave-one-out mean of the other samples' f."""
    if baseline is None:
        return 0.0
    if isinstance(baseline, str):
        if baseline != "mean":
            raise ValueError(f"{where}: baseline must be None, a number or 'mean', got {baseline!r}")
        m = fz.shape[0]
        if m < 2:
            raise ValueError(f"{where}: baseline='mean' (leave-one-out) needs n_samples >= 2")
        return (fz.sum() - fz) / (m - 1)
    b = float(baseline)
    if not np.isfinite(b):
        raise ValueError(f"{where}: baseline must be finite, got {baseline!r}")
    return b


def score_function_gradient(make_dist, params, f, n_samples, rng, *, baseline=None, per_sample=False):
    """Score-function estimate of ∇_θ E_{p_θ}[f(z)]: (1/M) Σ_j (f(z⁽ʲ⁾) − b_j) ∇_θ log p_θ(z⁽ʲ⁾).

    z⁽ʲ⁾ are drawn with `sample()` (no graph) and passed to f as an ndarray of shape (M, *batch_shape);
    f may use NumPy or minigrad ops (a returned Tensor is read as data). `baseline`:
      None    b = 0;
      number  a constant b (unbiased for any constant; b ≈ E[f] cuts the variance);
      "mean"  b_j = mean of f over the other M − 1 samples (leave-one-out: independent of z⁽ʲ⁾, so
              still unbiased; the per-sample estimates are then correlated through b).
    Returns one ndarray per parameter (per_sample=True: the M single-sample estimates)."""
    where = "score_function_gradient"
    rng = as_generator(rng, where)
    m = _n_samples(n_samples, where)
    arrays = _param_arrays(params, where)
    leaves, dist = _replicated_dist(make_dist, arrays, m, where)
    z = dist.sample(rng=rng)
    z_values = z.data if isinstance(z, Tensor) else np.asarray(z)
    with no_grad():
        fz = f(z_values)
    fz = np.asarray(fz.data if isinstance(fz, Tensor) else fz, dtype=np.float64)
    fz = _per_sample_values(fz, m, where)
    weights = fz - _baseline_values(baseline, fz, where)          # f(z_j) − b_j, one per sample
    log_p = dist.log_prob(Tensor(z_values))                       # z is a constant: only ∇_θ log p_θ
    if not log_p.requires_grad:
        raise TypeError(f"{where}: log_prob of {type(dist).__name__} does not depend on the parameters")
    extra = log_p.ndim - 1
    w = weights.reshape((m,) + (1,) * extra).astype(log_p.dtype)
    # Σ_j w_j Σ_batch log p_θ(z_j): its gradient w.r.t. copy j of θ is w_j ∇_θ log p_θ(z_j).
    log_p.backward(np.broadcast_to(w, log_p.shape).copy())
    return _collect(leaves, arrays, m, per_sample)
