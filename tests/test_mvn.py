"""MultivariateNormal: z = μ + L ε with Σ = L Lᵀ (issue 14).

Densities, entropies and KLs against scipy.stats.multivariate_normal and an independent NumPy closed form
(np.linalg.inv, slogdet); statistical tests state N and pass within 4 standard errors (a correct
implementation fails one such check with probability ≈ 6e-5 under the CLT). Gradients: central finite
differences in float64 (h = 1e-6) through mg.gradcheck / mg.numerical_grad with the tolerances stated.
"""

import math

import numpy as np
import pytest
from scipy import stats

import minigrad as mg
from minigrad.distributions import (
    Bernoulli,
    Laplace,
    MultivariateNormal,
    Normal,
    kl_divergence,
    scale_tril_from_parts,
    scale_tril_from_unconstrained,
)
from minigrad.reparam import DirectMultivariateGaussianSample, MultivariateGaussianReparam

D = 3


def _spd(rng, batch=(), dim=D, jitter=0.5):
    a = rng.standard_normal(batch + (dim, dim))
    return a @ np.swapaxes(a, -1, -2) + jitter * np.eye(dim)


def _ill_conditioned(rng, dim=D, cond=1e6):
    """Q diag(λ) Qᵀ with λ from 1 to cond (log-spaced), Q a random rotation: cond(Σ) = cond.

    The smallest eigenvalue is 1 so that central differences (h = 1e-6) stay accurate: their truncation
    error grows like h²/λ_min³, and at λ_min = 1e-2 it alone exceeds gradcheck's rtol."""
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    lam = np.logspace(0, math.log10(cond), dim)
    return (q * lam) @ q.T


def _kl_reference(mu1, s1, mu2, s2):
    """KL(N(μ₁, Σ₁) ‖ N(μ₂, Σ₂)) with an explicit inverse and slogdet: independent of the code under test."""
    inv2 = np.linalg.inv(s2)
    diff = mu2 - mu1
    return 0.5 * (np.trace(inv2 @ s1) + diff @ inv2 @ diff - len(mu1)
                  + np.linalg.slogdet(s2)[1] - np.linalg.slogdet(s1)[1])


def _make(kind, loc, sigma):
    if kind == "covariance_matrix":
        return MultivariateNormal(loc, covariance_matrix=sigma)
    if kind == "precision_matrix":
        return MultivariateNormal(loc, precision_matrix=np.linalg.inv(sigma))
    return MultivariateNormal(loc, scale_tril=np.linalg.cholesky(sigma))


KINDS = ["covariance_matrix", "precision_matrix", "scale_tril"]
# (loc shape, Σ shape): batch axes from either side, and broadcast against each other
BATCHES = [((D,), (D, D)), ((2, D), (D, D)), ((D,), (2, D, D)), ((4, 1, D), (2, D, D))]


# ----------------------------------------------------------------------------------------------
# Against scipy


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("loc_shape, sigma_shape", BATCHES)
def test_log_prob_and_entropy_match_scipy(kind, loc_shape, sigma_shape):
    """log_prob of x (5, *batch, D) and entropy equal scipy's per batch element (rtol 1e-12, atol 1e-12)."""
    rng = np.random.default_rng(0)
    loc, sigma = rng.standard_normal(loc_shape), _spd(rng, sigma_shape[:-2])
    d = _make(kind, loc, sigma)
    batch = np.broadcast_shapes(loc_shape[:-1], sigma_shape[:-2])
    assert d.batch_shape == batch and d.event_shape == (D,)
    x = rng.standard_normal((5,) + batch + (D,))
    lp, h = d.log_prob(x).data, d.entropy().data
    assert lp.shape == (5,) + batch and h.shape == batch
    locs, sigmas = np.broadcast_to(loc, batch + (D,)), np.broadcast_to(sigma, batch + (D, D))
    for i in np.ndindex(batch):
        ref = stats.multivariate_normal(locs[i], sigmas[i])
        np.testing.assert_allclose(lp[(slice(None),) + i], ref.logpdf(x[(slice(None),) + i]), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h[i], ref.entropy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_parameters_are_consistent(kind):
    """mean, covariance_matrix, precision_matrix, scale_tril, variance agree with NumPy (rtol 1e-12)
    whichever one was given; scale_tril is the lower Cholesky factor."""
    rng = np.random.default_rng(1)
    loc, sigma = rng.standard_normal((2, D)), _spd(rng, (2,))
    d = _make(kind, loc, sigma)
    np.testing.assert_array_equal(d.mean.data, loc)
    np.testing.assert_allclose(d.covariance_matrix.data, sigma, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d.precision_matrix.data, np.linalg.inv(sigma), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d.scale_tril.data, np.linalg.cholesky(sigma), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d.variance.data, np.diagonal(sigma, axis1=-2, axis2=-1), rtol=1e-12)


def test_kl_matches_closed_form_and_monte_carlo():
    """KL(p ‖ q) for MVN ‖ MVN, MVN ‖ Normal (diagonal), Normal ‖ MVN, batched: equal to the explicit-inverse
    closed form (rtol 1e-10), and to the Monte-Carlo mean of log p(z) − log q(z) under scipy's densities,
    z ~ p, N = 50,000, within 4 standard errors."""
    rng = np.random.default_rng(2)
    mu1, s1 = rng.standard_normal((2, D)), _spd(rng, (2,))
    mu2, s2 = rng.standard_normal(D), _spd(rng)
    m2, sd2 = rng.standard_normal(D), rng.uniform(0.5, 2.0, D)
    p = MultivariateNormal(mu1, covariance_matrix=s1)
    cases = [(p, MultivariateNormal(mu2, covariance_matrix=s2), lambda b: (mu1[b], s1[b], mu2, s2)),
             (p, Normal(m2, sd2), lambda b: (mu1[b], s1[b], m2, np.diag(sd2 ** 2))),
             (Normal(m2, sd2), p, lambda b: (m2, np.diag(sd2 ** 2), mu1[b], s1[b]))]
    n = 50_000
    for a, b, params in cases:
        kl = kl_divergence(a, b).data
        assert kl.shape == (2,)
        for i in range(2):
            ma, sa, mb, sb = params(i)
            np.testing.assert_allclose(kl[i], _kl_reference(ma, sa, mb, sb), rtol=1e-10)
            z = np.random.default_rng(10 + i).multivariate_normal(ma, sa, n)
            terms = stats.multivariate_normal(ma, sa).logpdf(z) - stats.multivariate_normal(mb, sb).logpdf(z)
            assert abs(terms.mean() - kl[i]) < 4 * terms.std() / math.sqrt(n)


def test_kl_is_zero_for_equal_distributions_and_unknown_pairs_say_what_exists():
    rng = np.random.default_rng(3)
    p = MultivariateNormal(rng.standard_normal(D), covariance_matrix=_spd(rng))
    assert abs(kl_divergence(p, p).item()) < 1e-12
    with pytest.raises(NotImplementedError, match=r"MultivariateNormal ‖ Laplace.*implemented:.*"
                                                  r"MultivariateNormal ‖ Normal"):
        kl_divergence(p, Laplace(0.0, 1.0))


# ----------------------------------------------------------------------------------------------
# rsample: one node z = μ + L ε, the right law


@pytest.mark.parametrize("kind", KINDS)
def test_rsample_mean_and_covariance_match(kind):
    """N = 200,000 draws of z = μ + L ε: each sample mean within 4 SE (SE² = Σ_ii / N) of μ_i, each sample
    covariance within 4 SE (SE² = (Σ_ii Σ_jj + Σ_ij²) / N, the Gaussian variance of s_ij) of Σ_ij."""
    rng = np.random.default_rng(4)
    loc, sigma = rng.standard_normal(D), _spd(rng)
    n = 200_000
    z = _make(kind, loc, sigma).rsample((n,), rng=np.random.default_rng(5)).data
    assert z.shape == (n, D)
    se_mean = np.sqrt(np.diag(sigma) / n)
    assert np.all(np.abs(z.mean(axis=0) - loc) < 4 * se_mean)
    var = np.diag(sigma)
    se_cov = np.sqrt((np.outer(var, var) + sigma ** 2) / n)
    assert np.all(np.abs(np.cov(z.T) - sigma) < 4 * se_cov)


def test_rsample_is_one_node_with_eps_constant():
    """z's grad_fn is one MultivariateGaussianReparam whose parents are loc and L; ε gets nothing; the VJP
    is μ̄ = Σ ḡ, L̄ = tril(Σ ḡ εᵀ) over the sample axis."""
    rng = np.random.default_rng(6)
    loc = mg.tensor(rng.standard_normal(D), requires_grad=True)
    L = mg.tensor(np.linalg.cholesky(_spd(rng)), requires_grad=True)
    eps = mg.Tensor(rng.standard_normal((4, D)))
    z = MultivariateNormal(loc, scale_tril=L).rsample(eps=eps)
    assert type(z.grad_fn) is MultivariateGaussianReparam
    assert z.grad_fn.parents[:2] == (loc, L)
    np.testing.assert_allclose(z.data, loc.data + eps.data @ L.data.T, rtol=1e-14)
    g = rng.standard_normal((4, D))
    z.backward(g)
    np.testing.assert_allclose(loc.grad, g.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(L.grad, np.tril(g.T @ eps.data), rtol=1e-14)
    assert eps.grad is None


@pytest.mark.parametrize("mu_shape, L_shape, eps_shape", [
    ((D,), (D, D), (D,)),
    ((D,), (D, D), (5, D)),              # sample axis
    ((2, D), (D, D), (5, 2, D)),         # batched μ, shared L
    ((D,), (2, D, D), (2, D)),           # batched L
    ((4, 1, D), (2, D, D), (3, 4, 2, D)),  # broadcast batch axes and a sample axis
    ((1,), (1, 1), (6, 1)),              # D = 1
])
def test_multivariate_reparam_vjp_passes_gradcheck(mu_shape, L_shape, eps_shape):
    """gradcheck (float64, h = 1e-6, atol 1e-5, rtol 1e-4) of z = μ + L ε in μ and L (lower triangle) with ε
    a constant of the given shape."""
    rng = np.random.default_rng(7)
    mu = mg.tensor(rng.standard_normal(mu_shape), requires_grad=True)
    L = mg.tensor(np.linalg.cholesky(_spd(rng, L_shape[:-2], L_shape[-1])), requires_grad=True)
    eps = rng.standard_normal(eps_shape)
    assert mg.gradcheck(lambda m, s: MultivariateGaussianReparam.apply(m, s, eps), [mu, L])


def test_sample_is_direct_draws_what_rsample_draws_and_passes_no_gradient():
    rng = np.random.default_rng(8)
    loc = mg.tensor(rng.standard_normal((2, D)), requires_grad=True)
    L = mg.tensor(np.linalg.cholesky(_spd(rng, (2,))), requires_grad=True)
    d = MultivariateNormal(loc, scale_tril=L)
    z = d.sample(rng=np.random.default_rng(9), sample_shape=(3,))
    assert z.shape == (3, 2, D) and not z.requires_grad
    assert type(z._node) is DirectMultivariateGaussianSample and DirectMultivariateGaussianSample.stochastic
    np.testing.assert_array_equal(z.data, d.rsample((3,), rng=np.random.default_rng(9)).data)
    with pytest.raises(RuntimeError, match="DirectMultivariateGaussianSample"):
        z.sum().backward()


# ----------------------------------------------------------------------------------------------
# ∇_φ through z = μ_φ(x) + L_φ(x) ε, and not through a direct draw


X_DIM, HIDDEN, LATENT, BATCH = 5, 8, 2, 4
ENTRIES = LATENT * (LATENT + 1) // 2


class FullCovarianceVAE:
    """Encoder x → (μ_φ(x), v_φ(x)) with v the D(D+1)/2 unconstrained entries of L_φ(x); decoder z → logits."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.encoder = mg.nn.MLP([X_DIM, HIDDEN, LATENT + ENTRIES], activation="tanh", dtype=np.float64, rng=rng)
        self.decoder = mg.nn.MLP([LATENT, HIDDEN, X_DIM], activation="tanh", dtype=np.float64, rng=rng)
        self.x = (rng.random((BATCH, X_DIM)) < 0.5).astype(np.float64)
        self.x[np.arange(X_DIM) % BATCH, np.arange(X_DIM)] = 1.0   # no all-zero input column (its weights'
        # gradient would be exactly zero, true but useless for showing that every element is reached)

    def posterior(self):
        h = self.encoder(mg.Tensor(self.x))
        return MultivariateNormal(h[:, :LATENT], scale_tril=scale_tril_from_unconstrained(h[:, LATENT:], LATENT))

    def reconstruction(self, z):
        return -Bernoulli(logits=self.decoder(z)).log_prob(self.x).sum()

    def loss_reparam(self, eps):
        return self.reconstruction(self.posterior().rsample(eps=eps))

    def loss_direct(self, seed):
        return self.reconstruction(self.posterior().sample(rng=np.random.default_rng(seed)))


def test_gradient_through_scale_tril_reaches_every_encoder_parameter_and_matches_finite_differences():
    """∇_φ of −log p_θ(x|z), z = μ_φ(x) + L_φ(x) ε with ε fixed, equals central finite differences
    (h = 1e-6; |autodiff − fd| ≤ 1e-5·|fd| + 1e-9) for every encoder parameter, and is non-zero in every element:
    the gradient flows through the off-diagonal entries of L as well as the diagonal."""
    vae = FullCovarianceVAE()
    eps = np.random.default_rng(1).standard_normal((BATCH, LATENT))
    params = vae.encoder.parameters()
    for p in params:
        p.grad = None
    vae.loss_reparam(eps).backward()
    fd = mg.numerical_grad(lambda *_: vae.loss_reparam(eps), params, eps=1e-6)
    for (name, p), numeric in zip(vae.encoder.named_parameters(), fd):
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-5, atol=1e-9, err_msg=name)
        assert np.all(p.grad != 0), f"{name} has zero gradient elements"


def test_direct_sampling_gives_no_gradient_but_the_true_gradient_is_not_zero():
    """With z drawn by sample() (DirectMultivariateGaussianSample) the encoder gets no gradient at all (grads
    None) and explain() names the sampler, while central finite differences of the same loss with the generator
    re-seeded identically (the same ε each time) are clearly non-zero (max > 1e-2 per tensor) and equal the
    reparameterized gradient with that ε (rtol 1e-5)."""
    vae = FullCovarianceVAE()
    seed = 3
    enc, dec = vae.encoder.parameters(), vae.decoder.parameters()
    for p in enc + dec:
        p.grad = None
    loss = vae.loss_direct(seed)
    rows = mg.explain(loss, vae.encoder, show=False).rows
    assert rows and all(not r["reachable"] and r["op"] == "DirectMultivariateGaussianSample" for r in rows)
    assert "DirectMultivariateGaussianSample" in mg.to_dot(loss, vae.encoder)
    loss.backward()
    assert all(p.grad is None for p in enc)
    assert all(p.grad is not None for p in dec)
    fd = mg.numerical_grad(lambda *_: vae.loss_direct(seed), enc, eps=1e-6)
    assert all(np.abs(n).max() > 1e-2 for n in fd)
    eps = np.random.default_rng(seed).standard_normal((BATCH, LATENT))
    vae.loss_reparam(eps).backward()
    for p, n in zip(enc, fd):
        np.testing.assert_allclose(p.grad, n, rtol=1e-5, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# A diagonal L is the diagonal Normal, to round-off


def test_diagonal_scale_tril_equals_the_diagonal_normal_path():
    """L = diag(σ): log_prob, entropy, KL (to N(0, I), to a diagonal Normal and between two diagonal MVNs),
    rsample with the same ε, and the gradients of all of them with respect to μ and σ equal the Normal's
    (summed over the event axis) to float64 round-off (rtol 1e-13, atol 1e-14)."""
    rng = np.random.default_rng(11)
    mu_data, sigma_data = rng.standard_normal((4, D)), rng.uniform(0.3, 2.0, (4, D))
    m2, s2 = rng.standard_normal(D), rng.uniform(0.3, 2.0, D)
    x, eps = rng.standard_normal((2, 4, D)), rng.standard_normal((2, 4, D))

    def results(full):
        mu, sigma = mg.tensor(mu_data, requires_grad=True), mg.tensor(sigma_data, requires_grad=True)
        if full:
            p = MultivariateNormal(mu, scale_tril=mg.expand_dims(sigma, -1) * np.eye(D))
            q = MultivariateNormal(m2, scale_tril=np.diag(s2))
            terms = [p.log_prob(x), p.entropy(), kl_divergence(p, Normal(0.0, 1.0)), kl_divergence(p, q),
                     kl_divergence(Normal(m2, s2), p), p.rsample(eps=eps)]
        else:
            p = Normal(mu, sigma)
            q = Normal(m2, s2)
            terms = [p.log_prob(x).sum(-1), p.entropy().sum(-1), kl_divergence(p, Normal(0.0, 1.0)).sum(-1),
                     kl_divergence(p, q).sum(-1), kl_divergence(q, p).sum(-1), p.rsample(eps=eps)]
        out = []
        for t in terms:
            mu.grad = sigma.grad = None
            w = np.random.default_rng(t.ndim).standard_normal(t.shape)
            (t * w).sum().backward(retain_graph=True)
            out.append((t.data, mu.grad, sigma.grad))
        return out

    for full, diagonal in zip(results(True), results(False)):
        for a, b in zip(full, diagonal):            # the value, ∂/∂μ, ∂/∂σ
            assert (a is None) == (b is None)       # the entropy does not depend on μ: no gradient either way
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


# ----------------------------------------------------------------------------------------------
# Ill-conditioned but valid covariances


H_ILL = 1e-3     # the finite-difference step for cond-1e6 matrices (see the test below)


def _symmetric(x):
    return 0.5 * (x + mg.swapaxes(x, -1, -2))


@pytest.mark.parametrize("what", ["log_prob", "entropy", "rsample", "kl", "kl_reverse"])
def test_ill_conditioned_covariance_gradcheck(what):
    """Σ with eigenvalues 1 … 1e6 (cond 1e6): gradients in μ and Σ (symmetric parameterization
    (X + Xᵀ)/2, so finite differences stay symmetric) pass gradcheck (float64, atol 1e-5, rtol 1e-4) through
    cholesky, the triangular solves and z = μ + L ε. The step is h = 1e-3 (H_ILL): evaluating f at a matrix of
    condition κ carries a rounding error ≈ κ ε_mach |f| ≈ 1e-9, which a central difference divides by 2h, so
    h = 1e-6 measures noise of ≈ 1e-3; at h = 1e-3 that is ≈ 1e-6, as is the truncation error h² f‴ (λ_min = 1).
    log_prob's gradient is also compared with its closed form ½ Σ_x (Σ⁻¹ d dᵀ Σ⁻¹ − Σ⁻¹), d = x − μ (rtol 1e-6)."""
    rng = np.random.default_rng(12)
    sigma = _ill_conditioned(rng)
    assert np.linalg.cond(sigma) == pytest.approx(1e6, rel=1e-6)
    mu = mg.tensor(rng.standard_normal(D), requires_grad=True)
    cov = mg.tensor(sigma, requires_grad=True)
    x = rng.standard_normal((4, D))
    eps = rng.standard_normal((4, D))
    other = MultivariateNormal(np.zeros(D), covariance_matrix=_spd(rng))

    def f(m, c):
        d = MultivariateNormal(m, covariance_matrix=_symmetric(c))
        return {"log_prob": lambda: d.log_prob(x), "entropy": d.entropy, "rsample": lambda: d.rsample(eps=eps),
                "kl": lambda: kl_divergence(d, other), "kl_reverse": lambda: kl_divergence(other, d)}[what]()

    assert mg.gradcheck(f, [mu, cov], eps=H_ILL)
    if what == "log_prob":
        mu.grad = cov.grad = None
        f(mu, cov).sum().backward()
        inv, d = np.linalg.inv(sigma), x - mu.data
        expected = 0.5 * sum(inv @ np.outer(di, di) @ inv - inv for di in d)
        np.testing.assert_allclose(cov.grad, expected, rtol=1e-6, atol=1e-12)


def test_ill_conditioned_precision_and_scale_tril_gradcheck():
    """A cond-1e6 matrix given as a Cholesky factor of Σ and as a precision matrix P (eigenvalues 1 … 1e6):
    log_prob's gradient in μ and the matrix passes gradcheck (float64, h = H_ILL, atol 1e-5, rtol 1e-4)."""
    rng = np.random.default_rng(13)
    sigma = _ill_conditioned(rng)
    x = rng.standard_normal((4, D))
    mu = mg.tensor(rng.standard_normal(D), requires_grad=True)
    L = mg.tensor(np.linalg.cholesky(sigma), requires_grad=True)
    assert mg.gradcheck(lambda m, s: MultivariateNormal(m, scale_tril=mg.tril(s)).log_prob(x), [mu, L],
                        eps=H_ILL)
    P = mg.tensor(_ill_conditioned(rng), requires_grad=True)
    assert mg.gradcheck(lambda m, p: MultivariateNormal(m, precision_matrix=_symmetric(p)).log_prob(x), [mu, P],
                        eps=H_ILL)


# ----------------------------------------------------------------------------------------------
# scale_tril_from_unconstrained


def test_scale_tril_from_unconstrained_follows_its_formula_and_gradchecks():
    """L_ii = softplus(v_i) + floor, the strict lower triangle = v[D:] in tril_indices order, zeros above:
    exact against NumPy; gradcheck in v (float64, h = 1e-6)."""
    rng = np.random.default_rng(14)
    dim, floor = 4, 1e-3
    v = rng.standard_normal((2, 3, dim * (dim + 1) // 2)) * 3
    L = scale_tril_from_unconstrained(v, dim, floor=floor).data
    expected = np.zeros((2, 3, dim, dim))
    idx = np.arange(dim)
    expected[..., idx, idx] = np.logaddexp(0, v[..., :dim]) + floor
    rows, cols = np.tril_indices(dim, -1)
    expected[..., rows, cols] = v[..., dim:]
    np.testing.assert_allclose(L, expected, rtol=1e-15, atol=0)
    assert np.all(np.diagonal(L, axis1=-2, axis2=-1) > floor)
    vt = mg.tensor(v, requires_grad=True)
    assert mg.gradcheck(lambda t: scale_tril_from_unconstrained(t, dim, floor=floor), [vt])
    # A very negative diagonal entry still gives a valid factor: the floor.
    tiny = scale_tril_from_unconstrained(np.array([-800.0, 0.0, 0.0]), 2)
    assert tiny.data[0, 0] == 1e-5
    MultivariateNormal(np.zeros(2), scale_tril=tiny)


def test_scale_tril_from_parts_places_each_entry_and_broadcasts():
    """diagonal (2, 3) with one strict lower triangle (3,) shared by both rows: exact placement; gradcheck."""
    rng = np.random.default_rng(17)
    diag, off = rng.uniform(0.5, 2.0, (2, 3)), rng.standard_normal(3)
    L = scale_tril_from_parts(diag, off).data
    rows, cols = np.tril_indices(3, -1)
    for b in range(2):
        expected = np.diag(diag[b])
        expected[rows, cols] = off
        np.testing.assert_array_equal(L[b], expected)
    d, o = mg.tensor(diag, requires_grad=True), mg.tensor(off, requires_grad=True)
    assert mg.gradcheck(scale_tril_from_parts, [d, o])
    with pytest.raises(ValueError, match=r"scale_tril_from_parts: diagonal \(2, 3\) and strict_lower \(2,\) must be"):
        scale_tril_from_parts(diag, np.zeros(2))


def test_scale_tril_from_unconstrained_rejects_wrong_sizes():
    with pytest.raises(ValueError, match=r"scale_tril_from_unconstrained: v has shape \(2, 5\), expected \(…, 6\)"):
        scale_tril_from_unconstrained(np.zeros((2, 5)), 3)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        scale_tril_from_unconstrained(np.zeros(1), 0)
    with pytest.raises(ValueError, match="floor must be"):
        scale_tril_from_unconstrained(np.zeros(1), 1, floor=-1.0)


# ----------------------------------------------------------------------------------------------
# dtype


def test_float32_stays_float32():
    rng = np.random.default_rng(15)
    loc = mg.tensor(rng.standard_normal(D).astype(np.float32), requires_grad=True)
    cov = mg.tensor(_spd(rng).astype(np.float32), requires_grad=True)
    d = MultivariateNormal(loc, covariance_matrix=cov)
    prior = MultivariateNormal(np.zeros(D, np.float32), scale_tril=np.eye(D, dtype=np.float32))
    outs = [d.log_prob(rng.standard_normal((2, D))), d.entropy(), d.rsample((2,), rng=0), kl_divergence(d, prior),
            d.sample(rng=0), d.precision_matrix]
    assert all(o.dtype == np.float32 for o in outs), [o.dtype for o in outs]
    sum(o.sum() for o in outs[:4]).backward()
    assert loc.grad.dtype == np.float32 and cov.grad.dtype == np.float32


# ----------------------------------------------------------------------------------------------
# Bad input: one clear error naming the argument and the check that failed


def test_bad_arguments_are_named():
    loc, eye = np.zeros(2), np.eye(2)
    cases = [
        (dict(covariance_matrix=np.array([[1.0, 0.5], [0.2, 1.0]])),
         r"MultivariateNormal: covariance_matrix is not symmetric \(the check that failed: symmetry\): entry"),
        (dict(covariance_matrix=np.array([[1.0, 2.0], [2.0, 1.0]])),
         r"MultivariateNormal: covariance_matrix is not positive definite \(the check that failed: positive "
         r"definiteness; .*smallest eigenvalue -1"),
        (dict(precision_matrix=np.array([[1.0, 0.0], [0.0, -1.0]])),
         r"MultivariateNormal: precision_matrix is not positive definite"),
        (dict(precision_matrix=np.array([[1.0, 1.0], [0.0, 1.0]])), r"precision_matrix is not symmetric"),
        (dict(covariance_matrix=np.ones((2, 3))),
         r"covariance_matrix must be a square matrix .* got shape \(2, 3\)"),
        (dict(covariance_matrix=np.eye(3)), r"loc has D = 2 .* covariance_matrix is 3 × 3"),
        (dict(scale_tril=np.array([[1.0, 0.0], [0.5, 0.0]])),
         r"scale_tril must have a positive diagonal .* entry \(1, 1\) is 0"),
        (dict(scale_tril=np.array([[[1.0, 0.0], [0.5, 1.0]], [[-2.0, 0.0], [0.5, 1.0]]])),
         r"scale_tril must have a positive diagonal .* entry \(0, 0\) at batch index \(1,\) is -2"),
        (dict(scale_tril=np.array([[1.0, 0.3], [0.5, 1.0]])), r"scale_tril must be lower triangular"),
        (dict(scale_tril=eye, covariance_matrix=eye), r"pass exactly one of .* \(got covariance_matrix, scale_tril\)"),
        (dict(), r"pass exactly one of .* \(got none\)"),
        (dict(covariance_matrix=np.array([[1.0, np.nan], [np.nan, 1.0]])), r"covariance_matrix must be finite"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            MultivariateNormal(loc, **kwargs)
    with pytest.raises(ValueError, match=r"batch axes of loc \(3, 2\) and covariance_matrix \(4, 2, 2\)"):
        MultivariateNormal(np.zeros((3, 2)), covariance_matrix=np.broadcast_to(eye, (4, 2, 2)))
    with pytest.raises(ValueError, match=r"matrix at batch index \(1,\)"):
        MultivariateNormal(loc, covariance_matrix=np.stack([eye, -eye]))


def test_bad_samples_and_values_are_named():
    d = MultivariateNormal(np.zeros(2), covariance_matrix=np.eye(2))
    with pytest.raises(ValueError, match=r"MultivariateGaussianReparam: eps requires grad"):
        d.rsample(eps=mg.tensor(np.zeros(2), requires_grad=True))
    with pytest.raises(ValueError, match=r"MultivariateGaussianReparam: eps has shape \(3,\), expected"):
        d.rsample(eps=np.zeros(3))
    with pytest.raises(ValueError, match="pass either eps, or rng"):
        d.rsample(eps=np.zeros(2), rng=0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        d.rsample()
    with pytest.raises(ValueError, match=r"MultivariateNormal.log_prob: value has shape \(4, 3\), expected \(…, 2\)"):
        d.log_prob(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="event sizes 2 and 3"):
        kl_divergence(d, MultivariateNormal(np.zeros(3), scale_tril=np.eye(3)))


def test_reference_helpers_are_independent():
    """The KL reference is right where the answer is known in closed form (1-D: the scalar formula)."""
    m1, s1, m2, s2 = 0.3, 0.7, -0.4, 1.6
    scalar = math.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5
    assert _kl_reference(np.array([m1]), np.array([[s1 ** 2]]), np.array([m2]), np.array([[s2 ** 2]])) \
        == pytest.approx(scalar, rel=1e-14)


def test_symmetric_square_root_and_cholesky_factor_differ_by_a_rotation():
    """Σ^{1/2} = Q Λ^{1/2} Qᵀ (symmetric) and L (Cholesky) both satisfy A Aᵀ = Σ (rtol 1e-12), R = S⁻¹ L is
    orthogonal (R Rᵀ = I to 1e-12), and z = μ + S ε' with ε' = R ε is exactly z = μ + L ε: the two factors give
    the same law because N(0, I) is invariant under rotations."""
    rng = np.random.default_rng(16)
    sigma, mu = _spd(rng), rng.standard_normal(D)
    lam, q = np.linalg.eigh(sigma)
    S = (q * np.sqrt(lam)) @ q.T
    L = MultivariateNormal(mu, covariance_matrix=sigma).scale_tril.data
    for A in (S, L):
        np.testing.assert_allclose(A @ A.T, sigma, rtol=1e-12, atol=1e-12)
    R = np.linalg.solve(S, L)
    np.testing.assert_allclose(R @ R.T, np.eye(D), atol=1e-12)
    eps = rng.standard_normal((5, D))
    z_L = MultivariateNormal(mu, scale_tril=L).rsample(eps=eps).data
    np.testing.assert_allclose(z_L, mu + eps @ R.T @ S.T, rtol=1e-12, atol=1e-12)
