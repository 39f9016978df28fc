r"""Gradient-estimator variance: the pathwise (reparameterized) estimator against the score-function
estimator, with and without a baseline, measured with minigrad and compared with closed forms.

For z ~ N(μ, σ²), written z = μ + σε with ε ~ N(0, 1), and f(z) ∈ {z², exp(z), sin(z)}, the gradient
g = ∇_{μ,σ} E[f(z)] is estimated four ways from M samples (minigrad.pathwise_gradient and
minigrad.score_function_gradient do the work; this file only calls them and counts):

    pathwise                 (1/M) Σ_j ∇_θ f(μ + σε_j):       ∂/∂μ → f′(z),  ∂/∂σ → f′(z) ε
    score                    (1/M) Σ_j f(z_j) s(z_j):          s_μ = ε/σ,   s_σ = (ε² − 1)/σ
    score, b = E[f]          (1/M) Σ_j (f(z_j) − b) s(z_j), with the constant b = E[f(z)] (known here)
    score, leave-one-out b   b_j = the mean of f over the other M − 1 samples (minigrad's baseline="mean";
                             needs M ≥ 2)

The variance of each M-sample estimate is *measured*: the M-sample estimator is called R times with
fresh randomness and the variance of its R outputs is taken (it is not computed as Var₁/M). The
single-sample variances Var₁ are measured from N single-sample estimates (per_sample=True).

Closed forms (single sample; the M-sample mean of independent terms has Var₁/M)
-------------------------------------------------------------------------------
f(z) = z²  (../shared/README.md, with k = 0, a = μ; E f = μ² + σ², g = (2μ, 2σ)):
    pathwise          Var ∂μ = 4σ²                      Var ∂σ = 4μ² + 8σ²
    score             Var ∂μ = μ⁴/σ² + 14μ² + 15σ²      Var ∂σ = 2μ⁴/σ² + 60μ² + 74σ²
    score, b = E f    Var ∂μ = 8μ² + 10σ²               Var ∂σ = 40μ² + 56σ²
    and Var f = 4μ²σ² + 2σ⁴.

f(z) = exp(z)  (derived here). Let m = E e^z = e^{μ+σ²/2}; g = (m, σm). The one tool is the Gaussian
tilt: for ε ~ N(0, 1), E[h(ε) e^{tε}] = e^{t²/2} E[h(ε + t)] (complete the square in the density).
With e^{2z} = e^{2μ} e^{2σε} (t = 2σ, e^{2μ + 2σ²} = m² e^{σ²}) and e^z (t = σ, e^{μ+σ²/2} = m):
    E e^{2z}            = m² e^{σ²}
    E[ε² e^{2z}]        = m² e^{σ²} E[(ε + 2σ)²]           = m² e^{σ²} (1 + 4σ²)
    E[(ε²−1)² e^{2z}]   = m² e^{σ²} E[((ε + 2σ)² − 1)²]    = m² e^{σ²} (2 + 16σ² + 16σ⁴)
    E[ε² e^z]           = m (1 + σ²),   E[(ε²−1)² e^z] = m (2 + 4σ² + σ⁴),
using E[((ε + t)² − 1)²] = Var(ε² + 2tε) + (E[(ε+t)² − 1])² = (2 + 4t²) + t⁴. Then
    pathwise  ∂μ: f′ = e^z                  Var = m² (e^{σ²} − 1)
              ∂σ: f′ε = ε e^z               Var = m² [(1 + 4σ²) e^{σ²} − σ²]
    score with a constant b (b = 0: plain score; b = m = E f: the baseline), Var = E[(f − b)² s²] − g²:
              ∂μ: Var = [m² e^{σ²}(1 + 4σ²) − 2bm(1 + σ²) + b²] / σ² − m²
              ∂σ: Var = [m² e^{σ²}(2 + 16σ² + 16σ⁴) − 2bm(2 + 4σ² + σ⁴) + 2b²] / σ² − σ²m²
    so b = m gives m²[(1 + 4σ²)e^{σ²} − 1 − 3σ²]/σ² and m²[(2 + 16σ² + 16σ⁴)e^{σ²} − 2 − 8σ² − 3σ⁴]/σ²
    (both → 2m² and 10m² as σ → 0: (f − m)s ≈ m ε² and m(ε³ − ε)). And Var f = m² (e^{σ²} − 1).

The leave-one-out baseline (derived here, for any f): f_j − b_j = M (f_j − f̄)/(M − 1), so the
M-sample estimate (1/M) Σ_j (f_j − b_j) s_j = (1/(M − 1)) Σ_j (f_j − f̄) s_j is exactly the unbiased
sample covariance of (f, s) (E s = 0, so centring s changes nothing). The variance of an unbiased
sample covariance of M i.i.d. pairs is [E((f − Ef)² s²) − c²]/M + [Var f · Var s + c²]/(M(M − 1)) with
c = Cov(f, s) = E[f s] = g, and E((f − Ef)² s²) − g² is the single-sample variance with b = E f:

    Var_M(leave-one-out) = Var₁(b = E f)/M + (Var f · Var s + g²) / (M(M − 1)),   Var s_μ = 1/σ², Var s_σ = 2/σ².

It is not Var₁/M of anything: the estimates share b, and the second term is the price of estimating b.
For z² and exp(z) every piece is in closed form above, so the curve is overlaid exactly.

f(z) = sin(z): no closed form is derived here; its reference curves are the same moments computed by
Gauss–Hermite quadrature in ε (`quadrature_variance`, also used by the tests to check the closed forms
above), drawn dotted and marked "q" in the tables. E sin z = sin μ · e^{−σ²/2} is used for b.

Also measured: the same three estimators through the inverse-CDF path z = F⁻¹(u; θ) for Exponential and
Kumaraswamy (mean of each estimator with its standard error, the true gradient by quadrature, the
pathwise-vs-score agreement in standard errors, and the variances); and, when the `vae` package is
importable, the variance of the encoder gradient of a VAE's reconstruction term, pathwise vs score
function (`encoder_gradient_variance`).

    python benchmarks/bench_estimators.py            # quick (≈ 15 s): writes PNGs to benchmarks/results/
    python benchmarks/bench_estimators.py --full     # M = 1 … 1,000 on 13 points, R = 3,000 (a few minutes)
"""

import argparse
import dataclasses
import functools
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script, too

import minigrad as mg  # noqa: E402
from benchmarks.common import RESULTS_DIR, machine_line, markdown_table, save_figure  # noqa: E402
from minigrad import pathwise_gradient, score_function_gradient  # noqa: E402
from minigrad.distributions import Exponential, Kumaraswamy, Normal  # noqa: E402

ESTIMATORS = ("pathwise", "score", "score+b", "score+loo")
LABELS = {"pathwise": "pathwise", "score": "score function", "score+b": "score, b = E[f]",
          "score+loo": "score, leave-one-out b"}
FUNCTIONS = ("z²", "exp(z)", "sin(z)")
PLOTS = ("estimators_vs_M.png", "estimators_vs_sigma.png")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a run depends on (recorded in the report)."""
    mu: float = 1.0
    sigma: float = 1.0                                      # σ of the sweep over M
    ms: tuple = (1, 3, 10, 30, 100, 300, 1000)              # M, log-spaced
    repeats: int = 300                                      # R: calls of the M-sample estimator per point
    sigmas: tuple = (0.25, 0.5, 1.0, 1.5)                   # σ of the sweep over σ …
    m_sigma: int = 10                                       # … at this M
    n_single: int = 100_000                                 # N single-sample estimates for Var₁
    n_icdf: int = 50_000                                    # N for the inverse-CDF table
    vae_hidden: int = 64
    vae_latent: int = 2
    vae_batch: int = 16                                     # digits examples whose gradient is studied
    vae_train_steps: int = 300                              # Adam steps of "briefly trained"
    vae_repeats: int = 200                                  # R for the encoder-gradient variance
    seed: int = 0

    def describe(self):
        return ", ".join(f"{k} = {v}" for k, v in dataclasses.asdict(self).items())


QUICK = Settings()
FULL = Settings(ms=(1, 2, 3, 6, 10, 18, 32, 56, 100, 178, 316, 562, 1000), repeats=3000,
                sigmas=(0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.4), n_single=1_000_000, n_icdf=500_000,
                vae_hidden=128, vae_batch=32, vae_train_steps=2000, vae_repeats=1000)


def rng_for(settings, *key):
    """An independent, reproducible Generator for each measurement (the seed plus a key naming it)."""
    return np.random.default_rng([settings.seed, *key])


# ----------------------------------------------------------------------------------------------
# The integrands: minigrad ops on Tensors (pathwise), NumPy on arrays (score function)


def integrand(name):
    """f as a callable taking a Tensor (→ Tensor, differentiable) or an ndarray (→ ndarray)."""
    if name == "z²":
        return lambda z: z * z
    if name == "exp(z)":
        return lambda z: mg.exp(z) if isinstance(z, mg.Tensor) else np.exp(z)
    if name == "sin(z)":
        return lambda z: mg.sin(z) if isinstance(z, mg.Tensor) else np.sin(z)
    raise ValueError(f"unknown integrand {name!r}; expected one of {FUNCTIONS}")


def _numpy_f_and_derivative(name):
    return {"z²": (lambda z: z * z, lambda z: 2 * z), "exp(z)": (np.exp, np.exp),
            "sin(z)": (np.sin, np.cos)}[name]


def expected_f(name, mu, sigma):
    """E f(z), z ~ N(μ, σ²): the constant baseline b."""
    return {"z²": mu * mu + sigma * sigma, "exp(z)": math.exp(mu + sigma * sigma / 2),
            "sin(z)": math.sin(mu) * math.exp(-sigma * sigma / 2)}[name]


def true_gradient(name, mu, sigma):
    """(∂/∂μ, ∂/∂σ) E f(z)."""
    if name == "z²":
        return 2 * mu, 2 * sigma
    if name == "exp(z)":
        m = math.exp(mu + sigma * sigma / 2)
        return m, sigma * m
    e = math.exp(-sigma * sigma / 2)
    return math.cos(mu) * e, -sigma * math.sin(mu) * e


# ----------------------------------------------------------------------------------------------
# Exact variances: closed forms (z², exp) and quadrature (any f)


def _loo(var_b, var_f, grad, sigma, m):
    """Var_M of the leave-one-out estimator from the pieces (see the module docstring), for (∂μ, ∂σ)."""
    var_s = (1 / sigma ** 2, 2 / sigma ** 2)
    return tuple(vb / m + (var_f * vs + g * g) / (m * (m - 1)) for vb, vs, g in zip(var_b, var_s, grad))


def closed_form_variance(name, estimator, mu, sigma, m=1):
    """(Var ∂μ, Var ∂σ) of the M-sample estimator in closed form, or None where none is derived (sin).

    M = 1 is the single-sample variance; the leave-one-out estimator needs M ≥ 2."""
    if estimator == "score+loo":
        if m < 2:
            return None
        var_b = closed_form_variance(name, "score+b", mu, sigma)
        if var_b is None:
            return None
        if name == "z²":
            var_f = 4 * mu ** 2 * sigma ** 2 + 2 * sigma ** 4
        else:
            var_f = math.exp(2 * mu + sigma ** 2) * math.expm1(sigma ** 2)
        return _loo(var_b, var_f, true_gradient(name, mu, sigma), sigma, m)
    s2, a2 = sigma * sigma, mu * mu
    if name == "z²":                      # ../shared/README.md with k = 0
        single = {"pathwise": (4 * s2, 4 * a2 + 8 * s2),
                  "score": (a2 * a2 / s2 + 14 * a2 + 15 * s2, 2 * a2 * a2 / s2 + 60 * a2 + 74 * s2),
                  "score+b": (8 * a2 + 10 * s2, 40 * a2 + 56 * s2)}[estimator]
    elif name == "exp(z)":
        mm = math.exp(2 * mu + s2)        # m²
        e = math.exp(s2)
        if estimator == "pathwise":
            single = (mm * (e - 1), mm * ((1 + 4 * s2) * e - s2))
        else:
            m1 = math.sqrt(mm)
            b = 0.0 if estimator == "score" else m1
            single = ((mm * e * (1 + 4 * s2) - 2 * b * m1 * (1 + s2) + b * b) / s2 - mm,
                      (mm * e * (2 + 16 * s2 + 16 * s2 * s2) - 2 * b * m1 * (2 + 4 * s2 + s2 * s2) + 2 * b * b) / s2
                      - s2 * mm)
    else:
        return None
    return tuple(v / m for v in single)


@functools.lru_cache(maxsize=4)
def _hermite_nodes(n):
    """Nodes and weights of E[h(ε)] ≈ Σ w_i h(ε_i), ε ~ N(0, 1) (probabilists' Gauss–Hermite)."""
    eps, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(2 * math.pi)
    eps.flags.writeable = w.flags.writeable = False
    return eps, w


def quadrature_variance(name, estimator, mu, sigma, m=1, nodes=160):
    """The same variances as closed_form_variance, for any f, from Gauss–Hermite quadrature in ε
    (exact up to the quadrature error: E[h(ε)] for the single-sample estimate h and h²)."""
    eps, w = _hermite_nodes(nodes)
    f, df = _numpy_f_and_derivative(name)
    z = mu + sigma * eps
    grad = true_gradient(name, mu, sigma)

    def var(h):
        mean = w @ h
        return float(w @ (h * h) - mean * mean)

    def single(est):
        if est == "pathwise":
            return var(df(z)), var(df(z) * eps)
        b = 0.0 if est == "score" else expected_f(name, mu, sigma)
        return var((f(z) - b) * eps / sigma), var((f(z) - b) * (eps * eps - 1) / sigma)

    if estimator == "score+loo":
        if m < 2:
            return None
        return _loo(single("score+b"), var(f(z)), grad, sigma, m)
    return tuple(v / m for v in single(estimator))


def exact_variance(name, estimator, mu, sigma, m=1):
    """(values, source): the closed form when there is one ("closed"), else quadrature ("quadrature")."""
    closed = closed_form_variance(name, estimator, mu, sigma, m)
    if closed is not None:
        return closed, "closed"
    return quadrature_variance(name, estimator, mu, sigma, m), "quadrature"


# ----------------------------------------------------------------------------------------------
# Measurement


def estimate(name, estimator, mu, sigma, m, rng, per_sample=False):
    """One call of minigrad's estimator: (∂μ, ∂σ) from M samples (per_sample: the M single-sample ones)."""
    f = integrand(name)
    params = [float(mu), float(sigma)]
    if estimator == "pathwise":
        out = pathwise_gradient(Normal, params, f, m, rng, per_sample=per_sample)
    elif estimator == "score":
        out = score_function_gradient(Normal, params, f, m, rng, per_sample=per_sample)
    elif estimator == "score+b":
        out = score_function_gradient(Normal, params, f, m, rng, per_sample=per_sample,
                                      baseline=expected_f(name, mu, sigma))
    elif estimator == "score+loo":
        out = score_function_gradient(Normal, params, f, m, rng, per_sample=per_sample, baseline="mean")
    else:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    return np.stack([np.asarray(g, dtype=np.float64) for g in out], axis=-1)


def variance_with_se(samples):
    """Sample variance (ddof 1) along axis 0 and its standard error √((m₄ − s⁴)/n) (large-n, any law)."""
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    centred = samples - samples.mean(axis=0)
    var = (centred ** 2).sum(axis=0) / (n - 1)
    m4 = (centred ** 4).mean(axis=0)
    return var, np.sqrt(np.maximum(m4 - var ** 2, 0) / n)


def measured_m_sample_variance(name, estimator, mu, sigma, m, repeats, rng):
    """Call the M-sample estimator `repeats` times: (mean, variance, SE of the variance), each (∂μ, ∂σ)."""
    draws = np.array([estimate(name, estimator, mu, sigma, m, rng) for _ in range(repeats)])
    var, se = variance_with_se(draws)
    return draws.mean(axis=0), var, se


def single_sample_statistics(name, estimator, mu, sigma, n, rng):
    """From n single-sample estimates (one call with per_sample=True): mean, SE of the mean, variance,
    SE of the variance — each a (∂μ, ∂σ) array. Not for the leave-one-out estimator (its per-sample terms
    are coupled through b)."""
    if estimator == "score+loo":
        raise ValueError("single_sample_statistics: the leave-one-out estimator has no single-sample form")
    per = estimate(name, estimator, mu, sigma, n, rng, per_sample=True)
    var, se_var = variance_with_se(per)
    return per.mean(axis=0), np.sqrt(var / n), var, se_var


def _slope(ms, variances):
    ms, variances = np.asarray(ms, float), np.asarray(variances, float)
    ok = variances > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(ms[ok]), np.log(variances[ok]), 1)[0])


def sweep_m(settings, functions=FUNCTIONS, estimators=ESTIMATORS):
    """{(f, estimator): {"ms", "var", "se"}} at σ = settings.sigma, over settings.ms."""
    out = {}
    for i, name in enumerate(functions):
        for j, est in enumerate(estimators):
            ms = [m for m in settings.ms if est != "score+loo" or m >= 2]
            var, se = [], []
            for m in ms:
                _, v, s = measured_m_sample_variance(name, est, settings.mu, settings.sigma, m, settings.repeats,
                                                     rng_for(settings, 1, i, j, m))
                var.append(v)
                se.append(s)
            out[name, est] = {"ms": np.array(ms), "var": np.array(var), "se": np.array(se)}
    return out


def sweep_sigma(settings, functions=FUNCTIONS, estimators=ESTIMATORS):
    """{(f, estimator): {"sigmas", "var", "se"}} at M = settings.m_sigma, over settings.sigmas."""
    out = {}
    for i, name in enumerate(functions):
        for j, est in enumerate(estimators):
            var, se = [], []
            for k, sigma in enumerate(settings.sigmas):
                _, v, s = measured_m_sample_variance(name, est, settings.mu, sigma, settings.m_sigma,
                                                     settings.repeats, rng_for(settings, 2, i, j, k))
                var.append(v)
                se.append(s)
            out[name, est] = {"sigmas": np.array(settings.sigmas), "var": np.array(var), "se": np.array(se)}
    return out


def single_sample_table(settings, functions=FUNCTIONS):
    """{(f, estimator): (mean, se_mean, var, se_var)} at (μ, σ) = (settings.mu, settings.sigma)."""
    return {(name, est): single_sample_statistics(name, est, settings.mu, settings.sigma, settings.n_single,
                                                  rng_for(settings, 3, i, j))
            for i, name in enumerate(functions) for j, est in enumerate(ESTIMATORS[:3])}


# ----------------------------------------------------------------------------------------------
# Inverse-CDF distributions


ICDF_CASES = (
    # (label, make_dist, parameter names, parameter values, support, integrands)
    ("Exponential(λ = 2)", Exponential, ("λ",), (2.0,), (0.0, math.inf), ("z²", "sin(z)")),
    ("Kumaraswamy(a = 2, b = 3)", Kumaraswamy, ("a", "b"), (2.0, 3.0), (0.0, 1.0), ("z²", "exp(z)", "sin(z)")),
)


def _density(make_dist, values):
    """The density p_θ(z) as a NumPy function (for quadrature), independent of minigrad's log_prob."""
    if make_dist is Exponential:
        (lam,) = values
        return lambda z: lam * math.exp(-lam * z)
    a, b = values
    return lambda z: a * b * z ** (a - 1) * (1 - z ** a) ** (b - 1)


def _quadrature_expectation(make_dist, values, support, f):
    from scipy import integrate
    p = _density(make_dist, values)
    return integrate.quad(lambda z: f(z) * p(z), *support, epsabs=1e-13, epsrel=1e-12, limit=200)[0]


def icdf_true_gradient(make_dist, values, support, name, h=1e-5):
    """∇_θ E f by central differences of the quadrature expectation (independent of any sampling)."""
    f = _numpy_f_and_derivative(name)[0]
    grads = []
    for i in range(len(values)):
        up, down = list(values), list(values)
        up[i] += h
        down[i] -= h
        grads.append((_quadrature_expectation(make_dist, up, support, f)
                      - _quadrature_expectation(make_dist, down, support, f)) / (2 * h))
    return np.array(grads)


def icdf_statistics(make_dist, values, support, name, n, seed_key):
    """{estimator: (mean, se_mean, var, se_var)} of the single-sample pathwise (inverse-CDF rsample),
    score and score-with-b = E f estimators of ∇_θ E f, each an array over the parameters; the Generators
    are seeded with `seed_key` plus the estimator's index."""
    f = integrand(name)
    b = _quadrature_expectation(make_dist, values, support, _numpy_f_and_derivative(name)[0])
    runs = {"pathwise": lambda r: pathwise_gradient(make_dist, list(values), f, n, r, per_sample=True),
            "score": lambda r: score_function_gradient(make_dist, list(values), f, n, r, per_sample=True),
            "score+b": lambda r: score_function_gradient(make_dist, list(values), f, n, r, per_sample=True,
                                                         baseline=b)}
    out = {}
    for k, (est, run) in enumerate(runs.items()):
        per = np.stack([np.asarray(g, np.float64) for g in run(np.random.default_rng([*seed_key, k]))], axis=-1)
        var, se_var = variance_with_se(per)
        out[est] = (per.mean(axis=0), np.sqrt(var / n), var, se_var)
    return out


def icdf_rows(settings):
    """One row per (distribution, f, parameter); also returns the largest |z| between the two means."""
    rows, worst = [], 0.0
    for i, (label, make_dist, names, values, support, functions) in enumerate(ICDF_CASES):
        for j, name in enumerate(functions):
            stats = icdf_statistics(make_dist, values, support, name, settings.n_icdf, (settings.seed, 4, i, j))
            truth = icdf_true_gradient(make_dist, values, support, name)
            for p, pname in enumerate(names):
                (mp, sp, vp, _), (ms, ss, vs, _), (_, _, vb, _) = (stats[e] for e in ("pathwise", "score",
                                                                                       "score+b"))
                z = (mp[p] - ms[p]) / math.hypot(sp[p], ss[p])
                worst = max(worst, abs(z))
                rows.append([label, name, f"∂/∂{pname}", _g(truth[p]), f"{_g(mp[p])} ± {sp[p]:.2g}",
                             f"{_g(ms[p])} ± {ss[p]:.2g}", f"{z:+.2f}", "yes" if abs(z) < 4 else "**no**",
                             _g(vp[p]), _g(vs[p]), _g(vb[p]), f"{vs[p] / vp[p]:.3g}"])
    return rows, worst


# ----------------------------------------------------------------------------------------------
# The VAE: the encoder gradient of the reconstruction term


def _load_vae():
    """(vae module, None) or (None, reason) — imported lazily: the package may be absent or changing."""
    try:
        import vae
    except Exception as e:                    # absent, or broken mid-edit: a note, not a failure
        return None, f"vae is not importable ({type(e).__name__}: {e})"
    missing = [n for n in ("VAE", "load_dataset") if not hasattr(vae, n)]
    missing += [f"VAE.{n}" for n in ("elbo", "encoder_params") if hasattr(vae, "VAE") and not hasattr(vae.VAE, n)]
    if missing:
        return None, f"the vae API lacks {', '.join(missing)}"
    return vae, None


def _encoder_parameters(model, x):
    """[(name, parameter)] of everything μ_φ(x) and log σ²_φ(x) depend on: φ, found by backward."""
    model.zero_grad()
    mu, logvar = model.encoder_params(x)
    (mu.sum() + logvar.sum()).backward()
    phi = [(name, p) for name, p in model.named_parameters() if p.grad is not None]
    model.zero_grad()
    return phi


def _gaussian_log_density(z, mu, logvar):
    """log N(z; μ, diag e^{logvar}) summed over the last axis, z a constant (ndarray)."""
    diff = z - mu
    return -0.5 * ((diff * diff) * mg.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(axis=-1)


def encoder_gradient_variance(model, x, n_repeats=200, rng=None, n_samples=1):
    """Variance of two estimates of ∇_φ Σ_b E_{q_φ(z|x_b)}[log p_θ(x_b|z)] (the ELBO's reconstruction term,
    summed over the examples x) w.r.t. the encoder's parameters φ of `model`, a `vae.VAE`:

      pathwise  backward of model.elbo(x, n_samples, rng).reconstruction.sum(): z = μ + σ ⊙ ε through
                GaussianReparam (the default ELBO gradient);
      score     z = μ + σ ⊙ ε drawn without a graph, then backward of (1/M) Σ_j Σ_b log p_θ(x_b|z_bj) ·
                log q_φ(z_bj|x_b) with the first factor a constant: ∇_φ log q_φ(z|x) · log p_θ(x|z).

    Each is computed `n_repeats` times with fresh ε (from the Generator `rng`, default seed 0); the
    variance is taken per parameter entry over the repeats. Returns a dict with, per parameter tensor,
    the mean entry variance of each estimator, and overall: the ratio of total variances (score/pathwise),
    the median of the per-entry ratios (over entries with non-zero pathwise variance — inputs that are
    always 0, like the digits' blank border, give both estimators an exactly zero gradient), the cosine
    between the two mean gradients, and the fraction of entries whose means differ by > 3 standard errors
    (≈ 0.3 % expected when both are unbiased and the CLT holds at this R). The model's parameters are
    not changed; their `.grad` is cleared (set to None) on return."""
    rng = np.random.default_rng(0) if rng is None else rng
    x = np.asarray(x, dtype=model.dtype)
    phi = _encoder_parameters(model, x)
    latent = model.latent_dim
    shape = (n_samples, len(x), latent) if n_samples > 1 else (len(x), latent)

    def grads():
        out = [p.grad.copy() if p.grad is not None else np.zeros_like(p.data) for _, p in phi]
        model.zero_grad()
        return out

    def pathwise():
        model.zero_grad()
        model.elbo(x, n_samples=n_samples, rng=rng).reconstruction.sum().backward()
        return grads()

    def score():
        model.zero_grad()
        eps = rng.standard_normal(shape).astype(model.dtype)
        with mg.no_grad():
            log_px = model.elbo(x, eps=eps).reconstruction.data if n_samples == 1 else \
                np.stack([model.elbo(x, eps=e).reconstruction.data for e in eps])   # (B,) or (M, B)
            mu0, logvar0 = (t.data for t in model.encoder_params(x))
        z = mu0 + np.exp(0.5 * logvar0) * eps                      # the same z, outside the graph
        mu, logvar = model.encoder_params(x)
        log_q = _gaussian_log_density(z, mu, logvar)                # (B,) or (M, B), ∇_φ flows here only
        (log_q * (log_px / n_samples)).sum().backward()
        return grads()

    draws = {"pathwise": [], "score": []}
    for _ in range(n_repeats):                                      # interleaved: same rng stream for both
        draws["pathwise"].append(pathwise())
        draws["score"].append(score())
    per_tensor, flat = [], {}
    for est in draws:
        stacked = [np.stack([d[k] for d in draws[est]]).astype(np.float64) for k in range(len(phi))]
        flat[est] = (np.concatenate([s.mean(axis=0).ravel() for s in stacked]),
                     np.concatenate([s.var(axis=0, ddof=1).ravel() for s in stacked]))
        for k, s in enumerate(stacked):
            if est == "pathwise":
                per_tensor.append({"name": phi[k][0], "shape": phi[k][1].shape})
            per_tensor[k][est] = float(s.var(axis=0, ddof=1).mean())
    (mean_p, var_p), (mean_s, var_s) = flat["pathwise"], flat["score"]
    ok = var_p > 1e-30 * max(var_p.max(), 1e-300)
    se = np.sqrt((var_p + var_s) / n_repeats)
    differs = np.abs(mean_p - mean_s)[se > 0] > 3 * se[se > 0]
    norm = np.linalg.norm(mean_p) * np.linalg.norm(mean_s)
    return {"per_tensor": per_tensor, "n_repeats": n_repeats, "n_samples": n_samples,
            "total_ratio": float(var_s.sum() / var_p.sum()),
            "median_ratio": float(np.median(var_s[ok] / var_p[ok])) if ok.any() else float("nan"),
            "entries": int(var_p.size), "zero_entries": int((~ok).sum()),
            "cosine": float(mean_p @ mean_s / norm) if norm > 0 else float("nan"),
            "differ_3se": float(differs.mean()) if differs.size else float("nan")}


def train_briefly(model, x_train, steps, rng, batch_size=64, lr=1e-3):
    """`steps` Adam steps on −ELBO (one ε sample, analytic KL); returns the last loss."""
    opt = mg.optim.Adam(model.parameters(), lr=lr)
    loss = float("nan")
    for _ in range(steps):
        batch = x_train[rng.integers(0, len(x_train), batch_size)]
        opt.zero_grad()
        objective = -model.elbo(batch, rng=rng).elbo.mean()
        objective.backward()
        opt.step()
        loss = float(objective.data)
    return loss


def vae_section(settings):
    """The markdown of the VAE part, or a one-line note when the vae package is not usable."""
    vae, reason = _load_vae()
    if vae is None:
        return f"VAE encoder-gradient variance skipped: {reason}."
    try:
        data = vae.load_dataset("digits", dtype=np.float64)
        model = vae.VAE(data.dim, hidden_dims=(settings.vae_hidden,), latent_dim=settings.vae_latent,
                        dtype=np.float64, rng=settings.seed)
    except (TypeError, AttributeError, ImportError) as e:         # API drift in a package being written
        return f"VAE encoder-gradient variance skipped: the vae API is not as expected ({type(e).__name__}: {e})."
    x = data.test[:settings.vae_batch]
    results = [("untrained", None, encoder_gradient_variance(model, x, settings.vae_repeats,
                                                            rng_for(settings, 5, 0)))]
    loss = train_briefly(model, data.train, settings.vae_train_steps, rng_for(settings, 5, 1))
    results.append((f"after {settings.vae_train_steps} Adam steps", loss,
                    encoder_gradient_variance(model, x, settings.vae_repeats, rng_for(settings, 5, 2))))
    rows = []
    for state, _, res in results:
        for t in res["per_tensor"]:
            rows.append([state, t["name"], "×".join(map(str, t["shape"])), _g(t["pathwise"]), _g(t["score"]),
                         f"{t['score'] / t['pathwise']:.3g}" if t["pathwise"] > 0 else "—"])
    summary = [[state, f"{res['total_ratio']:.3g}", f"{res['median_ratio']:.3g}",
                f"{res['zero_entries']} of {res['entries']}", f"{res['cosine']:.3f}",
                f"{100 * res['differ_3se']:.2f} %"] for state, _, res in results]
    loss_note = f"; the training loss (−ELBO per digit) after the last step was {results[1][1]:.2f} nats"
    return "\n".join([
        f"#### VAE encoder: ∇_φ of the reconstruction term, pathwise vs score function "
        f"(digits, VAE {data.dim}-{settings.vae_hidden}-{settings.vae_latent}, float64)",
        "",
        f"{settings.vae_batch} test digits; gradient of Σ_b E_q[log p_θ(x_b|z)] w.r.t. the encoder's parameters, "
        f"one ε per digit per estimate, variance over R = {settings.vae_repeats} estimates per entry{loss_note}.",
        "",
        markdown_table(["model", "parameter", "shape", "mean Var pathwise", "mean Var score", "ratio"], rows),
        "",
        markdown_table(["model", "total Var ratio score/pathwise", "median per-entry ratio",
                        "entries with zero variance (excluded from the median)", "cosine of the two mean gradients",
                        "entries whose means differ by > 3 SE"], summary),
    ])


# ----------------------------------------------------------------------------------------------
# Report


def _g(x):
    return f"{x:.4g}"


def _exact_cell(name, est, mu, sigma, m, which):
    values, source = exact_variance(name, est, mu, sigma, m)
    if values is None:
        return "—"
    return _g(values[which]) + (" q" if source == "quadrature" else "")


def estimator_table(settings, by_m, single):
    """One row per f × estimator."""
    mu, sigma, m_max = settings.mu, settings.sigma, max(settings.ms)
    rows = []
    for name in FUNCTIONS:
        for est in ESTIMATORS:
            row = [name, LABELS[est]]
            for p in (0, 1):
                if (name, est) in single:
                    _, _, var, se = single[name, est]
                    row += [f"{_g(var[p])} ± {se[p]:.2g}", _exact_cell(name, est, mu, sigma, 1, p)]
                else:
                    row += ["— (M ≥ 2)", "—"]
            sweep = by_m.get((name, est))
            for p in (0, 1):
                if sweep is None:
                    row += ["—", "—"]
                    continue
                last = np.flatnonzero(sweep["ms"] == m_max)
                if last.size:
                    k = int(last[0])
                    exact, _ = exact_variance(name, est, mu, sigma, m_max)
                    row.append(f"{_g(m_max * sweep['var'][k, p])} ± {m_max * sweep['se'][k, p]:.2g} "
                               f"({_g(m_max * exact[p])})")
                else:
                    row.append("—")
                row.append(f"{_slope(sweep['ms'], sweep['var'][:, p]):.2f}")
            rows.append(row)
    return markdown_table(["f", "estimator", "Var₁ ∂μ measured", "exact", "Var₁ ∂σ measured", "exact",
                           f"M·Var ∂μ at M = {m_max} (exact)", "slope ∂μ", f"M·Var ∂σ at M = {m_max} (exact)",
                           "slope ∂σ"], rows)


def sigma_table(settings, by_sigma):
    rows = []
    for name in FUNCTIONS:
        for est in ESTIMATORS:
            sweep = by_sigma[name, est]
            rows.append([name, LABELS[est]] + [f"{_g(sweep['var'][k, 0])} / {_g(sweep['var'][k, 1])}"
                                               for k in range(len(settings.sigmas))])
    return markdown_table(["f", "estimator"] + [f"σ = {s:g}" for s in settings.sigmas], rows)


def plot(settings, by_m, by_sigma, out_dir):
    """Two log-log figures (3 integrands × 2 parameters): variance vs M, and vs σ; measured markers,
    exact curves (solid: closed form, dotted: quadrature)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = dict(zip(ESTIMATORS, ("C0", "C3", "C1", "C2")))
    paths = []
    for filename, sweep, xkey in ((PLOTS[0], by_m, "ms"), (PLOTS[1], by_sigma, "sigmas")):
        fig, axes = plt.subplots(len(FUNCTIONS), 2, figsize=(11, 3.2 * len(FUNCTIONS)), squeeze=False)
        for r, name in enumerate(FUNCTIONS):
            for p, param in enumerate(("μ", "σ")):
                ax = axes[r, p]
                for est in ESTIMATORS:
                    data = sweep[name, est]
                    xs = data[xkey]
                    ax.loglog(xs, data["var"][:, p], "o", ms=4, color=colours[est], label=f"{LABELS[est]}")
                    dense = np.unique(np.geomspace(xs.min(), xs.max(), 60).round() if xkey == "ms"
                                      else np.geomspace(xs.min(), xs.max(), 60))
                    curve, style = [], "-"
                    for x in dense:
                        m, s = (int(x), settings.sigma) if xkey == "ms" else (settings.m_sigma, float(x))
                        values, source = exact_variance(name, est, settings.mu, s, m)
                        curve.append(values[p])
                        style = "-" if source == "closed" else ":"
                    ax.loglog(dense, curve, style, lw=1.2, color=colours[est])
                fixed = f"σ = {settings.sigma:g}" if xkey == "ms" else f"M = {settings.m_sigma}"
                ax.set_title(f"f = {name}: Var of ∂/∂{param} (μ = {settings.mu:g}, {fixed})", fontsize=9)
                ax.set_xlabel("M (samples per estimate)" if xkey == "ms" else "σ")
                ax.grid(True, which="both", alpha=0.25)
                if r == 0 and p == 0:
                    ax.legend(fontsize=7)
        fig.suptitle(f"Gradient-estimator variance: markers measured (R = {settings.repeats} estimates each); "
                     "lines exact (solid closed form, dotted quadrature)", fontsize=10)
        fig.tight_layout()
        path = os.path.join(out_dir, filename)
        save_figure(fig, path)
        plt.close(fig)
        paths.append(path)
    return paths


def benchmark_settings(quick=True):
    """The settings run_benchmark uses (the runner records them in machine.json)."""
    return dataclasses.asdict(QUICK if quick else FULL)


def run(settings, out_dir=None, include_vae=True):
    """The markdown report; writes the two PNGs into out_dir (default benchmarks/results/)."""
    out_dir = RESULTS_DIR if out_dir is None else out_dir
    t0 = time.perf_counter()
    single = single_sample_table(settings)
    by_m = sweep_m(settings)
    by_sigma = sweep_sigma(settings)
    plot(settings, by_m, by_sigma, out_dir)
    icdf, worst = icdf_rows(settings)
    vae_md = vae_section(settings) if include_vae else "VAE encoder-gradient variance not run (include_vae=False)."
    return "\n".join([
        "### Gradient estimators: pathwise vs score function (z ~ N(μ, σ²))",
        "",
        f"Settings: {settings.describe()}. {machine_line()}",
        "",
        f"Single-sample variances Var₁ from N = {settings.n_single:,} single-sample estimates (± 1 SE); "
        f"M·Var_M from R = {settings.repeats} calls of the M-sample estimator at M = {max(settings.ms)} — "
        "it equals Var₁ when the M samples are independent (for the leave-one-out baseline the exact value is "
        "Var₁(b = E f) plus an O(1/M) term, see the docstring); slope: least-squares slope of log Var_M vs "
        f"log M over M = {', '.join(map(str, settings.ms))} (−1 is Var₁/M). Exact values: closed forms for z² "
        "and exp(z) (derived in benchmarks/bench_estimators.py), Gauss–Hermite quadrature for sin(z) (q). "
        f"μ = {settings.mu:g}, σ = {settings.sigma:g}.",
        "",
        estimator_table(settings, by_m, single),
        "",
        f"Variance of the M = {settings.m_sigma} estimate, ∂μ / ∂σ, as σ varies (μ = {settings.mu:g}, "
        f"R = {settings.repeats}; exact curves in the plot). exp(z)'s score-function estimates are heavy-tailed "
        "(their kurtosis grows like e^{4σ²}), so at large σ a finite R typically underestimates their variance.",
        "",
        sigma_table(settings, by_sigma),
        "",
        "#### Through the inverse-CDF path z = F⁻¹(u; θ), u ~ U(0, 1)",
        "",
        f"N = {settings.n_icdf:,} single-sample estimates per estimator; truth: central differences of the "
        "expectation computed by quadrature; z: (pathwise mean − score mean) / √(SE² + SE²), 'agree' when "
        f"|z| < 4 (largest |z| here: {worst:.2f}); b = E f by quadrature. exp(z) is left out for the Exponential: "
        "with λ = 2 the pathwise variance E[z² e^{2z}]/λ² is infinite.",
        "",
        markdown_table(["distribution", "f", "gradient", "truth", "pathwise mean ± SE", "score mean ± SE", "z",
                        "agree", "Var₁ pathwise", "Var₁ score", "Var₁ score, b = E f", "score / pathwise"], icdf),
        "",
        vae_md,
        "",
        f"Wall time {time.perf_counter() - t0:.1f} s.",
        "",
    ])


def run_benchmark(out_dir=None, quick=True):
    """The run_all convention: the markdown report; the PNGs go into out_dir."""
    return run(QUICK if quick else FULL, out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the long version (a few minutes)")
    parser.add_argument("--out", default=RESULTS_DIR, help="directory for the PNGs (default %(default)s)")
    args = parser.parse_args(argv)
    print(run_benchmark(args.out, quick=not args.full))


if __name__ == "__main__":
    main()
