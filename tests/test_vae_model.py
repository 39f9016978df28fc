"""The VAE model: ELBO values and gradients, the IWAE bound, the KL estimators, helpers, save/load."""

import math
import os

import numpy as np
import pytest
from scipy.special import expit, logsumexp

import minigrad as mg
from vae import VAE, CheckpointError
from vae.data import load_digits


def small_vae(likelihood="bernoulli", dtype=np.float64, seed=0, **kwargs):
    return VAE(6, [5], 2, likelihood=likelihood, dtype=dtype, rng=seed, **kwargs)


def binary_data(n, d, seed=1):
    return (np.random.default_rng(seed).random((n, d)) < 0.4).astype(np.float64)


@pytest.fixture(scope="module")
def digits64():
    return load_digits(dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# The ELBO's value, computed independently in NumPy

def numpy_elbo(model, x, eps):
    """The same ELBO from the model's weights with plain NumPy (float64), analytic KL."""
    w = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    act = np.tanh if model.activation == "tanh" else (lambda a: np.maximum(a, 0))
    h = act(x @ w["encoder.0.weight"].T + w["encoder.0.bias"])
    mu = h @ w["enc_mu.weight"].T + w["enc_mu.bias"]
    logvar = h @ w["enc_logvar.weight"].T + w["enc_logvar.bias"]
    z = mu + np.exp(0.5 * logvar) * eps
    out = act(z @ w["decoder.0.weight"].T + w["decoder.0.bias"]) @ w["decoder.2.weight"].T + w["decoder.2.bias"]
    if model.likelihood == "bernoulli":
        p = expit(out)
        rec = (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(-1)
    else:
        lv = np.maximum(w["obs_logvar"], math.log(1e-4))
        rec = (-0.5 * (np.log(2 * np.pi) + lv + (x - out) ** 2 / np.exp(lv))).sum(-1)
    rec = rec.mean(0) if eps.ndim == 3 else rec
    kl = 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar).sum(-1)
    return rec - kl, rec, kl


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("n_samples", [1, 3])
def test_elbo_matches_a_numpy_computation(likelihood, n_samples):
    model = small_vae(likelihood)
    if likelihood == "gaussian":                 # a non-trivial learned variance
        model.obs_logvar.data[:] = np.linspace(-1.0, 0.5, 6)
    x = binary_data(4, 6)
    shape = (4, 2) if n_samples == 1 else (n_samples, 4, 2)
    eps = np.random.default_rng(2).standard_normal(shape)
    out = model.elbo(x, eps=eps)
    expected = numpy_elbo(model, x, eps)
    for got, want in zip(out, expected):
        assert got.shape == (4,)
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.elbo.data, out.reconstruction.data - out.kl.data, rtol=1e-14)


def test_learned_observation_noise_is_floored_at_sigma_0_01():
    """σ_x ≥ 0.01 (log σ_x² ≥ log 1e-4): log-variances below the floor give the ELBO of the floor (the NumPy
    reference clips at log 1e-4 itself) and no gradient; those above it are used as they are."""
    model = small_vae("gaussian")
    floor = math.log(1e-4)
    model.obs_logvar.data[:] = [floor - 10.0, floor - 1.0, floor - 1e-3, floor + 1e-3, -1.0, 0.5]
    x = np.random.default_rng(3).normal(size=(4, 6))
    eps = np.random.default_rng(2).standard_normal((4, 2))
    out = model.elbo(x, eps=eps)
    np.testing.assert_allclose(out.reconstruction.data, numpy_elbo(model, x, eps)[1], rtol=1e-12, atol=1e-12)
    out.elbo.sum().backward()
    grad = model.obs_logvar.grad
    assert np.all(grad[:3] == 0) and np.all(grad[3:] != 0), grad


def test_elbo_draws_eps_from_the_generator():
    model, x = small_vae(), binary_data(4, 6)
    a = model.elbo(x, n_samples=3, rng=np.random.default_rng(7))
    eps = np.random.default_rng(7).standard_normal((3, 4, 2))
    np.testing.assert_array_equal(a.elbo.data, model.elbo(x, eps=eps).elbo.data)
    assert not np.array_equal(a.elbo.data, model.elbo(x, n_samples=3, rng=np.random.default_rng(8)).elbo.data)


# ----------------------------------------------------------------------------------------------
# Gradients: the reparameterized ELBO with ε fixed is a deterministic function of θ, φ

@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("kl", ["analytic", "mc"])
def test_elbo_gradient_passes_gradcheck(likelihood, kl):
    model = small_vae(likelihood, seed=3)
    x = binary_data(4, 6, seed=4) if likelihood == "bernoulli" else np.random.default_rng(4).normal(size=(4, 6))
    eps = np.random.default_rng(5).standard_normal((2, 4, 2))         # fixed ε, two samples per example
    params = model.parameters()
    assert len(params) == (11 if likelihood == "gaussian" else 10)     # the learned σ_x is checked too
    assert mg.gradcheck(lambda *_: model.elbo(x, kl=kl, eps=eps).elbo, params, atol=1e-6, rtol=1e-5)


def test_relu_elbo_gradient_passes_gradcheck():
    model = small_vae(activation="relu", seed=6)
    x, eps = binary_data(3, 6, seed=7), np.random.default_rng(8).standard_normal((3, 2))
    assert mg.gradcheck(lambda *_: model.elbo(x, eps=eps).elbo, model.parameters(), atol=1e-6, rtol=1e-5)


def test_float32_stays_float32():
    model = VAE(6, [5], 2, rng=0)
    x = binary_data(4, 6)                       # float64 data is cast to the model's dtype
    out = model.elbo(x, rng=np.random.default_rng(0))
    assert all(t.dtype == np.float32 for t in out)
    (-out.elbo.mean()).backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


# ----------------------------------------------------------------------------------------------
# KL: closed form vs Monte Carlo

def test_analytic_and_mc_kl_agree_in_expectation():
    """The MC estimate log q(z|x) − log p(z), z ~ q, averaged over N = 50,000 draws, lies within 4.5
    standard errors of the closed form for each of 6 examples (false-failure chance < 1e-4), and N is large
    enough that an estimator biased by 5 % would be caught with probability ≥ 99 % ((4.5 + 2.326) SE ≤ 5 %)."""
    model = small_vae(seed=9)
    model.enc_logvar.bias.data[:] = [-1.5, 0.8]      # σ far from 1 in one dimension, above 1 in the other
    model.enc_mu.bias.data[:] = [0.7, -1.2]
    x = binary_data(6, 6, seed=10)
    n = 50_000                                       # 20,000 caught only a 7 % bias in every example
    mc = model.elbo(x, n_samples=n, kl="mc", rng=np.random.default_rng(11))
    analytic = model.elbo(x, n_samples=1, kl="analytic", rng=np.random.default_rng(11)).kl.data
    assert analytic.min() > 1.0                      # a KL that is far from 0
    # per-draw values, for the standard error
    eps = np.random.default_rng(11).standard_normal((n, 6, 2))
    mu, sigma = model.encode(x)
    z = mu + sigma * eps
    per_draw = (-0.5 * eps ** 2 - np.log(sigma)).sum(-1) + 0.5 * (z ** 2).sum(-1)
    np.testing.assert_allclose(per_draw.mean(0), mc.kl.data, rtol=1e-10)     # the MC estimator itself
    se = per_draw.std(0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(mc.kl.data - analytic) < 4.5 * se), (mc.kl.data, analytic, se)
    # …and the comparison has teeth: an estimator off by 5 % would be (4.5 + 2.326) standard errors away
    assert np.all(0.05 * analytic >= (4.5 + 2.326) * se), 0.05 * analytic / se


# ----------------------------------------------------------------------------------------------
# The importance-weighted bound

def stiff_model(seed=0):
    """A model whose decoder depends strongly on z while the encoder is untrained: q(z|x) is far from the
    true posterior, so the IWAE bound visibly tightens with k."""
    model = VAE(64, [32], 2, dtype=np.float64, rng=seed)
    model.decoder[0].weight.data *= 3
    model.decoder[2].weight.data *= 3
    return model


def test_iwae_is_a_chunked_stable_logmeanexp_of_the_log_weights(digits64):
    model, x = stiff_model(), digits64.test[:5]
    lw = model.log_importance_weights(x, 50, rng=np.random.default_rng(3))
    assert lw.shape == (50, 5) and lw.dtype == np.float64
    expected = logsumexp(lw, axis=0) - math.log(50)
    for chunk in (None, 7, 50):                  # the same ε stream, combined in chunks of 7
        got = model.iwae_bound(x, 50, rng=np.random.default_rng(3), chunk_size=chunk).data
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.all(expected >= lw.mean(axis=0))   # Jensen, sample by sample
    # stable where a naive log(mean(exp(log w))) underflows to log 0: 2,000 pixels give log w < −1000
    wide, xw = VAE(2000, [8], 2, dtype=np.float64, rng=0), binary_data(3, 2000)
    lw = wide.log_importance_weights(xw, 20, rng=np.random.default_rng(4))
    assert lw.max() < -1000 and np.all(np.exp(lw) == 0)
    got = wide.iwae_bound(xw, 20, rng=np.random.default_rng(4), chunk_size=6).data
    np.testing.assert_allclose(got, logsumexp(lw, axis=0) - math.log(20), rtol=1e-12)


def test_iwae_is_exact_when_q_is_the_true_posterior():
    """If the decoder ignores z, the true posterior is the prior; with q(z|x) = N(0, I) every importance
    weight equals p(x), so ELBO = IWAE_k = log p(x) = Σ log Bernoulli(x; σ(b)) exactly, for every k."""
    model = VAE(6, [5], 2, dtype=np.float64, rng=0)
    for layer in (model.enc_mu, model.enc_logvar):
        layer.weight.data[:] = 0
        layer.bias.data[:] = 0
    model.decoder[2].weight.data[:] = 0
    model.decoder[2].bias.data[:] = np.linspace(-2, 2, 6)
    x = binary_data(4, 6)
    p = expit(np.linspace(-2, 2, 6))
    log_px = (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(-1)
    rng = np.random.default_rng(0)
    for k in (1, 10, 1000):
        np.testing.assert_allclose(model.iwae_bound(x, k, rng=rng).data, log_px, rtol=1e-12)
    np.testing.assert_allclose(model.elbo(x, rng=rng).elbo.data, log_px, rtol=1e-12)


def test_elbo_below_iwae_and_iwae_increases_with_k(digits64):
    """Over 200 test digits (seed 12). (a) IWAE_1 has the ELBO's expectation: the mean over digits of
    (IWAE_1 averaged over 20 draws) − (ELBO with 100 samples) is within 4 standard errors of 0, and the SE
    is small enough that a bias of 5 % of |ELBO| (≈ 2.8 nats) would be caught with probability ≥ 99 %
    ((4 + 2.326) SE ≤ 0.05 |ELBO|). (b) IWAE_k increases with k in expectation: the mean gain over digits of
    IWAE_k − IWAE_k' is above 4 standard errors for k' = 1 (the ELBO) < k = 10 < 100; measured, the gains are
    35 and 7.7 SE, so a correct IWAE never fails here, and an IWAE that does not improve with k (one that
    uses only one of its k samples, say) fails with probability ≥ 1 − 3e-5."""
    model, x = stiff_model(), digits64.test[:200]
    rng = np.random.default_rng(12)
    elbo = model.elbo(x, n_samples=100, rng=rng).elbo.data        # analytic KL, 100 samples: low noise
    bounds = {k: model.iwae_bound(x, k, rng=rng).data for k in (1, 10, 100)}
    iwae1 = np.mean([bounds[1]] + [model.iwae_bound(x, 1, rng=rng).data for _ in range(19)], axis=0)
    n = len(x)
    diff = iwae1 - elbo
    se = diff.std(ddof=1) / math.sqrt(n)
    assert abs(diff.mean()) < 4 * se, (diff.mean(), se)
    assert (4 + 2.326) * se <= 0.05 * abs(elbo.mean()), (se, elbo.mean())
    previous = elbo
    for k in (10, 100):
        gain = bounds[k] - previous
        assert gain.mean() > 4 * gain.std(ddof=1) / math.sqrt(n), (k, gain.mean(), gain.std())
        previous = bounds[k]


def test_iwae_k5000_is_computed_in_chunks_of_bounded_memory():
    import tracemalloc

    model = VAE(784, [16], 2, rng=0)            # float32; 10 examples × 5,000 samples × 784 pixels
    x = binary_data(10, 784).astype(np.float32)
    tracemalloc.start()
    try:
        bound = model.iwae_bound(x, 5000, rng=np.random.default_rng(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert bound.shape == (10,) and np.all(np.isfinite(bound.data))
    # all 50,000 decoder outputs at once would take 157 MB per array; chunks keep it to a few of 16 MB
    assert peak < 120e6, peak / 1e6


# ----------------------------------------------------------------------------------------------
# Helpers and validation

def test_encode_decode_reconstruct_sample_shapes_and_seeds():
    model = VAE(6, [5], 3, rng=0)
    x = binary_data(4, 6)
    mu, sigma = model.encode(x)
    assert mu.shape == sigma.shape == (4, 3) and np.all(sigma > 0)
    probs = model.decode(mu)
    assert probs.shape == (4, 6) and probs.min() >= 0 and probs.max() <= 1
    np.testing.assert_array_equal(model.reconstruct(x), probs)
    a = model.reconstruct(x, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, model.reconstruct(x, rng=np.random.default_rng(1)))
    assert not np.array_equal(a, probs)
    s = model.sample(7, rng=np.random.default_rng(2))
    assert s.shape == (7, 6)
    np.testing.assert_array_equal(s, model.sample(7, rng=np.random.default_rng(2)))
    np.testing.assert_array_equal(s, model.decode(np.random.default_rng(2).standard_normal((7, 3), np.float32)))


def test_bad_arguments_are_rejected_clearly():
    model, x = small_vae(), binary_data(4, 6)
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, 6\)"):
        model.elbo(x[:, :5], rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        model.elbo(x)
    with pytest.raises(ValueError, match="eps has shape"):
        model.elbo(x, eps=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="kl must be one of"):
        model.elbo(x, kl="exact", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        model.iwae_bound(x, 0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="likelihood"):
        VAE(6, [5], 2, likelihood="poisson")
    with pytest.raises(ValueError, match="hidden_dims"):
        VAE(6, [], 2)


# ----------------------------------------------------------------------------------------------
# save / load

@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_save_load_round_trip(tmp_path, likelihood):
    model = VAE(6, [5, 4], 3, likelihood=likelihood, activation="relu", rng=0)
    for p in model.parameters():                 # make every parameter distinctive
        p.data += np.random.default_rng(1).normal(size=p.shape).astype(p.dtype)
    path = tmp_path / "model.npz"
    model.save(path)
    model.save(path)                             # overwriting works and leaves no temporary file behind
    assert os.listdir(tmp_path) == ["model.npz"]
    loaded = VAE.load(path)
    assert loaded.config() == model.config()
    for (name, a), (name2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert name == name2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    x = binary_data(4, 6)
    eps = np.random.default_rng(2).standard_normal((4, 3))
    np.testing.assert_array_equal(model.elbo(x, eps=eps).elbo.data, loaded.elbo(x, eps=eps).elbo.data)


def test_load_rejects_missing_corrupted_and_mismatched_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such model file"):
        VAE.load(tmp_path / "absent.npz")
    path = tmp_path / "model.npz"
    VAE(6, [5], 2, rng=0).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"{path}: not a readable model file"):
        VAE.load(path)
    np.savez(path, meta=np.array('{"format": "vae-model", "config": {"input_dim": 6, "hidden_dims": [5], '
                                 '"latent_dim": 2}}'), **{"param/encoder.0.weight": np.zeros((5, 7))})
    with pytest.raises(CheckpointError, match="do not match the model"):
        VAE.load(path)


def test_closed_forms_agree_with_minigrad_distributions():
    """vae.model keeps its own closed forms in log σ² (see its docstring); on float64 inputs where σ is
    representable they equal minigrad.distributions.Normal's, values and gradients, to round-off
    (rtol 1e-12; the terms are sums of 5 numbers of size ≤ 100, so round-off is ≈ 1e-14 relative)."""
    from minigrad.distributions import Normal, kl_divergence
    from vae.model import gaussian_log_prob, kl_to_standard_normal, standard_normal_log_prob

    rng = np.random.default_rng(0)
    mu0, logvar0, x0 = rng.normal(size=(3, 7, 5)) * [[[2.0]], [[3.0]], [[2.0]]]
    std = Normal(np.zeros(()), np.ones(()))

    def both(ours, theirs):
        results = []
        for fn in (ours, theirs):
            mu, logvar = mg.tensor(mu0, requires_grad=True), mg.tensor(logvar0, requires_grad=True)
            value = fn(mu, logvar)
            value.sum().backward()
            results.append((value.data, mu.grad, logvar.grad))
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

    both(lambda mu, lv: kl_to_standard_normal(mu, lv),
         lambda mu, lv: kl_divergence(Normal(mu, mg.exp(0.5 * lv)), std).sum(axis=-1))
    both(lambda mu, lv: gaussian_log_prob(x0, mu, lv),
         lambda mu, lv: Normal(mu, mg.exp(0.5 * lv)).log_prob(x0).sum(axis=-1))
    both(lambda mu, lv: standard_normal_log_prob(mu) + 0 * lv.sum(axis=-1),
         lambda mu, lv: std.log_prob(mu).sum(axis=-1) + 0 * lv.sum(axis=-1))
