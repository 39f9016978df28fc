"""Training: the loss goes down, checkpoints round-trip, resume is bit-for-bit, failures are clear."""

import json
import os
import pathlib
import signal

import numpy as np
import pytest
from helpers import digits_npz, new_run, quiet_train

import minigrad as mg
from vae import VAE, CheckpointError, VAEError
from vae.train import (
    CHECKPOINT,
    METRIC_FIELDS,
    METRICS,
    NonFiniteError,
    TrainConfig,
    load_checkpoint,
    read_metrics,
)


@pytest.fixture(scope="module")
def digits_subset(tmp_path_factory):
    """300 training and 100 test digits as an .npz file (with labels)."""
    return digits_npz(tmp_path_factory.mktemp("data"), 300)


def interrupt_at(epoch, batch):
    """An on_batch hook that presses Ctrl-C (sends SIGINT to this process) after the given batch."""
    def hook(e, b, model):
        if (e, b) == (epoch, batch):
            os.kill(os.getpid(), signal.SIGINT)
    return hook


def params_of(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------------------------

def test_training_a_few_epochs_lowers_the_loss(tmp_path, digits_subset):
    """Eight epochs (48 Adam steps, lr 3e-3) on 300 digits raise the training and test ELBO by more than
    6 nats, and the ELBO on fixed ε over the untrained model of the same seed by more than 7 (measured
    with seeds 0-2: 13.3-13.5, 11.9-12.1 and 14.1-14.9 nats)."""
    run = new_run(tmp_path / "run", digits_subset, epochs=8, hidden=(32,), lr=3e-3)
    result = quiet_train(run)
    assert result.status == "completed" and result.epoch == 8
    first, last = result.history[0], result.history[-1]
    assert last["train_elbo"] > first["train_elbo"] + 6
    assert last["test_elbo"] > first["test_elbo"] + 6
    # the same, measured on fixed ε against the untrained model of the same seed
    x = np.load(digits_subset)["test"]
    untrained = VAE(64, [32], 2, rng=np.random.default_rng(0))
    eps = np.random.default_rng(1).standard_normal((len(x), 2), dtype=np.float32)
    before = untrained.elbo(x, eps=eps).elbo.data.mean()
    after = result.model.elbo(x, eps=eps).elbo.data.mean()
    assert after > before + 7
    for row in result.history:
        assert set(row) == set(METRIC_FIELDS) and row["seconds"] > 0
        assert row["test_elbo"] == pytest.approx(row["test_reconstruction"] - row["test_kl"])


@pytest.mark.parametrize("options, stops", [
    ({}, [(1, 2)]),                                                       # mid-epoch
    ({"binarize": "dynamic", "samples": 2, "kl": "mc"}, [(0, 5), (2, 0)]),  # end of an epoch, then again
    ({"binarize": "dynamic", "objective": "iwae", "k": 3, "val_fraction": 0.25}, [(1, 1)]),   # and its best.npz
])
def test_resume_after_interruption_repeats_the_uninterrupted_run_exactly(tmp_path, digits_subset, options, stops):
    reference = quiet_train(new_run(tmp_path / "a", digits_subset, epochs=4, **options))
    run = new_run(tmp_path / "b", digits_subset, epochs=4, **options)
    for epoch, batch in stops:
        result = quiet_train(run, on_batch=interrupt_at(epoch, batch))
        assert result.status == "interrupted"
        assert (result.epoch, result.batch) in ((epoch, batch + 1), (epoch + 1, 0))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler       # handler restored
    resumed = quiet_train(run)
    assert resumed.status == "completed"
    assert len(resumed.history) == len(reference.history) == 4
    for a, b in zip(reference.history, resumed.history):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    for (name, p), q in zip(params_of(reference.model).items(), params_of(resumed.model).values()):
        assert np.array_equal(p, q), name
    strip = [[line.rsplit(",", 1)[0] for line in pathlib.Path(d, METRICS).read_text().splitlines()]
             for d in (tmp_path / "a", run)]
    assert strip[0] == strip[1]                  # metrics.csv identical but for the seconds column
    if options.get("val_fraction"):
        a, b = (np.load(pathlib.Path(d, "best.npz")) for d in (tmp_path / "a", run))
        assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_checkpoint_restores_model_optimizer_and_generator(tmp_path, digits_subset):
    run = new_run(tmp_path / "run", digits_subset, epochs=2)
    result = quiet_train(run)
    config = TrainConfig(data=digits_subset, hidden=(16,), epochs=2, batch_size=50)
    model = VAE(64, [16], 2, rng=123)            # different weights, to be overwritten
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(999)
    progress, meta = load_checkpoint(os.path.join(run, CHECKPOINT), model, opt, rng, config)
    assert progress.epoch == 2 and progress.batch == 0 and len(read_metrics(run)) == 2
    assert meta["metrics_bytes"] == os.path.getsize(os.path.join(run, METRICS)) and meta["n_batches"] == 6
    for p, q in zip(params_of(result.model).values(), params_of(model).values()):
        np.testing.assert_array_equal(p, q)
    state = opt.state_dict()["state"]
    assert all(s["step"] == 2 * 6 for s in state)              # 300 examples / 50 = 6 steps per epoch
    assert all(s["exp_avg"].dtype == np.float32 and np.any(s["exp_avg"] != 0) for s in state)
    # the Generator continues where training left it: one more draw here equals a replay of the run's draws
    replay = np.random.default_rng(config.seed)
    VAE(64, [16], 2, rng=replay)                 # initial weights
    for _ in range(2):
        replay.permutation(300)
        for _ in range(6):
            replay.standard_normal((50, 2), dtype=np.float32)
    assert rng.random() == replay.random()
    assert VAE.load(os.path.join(run, CHECKPOINT)).config() == model.config()


def test_corrupted_or_mismatched_checkpoint_is_a_clear_error(tmp_path, digits_subset):
    run = new_run(tmp_path / "run", digits_subset, epochs=1)
    quiet_train(run)
    ckpt = os.path.join(run, CHECKPOINT)
    good = pathlib.Path(ckpt).read_bytes()
    pathlib.Path(ckpt).write_bytes(good[:1000])
    with pytest.raises(CheckpointError, match=f"{ckpt}: not a readable checkpoint file"):
        quiet_train(run, epochs=2)
    other = new_run(tmp_path / "other", digits_subset, epochs=1, latent=3)
    quiet_train(other)
    pathlib.Path(ckpt).write_bytes(pathlib.Path(other, CHECKPOINT).read_bytes())
    with pytest.raises(CheckpointError, match="does not match this run's model"):
        quiet_train(run, epochs=2)
    pathlib.Path(ckpt).write_bytes(good)
    assert quiet_train(run, epochs=2).status == "completed"


def test_non_finite_loss_stops_naming_epoch_batch_and_op(tmp_path, digits_subset):
    run = new_run(tmp_path / "run", digits_subset, epochs=3)

    def blow_up(epoch, batch, model):            # after batch 3 of epoch 2, log σ² = 10⁴: σ = exp(5000) = inf
        if (epoch, batch) == (1, 2):
            model.enc_logvar.bias.data[:] = 1e4

    with pytest.raises(NonFiniteError) as info:
        quiet_train(run, on_batch=blow_up, checkpoint_every="1")
    message = str(info.value)
    assert "training stopped in epoch 2, batch 4/6: the loss is not finite" in message
    assert "detect_anomaly: forward of Exp produced non-finite values" in message
    assert "last good checkpoint" in message and "after epoch 1" in message
    assert "\n" not in message
    assert len(read_metrics(run)) == 1
    from vae.io import load_npz
    assert load_npz(os.path.join(run, CHECKPOINT), "checkpoint")[1]["epoch"] == 1


def test_epochs_can_be_extended_on_resume_and_a_run_is_not_overwritten(tmp_path, digits_subset):
    run = new_run(tmp_path / "run", digits_subset, epochs=1)
    quiet_train(run)
    assert quiet_train(run, epochs=2).epoch == 2
    assert json.loads(pathlib.Path(run, "config.json").read_text())["train"]["epochs"] == 2
    with pytest.raises(VAEError, match="already trained 2 epochs"):
        quiet_train(run, epochs=1)
    with pytest.raises(VAEError, match="already holds a run"):
        new_run(tmp_path / "run", digits_subset)


def test_gradients_that_adam_cannot_square_are_caught():
    from vae.train import _gradient_problem

    p = mg.tensor(np.zeros(3, np.float32), requires_grad=True)
    p.grad = np.array([1.0, -2.0, 3e18], np.float32)
    assert _gradient_problem([p]) is None
    p.grad[1] = np.nan
    assert _gradient_problem([p]) == "a gradient is not finite"
    p.grad[:] = [0.0, -2e19, 0.0]                # (2e19)² = 4e38 > float32's max 3.4e38
    assert "too large for Adam (|g| = 2e+19" in _gradient_problem([p])
    q = mg.tensor(np.zeros(3), requires_grad=True)
    q.grad = np.array([0.0, -2e19, 0.0])         # fine in float64
    assert _gradient_problem([q]) is None
