"""Training objectives and model selection: the IWAE bound as the objective (its gradient through the
reparameterized samples, K = 1 is the ELBO), and a validation split whose best epoch is kept as best.npz."""

import json
import math

import numpy as np
import pytest
from helpers import digits_npz
from scipy.special import logsumexp, softmax

import minigrad as mg
from vae import VAE, VAEError
from vae.cli import main
from vae.io import load_npz
from vae.train import BEST, TrainConfig, read_metrics, start_run, train


def small_vae(likelihood="bernoulli", posterior="diagonal", seed=0):
    model = VAE(6, [5], 2, likelihood=likelihood, posterior=posterior, dtype=np.float64, rng=seed)
    rng = np.random.default_rng(seed + 10)           # no zero parameter left (enc_tril starts at 0)
    model.load_state_dict({k: v + 0.2 * rng.standard_normal(v.shape) for k, v in model.state_dict().items()})
    return model


def data(n=4, seed=1):
    return (np.random.default_rng(seed).random((n, 6)) < 0.4).astype(np.float64)


def grads(model, f):
    model.zero_grad()
    f().sum().backward()
    return {name: p.grad.copy() for name, p in model.named_parameters()}


# ----------------------------------------------------------------------------------------------
# The IWAE objective

@pytest.mark.parametrize("likelihood, posterior", [("bernoulli", "diagonal"), ("gaussian", "diagonal"),
                                                   ("bernoulli", "full"), ("bernoulli", "laplace")])
def test_iwae_objective_gradient_equals_finite_differences_with_eps_fixed(likelihood, posterior):
    """With ε (u for Laplace) fixed, L_5 is a deterministic function of θ and φ: its autodiff gradient w.r.t.
    every parameter equals central finite differences (float64, minigrad.gradcheck: atol 1e-6, rtol 1e-5)
    and reaches the encoder."""
    model = small_vae(likelihood, posterior, seed=3)
    x = data(seed=4) if likelihood == "bernoulli" else np.random.default_rng(4).normal(size=(4, 6))
    eps = model.draw_noise(np.random.default_rng(5), (5, 4, 2))
    assert mg.gradcheck(lambda *_: model.iwae_objective(x, eps=eps).elbo, model.parameters(), atol=1e-6, rtol=1e-5)
    g = grads(model, lambda: model.iwae_objective(x, eps=eps).elbo)
    assert np.abs(g["enc_mu.weight"]).max() > 1e-3 and np.abs(g["enc_logvar.weight"]).max() > 1e-3


@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_iwae_objective_with_k_1_is_the_elbo(posterior):
    """L_1 = log w_1 = log p(x|z) + log p(z) − log q(z|x): the ELBO with the KL on the same sample, value and
    gradient, to float64 round-off."""
    model, x = small_vae(posterior=posterior, seed=6), data(seed=7)
    eps = np.random.default_rng(8).standard_normal((1, 4, 2))
    iwae, elbo = model.iwae_objective(x, eps=eps), model.elbo(x, kl="mc", eps=eps[0])
    for a, b in zip(iwae, elbo):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-13, atol=1e-13)
    gi = grads(model, lambda: model.iwae_objective(x, eps=eps).elbo)
    ge = grads(model, lambda: model.elbo(x, kl="mc", eps=eps[0]).elbo)
    for name in gi:
        np.testing.assert_allclose(gi[name], ge[name], rtol=1e-12, atol=1e-13, err_msg=name)


def test_iwae_objective_is_the_bound_and_its_gradient_the_weighted_sample_gradients():
    """L_k equals VAE.iwae_bound's log-mean-exp of the log weights (same draws), is ≥ the mean log weight
    (Jensen), and ∇L_k = Σ_i w̃_i ∇ log w_i with w̃ = softmax(log w) — each ∇ log w_i taken by its own backward
    pass on ε_i alone. So it is not the ELBO's plain average Σ_i ∇ log w_i / k, which differs."""
    model, x, k = small_vae(seed=9), data(seed=10), 6
    out = model.iwae_objective(x, k, rng=np.random.default_rng(11))
    lw = model.log_importance_weights(x, k, rng=np.random.default_rng(11))
    np.testing.assert_allclose(out.elbo.data, logsumexp(lw, axis=0) - math.log(k), rtol=1e-12)
    np.testing.assert_allclose(out.elbo.data, model.iwae_bound(x, k, rng=np.random.default_rng(11)).data, rtol=1e-12)
    assert np.all(out.elbo.data >= lw.mean(axis=0))
    eps = np.random.default_rng(11).standard_normal((k, 4, 2))
    total = grads(model, lambda: model.iwae_objective(x, eps=eps).elbo)
    per_sample = [grads(model, lambda i=i: model.iwae_objective(x, eps=eps[i:i + 1]).elbo) for i in range(k)]
    weights = softmax(lw, axis=0)                                      # (k, B): w̃ per example
    for name, g in total.items():
        # ∇ Σ_b L_k(x_b) = Σ_b Σ_i w̃_ib ∇ log w_ib: per-example weights, so one example at a time
        expected = np.zeros_like(g)
        for b in range(len(x)):
            for i in range(k):
                expected += weights[i, b] * grads(model, lambda i=i, b=b: model.iwae_objective(
                    x[b:b + 1], eps=eps[i:i + 1, b:b + 1]).elbo)[name]
        np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-12, err_msg=name)
        plain = sum(p[name] for p in per_sample) / k
        assert not np.allclose(g, plain, rtol=1e-3, atol=1e-6) or name == "obs_logvar"


def test_objective_options_are_validated():
    TrainConfig(objective="iwae", k=5).validate()
    for options, message in [({"k": 5}, "k = 5 importance samples apply to the IWAE objective"),
                             ({"objective": "iwae", "k": 5, "samples": 3}, "samples and kl are the ELBO's"),
                             ({"objective": "iwae", "kl": "mc"}, "samples and kl are the ELBO's"),
                             ({"objective": "vae"}, "objective must be one of ('elbo', 'iwae')"),
                             ({"val_fraction": 1.0}, "val_fraction must be a number in [0, 1)")]:
        with pytest.raises(VAEError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
            TrainConfig(**options).validate()
    # a run written before these options reads and compares as it did: they are absent at their defaults
    assert not {"objective", "k", "val_fraction"} & set(TrainConfig().to_dict())
    assert TrainConfig(objective="iwae", k=5).to_dict()["k"] == 5


# ----------------------------------------------------------------------------------------------
# Training with them

@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    return digits_npz(tmp_path_factory.mktemp("data"), 400)


def test_training_with_the_iwae_objective_logs_the_bound(tmp_path, digits_file, capsys):
    """--objective iwae without --k trains on k = 5 (recorded in config.json); the train column is the IWAE-5
    bound, which starts above the ELBO-trained run's train ELBO on the same weights and data (E L_5 ≥ ELBO)."""
    run = tmp_path / "iwae"
    assert main(["train", "--data", digits_file, "--objective", "iwae", "--hidden", "16", "--epochs", "2",
                 "--out", str(run), "--no-plots"]) == 0
    assert "train IWAE-5" in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())["train"]
    assert config["objective"] == "iwae" and config["k"] == 5
    elbo_run = tmp_path / "elbo"
    start_run(TrainConfig(data=digits_file, hidden=(16,), epochs=1), str(elbo_run))
    first_elbo = train(str(elbo_run), quiet=True).history[0]["train_elbo"]
    assert read_metrics(str(run))[0]["train_elbo"] > first_elbo


def test_best_npz_is_the_epoch_with_the_best_validation_elbo(tmp_path, digits_file, capsys):
    """Six epochs, 20% of the 400 training digits held out. From epoch 4 on, the hook spoils the model at the end
    of each epoch (+5 on every output logit), so the validation ELBO falls and the best epoch is not the last.
    best.npz holds the parameters the model had at the end of the epoch whose val_elbo is the largest in
    metrics.csv, and says so; eval, plot and export take it with --best."""
    run = tmp_path / "run"
    start_run(TrainConfig(data=digits_file, hidden=(16,), epochs=6, lr=0.03, val_fraction=0.2), str(run))
    snapshots = {}

    def keep(epoch, batch, model):
        if batch == 3:                                          # the last of 4 batches of 80: the epoch's end
            if epoch >= 3:
                model.decoder[2].bias.data[...] += 5
            snapshots[epoch + 1] = {k: v.copy() for k, v in model.state_dict().items()}
    result = train(str(run), quiet=True, on_batch=keep)
    rows = read_metrics(str(run))
    assert len(snapshots) == 6 and result.n_batches == 4           # 320 examples train, 80 validate
    assert {"val_elbo", "val_reconstruction", "val_kl"} <= set(rows[0])
    val = [r["val_elbo"] for r in rows]
    best_epoch = int(np.argmax(val)) + 1
    assert best_epoch <= 3 and val[3] < val[2], val
    arrays, meta = load_npz(str(run / BEST), "model")
    assert meta["epoch"] == best_epoch and meta["val_elbo"] == max(val)
    for name, value in snapshots[best_epoch].items():
        np.testing.assert_array_equal(arrays[f"param/{name}"], value, err_msg=name)
    assert not np.array_equal(arrays["param/decoder.0.weight"], snapshots[6]["decoder.0.weight"])
    capsys.readouterr()
    assert main(["eval", str(run), "--best", "--iwae-k", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"after epoch {best_epoch} (best.npz: the best validation ELBO" in out
    assert json.loads((run / "eval.best.json").read_text())["checkpoint"].startswith(f"after epoch {best_epoch}")
    assert main(["plot", str(run), "--best"]) == 0 and (run / "plots-best" / "reconstructions.png").is_file()
    assert main(["export", str(run), "--best", "--out", str(tmp_path / "best.safetensors")]) == 0


# ----------------------------------------------------------------------------------------------
# The initialization a run starts from

def test_runs_start_from_init_torch_and_older_runs_keep_their_init(tmp_path, digits_file, monkeypatch):
    """A new run's model is built as VAE(init="torch") from its seed's Generator (config.json records it);
    --init glorot builds the old one; a config.json without "init" (a run from before the option) reads as
    "legacy", which builds the Glorot model (He for ReLU) that such a run was started with."""
    import vae.train

    built = []

    class Recording(VAE):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append((kwargs.get("init"), {k: v.copy() for k, v in self.state_dict().items()}))

    monkeypatch.setattr(vae.train, "VAE", Recording)
    for flag, init in [([], "torch"), (["--init", "glorot"], "glorot")]:
        run = tmp_path / init
        assert main(["train", "--data", digits_file, "--hidden", "16", "--epochs", "1", "--quiet", "--no-plots",
                     "--out", str(run), *flag]) == 0
        assert json.loads((run / "config.json").read_text())["train"]["init"] == init
        used, weights = built[-1]
        assert used == init
        expected = VAE(64, [16], 2, init=init, rng=np.random.default_rng(0)).state_dict()
        for name, value in expected.items():
            np.testing.assert_array_equal(weights[name], value, err_msg=name)
    assert np.all(built[1][1]["decoder.0.bias"] == 0) and np.abs(built[0][1]["decoder.0.bias"]).max() > 0.25
    old = TrainConfig().to_dict()
    del old["init"]
    assert TrainConfig.from_dict(old).init == "legacy" and TrainConfig.from_dict(old).model_init() == "glorot"
    assert TrainConfig.from_dict({**old, "activation": "relu"}).model_init() == "he"
    assert "init" not in TrainConfig.from_dict(old).to_dict()                 # so it compares equal to the old run
