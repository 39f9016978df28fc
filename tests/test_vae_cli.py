"""The command line: train, eval and plot through main(argv) and as `python -m vae` subprocesses; PNGs are
valid images of the promised size; bad input gives one line on stderr and a non-zero status."""

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import matplotlib.image
import numpy as np
import pytest

from vae.cli import main
from vae.plots import PLOT_PIXELS

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = ["--hidden", "16", "--epochs", "2", "--quiet"]
# (width, height) of every figure, written out here rather than read from the code under test
EXPECTED_PIXELS = {"loss_curves.png": (1000, 400), "reconstructions.png": (1000, 260), "samples.png": (600, 600),
                   "latent_scatter.png": (700, 600), "manifold.png": (600, 600)}


def run_main(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def check_pngs(plot_dir, names):
    assert sorted(os.listdir(plot_dir)) == sorted(names)
    for name in names:
        image = matplotlib.image.imread(os.path.join(plot_dir, name))
        width, height = EXPECTED_PIXELS[name]
        assert image.shape == (height, width, 4), (name, image.shape)
        assert image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
        assert image[..., :3].std() > 0.01      # not a blank canvas


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A digits run with a 2-D latent space, trained for 2 epochs through main()."""
    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--out", str(run), "--no-plots", *TINY]) == 0
    return run


def test_train_writes_a_run_directory(trained_run):
    assert sorted(os.listdir(trained_run)) == ["checkpoint.npz", "config.json", "metrics.csv", "model.npz"]
    info = json.loads((trained_run / "config.json").read_text())
    fingerprint = info["data"].pop("fingerprint")
    assert {part: (f["shape"], f["dtype"], len(f["sha256"])) for part, f in fingerprint.items()} == \
        {"train": ([1438, 64], "float32", 64), "test": ([359, 64], "float32", 64)}
    assert info["train"]["data"] == "digits" and info["train"]["latent"] == 2 and info["train"]["lr"] == 1e-3
    assert info["train"]["batch_size"] == 100 and info["model"]["hidden_dims"] == [16]
    assert info["data"] == {"name": "digits", "n_train": 1438, "n_test": 359, "dim": 64, "image_shape": [8, 8],
                            "binarize": "none", "labels": True}
    with open(trained_run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert set(rows[0]) == {"epoch", "train_elbo", "train_reconstruction", "train_kl", "test_elbo",
                            "test_reconstruction", "test_kl", "seconds"}
    assert all(np.isfinite(float(v)) for r in rows for v in r.values())


def test_eval_reports_elbo_and_iwae(trained_run, capsys):
    status, out, err = run_main(["eval", str(trained_run), "--iwae-k", "20", "--samples", "50", "--quiet"], capsys)
    assert status == 0, err
    assert "| test ELBO (50 samples, analytic KL) |" in out and "| IWAE bound, k = 20 (log p(x) estimate) |" in out
    result = json.loads((trained_run / "eval.json").read_text())
    assert result["iwae_k"] == 20 and result["n_test"] == 359 and result["checkpoint"] == "after epoch 2"
    # IWAE_20 − ELBO is ≈ 0.2 nats for this model; the noise of either estimate is ≈ 0.02 (seeds 0-2)
    assert result["test_iwae"] > result["test_elbo"] + 0.1
    assert f"{result['test_iwae']:.3f}" in out


def test_plot_writes_valid_pngs_of_the_expected_size(trained_run, tmp_path, capsys):
    status, out, err = run_main(["plot", str(trained_run), "--out", str(tmp_path / "figs")], capsys)
    assert status == 0, err
    assert f"plots: {tmp_path / 'figs'}" in out
    check_pngs(tmp_path / "figs", EXPECTED_PIXELS)
    assert EXPECTED_PIXELS == PLOT_PIXELS


def test_a_wider_latent_space_has_no_manifold_plot(tmp_path, capsys):
    data = np.random.default_rng(0).random((60, 10))
    np.save(tmp_path / "x.npy", data)
    run = tmp_path / "run"
    status, out, err = run_main(["train", "--data", str(tmp_path / "x.npy"), "--latent", "3", "--out", str(run),
                                 "--likelihood", "gaussian", "--batch-size", "16", *TINY], capsys)
    assert status == 0, err
    check_pngs(run / "plots", [n for n in EXPECTED_PIXELS if n != "manifold.png"])
    assert f"plots: {run / 'plots'}{os.sep}" in out


def test_interrupt_and_resume_via_the_cli(tmp_path, capsys, monkeypatch):
    """Ctrl-C during `train` saves and exits with 130; `train --resume` finishes with the same metrics as
    a run that was never interrupted."""
    import vae.train

    real_train = vae.train.train

    def train_with_ctrl_c(run_dir, **kwargs):
        def hook(epoch, batch, model):
            if (epoch, batch) == (1, 3):
                os.kill(os.getpid(), signal.SIGINT)
        return real_train(run_dir, on_batch=hook, **kwargs)

    common = ["--hidden", "16", "--epochs", "3", "--quiet", "--no-plots"]
    assert main(["train", "--out", str(tmp_path / "a"), *common]) == 0
    monkeypatch.setattr(vae.train, "train", train_with_ctrl_c)
    status, out, err = run_main(["train", "--out", str(tmp_path / "b"), *common], capsys)
    assert status == 130
    assert "interrupted (SIGINT): checkpoint saved in epoch 2, after batch 4 of 15" in err and "--resume" in err
    monkeypatch.setattr(vae.train, "train", real_train)
    status, out, err = run_main(["train", "--resume", str(tmp_path / "b"), "--quiet", "--no-plots"], capsys)
    assert status == 0, err
    a, b = ([r.rsplit(",", 1)[0] for r in (tmp_path / d / "metrics.csv").read_text().splitlines()] for d in "ab")
    assert a == b and len(a) == 4


@pytest.mark.parametrize("argv, fragments", [
    (["eval", "{tmp}/absent"], ["no such run directory"]),
    (["eval", "{tmp}"], ["is not a run directory"]),
    (["plot", "{tmp}"], ["is not a run directory"]),
    (["train", "--data", "{tmp}/absent.npy", "--out", "{tmp}/r"], ["absent.npy: no such file"]),
    (["train", "--data", "{tmp}/nan.npy", "--out", "{tmp}/r"], ["nan.npy", "NaN or infinite"]),
    (["train", "--data", "{tmp}/big.npy", "--out", "{tmp}/r"], ["big.npy", "must lie in [0, 1]"]),
    (["train", "--data", "{tmp}/flat.npy", "--out", "{tmp}/r"], ["flat.npy", "expected a 2-D array"]),
    (["train", "--data", "{tmp}/bad.idx", "--out", "{tmp}/r"], ["expected 'digits', 'mnist'"]),
    (["train", "--data", "mnist", "--mnist-dir", "{tmp}/none", "--out", "{tmp}/r"], ["--mnist-dir"]),
    (["train", "--data", "{tmp}", "--out", "{tmp}/r"], ["train-images-idx3-ubyte", "not found"]),
    (["train", "--resume", "{tmp}"], ["is not a run directory"]),
])
def test_bad_input_gives_one_line_and_status_1(tmp_path, capsys, argv, fragments):
    np.save(tmp_path / "nan.npy", np.array([[0.5, np.nan]] * 4))
    np.save(tmp_path / "big.npy", np.full((4, 3), 2.0))
    np.save(tmp_path / "flat.npy", np.zeros(5))
    (tmp_path / "bad.idx").write_bytes(b"\x00")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    status, out, err = run_main(argv, capsys)
    assert status == 1
    assert_one_line_error(err, *fragments)
    assert not (tmp_path / "r" / "config.json").exists()


def test_corrupted_checkpoint_and_existing_run(trained_run, tmp_path, capsys):
    run = tmp_path / "copy"
    run.mkdir()
    for name in ("config.json", "metrics.csv"):
        (run / name).write_bytes((trained_run / name).read_bytes())
    (run / "checkpoint.npz").write_bytes(b"PK\x03\x04 garbage")
    for argv in (["eval", str(run)], ["plot", str(run)], ["train", "--resume", str(run)]):
        status, out, err = run_main(argv, capsys)
        assert status == 1
        assert_one_line_error(err, "checkpoint.npz", "corrupted")
    status, out, err = run_main(["train", "--out", str(trained_run), *TINY], capsys)
    assert status == 1
    assert_one_line_error(err, "already holds a run")


@pytest.mark.parametrize("argv", [
    ["train", "--lr", "-1"], ["train", "--epochs", "0"], ["train", "--hidden", "4,x"], ["train", "--kl", "exact"],
    ["train", "--resume", "somewhere", "--latent", "3"], ["eval"], ["frobnicate"], [],
])
def test_bad_arguments_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "error:" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["train", "eval", "plot"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: python -m vae {command}" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# As a user runs it

def python_m_vae(*args, cwd, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "vae", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_subprocess_train_eval_plot(tmp_path):
    train = python_m_vae("train", "--hidden", "16", "--epochs", "2", cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    runs = list((tmp_path / "runs").iterdir())           # the default --out: runs/<time>-digits
    assert len(runs) == 1 and runs[0].name.endswith("-digits")
    run = runs[0]
    assert "epoch 2/2: train ELBO" in train.stdout
    assert f"plots: {os.path.join('runs', run.name, 'plots')}{os.sep} (loss_curves.png" in train.stdout
    check_pngs(run / "plots", EXPECTED_PIXELS)
    evaluation = python_m_vae("eval", str(run), "--iwae-k", "10", cwd=tmp_path)
    assert evaluation.returncode == 0, evaluation.stderr
    assert "IWAE bound, k = 10" in evaluation.stdout
    plot = python_m_vae("plot", str(run), "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    check_pngs(tmp_path / "again", EXPECTED_PIXELS)
    bad = python_m_vae("eval", str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def test_subprocess_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "vae", "train", "--out", str(run), "--hidden", "16",
                             "--epochs", "100000", "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (not (run / "metrics.csv").exists() or len((run / "metrics.csv").read_text().splitlines()) < 2) \
                and proc.poll() is None and time.monotonic() < deadline:          # an epoch done
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted (SIGINT): checkpoint saved " in err and "Traceback" not in err
    from vae.io import load_npz
    meta = load_npz(run / "checkpoint.npz", "checkpoint")[1]
    assert meta["epoch"] >= 1


def test_the_allocator_setting_changes_no_number(tmp_path):
    """train tunes glibc's malloc unless --no-tune-allocator. Each run is its own process (mallopt changes the
    whole process, for good), the tuned one through the real vae.tune_allocator — recorded, not replaced —
    so a setting that changed a number, or failed, fails this test; the metrics (all but the seconds) agree."""
    from vae import allocator
    code = ("import json, sys, vae.allocator, vae.cli\n"
            "real, calls = vae.allocator.tune_allocator, []\n"
            "def recorded(*a, **k):\n"
            "    calls.append(real(*a, **k))\n"
            "    return calls[-1]\n"
            "vae.cli.tune_allocator = recorded\n"
            "status = vae.cli.main(sys.argv[1:])\n"
            "print(json.dumps(calls))\n"
            "sys.exit(status)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((500, 64)))     # no scikit-learn to import
    procs = {name: subprocess.Popen([sys.executable, "-c", code, "train", "--data", str(tmp_path / "x.npy"), "--out",
                                     str(tmp_path / name), "--no-plots", *TINY, *extra], cwd=tmp_path, env=env,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for name, extra in (("tuned", []), ("untuned", ["--no-tune-allocator"]))}
    rows, calls = {}, {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        calls[name] = json.loads(out.strip().splitlines()[-1])
        with open(tmp_path / name / "metrics.csv", newline="") as f:
            rows[name] = [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]
    tuned = allocator.TUNED if allocator._glibc() is not None else None
    assert calls == {"tuned": [tuned], "untuned": []}          # the real call, made once, in the tuned run only
    assert rows["tuned"] == rows["untuned"] and len(rows["tuned"]) == 2
