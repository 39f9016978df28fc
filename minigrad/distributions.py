"""Probability distributions whose samples gradients can flow through.

Two ways to draw a *reparameterized* sample z = g(noise, θ), a deterministic and differentiable
function of the parameters θ with all the randomness in a parameter-free noise variable drawn outside
the graph (so, by LOTUS, ∇_θ E_{p_θ}[f(z)] = E_noise[∇_θ f(g(noise, θ))]):

- `Normal.rsample`: the affine map z = μ + σ ⊙ ε, ε ~ N(0, I), one `GaussianReparam` node.
- the inverse-CDF method z = F⁻¹(u; θ), u ~ U(0, 1), for every distribution here with a quantile
  function: `rsample(u=None, rng=None, sample_shape=())` of Exponential, Logistic, Gumbel, Laplace,
  Cauchy, Weibull and Kumaraswamy, and `Normal.rsample_icdf` beside the affine path. Each `icdf` is an
  expression of minigrad ops in the parameters, so backward differentiates it like any other code.

`sample()` draws without recording a graph; `Bernoulli` (discrete, logits parameterization) has no
reparameterized sampler and is differentiated with the score-function estimator (see
`minigrad.estimators`). `kl_divergence(Normal, Normal)` is the closed form a VAE's KL term uses.

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
from .ops import Arctan, Digamma, Expm1, LogGamma, Ndtr, Ndtri, StandardCauchyQuantile
from .random import as_generator
from .reparam import GaussianReparam

__all__ = [
    "Distribution", "InverseCDFDistribution", "Normal", "Bernoulli", "Exponential", "Logistic", "Gumbel",
    "Laplace", "Cauchy", "Weibull", "Kumaraswamy", "kl_divergence", "uniform_open",
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


class Distribution:
    """Base class: parameters as Tensors, their broadcast `batch_shape`, a common `dtype`.

    Subclasses list their parameters in `params` and the ones that must be > 0 in `positive`."""

    params = ()
    positive = ()
    has_rsample = False

    def __init__(self, *values):
        name = type(self).__name__
        floating = [v.dtype for v in values if isinstance(v, Tensor) and v.dtype.kind == "f"]
        if floating:
            dtype = np.result_type(*floating)
        else:
            raw = [v.data if isinstance(v, Tensor) else v if type(v) in (int, float) else np.asarray(v)
                   for v in values]
            try:
                dtype = np.result_type(*raw)
            except TypeError:
                dtype = None
            if dtype is None or dtype.kind not in "biuf":
                raise TypeError(f"{name}: parameters must be real numbers, got "
                                f"{[type(v).__name__ for v in values]}")
            if dtype.kind != "f":
                dtype = np.dtype(np.float64)
        self.dtype = np.dtype(dtype)
        shapes = []
        for pname, v in zip(self.params, values):
            if not (isinstance(v, Tensor) and v.dtype.kind == "f"):
                arr = np.asarray(v.data if isinstance(v, Tensor) else v)
                if arr.dtype.kind not in "biuf":
                    raise TypeError(f"{name}: {pname} must hold real numbers, got dtype {arr.dtype}")
                v = Tensor(arr.astype(self.dtype, copy=False))
            data = v.data
            finite = np.isfinite(data)
            if not finite.all():
                raise ValueError(f"{name}: {pname} must be finite, got {_first_bad(data, finite)}")
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


def kl_divergence(p, q):
    """KL(p ‖ q) in closed form, elementwise over the batch. Implemented for two Normals:

    KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) = log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²) / (2σ₂²) − ½."""
    if isinstance(p, Normal) and isinstance(q, Normal):
        ratio = p.scale / q.scale
        diff = (p.loc - q.loc) / q.scale
        return 0.5 * (ratio * ratio + diff * diff) - ops.log(ratio) - 0.5
    raise NotImplementedError(f"kl_divergence: no closed form for {type(p).__name__} ‖ {type(q).__name__} "
                              "(implemented: Normal ‖ Normal)")


# ----------------------------------------------------------------------------------------------
# Bernoulli


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
        x = self._value(value)
        ok = (x.data >= 0) & (x.data <= 1)
        if not ok.all():
            raise ValueError(f"Bernoulli.log_prob: value must lie in [0, 1], got {_first_bad(x.data, ok)}")
        logits = self.logits
        shape = np.broadcast_shapes(logits.shape, x.shape)
        if logits.shape != shape:
            logits = ops.broadcast_to(logits, shape)
        if x.shape != shape:
            x = ops.broadcast_to(x, shape)
        return -ops.BinaryCrossEntropyWithLogits.apply(logits, x)

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
