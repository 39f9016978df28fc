"""minigrad.distributions.ContinuousBernoulli and the VAE's --likelihood continuous-bernoulli: the
log-normalizer, mean and CDF against numerical integration over (0, 1) for λ across (0, 1) — including
λ = ½ ± 1e-6, where the closed form is 0/0 and the Taylor branch takes over — gradients against finite
differences on both sides of every branch point, and inverse-CDF samples with the right distribution."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad

import minigrad as mg
from minigrad.distributions import ContinuousBernoulli
from vae import VAE

LAMBDAS = [1e-6, 1e-3, 0.05, 0.3, 0.475, 0.4999, 0.5 - 1e-6, 0.5, 0.5 + 1e-6, 0.5001, 0.52, 0.6, 0.9, 0.999,
           1 - 1e-6]
# logits on both sides of the series/direct switches at |l| = 1e-4 and 0.1, at 0, and far out
LOGITS = [-1000.0, -30.0, -3.0, -0.1001, -0.0999, -1e-3, -1.0001e-4, -0.9999e-4, -1e-7, 0.0, 1e-7, 0.9999e-4, 1.0001e-4,
          2e-3, 0.0999, 0.1001, 1.5, 29.9, 30.1, 1000.0]


def logit(lam):
    return math.log(lam) - math.log1p(-lam)


def unnormalized(lam):
    return lambda x: lam ** x * (1 - lam) ** (1 - x)


def integral(f, upper=1.0):
    return quad(f, 0, upper, epsabs=0, epsrel=1e-13, limit=200)[0]


@pytest.mark.parametrize("lam", LAMBDAS)
def test_log_normalizer_mean_and_cdf_match_numerical_integration(lam):
    """log C(λ) = −log ∫₀¹ λˣ(1−λ)¹⁻ˣ dx, E[x] and F(x) by adaptive quadrature (relative error 1e-13), to
    a relative 1e-12 (absolute 1e-13 for the mean and CDF)."""
    d = ContinuousBernoulli(logits=np.array([logit(lam)]))
    z = integral(unnormalized(lam))
    np.testing.assert_allclose(d.log_normalizer().data, -math.log(z), rtol=1e-12)
    mean = integral(lambda x: x * unnormalized(lam)(x)) / z
    np.testing.assert_allclose(d.mean.data, mean, rtol=1e-12, atol=1e-13)
    for x in (0.1, 0.5, 0.87):
        np.testing.assert_allclose(d.cdf(np.array([x])).data, integral(unnormalized(lam), x) / z, rtol=1e-12,
                                   atol=1e-13)
    # the density integrates to 1 over [0, 1], and F⁻¹ inverts F
    np.testing.assert_allclose(integral(lambda x: math.exp(d.log_prob(np.array([x])).data[0])), 1.0, rtol=1e-12)
    u = np.array([1e-9, 0.02, 0.3, 0.5, 0.77, 1 - 1e-9])
    np.testing.assert_allclose(d.cdf(d.icdf(u).data).data, u, rtol=1e-10, atol=1e-15)


def test_near_one_half_the_closed_form_would_be_0_over_0_and_the_series_is_smooth():
    """At λ = ½ ± 1e-6 (l = ±4e-6) log C = log 2 + l²/12 to 1e-22; the naive 2 artanh(1 − 2λ)/(1 − 2λ) is
    0/0 at λ = ½ exactly, and in float32 at λ = ½ ± 1e-6 it is off by ~1e-7."""
    for lam in (0.5 - 1e-6, 0.5, 0.5 + 1e-6):
        l = logit(lam)
        got = ContinuousBernoulli(logits=np.array([l])).log_normalizer().data[0]
        assert abs(got - (math.log(2) + l * l / 12)) < 1e-15
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(2 * np.arctanh(1 - 2 * np.float64(0.5)) / (1 - 2 * np.float64(0.5)))
    f32 = ContinuousBernoulli(logits=np.array([0.0, 4e-6], np.float32))
    assert f32.log_normalizer().dtype == np.float32 and np.all(np.isfinite(f32.log_normalizer().data))


@pytest.mark.parametrize("what", ["log_normalizer", "log_prob", "mean", "icdf", "cdf"])
def test_gradients_equal_finite_differences_across_every_branch(what):
    """minigrad.gradcheck (float64 central differences, atol 1e-6, rtol 1e-5) w.r.t. the logits at LOGITS:
    both sides of the switches at |l| = 1e-4, 0.1 and l = 30, l = 0, and ±1000 (where exp overflows)."""
    logits = mg.tensor(np.array(LOGITS), requires_grad=True)
    x = np.linspace(0.03, 0.97, len(LOGITS))
    u = np.linspace(0.05, 0.95, len(LOGITS))
    f = {"log_normalizer": lambda l: ContinuousBernoulli(logits=l).log_normalizer(),
         "log_prob": lambda l: ContinuousBernoulli(logits=l).log_prob(x),
         "mean": lambda l: ContinuousBernoulli(logits=l).mean,
         "icdf": lambda l: ContinuousBernoulli(logits=l).icdf(u),
         "cdf": lambda l: ContinuousBernoulli(logits=l).cdf(x)}[what]
    assert mg.gradcheck(f, [logits], atol=1e-6, rtol=1e-5)


def test_the_gradient_of_log_c_is_one_over_l_minus_one_over_sinh_l():
    """d log C / dl = 1/l − 1/sinh(l) (= l/6 − 7l³/360 + … near 0), evaluated here with mpmath-free care: the
    exact expression in float64 where it does not cancel (|l| ≥ 0.5), its series where it would (|l| ≤ 1e-3)."""
    for l in (-7.0, -0.5, 0.5, 3.0):
        t = mg.tensor(np.array([l]), requires_grad=True)
        ContinuousBernoulli(logits=t).log_normalizer().sum().backward()
        np.testing.assert_allclose(t.grad, 1 / l - 1 / math.sinh(l), rtol=1e-13)
    for l in (-1e-3, -1e-6, 0.0, 1e-8, 1e-3):
        t = mg.tensor(np.array([l]), requires_grad=True)
        ContinuousBernoulli(logits=t).log_normalizer().sum().backward()
        np.testing.assert_allclose(t.grad, l / 6 - 7 * l ** 3 / 360, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("lam", [0.1, 0.5, 0.93])
def test_samples_have_the_distribution(lam):
    """20,000 draws through rsample (inverse CDF, u from a seeded Generator) against the CDF computed by
    quadrature: Kolmogorov-Smirnov p > 1e-4 (a correct sampler fails with probability 1e-4; seeds fixed). The
    sample mean is within 4 standard errors of E[x]. sample() records no graph."""
    d = ContinuousBernoulli(logits=np.array(logit(lam)))
    x = d.rsample(rng=np.random.default_rng(0), sample_shape=(20000,)).data
    assert x.shape == (20000,) and 0 <= x.min() and x.max() <= 1
    z = integral(unnormalized(lam))
    cdf = np.vectorize(lambda t: integral(unnormalized(lam), min(max(t, 0.0), 1.0)) / z)
    assert stats.kstest(x, cdf).pvalue > 1e-4
    assert abs(x.mean() - d.mean.data) < 4 * x.std() / math.sqrt(len(x))
    s = ContinuousBernoulli(logits=mg.tensor(np.array([0.3]), requires_grad=True)).sample(np.random.default_rng(1),
                                                                                         (5,))
    assert not s.requires_grad


def test_rsample_is_reparameterized():
    """∇_l of the average of F⁻¹(u) over a fine midpoint grid of u equals ∇_l E[x] (the mean's gradient): the
    pathwise gradient through the inverse CDF (grid of 20,000: quadrature error < 1e-8)."""
    for l0 in (-2.0, 1e-5, 0.05, 3.0):
        a, b = (mg.tensor(np.array(l0), requires_grad=True) for _ in range(2))
        u = (np.arange(20000) + 0.5) / 20000
        ContinuousBernoulli(logits=a).rsample(u=u).mean().backward()
        ContinuousBernoulli(logits=b).mean.backward()
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-6, atol=1e-9)


def test_saturated_float32_logits_give_finite_values_and_gradients():
    """A decoder's logits for blank pixels reach ±100 in float32, where e^|l| overflows: every quantity and its
    gradient stays finite."""
    logits = mg.tensor(np.array([-100.0, -90.0, 90.0, 100.0], np.float32), requires_grad=True)
    d = ContinuousBernoulli(logits=logits)
    x, u = np.array([0.0, 0.3, 0.7, 1.0], np.float32), np.array([0.1, 0.5, 0.5, 0.9], np.float32)
    for value in (d.log_prob(x), d.mean, d.icdf(u), d.cdf(x)):
        logits.grad = None
        value.sum().backward()
        assert value.dtype == np.float32 and np.isfinite(value.data).all() and np.isfinite(logits.grad).all()


def test_bad_input_and_dtypes():
    d = ContinuousBernoulli(logits=np.array([0.2, -1.0], np.float32))
    assert d.log_prob(np.array([0.5, 1.0])).dtype == np.float32 and d.mean.dtype == np.float32
    with pytest.raises(ValueError, match=r"ContinuousBernoulli.log_prob: value must lie in \[0, 1\], got 1.5"):
        d.log_prob(np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="ContinuousBernoulli: logits must be finite, got nan"):
        ContinuousBernoulli(logits=np.array([np.nan]))
    with pytest.raises(TypeError, match="ContinuousBernoulli: pass logits="):
        ContinuousBernoulli()


# ----------------------------------------------------------------------------------------------
# In the VAE

def test_the_vae_likelihood_is_the_bernoulli_term_plus_log_c_and_its_elbo_passes_gradcheck():
    grey = np.random.default_rng(0).random((4, 6))
    cb = VAE(6, [5], 2, likelihood="continuous-bernoulli", dtype=np.float64, rng=1)
    be = VAE(6, [5], 2, likelihood="bernoulli", dtype=np.float64, rng=1)
    eps = np.random.default_rng(2).standard_normal((4, 2))
    out = cb.decoder_params(cb.encoder_params(grey)[0]).data
    log_c = ContinuousBernoulli(logits=out).log_normalizer().data.sum(-1)
    np.testing.assert_allclose(cb.elbo(grey, eps=eps).elbo.data - be.elbo(grey, eps=eps).elbo.data,
                               ContinuousBernoulli(logits=cb.decoder_params(
                                   cb.encoder_params(grey)[0] + np.exp(0.5 * cb.encoder_params(grey)[1].data) * eps
                               ).data).log_normalizer().data.sum(-1), rtol=1e-12)
    assert np.all(log_c > 6 * math.log(2) - 1e-12)                 # C(λ) ≥ 2: the density is ≥ the cross-entropy
    assert mg.gradcheck(lambda *_: cb.elbo(grey, eps=eps).elbo, cb.parameters(), atol=1e-6, rtol=1e-5)
    # decode gives the mean of p(x|z): E[x] under the continuous Bernoulli, not σ(logit)
    z = np.zeros((1, 2))
    np.testing.assert_allclose(cb.decode(z), ContinuousBernoulli(logits=cb.decoder_params(z).data).mean.data)


def test_agrees_with_torch_distributions_continuous_bernoulli():
    """PyTorch's own ContinuousBernoulli (written independently: a Taylor expansion in λ inside (0.499, 0.501))
    gives the same log_prob and mean in float64 to 1e-9 (absolute 1e-13 where the log-density is ≈ 0) for
    |logit| ≤ 3, including 0. (Further out PyTorch computes through λ = σ(l) and loses digits: at l = 30 its
    log_prob is off by 1e-5, where ours is within 1e-15 of a 50-digit evaluation.)"""
    torch = pytest.importorskip("torch")
    logits = np.array([l for l in LOGITS if abs(l) <= 3])
    x = np.linspace(0.01, 0.99, len(logits))
    ours = ContinuousBernoulli(logits=logits)
    theirs = torch.distributions.ContinuousBernoulli(logits=torch.from_numpy(logits))
    np.testing.assert_allclose(ours.log_prob(x).data, theirs.log_prob(torch.from_numpy(x)).numpy(), rtol=1e-9,
                               atol=1e-13)
    np.testing.assert_allclose(ours.mean.data, theirs.mean.numpy(), rtol=1e-9, atol=1e-13)
