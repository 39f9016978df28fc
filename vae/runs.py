"""The files of a run directory: creating and reading it, its metrics and its checkpoints.

A run directory holds

    config.json      what was asked for (TrainConfig), the model's configuration, the data's description and
                     fingerprint (shape, dtype and SHA-256 of the training and test arrays)
    metrics.csv      one row per epoch: train/test ELBO, reconstruction and KL (nats per example), seconds;
                     appended at the end of every epoch. The train columns are the training objective's: the
                     ELBO, or with objective "iwae" the IWAE-k bound (and the sample means of log p(x|z) and of
                     log q − log p(z)); with a validation split, val_elbo/val_reconstruction/val_kl too
    checkpoint.npz   model parameters, Adam's moments and step counts, the numpy Generator's state and a
                     small header (position, metrics.csv's length) — and, when stopped mid-epoch, the
                     epoch's permutation and running sums. Its size does not grow with the epochs. Written
                     atomically before the first epoch, then every `checkpoint_every` (default every 30 s
                     of wall time, at the end of an epoch), at the end, and on Ctrl-C or SIGTERM
    model.npz        the final model (VAE.load reads it; so does it read checkpoint.npz)
    best.npz         with a validation split: the model of the epoch with the best validation ELBO (its header
                     holds that epoch and value), rewritten whenever an epoch beats it
    eval.json        written by `python -m vae eval` (eval.best.json by `eval --best`); renamed
                     eval.stale.json (eval.best.stale.json) when training continues
    plots/           written by `python -m vae plot` (and at the end of `train`)

The checkpoint is the truth: metrics.csv may hold rows of epochs trained after it (a kill -9 between two
checkpoints); resuming cuts the file back to the length the checkpoint recorded and trains those epochs
again, drawing the same numbers, so the rows come back the same (but for the seconds).

The training loop (vae.train) keeps its position in a `Progress`; `save_checkpoint` writes it with the
model, the optimizer and the Generator, and `load_checkpoint` restores all four.
"""

import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field

import numpy as np

from minigrad.nn import INITS

from .data import BINARIZE_MODES, load_dataset
from .errors import CheckpointError, DataError, VAEError, WriteError
from .io import atomic_write_text, load_npz, remove_stale_temporaries, save_npz
from .model import ACTIVATIONS, KL_ESTIMATORS, LIKELIHOODS, OBJECTIVES, POSTERIORS, VAE

__all__ = ["TrainConfig", "Progress", "start_run", "read_run", "write_run_info", "fingerprint", "check_data",
           "read_metrics", "metric_fields", "start_metrics", "append_metrics", "recover_metrics", "save_checkpoint",
           "load_checkpoint", "load_run_model", "describe_position", "describe_checkpoint", "clear_run",
           "remove_leftovers", "mark_evaluation_stale", "CONFIG", "METRICS", "CHECKPOINT", "MODEL", "BEST", "PLOTS",
           "EVAL", "EVAL_BEST", "STALE_EVAL", "METRIC_FIELDS"]

CONFIG, METRICS, CHECKPOINT, MODEL, PLOTS = "config.json", "metrics.csv", "checkpoint.npz", "model.npz", "plots"
BEST = "best.npz"
EVAL, STALE_EVAL, EVAL_BEST = "eval.json", "eval.stale.json", "eval.best.json"
STALE = {EVAL: STALE_EVAL, EVAL_BEST: "eval.best.stale.json"}     # evaluations, and their names once stale
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, MODEL, BEST, *STALE, *STALE.values())
METRIC_FIELDS = ("epoch", "train_elbo", "train_reconstruction", "train_kl", "test_elbo", "test_reconstruction",
                 "test_kl", "seconds")
VALIDATION_FIELDS = ("val_elbo", "val_reconstruction", "val_kl")       # with a validation split, before "seconds"


# Options added after the run format was fixed, with the value that their absence stands for: a run written
# before them used that value (the initialization of those runs was Glorot's, or He's for ReLU).
LATER_OPTIONS = {"posterior": "diagonal", "objective": "elbo", "k": 1, "val_fraction": 0.0, "init": "legacy"}


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
    posterior: str = "diagonal"
    objective: str = "elbo"
    k: int = 1
    val_fraction: float = 0.0
    init: str = "torch"
    dtype: str = "float32"
    seed: int = 0
    threads: int = 1

    def __post_init__(self):
        self.hidden = tuple(self.hidden) if isinstance(self.hidden, (list, tuple)) else (self.hidden,)

    def validate(self, where="config"):
        def positive_int(name, value):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise VAEError(f"{where}: {name} must be a positive integer, got {value!r}")
        for name in ("latent", "epochs", "batch_size", "samples", "k", "threads"):
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
                              ("posterior", POSTERIORS), ("objective", OBJECTIVES), ("init", (*INITS, "legacy")),
                              ("dtype", ("float32", "float64")), ("binarize", (None, *BINARIZE_MODES))):
            if getattr(self, name) not in allowed:
                raise VAEError(f"{where}: {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not isinstance(self.data, str) or not isinstance(self.mnist_dir, str):
            raise VAEError(f"{where}: data and mnist_dir must be strings")
        if self.objective == "elbo" and self.k != 1:
            raise VAEError(f"{where}: k = {self.k} importance samples apply to the IWAE objective; train it with "
                           "objective='iwae', or give the ELBO more samples with samples", option=("objective", "iwae"))
        if self.objective == "iwae" and (self.samples != 1 or self.kl != "analytic"):
            raise VAEError(f"{where}: samples and kl are the ELBO's; the IWAE objective takes k importance samples "
                           "and estimates log p(z) − log q(z|x) on them", option=("k", str(max(self.samples, 2))))
        if not isinstance(self.val_fraction, (int, float)) or isinstance(self.val_fraction, bool) or \
                not 0 <= self.val_fraction < 1:
            raise VAEError(f"{where}: val_fraction must be a number in [0, 1), got {self.val_fraction!r}")
        return self

    def to_dict(self):
        """The options as JSON values. Options added after runs were first written are left out at their
        default (absent means the default), so the runs written before them read and compare unchanged."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        for key, default in LATER_OPTIONS.items():
            if d[key] == default:
                del d[key]
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
            return cls(**{**LATER_OPTIONS, **d}).validate(where)
        except TypeError as e:
            raise VAEError(f"{where}: {e}") from None

    def model_config(self, input_dim):
        return {"input_dim": int(input_dim), "hidden_dims": list(self.hidden), "latent_dim": self.latent,
                "likelihood": self.likelihood, "activation": self.activation, "dtype": self.dtype,
                "obs_std": "learned" if self.likelihood == "gaussian" else None,
                **({} if self.posterior == "diagonal" else {"posterior": self.posterior})}   # as VAE.config()

    def model_init(self):
        """VAE's `init` for this run: "legacy" (a run from before the option) is Glorot's, He's for ReLU."""
        if self.init == "legacy":
            return "he" if self.activation == "relu" else "glorot"
        return self.init

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


def fingerprint(dataset):
    """What resuming checks the data against: shape, dtype and SHA-256 of the training and test arrays
    as the model sees them (after the cast to its dtype and any static binarization)."""
    def one(x):
        x = np.ascontiguousarray(x)
        return {"shape": list(x.shape), "dtype": x.dtype.name, "sha256": hashlib.sha256(x.data).hexdigest()}
    return {"train": one(dataset.train), "test": one(dataset.test)}


def _describe_data(dataset):
    return {"name": dataset.name, "n_train": len(dataset.train), "n_test": len(dataset.test), "dim": dataset.dim,
            "image_shape": list(dataset.image_shape), "binarize": dataset.binarize,
            "labels": dataset.test_labels is not None, "fingerprint": fingerprint(dataset)}


def clear_run(run_dir):
    """Remove the files a run wrote (config.json, metrics, checkpoint, model, evaluations, plots/)."""
    for name in RUN_FILES:
        if os.path.isfile(_path(run_dir, name)):
            os.remove(_path(run_dir, name))
    if os.path.isdir(_path(run_dir, PLOTS)):
        shutil.rmtree(_path(run_dir, PLOTS))


def start_run(config, run_dir, overwrite=False):
    """Create `run_dir` and write config.json for a new run (the data is loaded, and validated, before
    anything is created). An existing run is replaced only if `overwrite`. Returns the loaded Dataset."""
    config.validate()
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise VAEError(f"{run_dir} is a file, not a directory; choose another --out")
    if os.path.exists(_path(run_dir, CONFIG)) and not overwrite:
        raise VAEError(f"{run_dir} already holds a run; continue it with --resume {run_dir}, replace it with "
                       f"--overwrite, or choose another --out")
    if not overwrite and os.path.isdir(run_dir) and os.listdir(run_dir):
        raise VAEError(f"{run_dir} exists and is not an empty directory; choose another --out")
    dataset = config.load_data()
    if overwrite and os.path.isdir(run_dir):
        clear_run(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    info = {"format": "vae-run", "version": 1, "train": config.to_dict(),
            "model": config.model_config(dataset.dim), "data": _describe_data(dataset),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_run_info(run_dir, info)
    return dataset


def write_run_info(run_dir, info):
    """(Re)write config.json, atomically."""
    atomic_write_text(_path(run_dir, CONFIG), json.dumps(info, indent=2) + "\n")


def read_run(run_dir):
    """(TrainConfig, the whole config.json dict) of a run directory; VAEError if it is not one."""
    path = _path(run_dir, CONFIG)
    if os.path.isfile(run_dir):
        raise VAEError(f"{run_dir} is a file, not a run directory (a run directory holds {CONFIG}, {METRICS} "
                       f"and {CHECKPOINT})")
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


def check_data(run_dir, info, dataset, allow_change=False, stopped_in_epoch=None, n_train=None):
    """Refuse (DataError) to continue a run on data other than it started with, saying what changed;
    with `allow_change`, record the new data in config.json instead — unless the run stopped inside an
    epoch (`stopped_in_epoch` = (Progress, batches per epoch)) whose permutation no longer fits the
    `n_train` examples it trains on (default: all of dataset.train). Returns True if it changed."""
    n_train = len(dataset.train) if n_train is None else n_train
    saved, now = info["data"].get("fingerprint"), fingerprint(dataset)
    if saved == now:
        return False
    if saved is None:                            # a run from before fingerprints: record them now
        changes = []
    else:
        changes = [f"the {part} set was {saved[part]['shape']} {saved[part]['dtype']} (SHA-256 "
                   f"{saved[part]['sha256'][:12]}…), now {now[part]['shape']} {now[part]['dtype']} (SHA-256 "
                   f"{now[part]['sha256'][:12]}…)" for part in ("train", "test") if saved.get(part) != now[part]]
    if changes and not allow_change:
        raise DataError(f"{run_dir}: the data ({info['train']['data']}) changed since the run started: "
                        + "; ".join(changes) + ". Resume with the same data, or pass allow_data_change=True "
                        "(--allow-data-change) to continue on the new data")
    if stopped_in_epoch is not None and len(stopped_in_epoch[0].perm) != n_train:
        progress, n_batches = stopped_in_epoch
        raise DataError(f"{run_dir} stopped {describe_position(progress.epoch, progress.batch, n_batches)} with "
                        f"{len(progress.perm)} training examples; the data now has {n_train}, so that "
                        "epoch cannot be finished (not even with allow_data_change)")
    info["data"] = _describe_data(dataset)
    write_run_info(run_dir, info)
    return bool(changes)


def remove_leftovers(run_dir):
    """Remove the temporary files of atomic writes that a killed run left in `run_dir`."""
    return [p for name in RUN_FILES for p in remove_stale_temporaries(_path(run_dir, name))]


def mark_evaluation_stale(run_dir):
    """eval.json describes the model at the checkpoint it was run on (eval.best.json best.npz's); once
    training continues it is renamed eval.stale.json (eval.best.stale.json). Returns True if there was one."""
    found = False
    for name, stale in STALE.items():
        if os.path.isfile(_path(run_dir, name)):
            os.replace(_path(run_dir, name), _path(run_dir, stale))
            found = True
    return found


# ----------------------------------------------------------------------------------------------
# metrics.csv: one line appended per epoch (the cost of an epoch does not grow with the run)

def metric_fields(config):
    """The columns of a run's metrics.csv: METRIC_FIELDS, and VALIDATION_FIELDS before "seconds" when the
    run holds out a validation set."""
    if not config.val_fraction:
        return METRIC_FIELDS
    return METRIC_FIELDS[:-1] + VALIDATION_FIELDS + METRIC_FIELDS[-1:]


def _metrics_line(row):
    return ",".join(repr(v) if isinstance(v, float) else str(v) for v in row.values()) + "\n"


def start_metrics(run_dir, fields=METRIC_FIELDS):
    """A metrics.csv holding only the header `fields` (replacing any), atomically."""
    atomic_write_text(_path(run_dir, METRICS), ",".join(fields) + "\n")


def append_metrics(run_dir, row):
    """Append one epoch's row, its values in the order of the header's fields (floats as repr, so they read
    back exactly). Not fsync'd here: the next
    checkpoint syncs the file before it records its length."""
    path = _path(run_dir, METRICS)
    try:
        with open(path, "a", encoding="utf-8", newline="") as f:
            f.write(_metrics_line(row))
    except OSError as e:
        raise WriteError(f"{path}: could not append the row of epoch {row['epoch']} ({e.strerror or e}); the last "
                         f"checkpoint is intact, and resuming repairs {METRICS}") from e


def _sync_metrics(run_dir):
    """fsync metrics.csv and return its length in bytes."""
    path = _path(run_dir, METRICS)
    try:
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
            return os.fstat(f.fileno()).st_size
    except OSError as e:
        raise WriteError(f"{path}: could not be written to disk ({e.strerror or e}); the last checkpoint is "
                         "intact, and resuming repairs the file") from e


def _parse_metrics(path, text):
    try:
        lines = [line for line in text.splitlines() if line.strip()]
        header = lines[0].split(",")
        rows = [dict(zip(header, (float(v) for v in line.split(",")), strict=True)) for line in lines[1:]]
        for row in rows:
            row["epoch"] = int(row["epoch"])
    except (ValueError, IndexError, KeyError) as e:
        raise VAEError(f"{path}: not a readable metrics file ({e})") from None
    return rows


def read_metrics(run_dir):
    """The rows of metrics.csv as dicts of numbers (an empty list if there is none yet)."""
    path = _path(run_dir, METRICS)
    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8") as f:
            return _parse_metrics(path, f.read())
    except OSError as e:
        raise VAEError(f"{path}: not a readable metrics file ({e})") from None


def recover_metrics(run_dir, length, epoch):
    """Cut metrics.csv back to the `length` bytes the checkpoint recorded (dropping the rows of epochs
    trained after it) and return its rows, which must be those of epochs 1…`epoch`."""
    path = _path(run_dir, METRICS)
    size = os.path.getsize(path) if os.path.isfile(path) else None
    if size is None or size < length:
        raise CheckpointError(f"{path}: " + ("missing" if size is None else f"{size} bytes, shorter than the "
                              f"{length} it had") + f" when {CHECKPOINT} was written after epoch {epoch}: rows of "
                              "that run were lost; it cannot be resumed exactly (start it again with --overwrite)")
    if size > length:
        os.truncate(path, length)
    with open(path, encoding="utf-8") as f:
        rows = _parse_metrics(path, f.read())
    if [r["epoch"] for r in rows] != list(range(1, epoch + 1)):
        raise CheckpointError(f"{path}: expected the rows of epochs 1 to {epoch} (as {CHECKPOINT} says), found "
                              f"{len(rows)} rows")
    return rows


# ----------------------------------------------------------------------------------------------
# Checkpoints: model + optimizer + Generator + a small header; nothing that grows with the epochs

def save_checkpoint(run_dir, model, opt, rng, config, progress, n_batches):
    """Write model, optimizer, Generator and `progress` to run_dir/checkpoint.npz, atomically, after
    syncing metrics.csv (whose length it records: the rows up to here are on disk before it is)."""
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
    meta = {"format": "vae-checkpoint", "version": 2,
            "config": {"model": model.config(), "train": config.to_dict()},
            "optimizer": {"name": state["optimizer"], "hyperparameters": state["hyperparameters"], "steps": steps},
            "rng": rng.bit_generator.state,
            **{f.name: getattr(progress, f.name) for f in dataclasses.fields(progress) if f.name != "perm"},
            "n_batches": n_batches, "metrics_bytes": _sync_metrics(run_dir)}
    save_npz(_path(run_dir, CHECKPOINT), arrays, meta)


def _same_run(saved, config):
    """Options that must match between a checkpoint and the run (epochs may change: it only says when to stop)."""
    a, b = dict(saved), config.to_dict()
    a.pop("epochs", None)
    b.pop("epochs", None)
    return {k: (a.get(k), b[k]) for k in b if a.get(k) != b[k]}


def load_checkpoint(path, model, opt, rng, config):
    """Restore model, optimizer and Generator from `path` in place; return (Progress, the header)."""
    arrays, meta = load_npz(path, "checkpoint")
    if meta.get("format") != "vae-checkpoint":
        raise CheckpointError(f"{path}: not a vae training checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != 2:
        raise CheckpointError(f"{path}: a checkpoint of format version {meta.get('version')!r}; this version of "
                              "vae reads version 2 (the model in it still loads with VAE.load)")
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
        for key in ("epoch", "batch", "metrics_bytes", "n_batches"):
            if not isinstance(meta[key], int):
                raise TypeError(f"{key} must be an integer")
        if progress.batch and progress.perm is None:
            raise KeyError("perm")
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise CheckpointError(f"{path}: corrupted or incompatible checkpoint ({type(e).__name__}: {e})") from None
    return progress, meta


def load_run_model(run_dir, best=False):
    """(TrainConfig, config.json dict, model, its file's meta) of a run: the model of its latest checkpoint,
    or with `best` the one of best.npz (the epoch with the best validation ELBO)."""
    config, info = read_run(run_dir)
    path = _path(run_dir, BEST if best else CHECKPOINT)
    if best and not os.path.isfile(path):
        raise VAEError(f"{run_dir} has no {BEST}: a run keeps the model of its best validation ELBO only when it "
                       "trains with a validation split (val_fraction > 0)")
    if not os.path.isfile(path):
        raise VAEError(f"{run_dir} has no {CHECKPOINT}: it has not trained yet; train it first")
    model = VAE.load(path)
    if model.config() != info["model"]:
        raise CheckpointError(f"{path}: the checkpoint's model {model.config()} does not match {CONFIG}'s "
                              f"{info['model']}")
    _, meta = load_npz(path, "checkpoint")
    return config, info, model, meta


def describe_position(epoch, batch, n_batches=None):
    """Where a run stands, counted as people count: "after epoch 10", "in epoch 11, after batch 7 of 15"."""
    if not batch:
        return f"after epoch {epoch}" if epoch else "before the first epoch"
    return f"in epoch {epoch + 1}, after batch {batch}" + (f" of {n_batches}" if n_batches else "")


def describe_checkpoint(run_dir):
    path = _path(run_dir, CHECKPOINT)
    if not os.path.isfile(path):
        return "no checkpoint had been written yet"
    try:
        meta = load_npz(path, "checkpoint")[1]
        where = describe_position(meta["epoch"], meta["batch"], meta.get("n_batches"))
    except (VAEError, KeyError):
        where = "at an unknown position"
    return f"the last good checkpoint ({path}, {where}) is kept"
