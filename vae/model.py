"""The Variational Autoencoder, written the way the lecture draws it.

    x ──encoder──▶ (μ_φ(x), log σ²_φ(x))                  q_φ(z|x) = N(z; μ_φ(x), diag σ²_φ(x))
    ε ~ N(0, I), drawn from a numpy Generator outside the graph
    z = g(ε, φ) = μ_φ(x) + σ_φ(x) ⊙ ε                     one GaussianReparam node; ε is a constant
    z ──decoder──▶ Bernoulli logits (or a Gaussian mean)   p_θ(x|z)
    J_θ(q_φ) = E_{q_φ(z|x)}[log p_θ(x|z)] − D_KL(q_φ(z|x) ‖ p(z)),  p(z) = N(0, I)      the ELBO

Training is gradient ascent on J (φ ← φ + α ∇_φ J, θ ← θ + α ∇_θ J; here Adam on the loss −J). Sampling
z ~ q_φ(z|x) directly would cut the path from the loss back to φ; writing z = μ + σ ⊙ ε with ε independent
of φ turns the expectation over q_φ into one over ε (LOTUS), so ∇_φ moves inside it and the Monte-Carlo
estimate (1/M) Σ_j ∇_φ log p_θ(x | μ_φ(x) + σ_φ(x) ⊙ ε⁽ʲ⁾) is an ordinary backward pass.

Everything here is minigrad ops. The KL to the prior and the Gaussian log-densities are the closed forms
below, not minigrad.distributions.Normal: they take log σ² as the encoder outputs it and stay finite where
σ = exp(½ log σ²) under- or overflows and Normal (parameterized by σ, validated) would refuse it, turning
the trainer's non-finite diagnosis into a ValueError (speed is no reason: both cost the same per step).
tests/test_vae_model.py checks that the two agree to float64 round-off.
"""

import json
import math
from collections import namedtuple

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.nn.functional import binary_cross_entropy_with_logits
from minigrad.random import as_generator

from .errors import CheckpointError
from .io import load_npz, save_npz

__all__ = ["VAE", "ELBO", "kl_to_standard_normal", "gaussian_log_prob", "standard_normal_log_prob"]

LOG_2PI = math.log(2.0 * math.pi)
LIKELIHOODS = ("bernoulli", "gaussian")
ACTIVATIONS = ("tanh", "relu")
KL_ESTIMATORS = ("analytic", "mc")
# Learned Gaussian observation noise is kept at σ_x ≥ 0.01: pixels that never vary (the blank border of
# the digits) would otherwise drive σ_x → 0 and the density to +∞.
MIN_OBS_LOGVAR = math.log(0.01 ** 2)
# IWAE: how many floats one chunk of samples may hold per layer (≈ 16 MB in float32).
IWAE_CHUNK_ELEMENTS = 1 << 22

ELBO = namedtuple("ELBO", ["elbo", "reconstruction", "kl"])
ELBO.__doc__ = """Per-example terms of the evidence lower bound, in nats (tensors of shape (B,)):
elbo = reconstruction − kl, reconstruction ≈ E_{q_φ(z|x)}[log p_θ(x|z)], kl = KL(q_φ(z|x) ‖ N(0, I))."""


# ----------------------------------------------------------------------------------------------
# Closed forms, as minigrad expressions (their gradients come from the engine)

def kl_to_standard_normal(mu, logvar, sigma=None):
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_d (μ_d² + σ_d² − 1 − log σ_d²), summed over the last axis.

    `sigma` (= exp(½ log σ²)) may be passed when it is already in the graph, to reuse it."""
    var = sigma * sigma if sigma is not None else mg.exp(logvar)
    return 0.5 * (mu * mu + var - 1.0 - logvar).sum(axis=-1)


def gaussian_log_prob(x, mean, logvar):
    """log N(x; mean, diag exp(logvar)) = −½ Σ_d [log 2π + log σ_d² + (x_d − mean_d)² / σ_d²]."""
    diff = x - mean
    d = diff.shape[-1]
    return -0.5 * ((diff * diff) * mg.exp(-logvar) + logvar).sum(axis=-1) - 0.5 * d * LOG_2PI


def standard_normal_log_prob(z):
    """log N(z; 0, I) = −½ Σ_d (z_d² + log 2π)."""
    return -0.5 * (z * z).sum(axis=-1) - 0.5 * z.shape[-1] * LOG_2PI


# ----------------------------------------------------------------------------------------------

class VAE(nn.Module):
    """A VAE with MLP encoder and decoder and a Gaussian latent space.

    input_dim   D, the length of one data vector x
    hidden_dims sizes of the hidden layers of the encoder; the decoder mirrors them
    latent_dim  d, the length of z
    likelihood  "bernoulli": the decoder outputs logits of p_θ(x|z) = Π Bernoulli(x_i; σ(logit_i)), for
                data in [0, 1]; "gaussian": it outputs the mean of N(x; mean, diag σ_x²)
    obs_std     Gaussian only: "learned" (one log σ_x² per dimension, a parameter, σ_x ≥ 0.01) or a fixed
                positive σ_x
    activation  "tanh" or "relu" for the hidden layers
    dtype       float32 (default) or float64; parameters, data and ε all use it
    rng         numpy Generator or int seed for the initial weights
    """

    def __init__(self, input_dim, hidden_dims=(400,), latent_dim=2, likelihood="bernoulli", activation="tanh",
                 dtype=np.float32, rng=None, obs_std="learned"):
        hidden_dims = (hidden_dims,) if isinstance(hidden_dims, (int, np.integer)) else tuple(hidden_dims)
        for name, value in (("input_dim", input_dim), ("latent_dim", latent_dim)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"VAE: {name} must be a positive integer, got {value!r}")
        if not hidden_dims or not all(isinstance(h, (int, np.integer)) and h >= 1 for h in hidden_dims):
            raise ValueError(f"VAE: hidden_dims must be one or more positive integers, got {hidden_dims!r}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"VAE: likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"VAE: activation must be one of {ACTIVATIONS}, got {activation!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"VAE: dtype must be float32 or float64, got {dtype}")
        if likelihood == "gaussian" and obs_std != "learned":
            if not isinstance(obs_std, (int, float)) or not (obs_std > 0 and math.isfinite(obs_std)):
                raise ValueError(f"VAE: obs_std must be 'learned' or a positive number, got {obs_std!r}")
            obs_std = float(obs_std)
        rng = as_generator(rng, "VAE")

        self.input_dim, self.hidden_dims, self.latent_dim = int(input_dim), tuple(int(h) for h in hidden_dims), \
            int(latent_dim)
        self.likelihood, self.activation, self.dtype = likelihood, activation, dtype
        self.obs_std = obs_std if likelihood == "gaussian" else None
        h = self.hidden_dims
        # Encoder q_φ(z|x): a trunk, then two linear heads for μ_φ(x) and log σ²_φ(x).
        self.encoder = nn.MLP([self.input_dim, *h], activation, output_activation=activation, dtype=dtype, rng=rng)
        init = "he" if activation == "relu" else "glorot"
        self.enc_mu = nn.Linear(h[-1], self.latent_dim, dtype=dtype, rng=rng, init=init)
        self.enc_logvar = nn.Linear(h[-1], self.latent_dim, dtype=dtype, rng=rng, init=init)
        # Decoder p_θ(x|z): the mirror image, ending in logits (Bernoulli) or the mean (Gaussian).
        self.decoder = nn.MLP([self.latent_dim, *reversed(h), self.input_dim], activation, dtype=dtype, rng=rng)
        if likelihood == "gaussian" and obs_std == "learned":
            self.obs_logvar = nn.Parameter(np.zeros(self.input_dim), dtype=dtype)

    # -- configuration, for save/load and checkpoints
    def config(self):
        return {"input_dim": self.input_dim, "hidden_dims": list(self.hidden_dims), "latent_dim": self.latent_dim,
                "likelihood": self.likelihood, "activation": self.activation, "dtype": self.dtype.name,
                "obs_std": self.obs_std}

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.config().items() if v is not None)

    # -- the pieces of the lecture's data flow, in the graph
    def _input(self, x, where):
        data = x.data if isinstance(x, mg.Tensor) else np.asarray(x)
        if data.ndim != 2 or data.shape[1] != self.input_dim:
            raise ValueError(f"VAE.{where}: expected x of shape (batch, {self.input_dim}), got {data.shape}")
        if data.dtype.kind not in "fiub":
            raise TypeError(f"VAE.{where}: x must be numeric, got dtype {data.dtype}")
        data = data.astype(self.dtype, copy=False)
        if data.dtype.kind == "f" and np.isnan(data.sum()):    # one reduction; the search only on failure
            nan = np.argwhere(np.isnan(data))
            if len(nan):
                raise ValueError(f"VAE.{where}: x holds NaN ({len(nan)} values, the first at row {nan[0][0]}, "
                                 f"column {nan[0][1]})")
        return data

    def encoder_params(self, x):
        """(μ_φ(x), log σ²_φ(x)), tensors of shape (B, d) in the graph."""
        h = self.encoder(x)
        return self.enc_mu(h), self.enc_logvar(h)

    def decoder_params(self, z):
        """The decoder's output for z of shape (..., d): Bernoulli logits or the Gaussian mean, (..., D)."""
        return self.decoder(z)

    def _obs_logvar(self):
        if self.obs_std is None:
            return None
        if self.obs_std == "learned":
            return mg.clip(self.obs_logvar, MIN_OBS_LOGVAR, None)
        return mg.Tensor(np.full(self.input_dim, 2 * math.log(self.obs_std), dtype=self.dtype))

    def log_likelihood(self, x, out):
        """log p_θ(x|z) summed over the D dimensions, for the decoder output `out` of shape (..., B, D);
        x (an ndarray (B, D)) is broadcast over any leading sample axis."""
        target = x if out.shape == x.shape else np.broadcast_to(x, out.shape)
        if self.likelihood == "bernoulli":
            return -binary_cross_entropy_with_logits(out, target, reduction="none").sum(axis=-1)
        return gaussian_log_prob(target, out, self._obs_logvar())

    def _eps(self, eps, rng, n_samples, batch, where):
        """ε ~ N(0, I) of shape (B, d) for one sample or (M, B, d) for M, from rng — or the one given."""
        shape = (batch, self.latent_dim)
        if eps is None:
            if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
                raise ValueError(f"VAE.{where}: n_samples must be a positive integer, got {n_samples!r}")
            rng = as_generator(rng, f"VAE.{where}")
            return rng.standard_normal(shape if n_samples == 1 else (int(n_samples), *shape), dtype=self.dtype)
        eps = np.asarray(eps.data if isinstance(eps, mg.Tensor) else eps)
        if eps.shape != shape and eps.shape[1:] != shape:
            raise ValueError(f"VAE.{where}: eps has shape {eps.shape}, expected {shape} or (M, *{shape})")
        return eps.astype(self.dtype, copy=False)

    def elbo(self, x, n_samples=1, kl="analytic", rng=None, eps=None):
        """The ELBO of each example of x (B, D), as ELBO(elbo, reconstruction, kl) of (B,) tensors in nats.

        reconstruction = (1/M) Σ_j log p_θ(x | z⁽ʲ⁾) with z⁽ʲ⁾ = μ_φ(x) + σ_φ(x) ⊙ ε⁽ʲ⁾, ε⁽ʲ⁾ ~ N(0, I)
        kl = "analytic": ½ Σ_d (μ² + σ² − 1 − log σ²);  "mc": (1/M) Σ_j [log q_φ(z⁽ʲ⁾|x) − log N(z⁽ʲ⁾; 0, I)]

        ε is drawn from `rng` (a numpy Generator) outside the graph, M = n_samples at a time, or passed
        as `eps` of shape (B, d) or (M, B, d) (then n_samples is ignored). −elbo.mean() is the training
        loss; its gradient is the reparameterized Monte-Carlo gradient of the lecture."""
        if kl not in KL_ESTIMATORS:
            raise ValueError(f"VAE.elbo: kl must be one of {KL_ESTIMATORS}, got {kl!r}")
        x = self._input(x, "elbo")
        eps = self._eps(eps, rng, n_samples, len(x), "elbo")
        mu, logvar = self.encoder_params(x)                  # q_φ(z|x)
        sigma = mg.exp(0.5 * logvar)                         # σ = exp(½ log σ²)
        z = mg.GaussianReparam.apply(mu, sigma, eps)         # z = μ + σ ⊙ ε, ε a constant
        out = self.decoder_params(z)                         # p_θ(x|z)
        reconstruction = self.log_likelihood(x, out)         # (B,) or (M, B)
        if kl == "analytic":
            kl_term = kl_to_standard_normal(mu, logvar, sigma)
        else:
            kl_term = gaussian_log_prob(z, mu, logvar) - standard_normal_log_prob(z)
        if eps.ndim == 3:                                    # 1/M Σ_j over the sample axis
            reconstruction = reconstruction.mean(axis=0)
            if kl == "mc":
                kl_term = kl_term.mean(axis=0)
        return ELBO(reconstruction - kl_term, reconstruction, kl_term)

    # -- the importance-weighted bound, no graph
    def _log_weights(self, x, mu, logvar, sigma, eps):
        """log w = log p_θ(x|z) + log p(z) − log q_φ(z|x) for z = μ + σ ⊙ ε, as a float64 (M, B) array."""
        z = mg.GaussianReparam.apply(mu, sigma, eps)
        lw = self.log_likelihood(x, self.decoder_params(z)) + standard_normal_log_prob(z) \
            - gaussian_log_prob(z, mu, logvar)
        return lw.data.astype(np.float64)

    def log_importance_weights(self, x, k, rng):
        """All k log importance weights of each example, a float64 array (k, B) (for small k)."""
        with mg.no_grad():
            x = self._input(x, "log_importance_weights")
            eps = self._eps(None, rng, k, len(x), "log_importance_weights")
            eps = eps if eps.ndim == 3 else eps[None]
            mu, logvar = self.encoder_params(x)
            return self._log_weights(x, mu, logvar, mg.exp(0.5 * logvar), eps)

    def iwae_bound(self, x, k, rng=None, chunk_size=None):
        """The importance-weighted bound of each example (Burda et al. 2015), a float64 (B,) tensor:

            L_k(x) = log (1/k) Σ_i w_i,  w_i = p_θ(x|z_i) p(z_i) / q_φ(z_i|x),  z_i ~ q_φ(z|x),

        with E[L_1] = ELBO ≤ E[L_k] ≤ E[L_{k+1}] ≤ log p(x). The k samples are taken in chunks (about
        IWAE_CHUNK_ELEMENTS floats per layer, or `chunk_size` samples) and combined with a running,
        max-shifted logsumexp, so k = 5,000 needs no more memory than one chunk. No graph is recorded."""
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"VAE.iwae_bound: k must be a positive integer, got {k!r}")
        rng = as_generator(rng, "VAE.iwae_bound")
        with mg.no_grad():
            x = self._input(x, "iwae_bound")
            batch = len(x)
            if chunk_size is None:
                widest = max(self.input_dim, *self.hidden_dims)
                chunk_size = max(1, IWAE_CHUNK_ELEMENTS // (batch * widest))
            mu, logvar = self.encoder_params(x)
            sigma = mg.exp(0.5 * logvar)
            m = s = None
            for start in range(0, k, chunk_size):
                n = min(chunk_size, k - start)
                eps = rng.standard_normal((n, batch, self.latent_dim), dtype=self.dtype)
                lw = self._log_weights(x, mu, logvar, sigma, eps)
                top = lw.max(axis=0)
                if m is None:
                    m, s = top, np.exp(lw - top).sum(axis=0)
                else:                                            # rescale the running sum to the new max
                    new = np.maximum(m, top)
                    s = s * np.exp(m - new) + np.exp(lw - new).sum(axis=0)
                    m = new
            return mg.Tensor(m + np.log(s) - math.log(k))

    # -- helpers that return arrays (no graph)
    def encode(self, x):
        """(μ_φ(x), σ_φ(x)) as arrays of shape (B, d)."""
        with mg.no_grad():
            mu, logvar = self.encoder_params(self._input(x, "encode"))
            return mu.data, np.exp(0.5 * logvar.data)

    def decode(self, z):
        """The mean of p_θ(x|z) for z of shape (..., d): pixel probabilities σ(logits) (Bernoulli) or the
        Gaussian mean, as an array (..., D)."""
        z = np.asarray(z.data if isinstance(z, mg.Tensor) else z, dtype=self.dtype)
        if z.shape[-1:] != (self.latent_dim,):
            raise ValueError(f"VAE.decode: expected z with last dimension {self.latent_dim}, got {z.shape}")
        with mg.no_grad():
            out = self.decoder_params(z)
            return mg.sigmoid(out).data if self.likelihood == "bernoulli" else out.data

    def reconstruct(self, x, rng=None):
        """decode(encode(x)): the decoder's mean at z = μ_φ(x), or at a sampled z = μ + σ ⊙ ε when a
        Generator `rng` is given."""
        mu, sigma = self.encode(x)
        if rng is not None:
            mu = mu + sigma * as_generator(rng, "VAE.reconstruct").standard_normal(mu.shape, dtype=self.dtype)
        return self.decode(mu)

    def sample(self, n, rng):
        """n draws from the model: z ~ N(0, I) from the Generator `rng`, returned as decode(z), (n, D)."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"VAE.sample: n must be a positive integer, got {n!r}")
        z = as_generator(rng, "VAE.sample").standard_normal((int(n), self.latent_dim), dtype=self.dtype)
        return self.decode(z)

    # -- persistence
    def save(self, path):
        """Write the configuration and parameters to one .npz, atomically (temp file + os.replace)."""
        arrays = {f"param/{name}": value for name, value in self.state_dict().items()}
        save_npz(path, arrays, {"format": "vae-model", "version": 1, "config": self.config()})

    @classmethod
    def from_state(cls, config, params, source):
        """A model from a config dict and {name: array}; CheckpointError naming `source` on mismatch."""
        try:
            model = cls(**config, rng=0)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{source}: invalid model configuration {json.dumps(config)}: {e}") from None
        try:
            model.load_state_dict(params)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{source}: the parameters do not match the model: {e}") from None
        return model

    @classmethod
    def load(cls, path):
        """The model saved at `path` by save() (or the model inside a training checkpoint)."""
        arrays, meta = load_npz(path, "model")
        if meta.get("format") not in ("vae-model", "vae-checkpoint") or not isinstance(meta.get("config"), dict):
            raise CheckpointError(f"{path}: not a vae model file (format {meta.get('format')!r})")
        config = meta["config"] if meta["format"] == "vae-model" else meta["config"].get("model")
        params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        return cls.from_state(config, params, path)
