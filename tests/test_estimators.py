"""The pathwise and score-function estimators of ∇_θ E_{p_θ}[f(z)]: unbiased (mean of N single-sample
estimates within 4 standard errors of the true gradient), with the single-sample variances of
../shared/README.md for f(z) = (z − k)², the pathwise one the smaller. Claims 2 and 4 of
docs/reparameterization.md.

Every statistical check uses a fixed seed and states N. "Within 4 SE" means |mean − truth| < 4 s/√N
with s the sample standard deviation of the N single-sample estimates: a correct estimator fails it
with probability ≈ 6e-5 (CLT). Each N is sized by the effect the check must detect, and the check asserts
it (helpers.assert_unbiased): a relative bias of 5 % in any gradient component moves the mean by at least
(4 + 2.326) SE, so it is caught with probability ≥ 99 %. The test points are chosen so that no component of
a gradient is close to 0 (where a 5 % bias would be too small to see at any affordable N).
"""

import math

import numpy as np
import pytest
from helpers import assert_unbiased
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate, stats
from test_distributions import CASES

import minigrad as mg
from minigrad import GaussianReparam, pathwise_gradient, score_function_gradient
from minigrad.distributions import Bernoulli, Exponential, Normal

MU, SIGMA = 0.3, 0.8


def _z_scores(per_sample, truth):
    n = per_sample.shape[0]
    return np.abs(per_sample.mean(axis=0) - truth) / (per_sample.std(axis=0, ddof=1) / math.sqrt(n))


# ----------------------------------------------------------------------------------------------
# Three integrands and their true gradients for z ~ N(μ, σ²)


def _mlp():
    """A tanh MLP 2-16-1 with its initial weights ×3: curved enough that ∂/∂σ of its expectation is not
    close to 0 (with the default init it is, −0.008 in one component: no 5 % bias there is detectable)."""
    mlp = mg.nn.MLP([2, 16, 1], activation="tanh", dtype=np.float64, rng=2)
    for p in mlp.parameters():
        p.data *= 3.0
    return mlp


def _gauss_hermite_expectation(f, mu, sigma, n=40):
    """E[f(z)], z ~ N(μ, diag σ²) in 2-D, by tensor-product Gauss–Hermite quadrature (n² nodes)."""
    x, w = hermegauss(n)
    w = w / math.sqrt(2 * math.pi)
    e1, e2 = np.meshgrid(x, x, indexing="ij")
    eps = np.stack([e1.ravel(), e2.ravel()], axis=1)
    with mg.no_grad():
        values = np.asarray(f(mu + sigma * eps).data).reshape(n, n)
    return float(w @ values @ w)


def _mlp_true_gradient(f, mu, sigma, h=1e-5):
    """Central differences of the quadrature expectation: independent of autodiff and of sampling."""
    grads = []
    for which in (0, 1):
        g = np.zeros(2)
        for i in range(2):
            p = [mu.copy(), sigma.copy()]
            p[which][i] += h
            up = _gauss_hermite_expectation(f, *p)
            p[which][i] -= 2 * h
            down = _gauss_hermite_expectation(f, *p)
            g[i] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def _integrand(name):
    """(f, μ, σ, true [∂μ, ∂σ]). Closed forms: E[z²] = μ² + σ²; E[eᶻ] = e^{μ + σ²/2}."""
    if name == "z^2":
        return (lambda z: z * z), MU, SIGMA, [2 * MU, 2 * SIGMA]
    if name == "exp":
        e = math.exp(MU + SIGMA ** 2 / 2)
        return mg.exp, MU, SIGMA, [e, SIGMA * e]
    mlp = _mlp()
    mu, sigma = np.array([0.6, -0.3]), np.array([0.8, 0.6])     # true gradient ≈ (0.96, −0.48), (−0.61, −0.40)
    return mlp, mu, sigma, _mlp_true_gradient(mlp, mu, sigma)


N_UNBIASED = 200_000      # the planted gross biases below (a 5 % bias is shown by the sized checks)
# N per (integrand, estimator), sized for a 5 % bias (99 % power) with a margin of ≥ 1.5× over what the
# measured variances need: z² ≤ 0.5 M, eᶻ's score in σ 1.4 M, the MLP's score function 0.6 M.
N_SIZED = {("z^2", "pathwise"): 400_000, ("z^2", "score"): 1_000_000,
           ("exp", "pathwise"): 400_000, ("exp", "score"): 2_500_000,
           ("mlp", "pathwise"): 200_000, ("mlp", "score"): 1_000_000}


@pytest.mark.parametrize("integrand", ["z^2", "exp", "mlp"])
def test_pathwise_estimator_is_unbiased(integrand):
    """Mean of N single-sample pathwise estimates (N_SIZED, seed 0) within 4 SE of the true gradient (closed
    form for z² and eᶻ; for the MLP, central differences of a 40×40 Gauss–Hermite expectation), N large
    enough to catch a 5 % bias in any component with 99 % power."""
    f, mu, sigma, truth = _integrand(integrand)
    n = N_SIZED[integrand, "pathwise"]
    per_sample = pathwise_gradient(Normal, [mu, sigma], f, n, np.random.default_rng(0), per_sample=True)
    for g, t, name in zip(per_sample, truth, ("μ", "σ")):
        assert_unbiased(g, t, f"pathwise ∂/∂{name} E[{integrand}]")


@pytest.mark.parametrize("baseline", [None, 0.5, "mean"])
@pytest.mark.parametrize("integrand", ["z^2", "exp", "mlp"])
def test_score_function_estimator_is_unbiased(integrand, baseline):
    """The same with the score-function estimator (N_SIZED, seed 0), without a baseline, with a constant
    one, and with the leave-one-out mean (the per-sample estimates are then correlated through b_j, which
    changes the variance of their mean by a relative O(1/N): negligible for the 4-SE check)."""
    f, mu, sigma, truth = _integrand(integrand)
    per_sample = score_function_gradient(Normal, [mu, sigma], f, N_SIZED[integrand, "score"],
                                         np.random.default_rng(0), baseline=baseline, per_sample=True)
    for g, t, name in zip(per_sample, truth, ("μ", "σ")):
        assert_unbiased(g, t, f"score-function ∂/∂{name} E[{integrand}] (baseline {baseline})")


@pytest.mark.parametrize("m", [2, 3, 10])
def test_leave_one_out_baseline_is_the_mean_of_the_other_samples(m):
    """Exactly (rtol 1e-12, no sampling error): with baseline="mean", single-sample estimate j is
    (f_j − b_j) ∇_θ log p_θ(z_j) with b_j = Σ_{i≠j} f_i / (M − 1), the Normal's scores computed here by hand:
    ∂_μ log p = (z − μ)/σ², ∂_σ log p = ((z − μ)² / σ² − 1)/σ. (The plain mean b = f̄ instead would scale the
    estimate by 1 − 1/M — a 50 % bias at M = 2 — which no 4-SE check at M = 200,000 can see.)"""
    seen = []

    def f(z):
        seen.append(np.array(z, dtype=np.float64))
        return z * z

    per_sample = score_function_gradient(Normal, [MU, SIGMA], f, m, np.random.default_rng(5), baseline="mean",
                                         per_sample=True)
    (z,) = seen
    fz = z * z
    b = (fz.sum() - fz) / (m - 1)
    scores = ((z - MU) / SIGMA ** 2, ((z - MU) ** 2 / SIGMA ** 2 - 1) / SIGMA)
    for got, score in zip(per_sample, scores):
        np.testing.assert_allclose(got, (fz - b) * score, rtol=1e-12, atol=1e-15)


class NormalWithoutNormalizer(Normal):
    """A planted bug: log_prob drops −log σ, so the score in σ is ε²/σ instead of (ε² − 1)/σ."""

    def log_prob(self, value):
        t = (self._value(value) - self.loc) / self.scale
        return -0.5 * (t * t)


class WrongReparam(GaussianReparam):
    """A planted bug: the right forward z = μ + σ ε with a wrong VJP σ̄ = ḡ (ε forgotten)."""

    def backward(ctx, g):
        return g, g, None


class NormalWithWrongVJP(Normal):
    def rsample(self, eps=None, rng=None, sample_shape=()):
        eps = rng.standard_normal(tuple(sample_shape) + self.batch_shape)
        return WrongReparam.apply(self.loc, self.scale, eps)


def test_unbiasedness_check_catches_planted_biases():
    """The 4-SE check of the tests above, already at N = 200,000 (seed 0), rejects gross biases:
    a score function built on a log-density missing its normalizer (the σ-gradient is off by E[f]/σ), and
    a pathwise estimator whose VJP forgets ε (σ̄ = ḡ). The untouched μ-gradients still pass."""
    f, mu, sigma, truth = _integrand("z^2")
    bad_score = score_function_gradient(NormalWithoutNormalizer, [mu, sigma], f, N_UNBIASED,
                                        np.random.default_rng(0), per_sample=True)
    assert _z_scores(bad_score[0], truth[0]) < 4
    assert _z_scores(bad_score[1], truth[1]) > 20
    with pytest.raises(AssertionError, match="SE apart"):
        assert_unbiased(bad_score[1], truth[1], "σ", detect=0.1)

    bad_path = pathwise_gradient(NormalWithWrongVJP, [mu, sigma], f, N_UNBIASED, np.random.default_rng(0),
                                 per_sample=True)
    assert _z_scores(bad_path[0], truth[0]) < 4
    assert _z_scores(bad_path[1], truth[1]) > 20


# ----------------------------------------------------------------------------------------------
# Variances of the single-sample estimators for f(z) = (z − k)²


N_VARIANCE = 1_000_000


def _closed_form_variances(mu, sigma, k):
    """../shared/README.md, with a = μ − k."""
    a2, s2 = (mu - k) ** 2, sigma ** 2
    return {
        "pathwise": (4 * s2, 4 * a2 + 8 * s2),
        "score": (a2 ** 2 / s2 + 14 * a2 + 15 * s2, 2 * a2 ** 2 / s2 + 60 * a2 + 74 * s2),
        "score+baseline": (8 * a2 + 10 * s2, 40 * a2 + 56 * s2),
    }


def _single_sample_estimators(mu, sigma, k):
    """Each single-sample estimator as a polynomial in ε ~ N(0, 1), only to size the sampling error of
    the measured variance (the centre of each check is the README's closed form)."""
    a = mu - k
    b = a * a + sigma * sigma
    return {
        "pathwise": (lambda e: 2 * (a + sigma * e), lambda e: 2 * (a + sigma * e) * e),
        "score": (lambda e: (a + sigma * e) ** 2 * e / sigma, lambda e: (a + sigma * e) ** 2 * (e * e - 1) / sigma),
        "score+baseline": (lambda e: ((a + sigma * e) ** 2 - b) * e / sigma,
                           lambda e: ((a + sigma * e) ** 2 - b) * (e * e - 1) / sigma),
    }


def _variance_se(x_of_eps, n):
    """Standard error of a sample variance of n draws: √((μ₄ − σ⁴)/n), with the central moments computed
    exactly by 60-point Gauss–Hermite quadrature (exact for polynomials up to degree 119)."""
    e, w = hermegauss(60)
    w = w / math.sqrt(2 * math.pi)
    x = x_of_eps(e)
    m = w @ x
    var, m4 = w @ (x - m) ** 2, w @ (x - m) ** 4
    return math.sqrt((m4 - var ** 2) / n)


def _measured(mu, sigma, k):
    f = lambda z: (z - k) ** 2   # noqa: E731 - Tensor for pathwise, ndarray for the score function
    args = (Normal, [mu, sigma], f, N_VARIANCE)
    return {
        "pathwise": pathwise_gradient(*args, np.random.default_rng(1), per_sample=True),
        "score": score_function_gradient(*args, np.random.default_rng(2), per_sample=True),
        "score+baseline": score_function_gradient(*args, np.random.default_rng(3), per_sample=True,
                                                  baseline=(mu - k) ** 2 + sigma ** 2),
    }


@pytest.mark.parametrize("mu, sigma, k", [(1.0, 1.0, 0.0), (0.5, 0.8, 2.0)])
def test_single_sample_variances_match_closed_forms(mu, sigma, k):
    """For f(z) = (z − k)², z ~ N(μ, σ²), N = 1,000,000 single-sample estimates of each estimator
    (seeds 1, 2, 3): every measured variance is within 4 standard errors of its closed form, the SE
    computed from the exact fourth central moment (relative SE ≤ 1.9%, so the band is ±7.5% at most).
    The pathwise ∂/∂μ estimate 2(a + σε) is exactly Gaussian, so its variance is also checked with the
    exact χ²(N − 1) interval at 99.99% (two-sided). Both estimators are unbiased (means within 4 SE of
    2a and 2σ; a side check here, sized to catch a 10 % bias with 99 % power — the tests above do 5 %), and
    the pathwise variance is the smaller one, in theory and as measured."""
    closed = _closed_form_variances(mu, sigma, k)
    exact = _single_sample_estimators(mu, sigma, k)
    measured = _measured(mu, sigma, k)
    a = mu - k
    for kind, grads in measured.items():
        for i, name in enumerate(("μ", "σ")):
            g = grads[i]
            assert_unbiased(g, (2 * a, 2 * sigma)[i], f"{kind} ∂/∂{name}", detect=0.1)
            var, se = g.var(ddof=1), _variance_se(exact[kind][i], N_VARIANCE)
            assert abs(var - closed[kind][i]) < 4 * se, \
                f"{kind} ∂/∂{name}: variance {var:.4g} vs closed form {closed[kind][i]:.4g} (4 SE = {4 * se:.3g})"
    lo, hi = stats.chi2.ppf([5e-5, 1 - 5e-5], N_VARIANCE - 1) / (N_VARIANCE - 1)
    assert lo < measured["pathwise"][0].var(ddof=1) / closed["pathwise"][0] < hi
    for i in (0, 1):
        assert closed["pathwise"][i] < closed["score+baseline"][i] < closed["score"][i]
        variances = [measured[kind][i].var() for kind in ("pathwise", "score+baseline", "score")]
        assert variances == sorted(variances)


def test_variance_check_would_catch_a_wrong_formula():
    """The variance check above has power: at μ = σ = 1, k = 0 it rejects 4a² + 4σ² (Var ε² = 2 forgotten)
    for the pathwise σ-gradient, and it tells the score function with and without a baseline apart."""
    measured = _measured(1.0, 1.0, 0.0)
    exact = _single_sample_estimators(1.0, 1.0, 0.0)
    se = _variance_se(exact["pathwise"][1], N_VARIANCE)
    assert abs(measured["pathwise"][1].var(ddof=1) - (4 + 4)) > 4 * se
    se = _variance_se(exact["score+baseline"][0], N_VARIANCE)
    assert abs(measured["score+baseline"][0].var(ddof=1) - 30) > 4 * se


# ----------------------------------------------------------------------------------------------
# Every distribution: a bounded integrand, both estimators


def _quadrature_gradient(name, f, h=1e-5):
    """∂/∂θ_i ∫ f(z) p_θ(z) dz by central differences of scipy.integrate.quad on the scipy reference."""
    _, params, ref = CASES[name]
    grads = []
    for i in range(len(params)):
        vals = []
        for step in (h, -h):
            p = list(params)
            p[i] += step
            dist = ref(*p)
            lo, hi = dist.support()
            with np.errstate(over="ignore"):      # scipy's gumbel_r pdf overflows exp(−x) far in the left tail
                vals.append(integrate.quad(lambda x, d=dist: f(x) * d.pdf(x), lo, hi, epsabs=1e-12, epsrel=1e-12,
                                           limit=200)[0])
        grads.append((vals[0] - vals[1]) / (2 * h))
    return grads


# f(z) = tanh(z − c), bounded (so Cauchy has an expectation too), with c per distribution so that no
# component of ∇_θ E f is close to 0: with c = 0 the scale derivatives were −0.04…−0.06 and a 5 % bias of
# them needed up to 5 M score-function samples. The N below is ≥ 1.5× what a 5 % bias (99 % power) needs.
QUADRATURE_SHIFT = {"Normal": 2.0, "Exponential": 1.0, "Logistic": 2.0, "Gumbel": 2.0, "Laplace": 2.0,
                    "Cauchy": 2.0, "Weibull": 2.0, "Kumaraswamy": 1.0}
N_QUADRATURE = {"pathwise": 300_000, "score_function": 1_500_000}


@pytest.mark.parametrize("estimator", ["pathwise", "score_function"])
@pytest.mark.parametrize("name", list(CASES))
def test_bounded_integrand_gradient_matches_quadrature(name, estimator):
    """∇_θ E[tanh(z − c)] for every distribution, Cauchy included: the mean of N single-sample estimates
    (N_QUADRATURE, seed 0) is within 4 SE of central differences (h = 1e-5) of scipy.integrate.quad, with N
    large enough to catch a 5 % bias in any component with 99 % power."""
    cls, params, _ = CASES[name]
    c = QUADRATURE_SHIFT[name]
    truth = _quadrature_gradient(name, lambda z: np.tanh(z - c))
    estimate = pathwise_gradient if estimator == "pathwise" else score_function_gradient
    per_sample = estimate(cls, list(params), lambda z: mg.tanh(z - c), N_QUADRATURE[estimator],
                          np.random.default_rng(0), per_sample=True)
    for i, (g, t) in enumerate(zip(per_sample, truth)):
        assert_unbiased(g, t, f"{name} ∂E[tanh(z − {c})]/∂{cls.params[i]} ({estimator})")


# ----------------------------------------------------------------------------------------------
# A discrete distribution: only the score function applies


def test_score_function_on_bernoulli_and_pathwise_refuses_it():
    """E[f(x)] = p f(1) + (1 − p) f(0), so ∂/∂logit = p(1 − p)(f(1) − f(0)); N = 500,000, within 4 SE (a 5 %
    bias caught with 99 % power: it needs 340,000)."""
    logits = np.array([0.3, -1.0])
    f = lambda x: 3 * x + 1   # noqa: E731
    p = 1 / (1 + np.exp(-logits))
    per_sample = score_function_gradient(Bernoulli, [logits], f, 500_000, np.random.default_rng(0),
                                         per_sample=True)
    assert_unbiased(per_sample[0], p * (1 - p) * 3, "Bernoulli")
    with pytest.raises(TypeError, match="Bernoulli has no reparameterized sampler"):
        pathwise_gradient(Bernoulli, [logits], lambda x: x, 10, np.random.default_rng(0))


# ----------------------------------------------------------------------------------------------
# The API


def test_m_sample_estimate_equals_backprop_through_m_samples():
    """pathwise_gradient's M-sample estimate is the gradient of (1/M) Σ_j f(z_j) with z drawn by
    rsample(sample_shape=(M,)) from the same seed: the replicated-parameter trick changes nothing."""
    mu = mg.tensor(np.array([0.2, -0.4, 1.0]), requires_grad=True)
    sigma = mg.tensor(0.7, requires_grad=True)
    f = lambda z: mg.tanh(z) * z   # noqa: E731
    z = Normal(mu, sigma).rsample(rng=np.random.default_rng(4), sample_shape=(50,))
    f(z).sum(axis=1).mean().backward()
    est = pathwise_gradient(Normal, [mu, sigma], f, 50, np.random.default_rng(4))
    np.testing.assert_allclose(est[0], mu.grad, rtol=1e-12)
    np.testing.assert_allclose(est[1], sigma.grad, rtol=1e-12)
    assert est[0].shape == (3,) and np.shape(est[1]) == ()


def test_estimators_leave_the_parameters_untouched_and_average_per_sample():
    mu = mg.tensor(0.5, requires_grad=True)
    per = score_function_gradient(Exponential, [mu], lambda z: z, 1000, np.random.default_rng(0), per_sample=True)
    mean = score_function_gradient(Exponential, [mu], lambda z: z, 1000, np.random.default_rng(0))
    assert per[0].shape == (1000,)
    np.testing.assert_allclose(per[0].mean(), mean[0], rtol=1e-12)
    assert mu.grad is None and mu.data == 0.5


def test_estimator_argument_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="f\\(z\\) must be a Tensor computed from z with minigrad ops"):
        pathwise_gradient(Normal, [0.0, 1.0], lambda z: np.asarray(z.data) ** 2, 10, rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        pathwise_gradient(Normal, [0.0, 1.0], lambda z: z, 10, None)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        score_function_gradient(Normal, [0.0, 1.0], lambda z: z, 0, rng)
    with pytest.raises(TypeError, match="params must be a list"):
        pathwise_gradient(Exponential, mg.tensor(1.0), lambda z: z, 10, rng)
    with pytest.raises(ValueError, match="baseline must be None, a number or 'mean'"):
        score_function_gradient(Normal, [0.0, 1.0], lambda z: z, 10, rng, baseline="median")
    with pytest.raises(ValueError, match="f must return one value per sample"):
        score_function_gradient(Normal, [0.0, 1.0], lambda z: z.sum(), 10, rng)
    with pytest.raises(ValueError, match="make_dist must build the distribution elementwise"):
        pathwise_gradient(lambda w: Normal(w[0], mg.exp(w[1])), [np.array([0.0, 0.0])], lambda z: z, 10, rng)
