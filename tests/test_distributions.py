"""minigrad.distributions against scipy: samples (Kolmogorov–Smirnov), log_prob, cdf, icdf, mean and
entropy; gradients (gradcheck in float64, and Monte-Carlo estimates of ∇E[z] against the closed-form
derivative of the mean); Bernoulli; KL(N‖N); bad inputs.

Statistical tests use fixed seeds and state their sample size and threshold. A KS test is passed when
its p-value exceeds 1e-3; that it can fail is shown by the same test, same sample size, rejecting the
samples against the reference with one parameter off by 10%. A Monte-Carlo gradient passes when the
mean of N single-sample estimates is within 4 standard errors (SE = sample std / √N) of the truth:
under the CLT a correct estimator fails one such check with probability ≈ 6e-5.
"""

import math

import numpy as np
import pytest
from helpers import assert_unbiased
from scipy import integrate, special, stats

import minigrad as mg
from minigrad.distributions import (
    EULER_GAMMA,
    Bernoulli,
    Cauchy,
    Exponential,
    Gumbel,
    Kumaraswamy,
    Laplace,
    Logistic,
    Normal,
    Weibull,
    kl_divergence,
    uniform_open,
)
from minigrad.ops import Arctan, Digamma, Expm1, LogGamma, Ndtr, Ndtri, StandardCauchyQuantile


class _KumaraswamyRef(stats.rv_continuous):
    """Kumaraswamy(a, b) from scipy's Beta, independently of minigrad's formulas: if X ~ Beta(1, b)
    then X^{1/a} ~ Kumaraswamy(a, b), since P(X^{1/a} ≤ z) = P(X ≤ z^a) = 1 − (1 − z^a)^b."""

    def _cdf(self, x, ka, kb):
        return stats.beta.cdf(x ** ka, 1, kb)

    def _pdf(self, x, ka, kb):
        return stats.beta.pdf(x ** ka, 1, kb) * ka * x ** (ka - 1)

    def _ppf(self, q, ka, kb):
        return stats.beta.ppf(q, 1, kb) ** (1 / ka)


_kumaraswamy_ref = _KumaraswamyRef(a=0.0, b=1.0, name="kumaraswamy_ref")

# name: (class, parameters, scipy reference as a function of the parameters)
CASES = {
    "Normal": (Normal, (0.3, 1.7), lambda loc, scale: stats.norm(loc, scale)),
    "Exponential": (Exponential, (1.7,), lambda rate: stats.expon(scale=1 / rate)),
    "Logistic": (Logistic, (0.3, 1.7), lambda loc, scale: stats.logistic(loc, scale)),
    "Gumbel": (Gumbel, (0.3, 1.7), lambda loc, scale: stats.gumbel_r(loc, scale)),
    "Laplace": (Laplace, (0.3, 1.7), lambda loc, scale: stats.laplace(loc, scale)),
    "Cauchy": (Cauchy, (0.3, 1.7), lambda loc, scale: stats.cauchy(loc, scale)),
    "Weibull": (Weibull, (1.3, 1.8), lambda scale, k: stats.weibull_min(k, scale=scale)),
    "Kumaraswamy": (Kumaraswamy, (2.5, 1.7), lambda a, b: _kumaraswamy_ref(a, b)),
}
INVERSE_CDF = [n for n in CASES if n != "Normal"]
# (name, sampler): every inverse-CDF rsample, and Normal's two paths
SAMPLERS = [(n, "rsample") for n in CASES] + [("Normal", "rsample_icdf")]


def _weibull_mean_grad(scale, k):
    g = special.gamma(1 + 1 / k)
    return g, -scale * g * special.digamma(1 + 1 / k) / k ** 2


def _kumaraswamy_mean_grad(a, b):
    c = 1 + 1 / a
    m = b * special.beta(c, b)
    return (m * (special.digamma(c) - special.digamma(c + b)) * (-1 / a ** 2),
            m * (1 / b + special.digamma(b) - special.digamma(c + b)))


# Closed-form ∂ E[z] / ∂ parameter, written out by hand (Cauchy has no mean).
MEAN_GRAD = {
    "Normal": lambda loc, scale: (1.0, 0.0),
    "Exponential": lambda rate: (-1 / rate ** 2,),
    "Logistic": lambda loc, scale: (1.0, 0.0),
    "Gumbel": lambda loc, scale: (1.0, EULER_GAMMA),
    "Laplace": lambda loc, scale: (1.0, 0.0),
    "Weibull": _weibull_mean_grad,
    "Kumaraswamy": _kumaraswamy_mean_grad,
}


def _dist(name, dtype=np.float64, requires_grad=False):
    cls, params, _ = CASES[name]
    tensors = [mg.tensor(np.asarray(p, dtype), requires_grad=requires_grad) for p in params]
    return cls(*tensors), tensors


def _ref(name):
    _, params, ref = CASES[name]
    return ref(*params)


def _support_points(name):
    """41 points spread over the bulk of the distribution (its 0.1% … 99.9% quantiles)."""
    return _ref(name).ppf(np.linspace(0.001, 0.999, 41))


# ----------------------------------------------------------------------------------------------
# Samples


@pytest.mark.parametrize("name, method", SAMPLERS)
def test_rsample_passes_ks_test(name, method):
    """n = 20,000 reparameterized samples (seed 0) pass a KS test against scipy's distribution, p > 1e-3.

    For an exact icdf, F(F⁻¹(u)) = u, so the KS statistic is that of the uniforms u themselves (hence the
    same p-value for every inverse-CDF distribution with this seed): the test checks that icdf inverts
    scipy's cdf on the whole sample. The next test shows it has the power to reject a wrong one."""
    dist, _ = _dist(name)
    z = getattr(dist, method)(rng=np.random.default_rng(0), sample_shape=(20_000,)).data
    assert z.shape == (20_000,)
    assert stats.kstest(z, _ref(name).cdf).pvalue > 1e-3


@pytest.mark.parametrize("method", ["rsample", "sample"])
@pytest.mark.parametrize("name", list(CASES))
def test_ks_test_rejects_a_parameter_off_by_ten_percent(name, method):
    """The KS checks above and below can fail: the same 20,000 samples (rsample: seed 0, sample: seed 1)
    against the reference with its last parameter ×1.1 give p < 1e-3. So each KS check detects a 10 % error
    in a parameter (a 5 % one would need ≈ 4× the samples: the KS statistic's shift is linear in the error)."""
    dist, _ = _dist(name)
    seed = 0 if method == "rsample" else 1
    z = getattr(dist, method)(rng=np.random.default_rng(seed), sample_shape=(20_000,)).data
    _, params, ref = CASES[name]
    wrong = ref(*params[:-1], params[-1] * 1.1)
    assert stats.kstest(z, wrong.cdf).pvalue < 1e-3


@pytest.mark.parametrize("name", list(CASES))
def test_sample_has_the_distribution_and_no_graph(name):
    """sample() (n = 20,000, KS p > 1e-3) records no graph, even when the parameters require grad."""
    dist, params = _dist(name, requires_grad=True)
    z = dist.sample(rng=np.random.default_rng(1), sample_shape=20_000)
    assert not z.requires_grad and z.grad_fn is None
    assert stats.kstest(z.data, _ref(name).cdf).pvalue > 1e-3


def test_rsample_with_batch_and_sample_shape():
    """Parameters broadcast to a batch shape; samples have shape (*sample_shape, *batch_shape)."""
    d = Laplace(np.zeros((3, 1)), np.array([1.0, 2.0]))
    assert d.batch_shape == (3, 2)
    rng = np.random.default_rng(0)
    assert d.rsample(rng=rng, sample_shape=(4, 5)).shape == (4, 5, 3, 2)
    assert Normal(np.zeros(2), 1.0).rsample(rng=rng, sample_shape=(4, 5)).shape == (4, 5, 2)
    assert d.rsample(u=np.full((7, 3, 2), 0.25)).shape == (7, 3, 2)


def test_samples_are_reproducible_from_the_seed():
    for name in CASES:
        dist, _ = _dist(name)
        a = dist.rsample(rng=np.random.default_rng(5), sample_shape=(10,)).data
        b = dist.rsample(rng=np.random.default_rng(5), sample_shape=(10,)).data
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------------------------
# Values against scipy


@pytest.mark.parametrize("name", list(CASES))
def test_log_prob_matches_scipy(name):
    """log_prob equals scipy's logpdf (rtol 1e-10) on 41 points across the distribution."""
    dist, _ = _dist(name)
    x = _support_points(name)
    np.testing.assert_allclose(dist.log_prob(x).data, _ref(name).logpdf(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, outside", [("Exponential", [-1.0, -1e-9]), ("Weibull", [-2.0, -1e-9]),
                                           ("Kumaraswamy", [-0.5, 0.0, 1.0, 1.5])])
def test_log_prob_outside_the_support_is_minus_inf(name, outside):
    dist, _ = _dist(name)
    assert np.all(dist.log_prob(np.array(outside)).data == -np.inf)
    x = np.array(outside + [0.5])
    expected_cdf = _ref(name).cdf(x)
    np.testing.assert_allclose(dist.cdf(x).data, expected_cdf, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(CASES))
def test_cdf_icdf_mean_entropy_match_scipy(name):
    """cdf (rtol 1e-10), icdf on u from 1e-6 to 1 − 1e-6 (rtol 1e-9), mean and entropy (rtol 1e-7;
    Kumaraswamy's by quadrature of the Beta-based reference density) agree with scipy."""
    dist, _ = _dist(name)
    ref = _ref(name)
    x = _support_points(name)
    np.testing.assert_allclose(dist.cdf(x).data, ref.cdf(x), rtol=1e-10, atol=1e-14)
    u = np.array([1e-6, 1e-3, 0.1, 0.3, 0.5, 0.7, 0.9, 1 - 1e-3, 1 - 1e-6])
    np.testing.assert_allclose(dist.icdf(u).data, ref.ppf(u), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dist.cdf(dist.icdf(u)).data, u, rtol=1e-9)
    if name == "Kumaraswamy":
        lo, hi = 0.0, 1.0
        mean = integrate.quad(lambda t: t * ref.pdf(t), lo, hi, epsabs=1e-13)[0]
        entropy = integrate.quad(lambda t: -special.xlogy(ref.pdf(t), ref.pdf(t)), lo, hi, epsabs=1e-13)[0]
    else:
        mean = None if name == "Cauchy" else ref.mean()
        entropy = ref.entropy()
    if mean is not None:
        np.testing.assert_allclose(dist.mean.data, mean, rtol=1e-7)
    np.testing.assert_allclose(dist.entropy().data, entropy, rtol=1e-7)


def test_kumaraswamy_near_one_with_a_below_one():
    """For a < 1 and z = 1 − 2⁻⁵³, z^a rounds to 1 in float64; log(1 − z^a) is computed as
    log(−expm1(a log z)), so log_prob and cdf stay finite and accurate (no log 0, no warning)."""
    d = Kumaraswamy(0.5, 3.0)
    z = np.nextafter(1.0, 0.0)
    one_minus_za = -np.expm1(0.5 * np.log(z))               # ≈ 5.55e-17
    expected = np.log(0.5 * 3.0) - 0.5 * np.log(z) + 2.0 * np.log(one_minus_za)
    np.testing.assert_allclose(d.log_prob(z).data, expected, rtol=1e-14)
    assert d.cdf(z).data == 1.0                              # 1 − (1 − z^a)^b = 1 − 1.7e-49, rounded


def test_cauchy_has_no_mean():
    with pytest.raises(ValueError, match="Cauchy: the mean does not exist"):
        Cauchy(0.0, 1.0).mean  # noqa: B018


def test_cauchy_quantile_keeps_relative_precision_in_both_tails():
    """tan(π(u − ½)) = −cot(πu) = −1/(πu) + πu/3 + O(u³): for u = 1e-12 the node is exact to 1e-14
    relative, where the naive formula is off by ~1e-5 (u − ½ rounds away u's digits)."""
    u = np.array([1e-12, 1e-9])
    exact = -1 / (np.pi * u) + np.pi * u / 3
    got = StandardCauchyQuantile.apply(u).data
    np.testing.assert_allclose(got, exact, rtol=1e-14)
    np.testing.assert_allclose(StandardCauchyQuantile.apply(1 - u).data, -exact, rtol=1e-4)   # 1 − u rounds
    naive = np.tan(np.pi * (u - 0.5))
    assert np.abs(naive[0] / exact[0] - 1) > 1e-7


# ----------------------------------------------------------------------------------------------
# Gradients


@pytest.mark.parametrize("name, method", SAMPLERS)
def test_icdf_passes_gradcheck(name, method):
    """z = F⁻¹(u; θ) gradient-checked (float64, h = 1e-6, atol 1e-5, rtol 1e-4) in every parameter
    (batch of 3) and in u ∈ [0.05, 0.95] (4 × 3). Normal's affine rsample: in loc and scale, ε fixed."""
    cls, params, _ = CASES[name]
    rng = np.random.default_rng(0)
    tensors = [mg.tensor(p * rng.uniform(0.8, 1.25, 3), requires_grad=True) for p in params]
    u = mg.tensor(rng.uniform(0.05, 0.95, (4, 3)), requires_grad=True)
    if name == "Normal" and method == "rsample":
        eps = rng.standard_normal((4, 3))
        assert mg.gradcheck(lambda *a: cls(*a).rsample(eps=eps), tensors)
    else:
        assert mg.gradcheck(lambda *a: getattr(cls(*a[:-1]), method)(u=a[-1]), [*tensors, u])


@pytest.mark.parametrize("name", list(CASES))
def test_log_prob_cdf_mean_entropy_pass_gradcheck(name):
    """log_prob and cdf in the parameters and the value; mean and entropy in the parameters (float64)."""
    cls, params, _ = CASES[name]
    rng = np.random.default_rng(1)
    tensors = [mg.tensor(p * rng.uniform(0.8, 1.25, 3), requires_grad=True) for p in params]
    x = mg.tensor(_ref(name).ppf(rng.uniform(0.05, 0.95, (4, 3))), requires_grad=True)
    assert mg.gradcheck(lambda *a: cls(*a[:-1]).log_prob(a[-1]), [*tensors, x])
    assert mg.gradcheck(lambda *a: cls(*a[:-1]).cdf(a[-1]), [*tensors, x])
    assert mg.gradcheck(lambda *a: cls(*a).entropy(), tensors)
    if name != "Cauchy":
        assert mg.gradcheck(lambda *a: cls(*a).mean, tensors)


@pytest.mark.parametrize("fn, low, high", [
    (Ndtr, -4, 4), (Ndtri, 0.02, 0.98), (StandardCauchyQuantile, 0.05, 0.95), (Arctan, -3, 3),
    (Expm1, -2, 2), (LogGamma, 0.2, 5), (Digamma, 0.2, 5),
])
def test_special_function_nodes_pass_gradcheck(fn, low, high):
    x = mg.tensor(np.random.default_rng(2).uniform(low, high, 7), requires_grad=True)
    assert mg.gradcheck(lambda t: fn.apply(t), [x])


# The mean-gradient checks run at CASES' parameters but for the Weibull, whose ∂E[z]/∂concentration is
# −0.03 at concentration 1.8 (near the zero of ψ(1 + 1/k)): a 5 % bias of it would need 55 M score-function
# samples. At 0.9 it is −0.83. N per estimator is ≥ 1.5× what a 5 % bias in any component (99 % power)
# needs, the score function's largest need being the Weibull's 2.3 M, then the Gumbel's 0.8 M.
MEAN_GRAD_PARAMS = {**{n: CASES[n][1] for n in MEAN_GRAD}, "Weibull": (1.3, 0.9)}
N_MEAN_GRAD = {"pathwise": 500_000, "score_function": 1_200_000}
N_MEAN_GRAD_WEIBULL_SCORE = 3_500_000


@pytest.mark.parametrize("name, method, estimator",
                         [(n, m, "pathwise") for n, m in SAMPLERS if n != "Cauchy"]
                         + [(n, "rsample", "score_function") for n in MEAN_GRAD])
def test_mean_gradient_estimates_match_closed_form(name, method, estimator):
    """∇_θ E[z] estimated from N single-sample estimates (N_MEAN_GRAD, seed 0) is within 4 SE of the
    closed-form derivative of the mean (MEAN_GRAD, written out by hand), for the pathwise estimator
    (through rsample / Normal's rsample_icdf) and for the score-function estimator; N is large enough to
    catch a 5 % bias in any component with 99 % power (helpers.assert_unbiased; a component whose truth is
    0, as ∂E[z]/∂scale of the symmetric families, is held to 5 % of the largest one)."""
    cls = CASES[name][0]
    params = MEAN_GRAD_PARAMS[name]
    rng = np.random.default_rng(0)
    if estimator == "pathwise":
        per_sample = mg.pathwise_gradient(cls, list(params), lambda z: z, N_MEAN_GRAD[estimator], rng,
                                          method=method, per_sample=True)
    else:
        n = N_MEAN_GRAD_WEIBULL_SCORE if name == "Weibull" else N_MEAN_GRAD[estimator]
        per_sample = mg.score_function_gradient(cls, list(params), lambda z: z, n, rng, per_sample=True)
    assert_unbiased(np.stack(per_sample, axis=-1), MEAN_GRAD[name](*params),
                    f"{name} ∂E[z]/∂({', '.join(cls.params)}) ({estimator})")


@pytest.mark.parametrize("name", list(MEAN_GRAD))
def test_mean_property_gradient_matches_closed_form(name):
    dist, tensors = _dist(name, requires_grad=True)
    dist.mean.backward()
    grads = [0.0 if t.grad is None else t.grad for t in tensors]     # None: the mean does not depend on it
    np.testing.assert_allclose(grads, MEAN_GRAD[name](*CASES[name][1]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(CASES))
def test_float32_parameters_stay_float32(name):
    """float32 parameters (Python-number siblings included) give float32 samples, densities and gradients."""
    cls, params, _ = CASES[name]
    first = mg.tensor(np.float32(params[0]), requires_grad=True)
    dist = cls(first, *params[1:])
    assert dist.dtype == np.float32
    z = dist.rsample(rng=np.random.default_rng(0), sample_shape=(50,))
    assert z.dtype == np.float32
    assert dist.log_prob(z.data.astype(np.float64)).dtype == np.float32
    assert dist.cdf(z.data).dtype == np.float32
    assert np.all(np.isfinite(z.data))
    lp = dist.log_prob(z)
    assert lp.dtype == np.float32
    lp.sum().backward()
    assert first.grad.dtype == np.float32


def test_uniform_open_is_strictly_inside_the_unit_interval():
    """Zeros from Generator.random are redrawn; float32 draws (step 2⁻²⁴) stay below 1."""
    rng = np.random.default_rng(0)
    u32 = uniform_open(rng, (2_000_000,), np.float32)
    assert u32.dtype == np.float32 and u32.min() > 0 and u32.max() < 1
    u64 = uniform_open(rng, (1000,))
    assert u64.dtype == np.float64 and u64.min() > 0 and u64.max() < 1


def _generator_starting_with_zero_words(n_zero_words):
    """A real Generator whose first `n_zero_words` 32-bit outputs are 0: an MT19937 whose state words are
    set by hand (MT19937's tempering maps 0 to 0). Generator.random then returns exact zeros first —
    float64 takes two words a draw, float32 one — which a seeded draw practically never does."""
    bit_generator = np.random.MT19937(0)
    state = bit_generator.state
    state["state"]["key"][:n_zero_words] = 0
    state["state"]["pos"] = 0
    bit_generator.state = state
    return np.random.Generator(bit_generator)


@pytest.mark.parametrize("dtype, zeros", [(np.float64, 5), (np.float32, 10)])
def test_uniform_open_redraws_exact_zeros(dtype, zeros):
    """The draws that would be 0 are redrawn: with a Generator whose first `zeros` draws are exactly 0 (shown
    on a copy), uniform_open returns no zero, and keeps the later draws as they came."""
    plain = _generator_starting_with_zero_words(10).random(12, dtype=dtype)
    assert np.all(plain[:zeros] == 0) and np.all(plain[zeros:] > 0)      # the planted zeros are there
    u = uniform_open(_generator_starting_with_zero_words(10), (12,), dtype)
    assert u.dtype == dtype and u.min() > 0 and u.max() < 1
    np.testing.assert_array_equal(u[zeros:], plain[zeros:])


# ----------------------------------------------------------------------------------------------
# Bernoulli


def test_bernoulli_log_prob_entropy_probs_match_scipy():
    logits = np.array([-3.0, -0.2, 0.0, 1.5, 4.0])
    d = Bernoulli(logits=logits)
    p = special.expit(logits)
    np.testing.assert_allclose(d.probs.data, p, rtol=1e-15)
    for x in (0.0, 1.0):
        np.testing.assert_allclose(d.log_prob(np.full(5, x)).data, stats.bernoulli(p).logpmf(x), rtol=1e-12)
    np.testing.assert_allclose(d.entropy().data, stats.bernoulli(p).entropy(), rtol=1e-12)


def test_bernoulli_log_prob_is_stable_for_huge_logits():
    """log σ(l) for l = ±800: exp would overflow; the BCE-with-logits form gives −800 and 0 exactly."""
    d = Bernoulli(logits=np.array([-800.0, 800.0]))
    np.testing.assert_array_equal(d.log_prob(np.array([1.0, 1.0])).data, [-800.0, 0.0])
    np.testing.assert_array_equal(d.log_prob(np.array([0.0, 0.0])).data, [0.0, -800.0])


def test_bernoulli_log_prob_gradcheck_and_broadcast_over_samples():
    logits = mg.tensor(np.random.default_rng(0).standard_normal(3), requires_grad=True)
    x = (np.random.default_rng(1).random((5, 3)) < 0.5).astype(float)
    assert mg.gradcheck(lambda lg: Bernoulli(logits=lg).log_prob(x), [logits])
    assert mg.gradcheck(lambda lg: Bernoulli(logits=lg).entropy(), [logits])


def test_bernoulli_sample_frequencies():
    """n = 200,000 draws per logit: each frequency is within 4 binomial SEs of σ(logit), and n is large enough
    that a probability off by 5 % of itself would be caught with probability ≥ 99 % (at p = σ(−2) = 0.12 it
    needs 155,000)."""
    logits = np.array([-2.0, 0.0, 1.0])
    n = 200_000
    x = Bernoulli(logits=logits).sample(rng=np.random.default_rng(0), sample_shape=(n,)).data
    assert set(np.unique(x)) <= {0.0, 1.0}
    p = special.expit(logits)
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(x.mean(axis=0) - p) < 4 * se)
    assert np.all((4 + 2.326) * se <= 0.05 * p)


def test_bernoulli_bad_inputs():
    with pytest.raises(TypeError, match="Bernoulli: pass logits="):
        Bernoulli()
    with pytest.raises(ValueError, match=r"Bernoulli.log_prob: value must lie in \[0, 1\], got 2"):
        Bernoulli(logits=np.zeros(2)).log_prob(np.array([0.0, 2.0]))
    with pytest.raises(TypeError, match="Bernoulli has no reparameterized sampler"):
        Bernoulli(logits=np.zeros(2)).rsample(rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------------------------
# KL(N ‖ N)


def test_kl_normal_normal_matches_quadrature_and_monte_carlo():
    """The closed form against (a) scipy.integrate.quad of p(x) (log p(x) − log q(x)) over ℝ, rtol 1e-8,
    and (b) a Monte-Carlo estimate with N = 1,000,000 samples of p (seed 0) within 4 standard errors, N large
    enough to catch a 5 % error with 99 % power."""
    mu_p, s_p, mu_q, s_q = 0.3, 0.7, -0.5, 1.4
    kl = kl_divergence(Normal(mu_p, s_p), Normal(mu_q, s_q)).item()
    p, q = stats.norm(mu_p, s_p), stats.norm(mu_q, s_q)
    quad = integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), -np.inf, np.inf, epsabs=1e-13)[0]
    np.testing.assert_allclose(kl, quad, rtol=1e-8)
    z = p.rvs(size=1_000_000, random_state=np.random.default_rng(0))
    terms = p.logpdf(z) - q.logpdf(z)
    se = terms.std(ddof=1) / math.sqrt(terms.size)
    assert abs(terms.mean() - kl) < 4 * se
    assert (4 + 2.326) * se <= 0.05 * kl          # a 5 % error in the KL would be caught with ≥ 99 % power
    # and the MC check has power: a KL with log(σ_q/σ_p) dropped is rejected
    assert abs(terms.mean() - (kl - math.log(s_q / s_p))) > 4 * terms.std(ddof=1) / math.sqrt(terms.size)


def test_kl_normal_normal_gradcheck_batch_and_zero():
    rng = np.random.default_rng(0)
    t = [mg.tensor(rng.standard_normal(3), requires_grad=True),
         mg.tensor(rng.uniform(0.5, 2, 3), requires_grad=True),
         mg.tensor(rng.standard_normal(3), requires_grad=True),
         mg.tensor(rng.uniform(0.5, 2, 3), requires_grad=True)]
    assert mg.gradcheck(lambda a, b, c, d: kl_divergence(Normal(a, b), Normal(c, d)), t)
    same = kl_divergence(Normal(t[0], t[1]), Normal(t[0], t[1]))
    np.testing.assert_allclose(same.data, 0.0, atol=1e-15)
    # the VAE's KL(N(μ, σ²) ‖ N(0, 1)) = ½ (μ² + σ² − 1 − log σ²)
    mu, sigma = t[0].data, t[1].data
    np.testing.assert_allclose(kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0)).data,
                               0.5 * (mu ** 2 + sigma ** 2 - 1 - np.log(sigma ** 2)), rtol=1e-12)


def test_kl_other_pairs_are_not_implemented():
    with pytest.raises(NotImplementedError, match="Laplace ‖ Normal"):
        kl_divergence(Laplace(0.0, 1.0), Normal(0.0, 1.0))


# ----------------------------------------------------------------------------------------------
# Bad inputs


@pytest.mark.parametrize("name", list(CASES))
def test_non_positive_parameter_is_rejected_naming_distribution_parameter_and_value(name):
    cls, params, _ = CASES[name]
    for i, pname in enumerate(cls.params):
        if pname not in cls.positive:
            continue
        bad = list(params)
        bad[i] = np.array([1.0, -2.5])
        with pytest.raises(ValueError, match=rf"^{name}: {pname} must be > 0, got -2\.5"):
            cls(*bad)
        bad[i] = 0.0
        with pytest.raises(ValueError, match=rf"^{name}: {pname} must be > 0, got 0\.0"):
            cls(*bad)


def test_non_finite_and_non_broadcasting_parameters_are_rejected():
    with pytest.raises(ValueError, match=r"Normal: loc must be finite, got nan"):
        Normal(np.nan, 1.0)
    with pytest.raises(ValueError, match=r"Gumbel: parameter shapes .* do not broadcast"):
        Gumbel(np.zeros(3), np.ones(2))
    with pytest.raises(TypeError, match="Normal: parameters must be real numbers"):
        Normal("0", 1.0)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("u", [0.0, 1.0, -0.2, 1.5, np.nan])
def test_u_outside_the_open_unit_interval_is_rejected(name, u):
    dist, _ = _dist(name)
    with pytest.raises(ValueError, match=rf"^{name}\.icdf: u must lie strictly inside \(0, 1\), got"):
        dist.icdf(np.array([0.5, u]))
    sampler = dist.rsample_icdf if name == "Normal" else dist.rsample
    with pytest.raises(ValueError, match=r"u must lie strictly inside \(0, 1\)"):
        sampler(u=np.array(u))


def test_float32_u_that_rounds_to_one_is_rejected():
    with pytest.raises(ValueError, match=r"u must lie strictly inside \(0, 1\), got 1\.0 \(in float32\)"):
        Exponential(np.float32(1.0)).icdf(np.array([1 - 1e-9]))


def test_rsample_needs_a_generator_or_the_noise():
    rule = r"rsample: rng must be a numpy.random.Generator or an int seed, got nothing \(rng=None\)"
    for dist in (Normal(0.0, 1.0), Exponential(1.0)):
        with pytest.raises(TypeError, match=rule):
            dist.rsample()
        with pytest.raises(TypeError, match=rule.replace("rsample", "sample")):
            dist.sample()
        with pytest.raises(TypeError, match="got str"):
            dist.rsample(rng="0")
        # the one rule (minigrad.random.as_generator): an int is a seed for a new Generator
        assert dist.rsample(rng=7).item() == dist.rsample(rng=np.random.default_rng(7)).item()


def test_normal_rsample_rejects_eps_requiring_grad_and_wrong_shapes():
    d = Normal(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="eps requires grad"):
        d.rsample(eps=mg.tensor(np.zeros(3), requires_grad=True))
    with pytest.raises(ValueError, match=r"eps has shape \(2,\), expected the batch shape \(3,\)"):
        d.rsample(eps=np.zeros(2))
    with pytest.raises(ValueError, match="either eps, or rng"):
        d.rsample(eps=np.zeros(3), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"u has shape \(2,\), expected"):
        Logistic(np.zeros(3), 1.0).rsample(u=np.full(2, 0.5))
    with pytest.raises(ValueError, match="sample_shape must be a tuple of non-negative ints"):
        d.rsample(rng=np.random.default_rng(0), sample_shape=(-1,))
