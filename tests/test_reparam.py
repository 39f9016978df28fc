"""Where ∇_φ flows: through z = μ_φ(x) + σ_φ(x) ⊙ ε (GaussianReparam), not through a direct draw
z ~ q_φ(z|x) (DirectGaussianSample). Claims 1 and 2 of docs/reparameterization.md.

The network of the first two tests is a small VAE in float64: an MLP encoder x → (μ, log σ²), a latent
z, an MLP decoder z → logits, and the Bernoulli log-likelihood log p_θ(x|z). Finite differences are
central, h = 1e-6, float64 (truncation O(h²) ≈ 1e-12, rounding ≈ 1e-16·|L|/h ≈ 1e-9).
"""

import numpy as np
import pytest
from scipy import stats

import minigrad as mg
from minigrad import DirectGaussianSample, GaussianReparam, gaussian_reparam_logvar
from minigrad.distributions import Bernoulli, Normal, kl_divergence

X_DIM, HIDDEN, LATENT, BATCH = 5, 8, 3, 4
FD_RTOL, FD_ATOL = 1e-5, 1e-9


class TinyVAE:
    """Encoder x → (μ_φ(x), log σ²_φ(x)) and decoder z → logits of p_θ(x|z), float64."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.encoder = mg.nn.MLP([X_DIM, HIDDEN, 2 * LATENT], activation="tanh", dtype=np.float64, rng=rng)
        self.decoder = mg.nn.MLP([LATENT, HIDDEN, X_DIM], activation="tanh", dtype=np.float64, rng=rng)
        self.x = (rng.random((BATCH, X_DIM)) < 0.5).astype(np.float64)
        self.x[np.arange(X_DIM) % BATCH, np.arange(X_DIM)] = 1.0   # no all-zero input column (whose weights
        # would get an exact zero gradient, true but useless for showing that every element is reached)

    def encode(self):
        h = self.encoder(mg.Tensor(self.x))
        return h[:, :LATENT], h[:, LATENT:]                     # μ_φ(x), log σ²_φ(x)

    def reconstruction(self, z):
        """−log p_θ(x|z), summed over the batch (the reconstruction term of the negative ELBO)."""
        return -Bernoulli(logits=self.decoder(z)).log_prob(self.x).sum()

    def loss_reparam(self, eps):
        mu, logvar = self.encode()
        return self.reconstruction(gaussian_reparam_logvar(mu, logvar, eps))

    def loss_direct(self, seed):
        mu, logvar = self.encode()
        z = DirectGaussianSample.apply(mu, mg.exp(0.5 * logvar), np.random.default_rng(seed))
        return self.reconstruction(z)

    def kl(self):
        mu, logvar = self.encode()
        prior = Normal(np.zeros(LATENT), np.ones(LATENT))
        return kl_divergence(Normal(mu, mg.exp(0.5 * logvar)), prior).sum()


def _autodiff(loss_fn, params):
    for p in params:
        p.grad = None
    loss_fn().backward()
    return [p.grad for p in params]


def test_gradient_flows_through_gaussian_reparam_to_every_encoder_parameter():
    """Claim 2. With ε ~ N(0, I) drawn once, outside the graph, z = μ_φ(x) + σ_φ(x) ⊙ ε is a
    deterministic, differentiable function of φ. The autodiff gradient of −log p_θ(x|z) for every
    encoder parameter equals central finite differences of the same loss with the same ε
    (|autodiff − fd| ≤ 1e-5·|fd| + 1e-9 elementwise) and is non-zero in every element."""
    vae = TinyVAE(seed=0)
    eps = np.random.default_rng(1).standard_normal((BATCH, LATENT))
    params = vae.encoder.parameters()
    assert len(params) == 4                                  # two layers: weight and bias each
    auto = _autodiff(lambda: vae.loss_reparam(eps), params)
    fd = mg.numerical_grad(lambda *_: vae.loss_reparam(eps), params, eps=1e-6)
    for (name, p), a, n in zip(vae.encoder.named_parameters(), auto, fd):
        assert a is not None and a.shape == p.shape, name
        np.testing.assert_allclose(a, n, rtol=FD_RTOL, atol=FD_ATOL, err_msg=name)
        assert np.all(a != 0), f"{name} has zero gradient elements"
        assert np.abs(a).max() > 1e-3, name
    # The decoder is trained through the same loss too.
    assert all(p.grad is not None for p in vae.decoder.parameters())


def test_direct_sampling_passes_no_gradient_to_encoder_but_the_true_gradient_is_not_zero():
    """Claim 1. The same network with z drawn inside the graph by DirectGaussianSample.

    Autodiff gives the encoder parameters no gradient at all from the reconstruction term (`.grad`
    stays None), while the decoder's parameters do get one. Is that missing gradient a true zero? No:
    re-seed the generator identically at every evaluation, so the same ε is drawn each time and the loss
    is an ordinary deterministic function of φ. Its central finite differences are clearly non-zero
    (max |∂L/∂w| > 1e-2 for every encoder tensor), and they equal the gradient GaussianReparam computes
    with that ε (rtol 1e-5). Moving φ moves μ_φ and σ_φ and hence z and the loss; the direct sampler
    simply does not know that z = μ + σ ε, so it drops the path — a wrong answer, not a zero one.
    Adding the analytic KL term gives the encoder exactly the KL's gradient and nothing more."""
    vae = TinyVAE(seed=0)
    seed = 7
    enc, dec = vae.encoder.parameters(), vae.decoder.parameters()
    for p in enc + dec:
        p.grad = None
    vae.loss_direct(seed).backward()
    assert all(p.grad is None for p in enc), "direct sampling must pass no gradient to φ"
    assert all(p.grad is not None and np.abs(p.grad).max() > 0 for p in dec), "the decoder still learns"

    fd = mg.numerical_grad(lambda *_: vae.loss_direct(seed), enc, eps=1e-6)
    for (name, _), n in zip(vae.encoder.named_parameters(), fd):
        assert np.abs(n).max() > 1e-2, f"{name}: finite differences {np.abs(n).max():.3g} should be clearly non-zero"

    # The same ε, drawn outside the graph: the reparameterized gradient is the true one.
    eps = np.random.default_rng(seed).standard_normal((BATCH, LATENT))
    reparam = _autodiff(lambda: vae.loss_reparam(eps), enc)
    for (name, _), r, n in zip(vae.encoder.named_parameters(), reparam, fd):
        np.testing.assert_allclose(r, n, rtol=FD_RTOL, atol=FD_ATOL, err_msg=name)

    # With the KL term the encoder gets a gradient, but only the KL's: the reconstruction adds nothing.
    kl_only = _autodiff(vae.kl, enc)
    with_direct = _autodiff(lambda: vae.loss_direct(seed) + vae.kl(), enc)
    for a, b in zip(with_direct, kl_only):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_direct_sample_is_recorded_and_names_itself_when_backward_cannot_pass():
    """The direct draw is recorded in the graph but its output requires no grad; calling backward from
    it says which node cut the flow."""
    mu = mg.tensor([0.5, -1.0], requires_grad=True)
    sigma = mg.tensor([1.0, 2.0], requires_grad=True)
    z = DirectGaussianSample.apply(mu, sigma, np.random.default_rng(0))
    assert not z.requires_grad
    with pytest.raises(RuntimeError, match="DirectGaussianSample"):
        z.backward(np.ones(2))
    assert mu.grad is None and sigma.grad is None


def test_direct_sample_has_the_right_distribution():
    """z ~ N(μ, σ²): KS test of (z − μ)/σ against N(0, 1), n = 20,000 per component, p > 1e-3; the same
    samples standardized with σ off by 10 %, or μ off by 0.1 σ, give p < 1e-3 (what the check can detect)."""
    mu, sigma = np.array([0.5, -1.0]), np.array([1.0, 2.0])
    z = DirectGaussianSample.apply(mu, sigma, np.random.default_rng(3), sample_shape=(20_000,)).data
    assert z.shape == (20_000, 2)
    for i in range(2):
        assert stats.kstest((z[:, i] - mu[i]) / sigma[i], "norm").pvalue > 1e-3
        assert stats.kstest((z[:, i] - mu[i]) / (1.1 * sigma[i]), "norm").pvalue < 1e-3
        assert stats.kstest((z[:, i] - mu[i] - 0.1 * sigma[i]) / sigma[i], "norm").pvalue < 1e-3


def test_same_seed_same_draw_for_direct_and_reparam():
    """DirectGaussianSample draws ε with rng.standard_normal, so with equal seeds it equals μ + σ ε."""
    mu, sigma = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 0.1])
    direct = DirectGaussianSample.apply(mu, sigma, np.random.default_rng(11)).data
    eps = np.random.default_rng(11).standard_normal(3)
    np.testing.assert_array_equal(direct, GaussianReparam.apply(mu, sigma, eps).data)


# ----------------------------------------------------------------------------------------------
# GaussianReparam's own VJP


@pytest.mark.parametrize("mu_shape, sigma_shape, eps_shape", [
    ((3, 4), (3, 4), (3, 4)),            # no sample axis
    ((3, 4), (3, 4), (5, 3, 4)),         # M = 5 samples per input
    ((4,), (3, 1), (3, 4)),              # μ and σ broadcast against each other
    ((4,), (3, 1), (5, 3, 4)),           # … and a sample axis
    ((), (), (6,)),                      # scalar parameters, 6 samples
    ((3,), (3,), (2, 5, 3)),             # several leading sample axes
])
def test_gaussian_reparam_vjp_passes_gradcheck(mu_shape, sigma_shape, eps_shape):
    """gradcheck (float64, central differences h = 1e-6, atol 1e-5, rtol 1e-4) of z = μ + σ ⊙ ε in μ and σ,
    with ε a constant of the given shape."""
    rng = np.random.default_rng(0)
    mu = mg.tensor(rng.standard_normal(mu_shape), requires_grad=True)
    sigma = mg.tensor(rng.uniform(0.5, 2.0, sigma_shape), requires_grad=True)
    eps = rng.standard_normal(eps_shape)
    assert mg.gradcheck(lambda m, s: GaussianReparam.apply(m, s, eps), [mu, sigma])


def test_gaussian_reparam_vjp_formula_with_sample_axis():
    """μ̄ = Σ_samples ḡ and σ̄ = Σ_samples ḡ ⊙ ε (σ broadcast over rows too); ε gets nothing."""
    rng = np.random.default_rng(1)
    mu = mg.tensor(rng.standard_normal(4), requires_grad=True)
    sigma = mg.tensor(rng.uniform(0.5, 2.0, (3, 1)), requires_grad=True)
    eps = mg.Tensor(rng.standard_normal((5, 3, 4)))          # a constant tensor is accepted
    g = rng.standard_normal((5, 3, 4))
    z = GaussianReparam.apply(mu, sigma, eps)
    np.testing.assert_allclose(z.data, mu.data + sigma.data * eps.data)
    z.backward(g)
    np.testing.assert_allclose(mu.grad, g.sum(axis=(0, 1)))
    np.testing.assert_allclose(sigma.grad, (g * eps.data).sum(axis=(0, 2))[:, None])
    assert eps.grad is None


def test_gaussian_reparam_helper_from_log_variance():
    """gaussian_reparam_logvar(μ, log σ², ε) = μ + exp(½ log σ²) ε, gradient-checked in μ and log σ²."""
    rng = np.random.default_rng(2)
    mu = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    logvar = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    eps = rng.standard_normal((4, 2, 3))
    z = gaussian_reparam_logvar(mu, logvar, eps)
    np.testing.assert_allclose(z.data, mu.data + np.exp(0.5 * logvar.data) * eps)
    assert mg.gradcheck(lambda m, lv: gaussian_reparam_logvar(m, lv, eps), [mu, logvar])


def test_gaussian_reparam_keeps_float32():
    mu = mg.tensor(np.zeros(3, np.float32), requires_grad=True)
    sigma = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    z = GaussianReparam.apply(mu, sigma, np.random.default_rng(0).standard_normal((2, 3)))   # float64 ε
    assert z.dtype == np.float32
    z.sum().backward()
    assert mu.grad.dtype == np.float32 and sigma.grad.dtype == np.float32


# ----------------------------------------------------------------------------------------------
# Bad inputs


def test_eps_requiring_grad_is_rejected():
    mu, sigma = mg.tensor([0.0, 1.0], requires_grad=True), mg.tensor([1.0, 1.0], requires_grad=True)
    eps = mg.tensor([0.1, -0.2], requires_grad=True)
    with pytest.raises(ValueError, match=r"GaussianReparam: eps requires grad.*constant"):
        GaussianReparam.apply(mu, sigma, eps)


@pytest.mark.parametrize("eps_shape", [(3,), (2, 3), (4, 1), (2,)])
def test_wrong_eps_shape_is_rejected(eps_shape):
    mu, sigma = np.zeros((4, 2)), np.ones((4, 2))
    with pytest.raises(ValueError, match=r"GaussianReparam: eps has shape .* expected the batch shape \(4, 2\)"):
        GaussianReparam.apply(mu, sigma, np.zeros(eps_shape))


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_non_positive_sigma_is_rejected(bad):
    with pytest.raises(ValueError, match=r"GaussianReparam: sigma must be > 0"):
        GaussianReparam.apply(np.zeros(2), np.array([1.0, bad]), np.zeros(2))
    with pytest.raises(ValueError, match=r"DirectGaussianSample: sigma must be > 0"):
        DirectGaussianSample.apply(np.zeros(2), np.array([1.0, bad]), np.random.default_rng(0))


def test_mu_sigma_that_do_not_broadcast_are_rejected():
    with pytest.raises(ValueError, match=r"mu of shape \(3,\) and sigma of shape \(2,\) do not broadcast"):
        GaussianReparam.apply(np.zeros(3), np.ones(2), np.zeros(3))


def test_direct_sample_needs_a_generator():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        DirectGaussianSample.apply(np.zeros(2), np.ones(2), "0")
