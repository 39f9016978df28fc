"""Runs that never lose or silently change what the user trained (issue 15, items 1-9): O(1) checkpoints and
metrics, resume after SIGINT, SIGTERM, a crash and kill -9 bit for bit, refused data changes, no run restarted
or overwritten unasked, leftovers cleaned, full disks named, messages that count right and hints that run."""

import errno
import json
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import digits_npz, new_run, quiet_train

import vae.io
import vae.train
from vae import VAE, CheckpointError, DataError, VAEError, load_dataset
from vae.cli import build_parser, main
from vae.io import load_npz
from vae.train import CHECKPOINT, METRICS, read_metrics

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits_subset(tmp_path_factory):
    """300 training and 100 test digits as an .npz file."""
    return digits_npz(tmp_path_factory.mktemp("data"), 300, labels=False)


def send_at(epoch, batch, sig=signal.SIGINT):
    def hook(e, b, model):
        if (e, b) == (epoch, batch):
            os.kill(os.getpid(), sig)
    return hook


def rows_but_seconds(run_dir):
    return [line.rsplit(",", 1)[0] for line in pathlib.Path(run_dir, METRICS).read_text().splitlines()]


def same_run(reference, resumed):
    """Metrics (but the seconds) and every parameter identical."""
    assert rows_but_seconds(reference.run_dir) == rows_but_seconds(resumed.run_dir)
    for (name, p), q in zip(reference.model.state_dict().items(), resumed.model.state_dict().values()):
        assert np.array_equal(p, q), name


# ----------------------------------------------------------------------------------------------
# 1. The cost of an epoch does not grow with the run

def test_checkpoint_size_does_not_grow_with_the_epochs(tmp_path, digits_subset):
    """Before: the whole history was stored in the checkpoint (≈ 1 KB more per epoch here)."""
    sizes = {}
    for epochs in (1, 12):
        run = new_run(tmp_path / str(epochs), digits_subset, epochs=epochs)
        quiet_train(run, checkpoint_every="1")
        sizes[epochs] = os.path.getsize(os.path.join(run, CHECKPOINT))
    assert abs(sizes[12] - sizes[1]) < 50, sizes             # a few digits of the header, no more


def test_metrics_are_appended_not_rewritten(tmp_path, digits_subset):
    """The same file (inode) from the first epoch's row to the last: appended to, never replaced."""
    run = new_run(tmp_path / "run", digits_subset, epochs=4)
    inodes = []
    quiet_train(run, checkpoint_every="1", on_batch=lambda e, b, m: inodes.append(os.stat(os.path.join(
        run, METRICS)).st_ino) if b == 0 and e > 0 else None)
    inodes.append(os.stat(os.path.join(run, METRICS)).st_ino)
    assert len(set(inodes)) == 1 and len(read_metrics(run)) == 4


@pytest.mark.parametrize("every, saved", [("3", [0, 3, 6, 7]), ("1", [0, 1, 2, 3, 4, 5, 6, 7]),
                                          ("1000s", [0, 7]), ("0s", [0, 1, 2, 3, 4, 5, 6, 7])])
def test_checkpoint_interval(tmp_path, digits_subset, monkeypatch, every, saved):
    """Checkpoints before the first epoch, every N epochs (or N seconds), and at the end."""
    written = []
    real = vae.train.save_checkpoint

    def spy(run_dir, model, opt, rng, config, progress, n_batches):
        written.append(progress.epoch)
        return real(run_dir, model, opt, rng, config, progress, n_batches)

    monkeypatch.setattr(vae.train, "save_checkpoint", spy)
    quiet_train(new_run(tmp_path / "run", digits_subset, epochs=7), checkpoint_every=every)
    assert written == saved


@pytest.mark.parametrize("bad", ["0", "-2", "x", "1.5", "-1s", "infs", ""])
def test_bad_checkpoint_intervals_are_refused(bad, capsys):
    with pytest.raises(VAEError, match="checkpoint interval"):
        vae.train.parse_interval(bad)
    with pytest.raises(SystemExit):
        main(["train", "--checkpoint-every", bad])
    assert "--checkpoint-every" in capsys.readouterr().err


def test_a_crash_between_checkpoints_is_resumed_exactly(tmp_path, digits_subset):
    """Rows of epochs after the last checkpoint are in metrics.csv (epochs 4 and 5 below, checkpoint at 3);
    resuming cuts them off and trains them again, to the same numbers."""
    reference = quiet_train(new_run(tmp_path / "a", digits_subset, epochs=7))
    run = new_run(tmp_path / "b", digits_subset, epochs=7)

    def crash(epoch, batch, model):
        if (epoch, batch) == (5, 2):
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        quiet_train(run, checkpoint_every="3", on_batch=crash)
    assert len(read_metrics(run)) == 5 and load_npz(os.path.join(run, CHECKPOINT), "checkpoint")[1]["epoch"] == 3
    resumed = quiet_train(run)
    assert resumed.start_epoch == 3 and len(resumed.history) == 7
    same_run(reference, resumed)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_save_mid_epoch_and_resume_exactly(tmp_path, digits_subset, sig):
    reference = quiet_train(new_run(tmp_path / "a", digits_subset, epochs=3))
    run = new_run(tmp_path / "b", digits_subset, epochs=3)
    result = quiet_train(run, on_batch=send_at(1, 2, sig))
    assert (result.status, result.signal, result.epoch, result.batch) == ("interrupted", sig.name, 1, 3)
    assert result.position() == "in epoch 2, after batch 3 of 6"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL                 # handlers restored
    same_run(reference, quiet_train(run))


def test_a_stop_after_the_last_batch_finishes_the_epoch(tmp_path, digits_subset):
    """Before: it saved "after epoch 0, batch 6" — the 6th of 6 batches, i.e. all of epoch 1 but its row."""
    run = new_run(tmp_path / "run", digits_subset, epochs=3)
    result = quiet_train(run, on_batch=send_at(0, 5))
    assert (result.epoch, result.batch, result.position()) == (1, 0, "after epoch 1")
    assert len(read_metrics(run)) == 1


def python_m_vae(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "vae", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_rows(proc, run, rows, timeout=60):
    deadline = time.monotonic() + timeout
    path = run / METRICS
    while proc.poll() is None and time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) > rows:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {rows} rows in time: {proc.poll()} {proc.communicate() if proc.poll() else ''}")


def test_sigterm_then_kill_9_at_random_points_then_resume_is_bit_for_bit(tmp_path, capsys):
    """As a user's jobs end: SIGTERM (what `timeout` and job schedulers send; before, the process died with
    nothing saved mid-epoch) saves and exits with 143; SIGKILL cannot be caught, and what survives is the
    last checkpoint (every 2 epochs here) and metrics.csv, possibly rows or half a row ahead of it. Each
    signal comes at a random (seeded) time; after --resume the metrics and the model equal those of a run
    that was never stopped."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((1000, 16)))     # no scikit-learn to import
    common = ["--quiet", "--no-plots", "--checkpoint-every", "2"]
    options = ["--data", str(tmp_path / "x.npy"), "--hidden", "16", "--epochs", "60"]
    assert main(["train", "--out", str(tmp_path / "a"), *options, *common]) == 0
    run = tmp_path / "b"
    rng = np.random.default_rng(9)
    for attempt, sig in enumerate((signal.SIGTERM, signal.SIGKILL)):
        args = ["--resume", str(run)] if attempt else ["--out", str(run), *options]
        proc = python_m_vae(["train", *args, *common], tmp_path)
        try:
            wait_for_rows(proc, run, 10 * attempt + 1)
            time.sleep(rng.uniform(0, 0.1))
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        if sig == signal.SIGTERM:
            assert proc.returncode == 143, err
            assert "interrupted (SIGTERM): checkpoint saved " in err and "Traceback" not in err
            meta = load_npz(run / CHECKPOINT, "checkpoint")[1]
            assert meta["metrics_bytes"] == (run / METRICS).stat().st_size     # nothing after the checkpoint
        else:
            assert proc.returncode == -signal.SIGKILL
    capsys.readouterr()
    status = main(["train", "--resume", str(run), "--no-plots", "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert rows_but_seconds(tmp_path / "a") == rows_but_seconds(run) and len(rows_but_seconds(run)) == 61
    a, b = (VAE.load(tmp_path / d / "model.npz").state_dict() for d in "ab")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]


# ----------------------------------------------------------------------------------------------
# 2. Resuming on other data is refused, saying what changed

@pytest.fixture
def array_run(tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((250, 6)))
    run = new_run(tmp_path / "run", str(data), epochs=2)
    return run, data


def test_resume_refuses_changed_values(array_run):
    run, data = array_run
    quiet_train(run)
    np.save(data, np.random.default_rng(1).random((250, 6)))               # same shape, other values
    with pytest.raises(DataError, match=r"changed since the run started: the train set was \[200, 6\] float32 "
                                        r"\(SHA-256 [0-9a-f]{12}…\), now \[200, 6\] float32") as info:
        quiet_train(run, epochs=3)
    assert "allow_data_change" in str(info.value)
    assert quiet_train(run, epochs=3, allow_data_change=True).epoch == 3    # the user means it
    assert quiet_train(run, epochs=4).epoch == 4                            # and it is the run's data now


def test_resume_mid_epoch_refuses_fewer_rows_even_when_allowed(array_run):
    run, data = array_run
    assert quiet_train(run, on_batch=send_at(0, 1)).batch == 2
    np.save(data, np.random.default_rng(0).random((100, 6)))
    with pytest.raises(DataError, match=r"the train set was \[200, 6\] float32 .*now \[80, 6\]"):
        quiet_train(run)
    with pytest.raises(DataError, match="200 training examples; the data now has 80, so that epoch cannot be"):
        quiet_train(run, allow_data_change=True)


def test_cli_resume_with_changed_data(tmp_path, capsys):
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((250, 6)))
    run = str(tmp_path / "run")
    assert main(["train", "--data", str(data), "--out", run, "--epochs", "1", "--quiet", "--no-plots"]) == 0
    np.save(data, np.random.default_rng(1).random((250, 6)))
    capsys.readouterr()
    assert main(["train", "--resume", run, "--epochs", "2", "--quiet", "--no-plots"]) == 1
    err = capsys.readouterr().err
    assert "changed since the run started" in err and "--allow-data-change" in err
    assert main(["train", "--resume", run, "--epochs", "2", "--quiet", "--no-plots", "--allow-data-change"]) == 0


# ----------------------------------------------------------------------------------------------
# 3. A run whose checkpoint is gone is not restarted silently; nothing is overwritten unasked

def test_missing_checkpoint_is_refused_not_restarted(tmp_path, digits_subset, capsys):
    run = new_run(tmp_path / "run", digits_subset, epochs=2)
    quiet_train(run)
    os.remove(os.path.join(run, CHECKPOINT))
    metrics = pathlib.Path(run, METRICS).read_bytes()
    with pytest.raises(CheckpointError, match=r"checkpoint.npz: no such file, but .* has trained \(2 rows in "
                                              r"metrics.csv, model.npz\)"):
        quiet_train(run, epochs=3)
    assert pathlib.Path(run, METRICS).read_bytes() == metrics               # untouched
    assert main(["train", "--resume", run, "--epochs", "3", "--quiet", "--no-plots"]) == 1
    err = capsys.readouterr().err
    hint = err.split("Train it again from epoch 0 with: ")[1].strip()
    build_parser().parse_args(shlex.split(hint)[3:])                       # the hint is a valid command
    assert main([*shlex.split(hint)[3:], "--epochs", "3", "--quiet", "--no-plots"]) == 0
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2, 3]


def test_overwrite_replaces_an_existing_run_only_when_asked(tmp_path, capsys):
    run = str(tmp_path / "run")
    args = ["train", "--out", run, "--hidden", "8", "--epochs", "1", "--quiet", "--no-plots"]
    assert main(args) == 0
    before = pathlib.Path(run, METRICS).read_text()
    assert main(args) == 1 and "already holds a run" in capsys.readouterr().err
    assert pathlib.Path(run, METRICS).read_text() == before
    assert main([*args[:-4], "--epochs", "2", "--quiet", "--no-plots", "--overwrite"]) == 0
    assert len(read_metrics(run)) == 2


# ----------------------------------------------------------------------------------------------
# 4. Leftovers, ordering and full disks

def test_leftover_temporaries_are_removed_on_resume(tmp_path, digits_subset):
    run = new_run(tmp_path / "run", digits_subset, epochs=1)
    quiet_train(run)
    stale = [pathlib.Path(run, ".checkpoint.npz.k3j9x_2a.tmp"), pathlib.Path(run, ".metrics.csv.abc.tmp")]
    for p in stale:
        p.write_bytes(b"half a file")
    other = pathlib.Path(run, ".mine.tmp")
    other.write_text("not ours")
    quiet_train(run, epochs=2)
    assert not any(p.exists() for p in stale) and other.exists()


def test_a_full_disk_names_the_file_and_keeps_the_previous_checkpoint(tmp_path, digits_subset, monkeypatch):
    run = new_run(tmp_path / "run", digits_subset, epochs=1)
    quiet_train(run)
    ckpt = pathlib.Path(run, CHECKPOINT)
    good = ckpt.read_bytes()

    real_fsync = os.fsync

    def full(fd):                               # the disk fills up while the checkpoint is written
        if CHECKPOINT in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(vae.io.os, "fsync", full)
    with pytest.raises(OSError, match=f"{ckpt}: could not be written \\(No space left on device\\); the previous "
                                      "version is intact") as info:
        quiet_train(run, epochs=2)
    assert isinstance(info.value, VAEError)
    assert ckpt.read_bytes() == good and not [p for p in os.listdir(run) if p.endswith(".tmp")]


# ----------------------------------------------------------------------------------------------
# 6. Data that overflows the model's dtype; divergence names the learning rate

def test_data_that_overflows_float32_is_refused_before_a_run_exists(tmp_path, capsys):
    x = np.random.default_rng(0).random((50, 4))
    x[7, 2] = 1e300
    np.save(tmp_path / "huge.npy", x)
    run = tmp_path / "r"
    status = main(["train", "--data", str(tmp_path / "huge.npy"), "--likelihood", "gaussian", "--out", str(run),
                   "--quiet", "--no-plots"])
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1 and "overflow encountered" not in err
    assert "huge.npy: 1 value beyond the range of float32 (±3.4e+38), the first at row 7, column 2: 1e+300" in err
    assert not run.exists()
    assert load_dataset(str(tmp_path / "huge.npy"), "gaussian", dtype=np.float64).train.dtype == np.float64


def test_divergence_names_the_learning_rate(tmp_path, digits_subset):
    run = new_run(tmp_path / "run", digits_subset, epochs=50, lr=1e9, likelihood="gaussian")
    with pytest.raises(vae.NonFiniteError, match=r"diverged after \d+ Adam steps: a learning rate of 1e\+09 is the "
                                                 "likely cause, try a smaller --lr"):
        quiet_train(run)


# ----------------------------------------------------------------------------------------------
# 7, 9. Hints that run, positions and counts that are right

def commands_in(text):
    return [shlex.split(line.split("python -m vae ", 1)[1]) for line in text.splitlines() if "python -m vae " in line]


def test_every_command_the_cli_suggests_is_accepted(tmp_path, capsys, monkeypatch):
    """Before: eval said "use --binarize", which eval does not accept."""
    run = str(tmp_path / "my run")                                          # a space: quoted in the hints
    assert main(["train", "--out", run, "--hidden", "8", "--epochs", "1", "--no-plots"]) == 0
    texts = capsys.readouterr()
    assert main(["eval", run, "--iwae-k", "5", "--quiet"]) == 0
    more = capsys.readouterr()
    monkeypatch.setattr(vae.train, "train", lambda *a, **k: vae.train.TrainResult(
        "interrupted", 1, 3, [], run, None, None, 1, 15, "SIGINT"))
    assert main(["train", "--resume", run, "--epochs", "2"]) == 130
    last = capsys.readouterr()
    commands = commands_in(texts.out + texts.err + more.out + more.err + last.out + last.err)
    assert len(commands) >= 3 and any("--binarize" in c for c in commands)
    for words in commands:
        build_parser().parse_args(words)                                    # SystemExit(2) if not
    assert "checkpoint saved in epoch 2, after batch 3 of 15" in last.err


def test_done_counts_the_epochs_of_this_session(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "--out", run, "--hidden", "8", "--epochs", "2", "--quiet", "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", run, "--epochs", "3", "--quiet", "--no-plots"]) == 0
    assert "done: 3 epochs in total, 1 in this session" in capsys.readouterr().out


def test_an_evaluation_does_not_survive_further_training(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--hidden", "8", "--epochs", "1", "--quiet", "--no-plots"]) == 0
    assert main(["eval", str(run), "--iwae-k", "5", "--quiet"]) == 0
    evaluation = (run / "eval.json").read_text()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-plots"]) == 0
    assert "eval.stale.json" in capsys.readouterr().out
    assert not (run / "eval.json").exists() and (run / "eval.stale.json").read_text() == evaluation
    assert json.loads(evaluation)["checkpoint"] == "after epoch 1"


# ----------------------------------------------------------------------------------------------
# 8. Loader messages that say what is wrong (and never advise unpickling)

@pytest.mark.parametrize("name, content, fragment", [
    ("text.npy", b"1,2,3\n4,5,6\n", "not a NumPy .npy or .npz file"),
    ("garbage.npy", bytes(range(256)) * 2, "not a NumPy .npy or .npz file"),
    ("truncated.npy", None, "truncated"),
], ids=["text", "garbage", "truncated"])
def test_unreadable_array_files(tmp_path, name, content, fragment):
    path = tmp_path / name
    if content is None:
        np.save(path, np.random.default_rng(0).random((100, 8)))
        content = path.read_bytes()[:500]
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_dataset(str(path))
    message = str(info.value)
    assert fragment in message and str(path) in message and "pickle" not in message


def test_a_garbage_checkpoint_is_not_blamed_on_pickles(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CheckpointError) as info:
        VAE.load(path)
    assert "does not begin with the zip signature" in str(info.value) and "pickle" not in str(info.value)


def test_resume_of_a_file_says_it_is_a_file(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 3)))
    assert main(["train", "--resume", str(tmp_path / "x.npy")]) == 1
    assert "x.npy is a file, not a run directory" in capsys.readouterr().err


def test_library_errors_name_the_file_and_no_cli_flag(tmp_path, capsys):
    np.save(tmp_path / "one.npy", np.full((1, 4), 0.5))
    with pytest.raises(DataError, match=r"one.npy: 1 example; at least 2"):
        load_dataset(str(tmp_path / "one.npy"))
    np.save(tmp_path / "big.npy", np.full((4, 3), 2.0))
    messages = []
    for call in (lambda: load_dataset(str(tmp_path / "big.npy")),
                 lambda: load_dataset("mnist", mnist_dir=str(tmp_path / "none")),
                 lambda: load_dataset(str(tmp_path / "nothing.bin")),
                 lambda: load_dataset("digits", likelihood="poisson")):
        with pytest.raises(DataError) as info:
            call()
        messages.append(str(info.value))
    assert not [m for m in messages if "--" in m], messages
    assert "likelihood must be one of ('bernoulli', 'gaussian', 'continuous-bernoulli'), got 'poisson'" in messages[-1]
    assert main(["train", "--data", str(tmp_path / "big.npy"), "--out", str(tmp_path / "r")]) == 1
    assert "or use the Gaussian likelihood (--likelihood gaussian)" in capsys.readouterr().err
    for bad in ({"likelihood": "poisson"}, {"hidden_dims": ()}, {"dtype": "int8"}):
        with pytest.raises(ValueError) as info:
            VAE(4, **{"hidden_dims": (3,), **bad})
        assert "--" not in str(info.value)


def test_elbo_on_nan_input_says_the_input_holds_nan():
    model = VAE(4, (3,), 2, rng=0)
    x = np.full((5, 4), 0.5)
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"VAE.elbo: x holds NaN \(1 values, the first at row 2, column 1\)"):
        model.elbo(x, rng=np.random.default_rng(0))
