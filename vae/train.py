"""Training: the loop, per-epoch metrics, atomic checkpoints, bit-for-bit resume, Ctrl-C, non-finite stops.

A run directory holds

    config.json      what was asked for (TrainConfig), the model's configuration, the data's description
    metrics.csv      one row per epoch: train/test ELBO, reconstruction and KL (nats per example), seconds
    checkpoint.npz   written atomically at the end of every epoch and on Ctrl-C: model parameters, Adam's
                     moments and step counts, the numpy Generator's bit_generator.state, the metrics so far,
                     and — when stopped mid-epoch — the epoch's permutation, position and running sums
    model.npz        the final model (VAE.load reads it; so does it read checkpoint.npz)
    plots/           written by `python -m vae plot` (and at the end of `train`)

All randomness — initial weights, the order of the batches, dynamic binarization, ε — comes from one
numpy Generator seeded with TrainConfig.seed, in a fixed order. The checkpoint stores that Generator's
state, so a resumed run draws exactly the numbers the uninterrupted run would have drawn and produces the
same metrics, bit for bit. Test-set evaluations use their own Generator seeded with (seed, epoch).
"""

import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

import minigrad as mg

from .data import BINARIZE_MODES, binarize, load_dataset, shuffled_batches
from .io import CheckpointError, VAEError, atomic_write_text, load_npz, save_npz
from .model import ACTIVATIONS, KL_ESTIMATORS, LIKELIHOODS, VAE

__all__ = ["TrainConfig", "TrainResult", "NonFiniteError", "start_run", "train", "evaluate", "read_run",
           "load_run_model", "CONFIG", "METRICS", "CHECKPOINT", "MODEL", "PLOTS", "METRIC_FIELDS"]

CONFIG, METRICS, CHECKPOINT, MODEL, PLOTS = "config.json", "metrics.csv", "checkpoint.npz", "model.npz", "plots"
METRIC_FIELDS = ("epoch", "train_elbo", "train_reconstruction", "train_kl", "test_elbo", "test_reconstruction",
                 "test_kl", "seconds")
EVAL_BATCH = 1000


class NonFiniteError(VAEError):
    """The loss or a gradient became NaN or infinite; the message names the epoch, batch and op."""


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
class TrainResult:
    status: str                 # "completed" or "interrupted"
    epoch: int                  # epochs completed
    batch: int                  # batches done in the next epoch (0 unless interrupted mid-epoch)
    history: list
    run_dir: str
    model: VAE
    dataset: object


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
    atomic_write_text(_path(run_dir, CONFIG), json.dumps(info, indent=2) + "\n")
    return dataset


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


def _write_metrics(run_dir, history):
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

def save_checkpoint(path, model, opt, rng, config, progress):
    arrays = {f"param/{k}": v for k, v in model.state_dict().items()}
    state = opt.state_dict()
    steps = []
    for i, s in enumerate(state["state"]):
        steps.append(s.get("step", 0))
        for key in opt.buffers:
            if key in s:
                arrays[f"optim/{i}/{key}"] = s[key]
    if progress.get("perm") is not None:
        arrays["perm"] = progress["perm"]
    meta = {"format": "vae-checkpoint", "version": 1,
            "config": {"model": model.config(), "train": config.to_dict()},
            "optimizer": {"name": state["optimizer"], "hyperparameters": state["hyperparameters"], "steps": steps},
            "rng": rng.bit_generator.state,
            **{k: v for k, v in progress.items() if k != "perm"}}
    save_npz(path, arrays, meta)


def _same_run(saved, config):
    """Options that must match between a checkpoint and the run (epochs may change: it only says when to stop)."""
    a, b = dict(saved), config.to_dict()
    a.pop("epochs", None)
    b.pop("epochs", None)
    return {k: (a.get(k), b[k]) for k in b if a.get(k) != b[k]}


def load_checkpoint(path, model, opt, rng, config):
    """Restore model, optimizer and Generator from `path` in place; return the progress it recorded."""
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
        progress = {k: meta[k] for k in ("epoch", "batch", "sums", "count", "seconds", "history")}
        progress["perm"] = arrays.get("perm")
        if not isinstance(progress["epoch"], int) or not isinstance(progress["batch"], int):
            raise TypeError("epoch and batch must be integers")
        if progress["batch"] and progress["perm"] is None:
            raise KeyError("perm")
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise CheckpointError(f"{path}: corrupted or incompatible checkpoint ({type(e).__name__}: {e})") from None
    return progress


# ----------------------------------------------------------------------------------------------
# Evaluation

def evaluate(model, x, n_samples=1, kl="analytic", rng=None, batch_size=EVAL_BATCH):
    """Mean ELBO, reconstruction and KL per example of x (nats), without a graph."""
    sums = np.zeros(3)
    with mg.no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, len(x), batch_size):
            out = model.elbo(x[start:start + batch_size], n_samples=n_samples, kl=kl, rng=rng)
            sums += [t.data.sum(dtype=np.float64) for t in out]
    elbo, rec, kl_value = (float(v) for v in sums / len(x))
    return {"elbo": elbo, "reconstruction": rec, "kl": kl_value}


def iwae(model, x, k, rng, batch_size=100, progress=None):
    """Mean IWAE_k bound per example of x (nats), in batches of examples."""
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, len(x), batch_size):
            total += float(model.iwae_bound(x[start:start + batch_size], k, rng=rng).data.sum())
            if progress is not None:
                progress.update(min(batch_size, len(x) - start))
    return total / len(x)


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


# ----------------------------------------------------------------------------------------------
# The loop

class _StopOnInterrupt:
    """The first Ctrl-C (SIGINT) only sets `requested`; the loop saves a checkpoint after the batch in
    progress and returns. A second Ctrl-C raises KeyboardInterrupt at once (nothing more is saved)."""

    def __enter__(self):
        self.requested = False
        self.installed = (threading.current_thread() is threading.main_thread()
                          and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)   # e.g. `nohup … &`
        if self.installed:
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc):
        if self.installed:
            signal.signal(signal.SIGINT, self.previous if self.previous is not None else signal.default_int_handler)
        return False


def _forward_backward(model, params, opt, xb, eps, kl):
    """One step's loss −mean ELBO and its gradients; (ELBO terms, None) or (None, what went non-finite)."""
    opt.zero_grad()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            out = model.elbo(xb, kl=kl, eps=eps)
            loss = -out.elbo.mean()
            if not math.isfinite(loss.item()):
                return None, "the loss is not finite"
            loss.backward()
        except (ValueError, FloatingPointError):
            return None, "the forward pass failed"
    problem = _gradient_problem(params)
    return (out, None) if problem is None else (None, problem)


def _gradient_problem(params):
    """None if every gradient is finite and small enough for Adam to square (|g| < √max of the dtype),
    else what is wrong. Two reductions per parameter, no temporaries."""
    for p in params:
        if p.grad is None:
            continue
        hi, lo = float(p.grad.max()), float(p.grad.min())
        if not (math.isfinite(hi) and math.isfinite(lo)):
            return "a gradient is not finite"
        if max(hi, -lo) >= math.sqrt(np.finfo(p.grad.dtype).max):
            return (f"a gradient is too large for Adam (|g| = {max(hi, -lo):.3g}: its square overflows "
                    f"{p.grad.dtype}); try a smaller --lr")
    return None


def _diagnose(model, xb, eps, kl):
    """Rerun one batch under minigrad.detect_anomaly() and return what it says about the first op that
    produced a NaN or infinity (forward or backward)."""
    model.zero_grad()
    try:
        with mg.detect_anomaly(), np.errstate(all="ignore"):
            out = model.elbo(xb, eps=eps, kl=kl)
            (-out.elbo.mean()).backward()
    except (FloatingPointError, ValueError) as e:
        return str(e)
    finally:
        model.zero_grad()
    return "no op produced a non-finite value"


def _describe_checkpoint(run_dir):
    path = _path(run_dir, CHECKPOINT)
    if not os.path.isfile(path):
        return "no checkpoint had been written yet"
    try:
        meta = load_npz(path, "checkpoint")[1]
        where = f"epoch {meta['epoch']}" + (f", batch {meta['batch']}" if meta.get("batch") else "")
    except (VAEError, KeyError):
        where = "unknown position"
    return f"the last good checkpoint ({path}, after {where}) is kept"


def train(run_dir, *, epochs=None, quiet=False, log=None, on_batch=None):
    """Train the run in `run_dir` (created by start_run), continuing from its checkpoint if it has one.

    epochs    change the number of epochs to train in total (stored in config.json)
    quiet     no progress bar and no per-epoch lines
    log       callable for the per-epoch lines (default: tqdm.write, to stdout, below the progress bar)
    on_batch  called as on_batch(epoch, batch, model) after every optimizer step (a hook for tests)

    Returns a TrainResult; raises NonFiniteError if the loss or a gradient stops being finite."""
    config, info = read_run(run_dir)
    if epochs is not None:
        config.epochs = epochs
        config.validate("--epochs")
    dataset = config.load_data()
    if dataset.dim != info["model"]["input_dim"]:
        raise VAEError(f"--data {config.data}: the data now has {dataset.dim} features per example, but the run's "
                       f"model expects {info['model']['input_dim']}")
    dtype = np.dtype(config.dtype)
    rng = np.random.default_rng(config.seed)
    model = VAE(**config.model_config(dataset.dim), rng=rng)
    params = model.parameters()
    opt = mg.optim.Adam(params, lr=config.lr)
    ckpt = _path(run_dir, CHECKPOINT)
    progress = {"epoch": 0, "batch": 0, "sums": [0.0, 0.0, 0.0], "count": 0, "seconds": 0.0, "history": [],
                "perm": None}
    if os.path.exists(ckpt):
        progress = load_checkpoint(ckpt, model, opt, rng, config)
        if progress["epoch"] > config.epochs or (progress["epoch"] == config.epochs and progress["batch"]):
            raise VAEError(f"{run_dir} has already trained {progress['epoch']} epochs; ask for more than "
                           f"{progress['epoch']} with --epochs")
    if info["train"] != config.to_dict():        # a new number of epochs
        info["train"] = config.to_dict()
        atomic_write_text(_path(run_dir, CONFIG), json.dumps(info, indent=2) + "\n")
    history = progress["history"]
    n = len(dataset.train)
    n_batches = -(-n // config.batch_size)
    every = max(1, config.epochs // 25)          # how often a per-epoch line is printed

    def result(status, epoch, batch):
        return TrainResult(status, epoch, batch, history, run_dir, model, dataset)

    bar = tqdm(total=config.epochs * n_batches, initial=progress["epoch"] * n_batches + progress["batch"],
               unit="batch", disable=quiet, leave=False, file=sys.stderr, dynamic_ncols=True)
    with bar, _StopOnInterrupt() as stop, threadpool_limits(limits=config.threads, user_api="blas"):
        for epoch in range(progress["epoch"], config.epochs):
            if progress["batch"] == 0:
                perm = np.concatenate(shuffled_batches(n, config.batch_size, rng))
                sums, count, seconds = [0.0, 0.0, 0.0], 0, 0.0
            else:
                perm, sums, count, seconds = progress["perm"], list(progress["sums"]), progress["count"], \
                    progress["seconds"]
            start_batch, progress["batch"] = progress["batch"], 0
            bar.set_description(f"epoch {epoch + 1}/{config.epochs}", refresh=False)
            t0 = time.perf_counter()
            for b in range(start_batch, n_batches):
                xb = dataset.train[perm[b * config.batch_size:(b + 1) * config.batch_size]]
                if dataset.binarize == "dynamic":
                    xb = binarize(xb, rng)
                eps_shape = (len(xb), config.latent) if config.samples == 1 else \
                    (config.samples, len(xb), config.latent)
                eps = rng.standard_normal(eps_shape, dtype=dtype)      # ε ~ N(0, I), outside the graph
                out, problem = _forward_backward(model, params, opt, xb, eps, config.kl)
                if problem is not None:
                    bar.close()
                    raise NonFiniteError(
                        f"training stopped at epoch {epoch + 1}, batch {b + 1}/{n_batches}: {problem}; rerun under "
                        f"detect_anomaly: {_diagnose(model, xb, eps, config.kl)}; {_describe_checkpoint(run_dir)}")
                opt.step()
                for i, t in enumerate(out):
                    sums[i] += float(t.data.sum(dtype=np.float64))
                count += len(xb)
                if not quiet:
                    bar.set_postfix(batch=f"{b + 1}/{n_batches}", loss=f"{-sums[0] / count:.3f}", refresh=False)
                    bar.update(1)
                if on_batch is not None:
                    on_batch(epoch, b, model)
                if stop.requested:
                    bar.close()
                    save_checkpoint(ckpt, model, opt, rng, config,
                                    {"epoch": epoch, "batch": b + 1, "sums": sums, "count": count,
                                     "seconds": seconds + time.perf_counter() - t0, "history": history, "perm": perm})
                    return result("interrupted", epoch, b + 1)
            test = evaluate(model, dataset.test, 1, config.kl, np.random.default_rng([config.seed, epoch]))
            row = {"epoch": epoch + 1, "train_elbo": sums[0] / count, "train_reconstruction": sums[1] / count,
                   "train_kl": sums[2] / count, "test_elbo": test["elbo"],
                   "test_reconstruction": test["reconstruction"], "test_kl": test["kl"],
                   "seconds": seconds + time.perf_counter() - t0}
            history.append(row)
            _write_metrics(run_dir, history)
            save_checkpoint(ckpt, model, opt, rng, config, {"epoch": epoch + 1, "batch": 0, "sums": [0.0] * 3,
                                                            "count": 0, "seconds": 0.0, "history": history})
            if not quiet and ((epoch + 1) % every == 0 or epoch + 1 in (1, config.epochs)):
                (bar.write if log is None else log)(
                    f"epoch {epoch + 1}/{config.epochs}: train ELBO {row['train_elbo']:.3f}, test ELBO "
                    f"{row['test_elbo']:.3f} (reconstruction {row['test_reconstruction']:.3f}, KL {row['test_kl']:.3f})"
                    f" nats, {row['seconds']:.3f} s")
            if stop.requested:
                bar.close()
                return result("interrupted", epoch + 1, 0)
    model.save(_path(run_dir, MODEL))
    return result("completed", config.epochs, 0)
