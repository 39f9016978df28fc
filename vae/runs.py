"""The files of a run directory: creating and reading it, its metrics and its checkpoints.

A run directory holds

    config.json      what was asked for (TrainConfig), the model's configuration, the data's description
    metrics.csv      one row per epoch: train/test ELBO, reconstruction and KL (nats per example), seconds
    checkpoint.npz   written atomically at the end of every epoch and on Ctrl-C: model parameters, Adam's
                     moments and step counts, the numpy Generator's bit_generator.state, the metrics so far,
                     and — when stopped mid-epoch — the epoch's permutation, position and running sums
    model.npz        the final model (VAE.load reads it; so does it read checkpoint.npz)
    plots/           written by `python -m vae plot` (and at the end of `train`)

The training loop (vae.train) keeps its position in a `Progress`; `save_checkpoint` writes it with the
model, the optimizer and the Generator, and `load_checkpoint` restores all four.
"""

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .data import BINARIZE_MODES, load_dataset
from .errors import CheckpointError, VAEError
from .io import atomic_write_text, load_npz, save_npz
from .model import ACTIVATIONS, KL_ESTIMATORS, LIKELIHOODS, VAE

__all__ = ["TrainConfig", "Progress", "start_run", "read_run", "write_run_info", "read_metrics", "write_metrics",
           "save_checkpoint", "load_checkpoint", "load_run_model", "describe_checkpoint", "CONFIG", "METRICS",
           "CHECKPOINT", "MODEL", "PLOTS", "METRIC_FIELDS"]

CONFIG, METRICS, CHECKPOINT, MODEL, PLOTS = "config.json", "metrics.csv", "checkpoint.npz", "model.npz", "plots"
METRIC_FIELDS = ("epoch", "train_elbo", "train_reconstruction", "train_kl", "test_elbo", "test_reconstruction",
                 "test_kl", "seconds")


@dataclass
class TrainConfig:
    """Everything that defines a run. Defaults: the digits, a 2-D latent space (so the latent scatter and
    the decoded manifold can be drawn), one hidden layer of 256 tanh units, Adam 1e-3, batch 100.

    `threads` is the number of BLAS threads while training. It is part of the run because OpenBLAS may
    split a matrix product differently, and round differently, with another thread count; 1 is also the
    fastest for matrices this small and cannot stall when another process holds the second core."""
    data: str = "digits"
    mnist_dir: str = "data/mnist"
    binarize: str | None = None
    likelihood: str = "bernoulli"
    latent: int = 2
    hidden: tuple = (256,)
    activation: str = "tanh"
    epochs: int = 1000
    batch_size: int = 100
    lr: float = 1e-3
    samples: int = 1
    kl: str = "analytic"
    dtype: str = "float32"
    seed: int = 0
    threads: int = 1

    def __post_init__(self):
        self.hidden = tuple(self.hidden) if isinstance(self.hidden, (list, tuple)) else (self.hidden,)

    def validate(self, where="config"):
        def positive_int(name, value):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise VAEError(f"{where}: {name} must be a positive integer, got {value!r}")
        for name in ("latent", "epochs", "batch_size", "samples", "threads"):
            positive_int(name, getattr(self, name))
        if not self.hidden:
            raise VAEError(f"{where}: hidden needs at least one layer size")
        for h in self.hidden:
            positive_int("each hidden size", h)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise VAEError(f"{where}: seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.lr, (int, float)) or not (self.lr > 0 and math.isfinite(self.lr)):
            raise VAEError(f"{where}: lr must be a positive number, got {self.lr!r}")
        for name, allowed in (("likelihood", LIKELIHOODS), ("activation", ACTIVATIONS), ("kl", KL_ESTIMATORS),
                              ("dtype", ("float32", "float64")), ("binarize", (None, *BINARIZE_MODES))):
            if getattr(self, name) not in allowed:
                raise VAEError(f"{where}: {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not isinstance(self.data, str) or not isinstance(self.mnist_dir, str):
            raise VAEError(f"{where}: data and mnist_dir must be strings")
        return self

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d, where="config"):
        if not isinstance(d, dict):
            raise VAEError(f"{where}: the training configuration is not a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise VAEError(f"{where}: unknown training options {unknown}")
        try:
            return cls(**d).validate(where)
        except TypeError as e:
            raise VAEError(f"{where}: {e}") from None

    def model_config(self, input_dim):
        return {"input_dim": int(input_dim), "hidden_dims": list(self.hidden), "latent_dim": self.latent,
                "likelihood": self.likelihood, "activation": self.activation, "dtype": self.dtype,
                "obs_std": "learned" if self.likelihood == "gaussian" else None}

    def load_data(self):
        return load_dataset(self.data, self.likelihood, self.binarize, np.dtype(self.dtype), self.mnist_dir)


@dataclass
class Progress:
    """Where the loop is: `epoch` epochs done and `batch` batches of the next one; while inside an epoch,
    its permutation `perm`, the running sums of (ELBO, reconstruction, KL), the examples counted and the
    training seconds so far."""
    epoch: int = 0
    batch: int = 0
    sums: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    count: int = 0
    seconds: float = 0.0
    perm: np.ndarray | None = None


# ----------------------------------------------------------------------------------------------
# The run directory

def _path(run_dir, name):
    return os.path.join(run_dir, name)


def start_run(config, run_dir):
    """Create `run_dir` and write config.json for a new run (the data is loaded once to describe it).
    Returns the loaded Dataset."""
    config.validate()
    if os.path.exists(_path(run_dir, CONFIG)):
        raise VAEError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
    if os.path.exists(run_dir) and (not os.path.isdir(run_dir) or os.listdir(run_dir)):
        raise VAEError(f"{run_dir} exists and is not an empty directory; choose another --out")
    dataset = config.load_data()
    os.makedirs(run_dir, exist_ok=True)
    info = {"format": "vae-run", "version": 1, "train": config.to_dict(),
            "model": config.model_config(dataset.dim),
            "data": {"name": dataset.name, "n_train": len(dataset.train), "n_test": len(dataset.test),
                     "dim": dataset.dim, "image_shape": list(dataset.image_shape), "binarize": dataset.binarize,
                     "labels": dataset.test_labels is not None},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_run_info(run_dir, info)
    return dataset


def write_run_info(run_dir, info):
    """(Re)write config.json, atomically."""
    atomic_write_text(_path(run_dir, CONFIG), json.dumps(info, indent=2) + "\n")


def read_run(run_dir):
    """(TrainConfig, the whole config.json dict) of a run directory; VAEError if it is not one."""
    path = _path(run_dir, CONFIG)
    if not os.path.isdir(run_dir):
        raise VAEError(f"{run_dir}: no such run directory")
    if not os.path.isfile(path):
        raise VAEError(f"{run_dir} is not a run directory (it has no {CONFIG}); create one with "
                       f"python -m vae train --out {run_dir}")
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise VAEError(f"{path}: not a readable run configuration ({e})") from None
    if not isinstance(info, dict) or info.get("format") != "vae-run" or not isinstance(info.get("model"), dict):
        raise VAEError(f"{path}: not a vae run configuration")
    return TrainConfig.from_dict(info.get("train"), path), info


def write_metrics(run_dir, history):
    lines = [",".join(METRIC_FIELDS)]
    lines += [",".join(repr(row[k]) if isinstance(row[k], float) else str(row[k]) for k in METRIC_FIELDS)
              for row in history]
    atomic_write_text(_path(run_dir, METRICS), "\n".join(lines) + "\n")


def read_metrics(run_dir):
    """The rows of metrics.csv as dicts of numbers (an empty list if there is none yet)."""
    path = _path(run_dir, METRICS)
    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
        header = lines[0].split(",")
        rows = [dict(zip(header, (float(v) for v in line.split(",")))) for line in lines[1:]]
    except (OSError, ValueError, IndexError) as e:
        raise VAEError(f"{path}: not a readable metrics file ({e})") from None
    for row in rows:
        row["epoch"] = int(row["epoch"])
    return rows


# ----------------------------------------------------------------------------------------------
# Checkpoints

def save_checkpoint(path, model, opt, rng, config, progress, history):
    """Write model, optimizer, Generator, `progress` and the metrics `history` to `path`, atomically."""
    arrays = {f"param/{k}": v for k, v in model.state_dict().items()}
    state = opt.state_dict()
    steps = []
    for i, s in enumerate(state["state"]):
        steps.append(s.get("step", 0))
        for key in opt.buffers:
            if key in s:
                arrays[f"optim/{i}/{key}"] = s[key]
    if progress.perm is not None:
        arrays["perm"] = progress.perm
    meta = {"format": "vae-checkpoint", "version": 1,
            "config": {"model": model.config(), "train": config.to_dict()},
            "optimizer": {"name": state["optimizer"], "hyperparameters": state["hyperparameters"], "steps": steps},
            "rng": rng.bit_generator.state,
            **{f.name: getattr(progress, f.name) for f in dataclasses.fields(progress) if f.name != "perm"},
            "history": history}
    save_npz(path, arrays, meta)


def _same_run(saved, config):
    """Options that must match between a checkpoint and the run (epochs may change: it only says when to stop)."""
    a, b = dict(saved), config.to_dict()
    a.pop("epochs", None)
    b.pop("epochs", None)
    return {k: (a.get(k), b[k]) for k in b if a.get(k) != b[k]}


def load_checkpoint(path, model, opt, rng, config):
    """Restore model, optimizer and Generator from `path` in place; return (Progress, metrics history)."""
    arrays, meta = load_npz(path, "checkpoint")
    if meta.get("format") != "vae-checkpoint":
        raise CheckpointError(f"{path}: not a vae training checkpoint (format {meta.get('format')!r})")
    try:
        saved = meta["config"]
        if saved["model"] != model.config():
            raise CheckpointError(f"{path}: the checkpoint's model {saved['model']} does not match this run's "
                                  f"model {model.config()}")
        diff = _same_run(saved["train"], config)
        if diff:
            raise CheckpointError(f"{path}: the checkpoint was written by a run with different options "
                                  + ", ".join(f"{k}={v[0]!r} (this run: {v[1]!r})" for k, v in diff.items()))
        params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        model.load_state_dict(params)
        states = []
        for i, step in enumerate(meta["optimizer"]["steps"]):
            s = {key: arrays[f"optim/{i}/{key}"] for key in opt.buffers if f"optim/{i}/{key}" in arrays}
            if s:
                s["step"] = int(step)
            states.append(s)
        hyper = dict(meta["optimizer"]["hyperparameters"])
        if "betas" in hyper:
            hyper["betas"] = tuple(hyper["betas"])
        opt.load_state_dict({"optimizer": meta["optimizer"]["name"], "hyperparameters": hyper, "state": states})
        rng.bit_generator.state = meta["rng"]
        progress = Progress(**{k: meta[k] for k in ("epoch", "batch", "sums", "count", "seconds")},
                            perm=arrays.get("perm"))
        history = meta["history"]
        if not isinstance(progress.epoch, int) or not isinstance(progress.batch, int):
            raise TypeError("epoch and batch must be integers")
        if progress.batch and progress.perm is None:
            raise KeyError("perm")
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise CheckpointError(f"{path}: corrupted or incompatible checkpoint ({type(e).__name__}: {e})") from None
    return progress, history


def load_run_model(run_dir):
    """(TrainConfig, config.json dict, model, checkpoint meta) of a run, from its latest checkpoint."""
    config, info = read_run(run_dir)
    path = _path(run_dir, CHECKPOINT)
    if not os.path.isfile(path):
        raise VAEError(f"{run_dir} has no {CHECKPOINT} yet (no epoch finished); train it first")
    model = VAE.load(path)
    if model.config() != info["model"]:
        raise CheckpointError(f"{path}: the checkpoint's model {model.config()} does not match {CONFIG}'s "
                              f"{info['model']}")
    _, meta = load_npz(path, "checkpoint")
    return config, info, model, meta


def describe_checkpoint(run_dir):
    path = _path(run_dir, CHECKPOINT)
    if not os.path.isfile(path):
        return "no checkpoint had been written yet"
    try:
        meta = load_npz(path, "checkpoint")[1]
        where = f"epoch {meta['epoch']}" + (f", batch {meta['batch']}" if meta.get("batch") else "")
    except (VAEError, KeyError):
        where = "unknown position"
    return f"the last good checkpoint ({path}, after {where}) is kept"
