"""Probability distributions whose samples gradients can flow through.

Two ways to draw a *reparameterized* sample z = g(noise, θ), a deterministic and differentiable
function of the parameters θ with all the randomness in a parameter-free noise variable drawn outside
the graph (so, by LOTUS, ∇_θ E_{p_θ}[f(z)] = E_noise[∇_θ f(g(noise, θ))]):

- `Normal.rsample`: the affine map z = μ + σ ⊙ ε, ε ~ N(0, I), one `GaussianReparam` node.
- the inverse-CDF method z = F⁻¹(u; θ), u ~ U(0, 1), for every distribution here with a quantile
  function: `rsample(u=None, rng=None, sample_shape=())` of Exponential, Logistic, Gumbel, Laplace,
  Cauchy, Weibull and Kumaraswamy, and `Normal.rsample_icdf` beside the affine path. Each `icdf` is an
  expression of minigrad ops in the parameters, so backward differentiates it like any other code.

`MultivariateNormal(loc, covariance_matrix= | precision_matrix= | scale_tril=)` is the general Gaussian
case z = μ + L ε with Σ = L Lᵀ (L the Cholesky factor, one `MultivariateGaussianReparam` node), and
`scale_tril_from_unconstrained` maps D(D+1)/2 free reals (an encoder's outputs) to a valid L.

`sample()` draws without recording a graph (MultivariateNormal's is a recorded direct draw that passes
no gradient); `Bernoulli` (discrete, logits parameterization) has no
reparameterized sampler and is differentiated with the score-function estimator (see
`minigrad.estimators`). `kl_divergence` holds the closed forms (Normal ‖ Normal, and MultivariateNormal
against a MultivariateNormal or a diagonal Normal either way), registered with `register_kl`.

Conventions. Parameters may be Tensors (that may require grad), Python numbers or arrays. Their
common dtype is the dtype of the floating-point Tensors among them (else NumPy's promotion of the
rest, float64 for integers), and plain numbers/arrays are cast to it, so a float32 model stays float32.
Invalid parameters raise ValueError naming the distribution, the parameter and the bad value. Every
random draw comes from the `numpy.random.Generator` you pass; nothing reads global random state.
A value given as a number or array to `log_prob`, `cdf` or `icdf` is cast to the distribution's dtype.

The special functions these need (Φ, Φ⁻¹, the Cauchy quantile, arctan, expm1, log Γ, ψ) are primitive
ops like any other: `minigrad.ops.special` and `minigrad.ops.elementwise`.
"""

import math

import numpy as np
from scipy import special

from . import ops
from .engine import Tensor, no_grad
from .ops import Arctan, Digamma, Expm1, LogGamma, Ndtr, Ndtri, StandardCauchyQuantile, linalg
from .random import as_generator
from .reparam import DirectMultivariateGaussianSample, GaussianReparam, MultivariateGaussianReparam

__all__ = [
    "Distribution", "InverseCDFDistribution", "Normal", "Bernoulli", "Exponential", "Logistic", "Gumbel",
    "Laplace", "Cauchy", "Weibull", "Kumaraswamy", "ContinuousBernoulli", "kl_divergence", "register_kl",
    "uniform_open",
    "MultivariateNormal", "scale_tril_from_unconstrained", "scale_tril_from_parts",
]

EULER_GAMMA = 0.57721566490153286061
_LOG_2PI = math.log(2 * math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)


# ----------------------------------------------------------------------------------------------
# Helpers: randomness only from an explicit Generator, shapes, dtypes, validation


def _sample_shape(sample_shape, where):
    shape = (sample_shape,) if isinstance(sample_shape, (int, np.integer)) else tuple(sample_shape)
    if any(not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ValueError(f"{where}: sample_shape must be a tuple of non-negative ints, got {sample_shape!r}")
    return tuple(int(n) for n in shape)


def _float_dtype(dtype):
    """The dtype Generator methods can draw in: float32 or float64."""
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def uniform_open(rng, shape, dtype=np.float64):
    """u ~ U(0, 1) of `shape`, strictly inside (0, 1), drawn from the Generator `rng` in `dtype`.

    Generator.random draws from [0, 1); the (rare) zeros are redrawn, so u never hits 0 (where every
    quantile function diverges) and never rounds to 1, since it is drawn in its own dtype."""
    rng = as_generator(rng, "uniform_open")
    dtype = _float_dtype(np.dtype(dtype))
    u = rng.random(shape, dtype=dtype)
    zero = u == 0
    while zero.any():
        u[zero] = rng.random(int(zero.sum()), dtype=dtype)
        zero = u == 0
    return u


def _first_bad(values, ok):
    bad = np.asarray(values)[~np.asarray(ok)]
    return bad.flat[0] if bad.size else None


def _const(x, dtype):
    """A value for a distribution's method: Tensors pass through, numbers/arrays become constants in dtype."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"expected real numbers, got dtype {arr.dtype}")
    return Tensor(arr.astype(dtype, copy=False))


def _common_dtype(name, values):
    """The dtype of a distribution with parameters `values`: that of its floating-point Tensors, else
    NumPy's promotion of the rest (float64 for integers)."""
    floating = [v.dtype for v in values if isinstance(v, Tensor) and v.dtype.kind == "f"]
    if floating:
        return np.dtype(np.result_type(*floating))
    raw = [v.data if isinstance(v, Tensor) else v if type(v) in (int, float) else np.asarray(v) for v in values]
    try:
        dtype = np.result_type(*raw)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise TypeError(f"{name}: parameters must be real numbers, got {[type(v).__name__ for v in values]}")
    return np.dtype(dtype if dtype.kind == "f" else np.float64)


def _param(name, pname, v, dtype):
    """Parameter `pname` as a Tensor: floating Tensors as they are, anything else a constant in dtype;
    ValueError unless every entry is finite."""
    if not (isinstance(v, Tensor) and v.dtype.kind == "f"):
        arr = np.asarray(v.data if isinstance(v, Tensor) else v)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: {pname} must hold real numbers, got dtype {arr.dtype}")
        v = Tensor(arr.astype(dtype, copy=False))
    finite = np.isfinite(v.data)
    if not finite.all():
        raise ValueError(f"{name}: {pname} must be finite, got {_first_bad(v.data, finite)}")
    return v


class Distribution:
    """Base class: parameters as Tensors, their broadcast `batch_shape`, a common `dtype`.

    Subclasses list their parameters in `params` and the ones that must be > 0 in `positive`."""

    params = ()
    positive = ()
    has_rsample = False

    def __init__(self, *values):
        name = type(self).__name__
        self.dtype = _common_dtype(name, values)
        shapes = []
        for pname, v in zip(self.params, values):
            v = _param(name, pname, v, self.dtype)
            data = v.data
            if pname in self.positive:
                ok = data > 0
                if not ok.all():
                    raise ValueError(f"{name}: {pname} must be > 0, got {_first_bad(data, ok)}"
                                     + (f" (shape {data.shape})" if data.ndim else ""))
            setattr(self, pname, v)
            shapes.append(data.shape)
        try:
            self.batch_shape = np.broadcast_shapes(*shapes)
        except ValueError:
            raise ValueError(f"{name}: parameter shapes {dict(zip(self.params, shapes))} do not broadcast "
                             "together") from None

    def __repr__(self):
        parts = []
        for p in self.params:
            t = getattr(self, p)
            parts.append(f"{p}={t.data.item():.6g}" if t.size == 1 else f"{p}: shape {t.shape}")
        return f"{type(self).__name__}({', '.join(parts)}, dtype={self.dtype})"

    def _value(self, x):
        return _const(x, self.dtype)

    def _batch(self, t):
        """t broadcast (in the graph) to the batch shape."""
        return t if t.shape == self.batch_shape else ops.broadcast_to(t, self.batch_shape)

    def rsample(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} has no reparameterized sampler (it is discrete): its samples "
                        "are not a differentiable function of the parameters. Use sample() and the "
                        "score-function estimator (minigrad.estimators.score_function_gradient).")

    def detached(self):
        """The same distribution with parameters cut from the graph (plain constant tensors)."""
        return type(self)(*[Tensor(getattr(self, p).data) for p in self.params])

    def sample(self, rng=None, sample_shape=()):
        """A sample of shape (*sample_shape, *batch_shape), drawn from `rng`, recorded in no graph."""
        with no_grad():
            return self.detached().rsample(rng=rng, sample_shape=sample_shape)

    def log_prob(self, value):
        raise NotImplementedError

    def _uniform(self, u, rng, sample_shape, where):
        """The u of an inverse-CDF sample: given, or drawn from rng with shape (*sample_shape, *batch_shape)."""
        if u is None:
            shape = _sample_shape(sample_shape, where) + self.batch_shape
            return Tensor(uniform_open(as_generator(rng, where), shape, self.dtype))
        if rng is not None or _sample_shape(sample_shape or (), where):
            raise ValueError(f"{where}: pass either u, or rng (and sample_shape), not both")
        u = self._value(u)
        n = len(self.batch_shape)
        if u.ndim < n or u.shape[u.ndim - n:] != self.batch_shape:
            raise ValueError(f"{where}: u has shape {u.shape}, expected (*sample_shape, *{self.batch_shape}) "
                             f"ending in the batch shape {self.batch_shape}")
        return u

    def _check_u(self, u, where):
        u = self._value(u)
        ok = (u.data > 0) & (u.data < 1)
        if not ok.all():
            raise ValueError(f"{type(self).__name__}.{where}: u must lie strictly inside (0, 1), got "
                             f"{_first_bad(u.data, ok)}" + ("" if u.dtype == np.float64 else f" (in {u.dtype})"))
        return u

    def rsample_icdf(self, u=None, rng=None, sample_shape=()):
        """z = F⁻¹(u; θ) with u ~ U(0, 1) (drawn from rng when u is None): a reparameterized sample,
        differentiable in the parameters, of shape (*sample_shape, *batch_shape)."""
        name = f"{type(self).__name__}.rsample_icdf"
        return self.icdf(self._uniform(u, rng, sample_shape, name))


class InverseCDFDistribution(Distribution):
    """A continuous distribution sampled by the inverse-CDF method: `rsample` is z = icdf(u), u ~ U(0, 1).

    Subclasses define `icdf(u)` (a minigrad expression in the parameters), `cdf`, `log_prob`."""

    has_rsample = True

    def rsample(self, u=None, rng=None, sample_shape=()):
        """z = F⁻¹(u; θ), u ~ U(0, 1) drawn from `rng` (shape (*sample_shape, *batch_shape)) unless given.

        u is a constant input: the sample is a deterministic, differentiable function of the parameters."""
        return self.icdf(self._uniform(u, rng, sample_shape, f"{type(self).__name__}.rsample"))


def _support(value, ok, safe):
    """(value with `safe` put where `ok` is False, ok): evaluate a formula only where it is defined."""
    if ok.all():
        return value, ok
    return ops.where(ok, value, safe), ok


def _mask(expr, ok, outside=-np.inf):
    return expr if ok.all() else ops.where(ok, expr, outside)


# ----------------------------------------------------------------------------------------------
# Normal


class Normal(Distribution):
    """N(loc, scale²), elementwise. Two reparameterized samplers:

    - `rsample(eps=None, rng=None, sample_shape=())`: z = loc + scale ⊙ ε, ε ~ N(0, I) drawn from rng
      (or given), one GaussianReparam node.
    - `rsample_icdf(u=None, rng=None, sample_shape=())`: z = loc + scale · Φ⁻¹(u), u ~ U(0, 1)."""

    params = ("loc", "scale")
    positive = ("scale",)
    has_rsample = True

    def __init__(self, loc, scale):
        super().__init__(loc, scale)

    def rsample(self, eps=None, rng=None, sample_shape=()):
        """z = loc + scale ⊙ ε with ε ~ N(0, I) of shape (*sample_shape, *batch_shape), drawn from `rng`
        outside the graph, or the given constant `eps` (an ndarray or a tensor that does not require grad)."""
        if eps is None:
            shape = _sample_shape(sample_shape, "Normal.rsample") + self.batch_shape
            rng = as_generator(rng, "Normal.rsample")
            eps = rng.standard_normal(shape, dtype=_float_dtype(self.dtype))
        elif rng is not None or _sample_shape(sample_shape or (), "Normal.rsample"):
            raise ValueError("Normal.rsample: pass either eps, or rng (and sample_shape), not both")
        return GaussianReparam.apply(self.loc, self.scale, eps)

    @property
    def mean(self):
        return self._batch(self.loc)

    @property
    def stddev(self):
        return self._batch(self.scale)

    @property
    def variance(self):
        return self._batch(self.scale * self.scale)

    def log_prob(self, value):
        """log N(x; μ, σ²) = −(x − μ)² / (2σ²) − log σ − ½ log 2π"""
        t = (self._value(value) - self.loc) / self.scale
        return -0.5 * (t * t) - ops.log(self.scale) - 0.5 * _LOG_2PI

    def cdf(self, value):
        """Φ((x − μ) / σ)"""
        return Ndtr.apply((self._value(value) - self.loc) / self.scale)

    def icdf(self, u):
        """F⁻¹(u) = μ + σ · Φ⁻¹(u)"""
        u = self._check_u(u, "icdf")
        return self.loc + self.scale * Ndtri.apply(u)

    def entropy(self):
        """½ log(2πe) + log σ"""
        return self._batch(ops.log(self.scale) + 0.5 * (_LOG_2PI + 1))


# ----------------------------------------------------------------------------------------------
# KL divergences in closed form: one table, kl_divergence(p, q) looks the pair of types up in it

_KL = {}


def register_kl(p_type, q_type):
    """Decorator: `fn(p, q)` computes KL(p ‖ q) for p a `p_type` and q a `q_type` (or subclasses)."""
    def decorator(fn):
        _KL[p_type, q_type] = fn
        return fn
    return decorator


def kl_divergence(p, q):
    """KL(p ‖ q) = E_p[log p(z) − log q(z)] in closed form, for the pairs registered with `register_kl`:

    Normal ‖ Normal                       elementwise over the batch
    MultivariateNormal ‖ MultivariateNormal, MultivariateNormal ‖ Normal, Normal ‖ MultivariateNormal
                                          one value per batch element (the event axis summed); a Normal
                                          beside a MultivariateNormal is the diagonal Gaussian over its
                                          last axis, N(loc, diag scale²)."""
    for p_type in type(p).__mro__:
        for q_type in type(q).__mro__:
            if (p_type, q_type) in _KL:
                return _KL[p_type, q_type](p, q)
    pairs = ", ".join(f"{a.__name__} ‖ {b.__name__}" for a, b in _KL)
    raise NotImplementedError(f"kl_divergence: no closed form for {type(p).__name__} ‖ {type(q).__name__} "
                              f"(implemented: {pairs})")


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    """KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) = log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²) / (2σ₂²) − ½"""
    ratio = p.scale / q.scale
    diff = (p.loc - q.loc) / q.scale
    return 0.5 * (ratio * ratio + diff * diff) - ops.log(ratio) - 0.5


# ----------------------------------------------------------------------------------------------
# Bernoulli


def _cross_entropy_term(where, logits, x):
    """x·l − softplus(l) = −BCE-with-logits(l, x), broadcast together, for x ∈ [0, 1] (ValueError
    outside): the shared term of the Bernoulli and continuous-Bernoulli log-densities."""
    ok = (x.data >= 0) & (x.data <= 1)
    if not ok.all():
        raise ValueError(f"{where}: value must lie in [0, 1], got {_first_bad(x.data, ok)}")
    shape = np.broadcast_shapes(logits.shape, x.shape)
    if logits.shape != shape:
        logits = ops.broadcast_to(logits, shape)
    if x.shape != shape:
        x = ops.broadcast_to(x, shape)
    return -ops.BinaryCrossEntropyWithLogits.apply(logits, x)


class Bernoulli(Distribution):
    """Bernoulli with P(x = 1) = σ(logits). `log_prob` is −BCE-with-logits: finite for any logit.

    Discrete, so no reparameterized sampler: use sample() with the score-function estimator."""

    params = ("logits",)

    def __init__(self, logits=None):
        if logits is None:
            raise TypeError("Bernoulli: pass logits= (probabilities as logits, log p − log(1 − p))")
        super().__init__(logits)

    @property
    def probs(self):
        return ops.sigmoid(self.logits)

    @property
    def mean(self):
        return self.probs

    def log_prob(self, value):
        """x log σ(l) + (1 − x) log(1 − σ(l)) = −(softplus(l) − x·l), stable for any logit l.

        For x ∈ {0, 1} this is the log-probability; x ∈ [0, 1] is accepted for the cross-entropy VAEs
        use on grey-level images (then it is not a normalized log-density)."""
        return _cross_entropy_term("Bernoulli.log_prob", self.logits, self._value(value))

    def sample(self, rng=None, sample_shape=()):
        """x ∈ {0, 1} with P(x = 1) = σ(logits), shape (*sample_shape, *batch_shape), from `rng`."""
        shape = _sample_shape(sample_shape, "Bernoulli.sample") + self.batch_shape
        u = as_generator(rng, "Bernoulli.sample").random(shape)
        return Tensor((u < special.expit(self.logits.data)).astype(self.dtype))

    def entropy(self):
        """H = −p log p − (1 − p) log(1 − p) = softplus(l) − l·σ(l)"""
        return ops.softplus(self.logits) - self.logits * ops.sigmoid(self.logits)


# ----------------------------------------------------------------------------------------------
# The inverse-CDF family


class Exponential(InverseCDFDistribution):
    """p(z) = λ e^{−λz} on z ≥ 0;  F(z) = 1 − e^{−λz};  F⁻¹(u) = −log(1 − u) / λ"""

    params = ("rate",)
    positive = ("rate",)

    def __init__(self, rate):
        super().__init__(rate)

    def icdf(self, u):
        u = self._check_u(u, "icdf")
        return -ops.log1p(-u) / self.rate

    def cdf(self, value):
        x = self._value(value)
        z, ok = _support(x, x.data >= 0, 0.0)
        return _mask(-Expm1.apply(-self.rate * z), ok, 0.0)

    def log_prob(self, value):
        x = self._value(value)
        z, ok = _support(x, x.data >= 0, 0.0)
        return _mask(ops.log(self.rate) - self.rate * z, ok)

    @property
    def mean(self):
        return self._batch(1 / self.rate)

    def entropy(self):
        return self._batch(1 - ops.log(self.rate))


class Logistic(InverseCDFDistribution):
    """F(z) = σ((z − μ)/s);  F⁻¹(u) = μ + s (log u − log(1 − u))"""

    params = ("loc", "scale")
    positive = ("scale",)

    def __init__(self, loc, scale):
        super().__init__(loc, scale)

    def icdf(self, u):
        u = self._check_u(u, "icdf")
        return self.loc + self.scale * (ops.log(u) - ops.log1p(-u))

    def cdf(self, value):
        return ops.sigmoid((self._value(value) - self.loc) / self.scale)

    def log_prob(self, value):
        """log p = −t − 2 softplus(−t) − log s, t = (z − μ)/s"""
        t = (self._value(value) - self.loc) / self.scale
        return -t - 2 * ops.softplus(-t) - ops.log(self.scale)

    @property
    def mean(self):
        return self._batch(self.loc)

    def entropy(self):
        return self._batch(ops.log(self.scale) + 2)


class Gumbel(InverseCDFDistribution):
    """Gumbel for maxima: F(z) = exp(−e^{−(z − μ)/β});  F⁻¹(u) = μ − β log(−log u)"""

    params = ("loc", "scale")
    positive = ("scale",)

    def __init__(self, loc, scale):
        super().__init__(loc, scale)

    def icdf(self, u):
        u = self._check_u(u, "icdf")
        return self.loc - self.scale * ops.log(-ops.log(u))

    def cdf(self, value):
        t = (self._value(value) - self.loc) / self.scale
        return ops.exp(-ops.exp(-t))

    def log_prob(self, value):
        """log p = −(t + e^{−t}) − log β, t = (z − μ)/β"""
        t = (self._value(value) - self.loc) / self.scale
        return -(t + ops.exp(-t)) - ops.log(self.scale)

    @property
    def mean(self):
        return self._batch(self.loc + EULER_GAMMA * self.scale)

    def entropy(self):
        return self._batch(ops.log(self.scale) + (EULER_GAMMA + 1))


class Laplace(InverseCDFDistribution):
    """p(z) = e^{−|z − μ|/b} / 2b;  F⁻¹(u) = μ + b log(2u) for u < ½, μ − b log(2(1 − u)) otherwise"""

    params = ("loc", "scale")
    positive = ("scale",)

    def __init__(self, loc, scale):
        super().__init__(loc, scale)

    def icdf(self, u):
        u = self._check_u(u, "icdf")
        lower = u.data < 0.5
        # Both branches are finite for every u in (0, 1); where() picks one and routes its gradient.
        t = ops.where(lower, ops.log(2 * u), -(ops.log1p(-u) + math.log(2)))
        return self.loc + self.scale * t

    def cdf(self, value):
        t = (self._value(value) - self.loc) / self.scale
        half_tail = 0.5 * ops.exp(-ops.abs(t))
        return ops.where(t.data < 0, half_tail, 1 - half_tail)

    def log_prob(self, value):
        return -ops.abs(self._value(value) - self.loc) / self.scale - ops.log(2 * self.scale)

    @property
    def mean(self):
        return self._batch(self.loc)

    def entropy(self):
        return self._batch(ops.log(2 * self.scale) + 1)


class Cauchy(InverseCDFDistribution):
    """p(z) = 1 / (πγ (1 + t²)), t = (z − μ)/γ;  F⁻¹(u) = μ + γ tan(π(u − ½)). It has no mean."""

    params = ("loc", "scale")
    positive = ("scale",)

    def __init__(self, loc, scale):
        super().__init__(loc, scale)

    def icdf(self, u):
        u = self._check_u(u, "icdf")
        return self.loc + self.scale * StandardCauchyQuantile.apply(u)

    def cdf(self, value):
        t = (self._value(value) - self.loc) / self.scale
        return 0.5 + Arctan.apply(t) / math.pi

    def log_prob(self, value):
        t = (self._value(value) - self.loc) / self.scale
        return -ops.log1p(t * t) - ops.log(self.scale) - math.log(math.pi)

    @property
    def mean(self):
        raise ValueError("Cauchy: the mean does not exist (E|z| = ∞)")

    def entropy(self):
        return self._batch(ops.log(self.scale) + math.log(4 * math.pi))


class Weibull(InverseCDFDistribution):
    """F(z) = 1 − exp(−(z/λ)^k) on z ≥ 0;  F⁻¹(u) = λ (−log(1 − u))^{1/k}

    log_prob treats z = 0 as outside the support (−inf), a set of probability zero."""

    params = ("scale", "concentration")
    positive = ("scale", "concentration")

    def __init__(self, scale, concentration):
        super().__init__(scale, concentration)

    def icdf(self, u):
        u = self._check_u(u, "icdf")
        return self.scale * ops.pow(-ops.log1p(-u), 1 / self.concentration)

    def cdf(self, value):
        x = self._value(value)
        z, ok = _support(x, x.data > 0, 1.0)
        return _mask(-Expm1.apply(-ops.pow(z / self.scale, self.concentration)), ok, 0.0)

    def log_prob(self, value):
        """log p = log k − log λ + (k − 1) log(z/λ) − (z/λ)^k"""
        x = self._value(value)
        z, ok = _support(x, x.data > 0, 1.0)
        log_t = ops.log(z) - ops.log(self.scale)
        k = self.concentration
        expr = ops.log(k) - ops.log(self.scale) + (k - 1) * log_t - ops.exp(k * log_t)
        return _mask(expr, ok)

    @property
    def mean(self):
        """λ Γ(1 + 1/k)"""
        return self._batch(self.scale * ops.exp(LogGamma.apply(1 + 1 / self.concentration)))

    def entropy(self):
        """γ (1 − 1/k) + log(λ/k) + 1"""
        k = self.concentration
        return self._batch(EULER_GAMMA * (1 - 1 / k) + ops.log(self.scale / k) + 1)


class Kumaraswamy(InverseCDFDistribution):
    """p(z) = a b z^{a−1} (1 − z^a)^{b−1} on (0, 1);  F(z) = 1 − (1 − z^a)^b;
    F⁻¹(u) = (1 − (1 − u)^{1/b})^{1/a}, evaluated as (−expm1(log(1 − u) / b))^{1/a}."""

    params = ("a", "b")
    positive = ("a", "b")

    def __init__(self, a, b):
        super().__init__(a, b)

    def icdf(self, u):
        u = self._check_u(u, "icdf")
        return ops.pow(-Expm1.apply(ops.log1p(-u) / self.b), 1 / self.a)

    def _log1m_pow(self, z):
        """log(1 − z^a), with 1 − z^a = −expm1(a log z): no cancellation, and no log 0 when z^a rounds to 1."""
        return ops.log(-Expm1.apply(self.a * ops.log(z)))

    def cdf(self, value):
        """1 − (1 − z^a)^b = −expm1(b log(1 − z^a)); 0 below the support, 1 above"""
        x = self._value(value)
        inside = (x.data > 0) & (x.data < 1)
        z, _ = _support(x, inside, 0.5)
        expr = -Expm1.apply(self.b * self._log1m_pow(z))
        if inside.all():
            return expr
        return ops.where(inside, expr, (x.data >= 1).astype(self.dtype))

    def log_prob(self, value):
        """log p = log a + log b + (a − 1) log z + (b − 1) log(1 − z^a)"""
        x = self._value(value)
        z, ok = _support(x, (x.data > 0) & (x.data < 1), 0.5)
        expr = (ops.log(self.a) + ops.log(self.b) + (self.a - 1) * ops.log(z)
                + (self.b - 1) * self._log1m_pow(z))
        return _mask(expr, ok)

    @property
    def mean(self):
        """b B(1 + 1/a, b) = b Γ(1 + 1/a) Γ(b) / Γ(1 + 1/a + b)"""
        c = 1 + 1 / self.a
        return self._batch(ops.exp(ops.log(self.b) + LogGamma.apply(c) + LogGamma.apply(self.b)
                                   - LogGamma.apply(c + self.b)))

    def entropy(self):
        """(1 − 1/b) + (1 − 1/a) H_b − log(ab), with the harmonic number H_b = ψ(b + 1) + γ"""
        a, b = self.a, self.b
        harmonic = Digamma.apply(b + 1) + EULER_GAMMA
        return self._batch((1 - 1 / b) + (1 - 1 / a) * harmonic - ops.log(a * b))


# ----------------------------------------------------------------------------------------------
# The continuous Bernoulli: a density on [0, 1] for grey levels


def _series_near_zero(l, threshold, series, direct):
    """direct(l) where |l| ≥ threshold, series(l) (its Taylor expansion at 0) where |l| < threshold, with
    each branch evaluated only at inputs where it is safe, so no NaN or cancellation reaches either the value
    or the gradient (ops.where passes each branch's gradient only where it is chosen)."""
    far = np.abs(l.data) >= threshold
    if far.all():
        return direct(l)
    if not far.any():
        return series(l)
    return ops.where(far, direct(ops.where(far, l, threshold)), series(ops.where(far, 0.0, l)))


class ContinuousBernoulli(InverseCDFDistribution):
    """The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019): the density on x ∈ [0, 1]

        p(x | λ) = C(λ) λˣ (1 − λ)¹⁻ˣ,    C(λ) = 2 artanh(1 − 2λ) / (1 − 2λ)  (C(½) = 2),

    parameterized by logits l = log λ − log(1 − λ), as a decoder outputs them. The Bernoulli cross-entropy
    a VAE uses on grey levels is log p without log C(λ), not normalized; with it, grey-level data get a
    true log-likelihood. In logits 1 − 2λ = −tanh(l/2) and artanh(1 − 2λ) = −l/2, so

        log C = log(l / tanh(l/2)) = log|l| − log tanh(|l|/2),
        log p(x) = x·l − softplus(l) + log C,

    which is 0/0 at λ = ½ (l = 0), and whose gradient 1/l − 1/sinh l cancels catastrophically near it. For
    |l| < 0.1 both come from the Taylor expansion log C = log 2 + l²/12 − 7l⁴/1440 + 31l⁶/90720 − 127l⁸/4838400
    (next term < 2.2e-16 there). The mean E[x] = λ/(2λ − 1) + 1/(2 artanh(1 − 2λ)) = 1/(1 − e⁻ˡ) − 1/l
    (½ + l/12 − l³/720 + l⁵/30240 − l⁷/1209600 near 0). Sampled by the inverse CDF: F(x) = expm1(l x)/expm1(l),
    F⁻¹(u) = log1p(u·expm1(l)) / l = 1 + log(u + (1 − u)e⁻ˡ) / l (the second form for l > 30: no overflow),
    u + (u − u²) l/2 + (u/6 − u²/2 + u³/3) l² + … near 0 (for |l| < 1e-4, where the direct forms' gradients
    would lose digits to cancellation)."""

    params = ("logits",)
    SERIES = 0.1            # |l| below which log C and the mean use their Taylor series
    ICDF_SERIES = 1e-4      # and the quantile function (its direct form is accurate down to here)
    ICDF_LARGE = 30.0       # l above which F⁻¹ uses 1 + log(u + (1 − u)e⁻ˡ)/l: expm1(l) would overflow float32

    def __init__(self, logits=None):
        if logits is None:
            raise TypeError("ContinuousBernoulli: pass logits= (λ as logits, log λ − log(1 − λ))")
        super().__init__(logits)

    @property
    def probs(self):
        return ops.sigmoid(self.logits)

    def log_normalizer(self):
        """log C(λ), elementwise over the batch."""
        def direct(l):
            a = ops.abs(l)
            return ops.log(a) - ops.log(ops.tanh(0.5 * a))

        def series(l):
            l2 = l * l
            return math.log(2) + l2 * (1 / 12 + l2 * (-7 / 1440 + l2 * (31 / 90720 - l2 * 127 / 4838400)))
        return _series_near_zero(self.logits, self.SERIES, series, direct)

    def log_prob(self, value):
        """x·l − softplus(l) + log C(λ) for x ∈ [0, 1] (ValueError outside)."""
        term = _cross_entropy_term("ContinuousBernoulli.log_prob", self.logits, self._value(value))
        log_c = self.log_normalizer()
        return term + (log_c if log_c.shape == term.shape else ops.broadcast_to(log_c, term.shape))

    @property
    def mean(self):
        positive = self.logits.data > 0

        def direct(l):          # 1/(1 − e⁻ˡ) as 1/(−expm1(−l)) for l > 0, as eˡ/expm1(l) for l < 0: no overflow
            lp, ln = ops.where(positive, l, 1.0), ops.where(positive, -1.0, l)
            return ops.where(positive, 1 / (-Expm1.apply(-lp)), ops.exp(ln) / Expm1.apply(ln)) - 1 / l

        def series(l):
            l2 = l * l
            return 0.5 + l * (1 / 12 + l2 * (-1 / 720 + l2 * (1 / 30240 - l2 / 1209600)))
        return _series_near_zero(self.logits, self.SERIES, series, direct)

    def icdf(self, u):
        u = self._check_u(u, "icdf")
        l = self.logits
        shape = np.broadcast_shapes(l.shape, u.shape)
        l = l if l.shape == shape else ops.broadcast_to(l, shape)
        u = u if u.shape == shape else ops.broadcast_to(u, shape)
        large = l.data > self.ICDF_LARGE

        def direct(l):
            if not large.any():
                return ops.log1p(u * Expm1.apply(l)) / l
            big = ops.where(large, l, 2 * self.ICDF_LARGE)      # each form only where it is accurate and finite
            small = ops.where(large, 1.0, l)
            up = 1 + ops.log(u + (1 - u) * ops.exp(-big)) / big
            return ops.where(large, up, ops.log1p(u * Expm1.apply(small)) / small)

        def series(l):
            u2 = u * u
            return u + l * (0.5 * (u - u2) + l * (u / 6 - 0.5 * u2 + u2 * u / 3
                                                  + l * (u / 24 - 7 / 24 * u2 + 0.5 * u2 * u - 0.25 * u2 * u2)))
        return _series_near_zero(l, self.ICDF_SERIES, series, direct)

    def cdf(self, value):
        """F(x) = expm1(l x) / expm1(l) on [0, 1] (x itself at l = 0), 0 below and 1 above."""
        x = self._value(value)
        inside = (x.data >= 0) & (x.data <= 1)
        z, _ = _support(x, inside, 0.5)
        l = self.logits
        shape = np.broadcast_shapes(l.shape, z.shape)
        l = l if l.shape == shape else ops.broadcast_to(l, shape)
        z = z if z.shape == shape else ops.broadcast_to(z, shape)

        positive = l.data > 0

        def direct(l):          # for l > 0 as e^{l(x−1)} expm1(−l x)/expm1(−l): no inf/inf
            lp, ln = ops.where(positive, l, 1.0), ops.where(positive, -1.0, l)
            return ops.where(positive, ops.exp(lp * (z - 1)) * Expm1.apply(-lp * z) / Expm1.apply(-lp),
                             Expm1.apply(ln * z) / Expm1.apply(ln))

        def series(l):
            z2 = z * z
            return z + l * (0.5 * (z2 - z) + l * (z2 * z / 6 - z2 / 4 + z / 12))
        expr = _series_near_zero(l, self.ICDF_SERIES, series, direct)
        if inside.all():
            return expr
        return ops.where(np.broadcast_to(inside, shape), expr, (np.broadcast_to(x.data, shape) > 1).astype(self.dtype))


# ----------------------------------------------------------------------------------------------
# MultivariateNormal: a full covariance Σ = L Lᵀ, L its Cholesky factor


def _tril_solve(L, b):
    """L⁻¹ b over the last axis of b (…, D), for L (…, D, D) lower triangular: ONE triangular solve.

    The axes b has in front of L's batch axes (sample axes) become the columns of the right-hand side,
    so L is never copied per sample."""
    lead = b.ndim - 1 - (L.ndim - 2)
    if lead <= 0:
        return linalg.solve_triangular(L, ops.expand_dims(b, -1), lower=True)[..., 0]
    front, rest = b.shape[:lead], b.shape[lead:]
    cols = ops.moveaxis(ops.reshape(b, (int(np.prod(front, dtype=int)),) + rest), 0, -1)     # (…, D, S)
    y = linalg.solve_triangular(L, cols, lower=True)
    return ops.reshape(ops.moveaxis(y, -1, 0), front + y.shape[:-2] + (y.shape[-2],))


def _half_log_det(L):
    """½ log det(L Lᵀ) = Σ_i log L_ii"""
    return ops.log(ops.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)


def _check_matrix(name, what, m, dim):
    shape = m.shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name}: {what} must be a square matrix or a stack of them, shape (…, D, D); got shape "
                         f"{shape}")
    if shape[-1] != dim:
        raise ValueError(f"{name}: loc has D = {dim} entries in its last axis but {what} is {shape[-1]} × "
                         f"{shape[-1]}: expected loc (…, D) and {what} (…, D, D) with the same D")


def _batch_index(flat_index, shape):
    index = np.unravel_index(flat_index, shape)
    return tuple(int(i) for i in index[:-2]), tuple(int(i) for i in index[-2:])


def _check_symmetric(name, what, m):
    """Symmetric to rounding: |m − mᵀ| ≤ 100 ε_mach · max |m| per matrix of the stack."""
    data = m.data
    asym = np.abs(data - np.swapaxes(data, -1, -2))
    tol = 100 * np.finfo(data.dtype).eps * np.abs(data).max(axis=(-2, -1), keepdims=True)
    bad = asym > tol
    if bad.any():
        where, entry = _batch_index(int(np.argmax(np.where(bad, asym, -1))), data.shape)
        at = f" of the matrix at batch index {where}" if where else ""
        raise ValueError(f"{name}: {what} is not symmetric (the check that failed: symmetry): entry {entry}{at} "
                         f"differs from its transpose by {asym[where + entry]:.3g}; a covariance or precision "
                         "matrix must equal its transpose")


def _cholesky(name, what, m):
    try:
        return linalg.cholesky(m)
    except np.linalg.LinAlgError as e:
        detail = str(e).split(": ", 1)[-1]
        raise ValueError(f"{name}: {what} is not positive definite (the check that failed: positive definiteness; "
                         f"{detail})") from None


def _check_scale_tril(name, L):
    data = L.data
    upper = np.triu(data, 1) != 0
    if upper.any():
        where, entry = _batch_index(int(np.argmax(upper)), data.shape)
        at = f" at batch index {where}" if where else ""
        raise ValueError(f"{name}: scale_tril must be lower triangular, but entry {entry}{at} above the diagonal is "
                         f"{data[where + entry]:.6g}")
    diagonal = np.diagonal(data, axis1=-2, axis2=-1)
    ok = diagonal > 0
    if not ok.all():
        index = np.unravel_index(int(np.argmin(ok)), diagonal.shape)
        where, i = tuple(int(j) for j in index[:-1]), int(index[-1])
        at = f" at batch index {where}" if where else ""
        raise ValueError(f"{name}: scale_tril must have a positive diagonal (a Cholesky factor's is > 0), but "
                         f"entry ({i}, {i}){at} is {diagonal[index]:.6g}")


class MultivariateNormal(Distribution):
    """N(μ, Σ) over the last axis: loc μ (…, D) and exactly one of covariance_matrix Σ, precision_matrix
    Σ⁻¹ or scale_tril L (…, D, D), their batch axes broadcast (batch_shape), event_shape (D,).

    Everything is computed from L, the Cholesky factor (Σ = L Lᵀ, L lower triangular, L_ii > 0):
    Σ is factored with minigrad.linalg.cholesky (so gradients reach Σ through its stable VJP), and Σ⁻¹ = P
    by factoring the reversed P, P = U Uᵀ with U upper triangular, so that L = U⁻ᵀ (one triangular solve).
    Nothing here forms an inverse to evaluate a density: with y = L⁻¹(x − μ) (a triangular solve),

        log N(x; μ, Σ) = −½ ‖y‖² − Σ_i log L_ii − (D/2) log 2π
        H = (D/2)(1 + log 2π) + Σ_i log L_ii

    `rsample` is z = μ + L ε, ε ~ N(0, I): one MultivariateGaussianReparam node whose VJP is μ̄ = ḡ,
    L̄ = tril(ḡ εᵀ). `sample` draws directly (DirectMultivariateGaussianSample): no gradient, and the graph
    tools name it as the sampler that cut the path. Bad arguments raise ValueError naming the argument
    and which check failed (shape, symmetry, positive definiteness, a non-positive diagonal of L)."""

    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None):
        name = "MultivariateNormal"
        given = {k: v for k, v in (("covariance_matrix", covariance_matrix), ("precision_matrix", precision_matrix),
                                   ("scale_tril", scale_tril)) if v is not None}
        if len(given) != 1:
            raise ValueError(f"{name}: pass exactly one of covariance_matrix, precision_matrix or scale_tril "
                             f"(got {', '.join(given) or 'none'})")
        (what, matrix), = given.items()
        self.dtype = _common_dtype(name, (loc, matrix))
        self.loc = _param(name, "loc", loc, self.dtype)
        if self.loc.ndim < 1:
            raise ValueError(f"{name}: loc must have shape (…, D) with the event axis last, got a scalar")
        matrix = _param(name, what, matrix, self.dtype)
        dim = self.loc.shape[-1]
        _check_matrix(name, what, matrix, dim)
        try:
            self.batch_shape = np.broadcast_shapes(self.loc.shape[:-1], matrix.shape[:-2])
        except ValueError:
            raise ValueError(f"{name}: the batch axes of loc {self.loc.shape} and {what} {matrix.shape} do not "
                             "broadcast together") from None
        self.event_shape = (dim,)
        self._given = what, matrix
        if what == "scale_tril":
            _check_scale_tril(name, matrix)
            self._L = matrix
        elif what == "covariance_matrix":
            _check_symmetric(name, what, matrix)
            self._L = _cholesky(name, what, matrix)
        else:
            _check_symmetric(name, what, matrix)
            reverse = (-2, -1)
            U = ops.flip(_cholesky(name, what, ops.flip(matrix, reverse)), reverse)     # P = U Uᵀ
            self._L = linalg.solve_triangular(U, np.eye(dim, dtype=self.dtype), trans=1)  # Σ = U⁻ᵀ U⁻¹

    def __repr__(self):
        return (f"MultivariateNormal(loc: shape {self.loc.shape}, scale_tril: shape {self._L.shape}, "
                f"batch_shape={self.batch_shape}, event_shape={self.event_shape}, dtype={self.dtype})")

    def _full(self, t, event):
        shape = self.batch_shape + event
        return t if t.shape == shape else ops.broadcast_to(t, shape)

    @property
    def mean(self):
        return self._full(self.loc, self.event_shape)

    @property
    def scale_tril(self):
        return self._full(self._L, self.event_shape * 2)

    @property
    def covariance_matrix(self):
        """Σ = L Lᵀ (the matrix given, if a covariance was given)"""
        what, matrix = self._given
        sigma = matrix if what == "covariance_matrix" else self._L @ ops.swapaxes(self._L, -1, -2)
        return self._full(sigma, self.event_shape * 2)

    @property
    def precision_matrix(self):
        """Σ⁻¹ = L⁻ᵀ L⁻¹, L⁻¹ by a triangular solve (the matrix given, if a precision was given)"""
        what, matrix = self._given
        if what != "precision_matrix":
            inv = linalg.solve_triangular(self._L, np.eye(self.event_shape[0], dtype=self.dtype), lower=True)
            matrix = ops.swapaxes(inv, -1, -2) @ inv
        return self._full(matrix, self.event_shape * 2)

    @property
    def variance(self):
        """diag Σ: Σ_ii = Σ_j L_ij²"""
        return self._full((self._L * self._L).sum(axis=-1), self.event_shape)

    @property
    def stddev(self):
        return ops.sqrt(self.variance)

    def detached(self):
        return MultivariateNormal(Tensor(self.loc.data), scale_tril=Tensor(self._L.data))

    def rsample(self, sample_shape=(), eps=None, rng=None):
        """z = μ + L ε with ε ~ N(0, I) of shape (*sample_shape, *batch_shape, D) drawn from `rng` outside the
        graph, or the given constant `eps` (an ndarray or a tensor that does not require grad)."""
        where = "MultivariateNormal.rsample"
        if eps is None:
            shape = _sample_shape(sample_shape, where) + self.batch_shape + self.event_shape
            eps = as_generator(rng, where).standard_normal(shape, dtype=_float_dtype(self.dtype))
        elif rng is not None or _sample_shape(sample_shape or (), where):
            raise ValueError(f"{where}: pass either eps, or rng (and sample_shape), not both")
        return MultivariateGaussianReparam.apply(self.loc, self._L, eps)

    def sample(self, rng=None, sample_shape=()):
        """z ~ N(μ, Σ) of shape (*sample_shape, *batch_shape, D), drawn directly: recorded as a stochastic
        node that passes no gradient (with the same seed, the z that rsample draws)."""
        shape = _sample_shape(sample_shape, "MultivariateNormal.sample")
        return DirectMultivariateGaussianSample.apply(self.loc, self._L, rng, sample_shape=shape)

    def log_prob(self, value):
        """log N(x; μ, Σ) = −½ ‖L⁻¹(x − μ)‖² − Σ_i log L_ii − (D/2) log 2π, for x of shape (…, D); one
        triangular solve, no inverse. The result has x's leading axes broadcast with the batch shape."""
        x = self._value(value)
        if x.ndim < 1 or x.shape[-1] != self.event_shape[0]:
            raise ValueError(f"MultivariateNormal.log_prob: value has shape {x.shape}, expected (…, "
                             f"{self.event_shape[0]}) ending in the event size D = {self.event_shape[0]}")
        y = _tril_solve(self._L, x - self.loc)
        return -0.5 * (y * y).sum(axis=-1) - _half_log_det(self._L) - 0.5 * self.event_shape[0] * _LOG_2PI

    def entropy(self):
        """H = (D/2)(1 + log 2π) + Σ_i log L_ii"""
        dim = self.event_shape[0]
        return self._full(_half_log_det(self._L) + 0.5 * dim * (1 + _LOG_2PI), ())


def _as_multivariate(normal, dim):
    """A Normal read as the diagonal Gaussian N(loc, diag scale²) over its last axis (of size D)."""
    shape = np.broadcast_shapes(normal.batch_shape, (dim,))
    loc, scale = ops.broadcast_to(normal.loc, shape), ops.broadcast_to(normal.scale, shape)
    return MultivariateNormal(loc, scale_tril=ops.expand_dims(scale, -1) * np.eye(dim, dtype=normal.dtype))


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p, q):
    """KL(N(μ₁, L₁L₁ᵀ) ‖ N(μ₂, L₂L₂ᵀ)) = ½ (‖L₂⁻¹L₁‖²_F + ‖L₂⁻¹(μ₂ − μ₁)‖² − D) + Σ log (L₂)_ii − Σ log (L₁)_ii

    (the trace term tr(Σ₂⁻¹Σ₁) = ‖L₂⁻¹L₁‖²_F, the Mahalanobis term, and ½ log det Σ₂/det Σ₁), by
    triangular solves with L₂."""
    if p.event_shape != q.event_shape:
        raise ValueError(f"kl_divergence: the two MultivariateNormals have event sizes {p.event_shape[0]} and "
                         f"{q.event_shape[0]}; KL needs the same D")
    m = linalg.solve_triangular(q._L, p._L, lower=True)
    y = _tril_solve(q._L, q.loc - p.loc)
    trace = (m * m).sum(axis=(-2, -1))
    kl = 0.5 * (trace + (y * y).sum(axis=-1) - p.event_shape[0]) + _half_log_det(q._L) - _half_log_det(p._L)
    shape = np.broadcast_shapes(p.batch_shape, q.batch_shape)
    return kl if kl.shape == shape else ops.broadcast_to(kl, shape)


@register_kl(MultivariateNormal, Normal)
def _kl_mvn_normal(p, q):
    return _kl_mvn_mvn(p, _as_multivariate(q, p.event_shape[0]))


@register_kl(Normal, MultivariateNormal)
def _kl_normal_mvn(p, q):
    return _kl_mvn_mvn(_as_multivariate(p, q.event_shape[0]), q)


def scale_tril_from_unconstrained(v, dim, floor=1e-5):
    """A valid Cholesky factor L (…, D, D) from D(D+1)/2 unconstrained reals v (…, D(D+1)/2), e.g. an
    encoder's outputs: the first D entries make the diagonal, the rest fill the strict lower triangle row
    by row (the order of numpy.tril_indices(D, -1)):

        L_ii = softplus(v_i) + floor                   i = 0, …, D−1
        L_ij = v_{D + i(i−1)/2 + j}                    i > j
        L_ij = 0                                       i < j

    softplus(t) = log(1 + eᵗ) maps ℝ onto (0, ∞), so L_ii > floor > 0: L is lower triangular with a positive
    diagonal, hence invertible, and Σ = L Lᵀ is symmetric positive definite (xᵀΣx = ‖Lᵀx‖² > 0 for x ≠ 0,
    det Σ = Π L_ii² ≥ floor^{2D}). Conversely every such L with L_ii > floor is reached, and Σ's Cholesky
    factor is unique, so the map covers every covariance whose factor has diagonal > floor. The floor keeps
    log L_ii and L⁻¹ finite when softplus underflows; the off-diagonal entries are free, so any correlation
    is reachable. Built in the graph (softplus, concatenate, one gather), so gradients reach v."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
        raise ValueError(f"scale_tril_from_unconstrained: dim must be a positive integer, got {dim!r}")
    if not (isinstance(floor, (int, float)) and floor >= 0 and math.isfinite(floor)):
        raise ValueError(f"scale_tril_from_unconstrained: floor must be a finite number ≥ 0, got {floor!r}")
    v = v if isinstance(v, Tensor) else _const(v, _float_dtype(np.asarray(v).dtype))
    dim, size = int(dim), int(dim) * (int(dim) + 1) // 2
    if v.ndim < 1 or v.shape[-1] != size:
        raise ValueError(f"scale_tril_from_unconstrained: v has shape {v.shape}, expected (…, {size}): D(D+1)/2 = "
                         f"{size} entries for D = {dim}")
    return scale_tril_from_parts(ops.softplus(v[..., :dim]) + floor, v[..., dim:])


def scale_tril_from_parts(diagonal, strict_lower):
    """L (…, D, D) with the given diagonal (…, D) and strict lower triangle (…, D(D−1)/2, row by row in
    numpy.tril_indices(D, -1) order), zeros above: L_ii = diagonal_i, L_ij = strict_lower_{i(i−1)/2 + j} (i > j).

    The assembly `scale_tril_from_unconstrained` uses after its softplus; for any positive diagonal (e.g.
    exp(½ log σ²) from a VAE's log-variance head) it gives a Cholesky factor. One gather in the graph, so the
    gradient of each entry of L goes back to the entry it came from."""
    d, off = (t if isinstance(t, Tensor) else _const(t, _float_dtype(np.asarray(t).dtype))
              for t in (diagonal, strict_lower))
    dim = d.shape[-1] if d.ndim else 0
    if d.ndim < 1 or off.ndim < 1 or off.shape[-1] != dim * (dim - 1) // 2:
        raise ValueError(f"scale_tril_from_parts: diagonal {d.shape} and strict_lower {off.shape} must be (…, D) and "
                         f"(…, D(D−1)/2) = (…, {dim * (dim - 1) // 2})")
    batch = np.broadcast_shapes(d.shape[:-1], off.shape[:-1])
    zero = Tensor(np.zeros(batch + (1,), np.result_type(d.dtype, off.dtype)))
    parts = [t if t.shape[:-1] == zero.shape[:-1] else ops.broadcast_to(t, zero.shape[:-1] + t.shape[-1:])
             for t in (d, off)]
    index = np.full((dim, dim), dim * (dim + 1) // 2)     # above the diagonal: the appended zero
    index[np.diag_indices(dim)] = np.arange(dim)
    index[np.tril_indices(dim, -1)] = dim + np.arange(dim * (dim - 1) // 2)
    return ops.take(ops.concatenate(parts + [zero], axis=-1), index, axis=-1)
