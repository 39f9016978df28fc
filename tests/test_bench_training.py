"""benchmarks/bench_training.py: the smoke run (PNG, table rows, the runner picks it up), same seeds → same
numbers, the reparameterized runs are exactly `python -m vae train --samples M`, the score-function surrogate
is unbiased (and plausible slips are caught by the same check), and PyTorch trained from the same weights,
minibatches and ε agrees with minigrad to float32 rounding.

Unbiasedness check ("within 4 SE"): on a tiny float64 VAE, N paired single-sample gradients of
Σ_x E_q[log p_θ(x|z)] w.r.t. EVERY parameter (encoder φ and decoder θ) are taken with the same ε once from
the surrogate and once from the pathwise (reparameterized) objective, in batches whose means are i.i.d.; for
each parameter component the mean difference d̄ must satisfy |d̄| ≤ 4 SE (SE from the batch means). For an
unbiased surrogate E[d] = 0 and a component fails with probability ≈ 6e-5 (CLT); the seeds are fixed, so the
outcome is deterministic. N is sized by the effect to detect (N_GRAD): the difference projected on the true
encoder gradient g must be within 4 SE of 0 with (4 + 2.326) SE ≤ 5 % of ‖g‖, so a 5 % bias of the encoder's
gradient is caught with ≥ 99 % power — 1,000,000 estimates at M = 1, 50,000 at M = 2 with the leave-one-out
baseline (the plain-mean baseline there is a 50 % bias). The planted slips (wrong sign, f not detached, z not
detached) are gross: 20,000 estimates put them more than 20 SE away.

PyTorch agreement: after one epoch (15 Adam steps) from the same weights, minibatches and ε, the train and
test ELBOs agree to a relative 1e-6 (TORCH_RTOL, ≈ 8 float32 ulps; measured 6e-11 and 5.5e-9); negating the ε
of one minibatch moves the test ELBO by 2e-5, which the tolerance tells apart.
"""

import contextlib
import dataclasses
import io
import math
import os
import struct

import numpy as np
import pytest
from helpers import PNG_MAGIC, table_rows

from benchmarks import bench_training as bt
from vae.model import VAE, gaussian_log_prob
from vae.train import TrainConfig, start_run, train

TINY = bt.Settings(epochs=2, reparam_samples=(1, 5), score_runs=((1, None), (3, "loo")), eval_samples=2)
# Paired single-sample gradients per unbiasedness check, as (batches, estimates per batch), by the number of
# samples per estimate (None: one, (B, d) ε): sized so that a 5 % bias of the encoder's gradient is caught
# with 99 % power; measured, that needs 0.77 M single-sample estimates at M = 1 and 25,000 at M = 2 (LOO).
N_GRAD = {None: (100, 10_000), 2: (100, 500)}
N_GRAD_PLANTED = (20, 1000)      # the planted slips are gross: 20,000 estimates show them at > 20 SE
TORCH_RTOL = 1e-6                # |Δ test ELBO| / |test ELBO| after one epoch, minigrad vs PyTorch (≈ 8 float32 ulps)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG_MAGIC and head[12:16] == b"IHDR", path
    return struct.unpack(">II", head[16:24])


def has_torch():
    return bt.torch_available()[0]


@pytest.fixture(scope="module")
def data():
    return bt.default_config().load_data()


# ----------------------------------------------------------------------------------------------
# Smoke run


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("training")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bt, "QUICK", TINY)
        mp.setattr(bt.TrainConfig, "load_data", lambda self: data)     # load the digits once per module
        markdown = bt.run_benchmark(str(out), quick=True)
    return out, markdown


def test_smoke_run_writes_the_figure(smoke):
    out, markdown = smoke
    path = out / bt.PLOT
    assert png_size(path) == (round(bt.FIGSIZE[0] * bt.DPI), round(bt.FIGSIZE[1] * bt.DPI)) == (1650, 506)
    assert os.listdir(out) == [bt.PLOT]                     # nothing else, no temporary file left behind
    assert f"![training]({bt.PLOT})" in markdown


def test_smoke_table_has_one_row_per_run(smoke):
    _, markdown = smoke
    rows = table_rows(markdown, "run")
    expected = ["reparam M=1", "reparam M=5", "score M=1", "score M=3 + LOO baseline"]
    expected += ["PyTorch reparam M=1"] if has_torch() else []
    assert [r[0] for r in rows] == expected
    assert [int(r[1]) for r in rows] == [int(name.split("M=")[1].split()[0]) for name in expected]
    for row in rows:
        assert len(row) == 6
        final = float(row[3])
        best, epoch = row[4].split(" (epoch ")
        assert -200 < final <= float(best) < 0 and int(epoch.rstrip(")")) in (1, 2)
        assert float(row[5]) >= 0
    assert [r[2] for r in rows][:4] == ["reparameterized (pathwise)"] * 2 + \
        ["score function", "score function, leave-one-out baseline"]
    if has_torch():
        agree = table_rows(markdown, "epoch")
        assert [int(r[0]) for r in agree] == [1, 2]
    else:
        assert "PyTorch not installed" in markdown


def test_runner_picks_up_the_benchmark(tmp_path, data):
    from benchmarks import run_all
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout), \
            contextlib.redirect_stderr(io.StringIO()):
        mp.setattr(bt, "QUICK", dataclasses.replace(TINY, epochs=1, torch=False))
        mp.setattr(bt.TrainConfig, "load_data", lambda self: data)
        rc = run_all.main(["--only", "training", "--out", str(tmp_path)])
    assert rc == 0, stdout.getvalue()
    assert png_size(tmp_path / bt.PLOT) == (1650, 506)
    report = (tmp_path / "training.md").read_text()
    assert [r[0] for r in table_rows(report, "run")] == ["reparam M=1", "reparam M=5", "score M=1",
                                                         "score M=3 + LOO baseline"]


def test_without_torch_the_overlay_is_skipped_with_one_line(tmp_path, data, monkeypatch):
    monkeypatch.setattr(bt, "torch_available", lambda: (False, "ModuleNotFoundError: No module named 'torch'"))
    markdown = bt.run(dataclasses.replace(TINY, epochs=1), str(tmp_path), data=data)
    assert [r[0] for r in table_rows(markdown, "run")] == ["reparam M=1", "reparam M=5", "score M=1",
                                                           "score M=3 + LOO baseline"]
    notes = [line for line in markdown.splitlines() if "PyTorch not installed" in line]
    assert notes == ["PyTorch not installed (ModuleNotFoundError: No module named 'torch'): the PyTorch overlay is "
                     "skipped."]
    assert png_size(tmp_path / bt.PLOT) == (1650, 506)


def test_summary_reports_a_diverged_run():
    run = bt.Run("score M=1", "score", 1)
    ok = {"run": run, "history": [{"epoch": 1, "test_elbo": -30.0}, {"epoch": 2, "test_elbo": -31.0}],
          "seconds": 1.0, "diverged": 3}
    dead = {"run": run, "history": [], "seconds": 0.1, "diverged": 1}
    rows = bt.summary_rows([ok, dead])
    assert rows[0][3:5] == ["-31.000 (diverged at epoch 3)", "-30.000 (epoch 1)"]
    assert rows[1][3:5] == ["diverged at epoch 1", "—"]


# ----------------------------------------------------------------------------------------------
# Reproducibility and fidelity to `python -m vae train`


def histories(records):
    return [(r["run"].name, [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]])
            for r in records]


def test_same_seed_same_numbers_and_another_seed_others(data):
    settings = dataclasses.replace(TINY, epochs=1, torch=False)
    a = bt.train_all(settings, data=data)[1]
    b = bt.train_all(settings, data=data)[1]
    c = bt.train_all(dataclasses.replace(settings, seed=1), data=data)[1]
    assert histories(a) == histories(b)
    assert all(x["history"][0]["test_elbo"] != y["history"][0]["test_elbo"] for x, y in zip(a, c))


@pytest.mark.parametrize("samples", [1, 5])
def test_reparam_run_is_python_m_vae_train(tmp_path, data, samples):
    """With one ε per test example (what `train` evaluates), the benchmark's reparameterized run records
    the same train and test ELBOs as `python -m vae train --samples M`, bit for bit."""
    settings = bt.Settings(epochs=2, reparam_samples=(samples,), score_runs=(), eval_samples=1, torch=False)
    (record,) = bt.train_all(settings, data=data)[1]
    start_run(TrainConfig(epochs=2, samples=samples), str(tmp_path / "run"))
    result = train(str(tmp_path / "run"), quiet=True)
    for mine, theirs in zip(record["history"], result.history, strict=True):
        assert mine["test_elbo"] == theirs["test_elbo"] and mine["train_elbo"] == theirs["train_elbo"]


# ----------------------------------------------------------------------------------------------
# The score-function surrogate


@pytest.fixture(scope="module")
def tiny():
    model = VAE(5, [4], 2, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).random((2, 5))
    return model, x


def reconstruction_pathwise(model, x, eps):
    return model.elbo(x, eps=eps).reconstruction


def reconstruction_score(model, x, eps):
    return bt.score_function_elbo(model, x, eps).reconstruction


def reconstruction_score_loo(model, x, eps):
    return bt.score_function_elbo(model, x, eps, baseline="loo").reconstruction


def _pieces(model, x, eps, detach_z=True):
    mu, logvar = model.encoder_params(x)
    sigma = bt.mg.exp(0.5 * logvar)
    z = bt.mg.GaussianReparam.apply(mu.detach(), sigma.detach(), eps) if detach_z else \
        bt.mg.GaussianReparam.apply(mu, sigma, eps)
    log_px = model.log_likelihood(x, model.decoder_params(z))
    return log_px, gaussian_log_prob(z, mu, logvar)


def reconstruction_plain(model, x, eps):
    """The textbook surrogate f + ⊥[f] · log q: a different value, the same (correct) gradient."""
    log_px, log_q = _pieces(model, x, eps)
    return log_px + log_px.detach() * log_q


def planted_z_not_detached(model, x, eps):
    """Slip: z left on the reparameterized path, so the encoder gets pathwise + score terms."""
    log_px, log_q = _pieces(model, x, eps, detach_z=False)
    return log_px + log_px.detach() * (log_q - log_q.detach())


def planted_wrong_sign(model, x, eps):
    log_px, log_q = _pieces(model, x, eps)
    return log_px - log_px.detach() * (log_q - log_q.detach())


def planted_f_not_detached(model, x, eps):
    """Slip: f · log q without ⊥ on f, so the decoder's gradient is ∇_θ f · (1 + log q)."""
    log_px, log_q = _pieces(model, x, eps)
    return log_px + log_px * log_q


def batch_mean_gradients(model, x, objective, n_batches, batch, seed, samples=None):
    """(n_batches, P): each row the mean over `batch` independent single-sample estimates of the gradient of
    Σ_x objective(model, x, ε) w.r.t. every parameter, in one backward pass: x is tiled `batch` times, so each
    copy of each example gets its own ε (shape (batch·B, d), or (samples, batch·B, d): a leave-one-out
    baseline then works within each estimate's `samples` draws, as in training). The rows are i.i.d., so
    their spread gives the standard error of the overall mean (batch means); ε from a Generator seeded with
    `seed`, so two objectives given the same arguments see the same ε (paired)."""
    rng = np.random.default_rng(seed)
    params = model.parameters()
    tiled = np.tile(x, (batch, 1))
    shape = (len(tiled), model.latent_dim) if samples is None else (samples, len(tiled), model.latent_dim)
    out = np.empty((n_batches, sum(p.size for p in params)))
    for i in range(n_batches):
        eps = rng.standard_normal(shape)
        model.zero_grad()
        value = objective(model, tiled, eps)
        (value.mean(axis=0) if value.ndim == 2 else value).sum().backward()   # (M, B) objectives: mean over M
        out[i] = np.concatenate([np.zeros(p.size) if p.grad is None else p.grad.ravel() for p in params]) / batch
    model.zero_grad()
    return out


def encoder_mask(model):
    names = [name for name, p in model.named_parameters() for _ in range(p.size)]
    return np.array([name.startswith("enc") for name in names])


def z_scores(estimate, reference):
    """Per component: mean paired difference / its standard error (0 where both agree exactly)."""
    d = estimate - reference
    mean, se = d.mean(axis=0), d.std(axis=0, ddof=1) / math.sqrt(len(d))
    return np.divide(mean, se, out=np.zeros_like(mean), where=se > 0), mean, se


@pytest.fixture(scope="module")
def pathwise(tiny):
    model, x = tiny
    return {samples: batch_mean_gradients(model, x, reconstruction_pathwise, *N_GRAD[samples], seed=7,
                                          samples=samples) for samples in N_GRAD}


def test_surrogate_values_are_the_elbo(tiny):
    model, x = tiny
    rng = np.random.default_rng(3)
    for eps, baseline in ((rng.standard_normal((2, 2)), None), (rng.standard_normal((3, 2, 2)), None),
                          (rng.standard_normal((3, 2, 2)), "loo")):
        ours, ref = bt.score_function_elbo(model, x, eps, baseline), model.elbo(x, eps=eps)
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("objective, samples", [(reconstruction_score, None), (reconstruction_plain, None),
                                                (reconstruction_score_loo, 2)],
                         ids=["surrogate", "textbook-surrogate", "surrogate-loo-baseline-M2"])
def test_score_function_gradient_is_unbiased(tiny, pathwise, objective, samples):
    """Every parameter's gradient of Σ_x E_q[log p_θ(x|z)] (N = 4000 single-sample estimates) agrees with
    the pathwise one within 4 SE; the encoder's score-function estimates really differ from the pathwise
    ones sample by sample (so this compares two estimators, not one with itself)."""
    model, x = tiny
    estimate = batch_mean_gradients(model, x, objective, *N_GRAD[samples], seed=7, samples=samples)
    z, mean, se = z_scores(estimate, pathwise[samples])
    enc = encoder_mask(model)
    assert np.abs(z).max() <= 4, f"max |z| = {np.abs(z).max():.2f} at component {np.abs(z).argmax()}"
    assert (se[enc] > 0).all()                                # a real, noisy estimator on the encoder …
    np.testing.assert_array_equal(estimate[:, ~enc], pathwise[samples][:, ~enc])   # … and the decoder's own
    # Power: the difference projected on the true encoder gradient g (a 5 % bias of the encoder's gradient
    # moves it by 0.05 ‖g‖) is within 4 SE of 0, with (4 + 2.326) SE ≤ 0.05 ‖g‖: caught with ≥ 99 % power.
    g = pathwise[samples][:, enc].mean(axis=0)
    projected = (estimate - pathwise[samples])[:, enc] @ (g / np.linalg.norm(g))
    se_projected = projected.std(ddof=1) / math.sqrt(len(projected))
    assert abs(projected.mean()) < 4 * se_projected, (projected.mean(), se_projected)
    assert (4 + 2.326) * se_projected <= 0.05 * np.linalg.norm(g), (se_projected, np.linalg.norm(g))


@pytest.mark.parametrize("objective", [planted_z_not_detached, planted_wrong_sign, planted_f_not_detached])
def test_planted_wrong_surrogate_is_detected(tiny, objective):
    model, x = tiny
    estimate = batch_mean_gradients(model, x, objective, *N_GRAD_PLANTED, seed=7)
    z, _, _ = z_scores(estimate, batch_mean_gradients(model, x, reconstruction_pathwise, *N_GRAD_PLANTED, seed=7))
    assert np.abs(z).max() > 20, "the unbiasedness check did not notice a wrong surrogate"


def test_score_function_elbo_rejects_bad_baselines(tiny):
    model, x = tiny
    with pytest.raises(ValueError, match="baseline must be one of"):
        bt.score_function_elbo(model, x, np.zeros((2, 2)), baseline="mean")
    with pytest.raises(ValueError, match="leave-one-out baseline needs"):
        bt.score_function_elbo(model, x, np.zeros((2, 2)), baseline="loo")
    with pytest.raises(ValueError, match="leave-one-out baseline needs M >= 2"):
        bt.runs_for(bt.Settings(score_runs=((1, "loo"),)))


# ----------------------------------------------------------------------------------------------
# PyTorch from the same weights, minibatches and ε


def test_pytorch_first_epoch_matches_minigrad(data):
    pytest.importorskip("torch")
    settings = bt.Settings(epochs=1, reparam_samples=(1,), score_runs=(), torch=True)
    config = bt.default_config()
    ours, theirs = bt.train_all(settings, data=data)[1]
    assert theirs["run"].framework == "torch"
    a, b = ours["history"][0], theirs["history"][0]
    for key in ("train_elbo", "test_elbo"):
        assert abs(a[key] - b[key]) <= TORCH_RTOL * abs(a[key]), (key, a[key], b[key])

    # The tolerance discriminates: the same PyTorch run with the ε of its last minibatch negated (one
    # step of fifteen sees other noise) is told apart.
    make = bt.torch_stepper(config)
    n_batches = -(-len(data.train) // config.batch_size)

    def perturbed(model):
        step, evaluate = make(model)
        calls = []

        def step_last_eps_negated(xb, eps):
            calls.append(1)
            return step(xb, -eps if len(calls) == n_batches else eps)
        return step_last_eps_negated, evaluate

    run = bt.runs_for(settings)[-1]
    other = bt.train_loop(run, data, config, settings, perturbed)["history"][0]
    assert abs(a["test_elbo"] - other["test_elbo"]) > TORCH_RTOL * abs(a["test_elbo"])     # measured: 2e-5
