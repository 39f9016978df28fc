"""Training: the loop, per-epoch metrics, bit-for-bit resume, Ctrl-C and SIGTERM, non-finite stops.

The files of a run directory (config.json, metrics.csv, checkpoint.npz, model.npz) are vae.runs's.

All randomness — initial weights, the order of the batches, dynamic binarization, ε — comes from one
numpy Generator seeded with TrainConfig.seed, in a fixed order. The checkpoint stores that Generator's
state, so a resumed run draws exactly the numbers the uninterrupted run would have drawn and produces the
same metrics, bit for bit. Test-set evaluations use their own Generator seeded with (seed, epoch).
"""

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

from .data import binarize, shuffled_batches
from .errors import CheckpointError, NonFiniteError, VAEError
from .model import VAE
from .runs import (
    CHECKPOINT,
    CONFIG,
    EVAL,
    METRIC_FIELDS,
    METRICS,
    MODEL,
    PLOTS,
    Progress,
    TrainConfig,
    _path,
    append_metrics,
    check_data,
    describe_checkpoint,
    describe_position,
    load_checkpoint,
    load_run_model,
    mark_evaluation_stale,
    read_metrics,
    read_run,
    recover_metrics,
    remove_leftovers,
    save_checkpoint,
    start_metrics,
    start_run,
    write_run_info,
)

__all__ = ["TrainConfig", "TrainResult", "NonFiniteError", "start_run", "train", "evaluate", "read_run",
           "read_metrics", "load_checkpoint", "load_run_model", "parse_interval", "describe_position", "CONFIG",
           "EVAL", "METRICS", "CHECKPOINT", "MODEL", "PLOTS", "METRIC_FIELDS", "CHECKPOINT_EVERY"]

EVAL_BATCH = 1000
# A checkpoint costs ~5-15 ms (fsync included) against 25-70 ms for an epoch of the default run: written
# every epoch it would be a third of the time. Every 30 s of wall time it is < 0.1 %, and a kill -9 loses
# at most 30 s of training (Ctrl-C, SIGTERM and the end of training always write one).
CHECKPOINT_EVERY = "30s"


@dataclass
class TrainResult:
    status: str                 # "completed" or "interrupted"
    epoch: int                  # epochs completed
    batch: int                  # batches done in the next epoch (0 unless interrupted mid-epoch)
    history: list
    run_dir: str
    model: VAE
    dataset: object
    start_epoch: int = 0        # epochs completed when this call began
    n_batches: int = 0          # batches per epoch
    signal: str | None = None   # "SIGINT" or "SIGTERM" when interrupted

    def position(self):
        return describe_position(self.epoch, self.batch, self.n_batches)


def parse_interval(text):
    """A checkpoint interval: "N" (every N epochs) or "Ns" (the first epoch end N seconds of wall time after
    the last checkpoint) → ("epochs", int) or ("seconds", float). VAEError otherwise."""
    spec = str(text).strip()
    try:
        if spec.endswith("s"):
            value = float(spec[:-1])
            if value >= 0 and math.isfinite(value):
                return "seconds", value
        else:
            value = int(spec)
            if value >= 1:
                return "epochs", value
    except ValueError:
        pass
    raise VAEError(f"checkpoint interval: expected a number of epochs (e.g. 10) or of seconds (e.g. 30s), got "
                   f"{text!r}")


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


# ----------------------------------------------------------------------------------------------
# The loop

class _StopOnSignal:
    """The first Ctrl-C (SIGINT) or SIGTERM (what `timeout`, `kill` and job schedulers send) only sets
    `requested`; the loop saves a checkpoint after the batch in progress and returns. A second Ctrl-C raises
    KeyboardInterrupt at once, a second SIGTERM terminates the process (nothing more is saved)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.requested = None
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:            # e.g. SIGINT under `nohup … &`
                    self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def _handler(self, signum, frame):
        self.requested = signal.Signals(signum).name
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)

    def __exit__(self, *exc):
        for sig, previous in self.previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
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


def _divergence_hint(opt, lr):
    """Why the loss may have gone non-finite: after steps, the learning rate is the usual cause."""
    steps = max((s.get("step", 0) for s in opt.state_dict()["state"]), default=0)
    if steps:
        return (f"the parameters diverged after {steps} Adam steps: a learning rate of {lr:g} is the likely cause, "
                "try a smaller --lr")
    return "the untrained model already produces it: check the data and the model's sizes"


def _resume(run_dir, config, model, opt, rng):
    """(Progress, metrics history) of a run that has a checkpoint — restoring model, optimizer and
    Generator and cutting metrics.csv back to it — or of a fresh one (metrics.csv started, checkpoint 0).
    Refuses a run whose checkpoint is gone but which has trained: it cannot continue from nothing."""
    ckpt = _path(run_dir, CHECKPOINT)
    if not os.path.exists(ckpt):
        rows = len(read_metrics(run_dir))
        if rows or os.path.exists(_path(run_dir, MODEL)):
            raise CheckpointError(
                f"{ckpt}: no such file, but {run_dir} has trained ({rows} rows in {METRICS}"
                + (f", {MODEL}" if os.path.exists(_path(run_dir, MODEL)) else "") + "); it cannot be resumed "
                f"without it. Train it again from epoch 0 with: python -m vae train --resume {run_dir} --overwrite")
        return Progress(), None
    progress, meta = load_checkpoint(ckpt, model, opt, rng, config)
    if progress.epoch > config.epochs or (progress.epoch == config.epochs and progress.batch):
        raise VAEError(f"{run_dir} has already trained {progress.epoch} epochs; ask for more than "
                       f"{progress.epoch} with --epochs")
    return progress, meta


def train(run_dir, *, epochs=None, quiet=False, log=None, on_batch=None, checkpoint_every=CHECKPOINT_EVERY,
          allow_data_change=False, overwrite=False):
    """Train the run in `run_dir` (created by start_run), continuing from its checkpoint if it has one.

    epochs             change the number of epochs to train in total (stored in config.json)
    quiet              no progress bar and no per-epoch lines
    log                callable for the per-epoch lines (default: tqdm.write, to stdout, below the progress bar)
    on_batch           called as on_batch(epoch, batch, model) after every optimizer step (a hook for tests)
    checkpoint_every   "N" epochs or "Ns" seconds of wall time between checkpoints (see parse_interval);
                       one is always written before the first epoch, at the end, and on SIGINT/SIGTERM
    allow_data_change  continue even if the data's fingerprint differs from the one the run started with
    overwrite          forget what the run trained (metrics, checkpoint, model) and start it from epoch 0

    Returns a TrainResult; raises NonFiniteError if the loss or a gradient stops being finite."""
    config, info = read_run(run_dir)
    interval = parse_interval(checkpoint_every)
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
    n = len(dataset.train)
    n_batches = -(-n // config.batch_size)
    remove_leftovers(run_dir)
    if overwrite:
        for name in (METRICS, CHECKPOINT, MODEL):
            if os.path.isfile(_path(run_dir, name)):
                os.remove(_path(run_dir, name))
    progress, meta = _resume(run_dir, config, model, opt, rng)
    check_data(run_dir, info, dataset, allow_data_change, (progress, meta["n_batches"]) if progress.batch else None)
    if info["train"] != config.to_dict():        # a new number of epochs
        info["train"] = config.to_dict()
        write_run_info(run_dir, info)
    if meta is None:
        start_metrics(run_dir)
        history = []
        save_checkpoint(run_dir, model, opt, rng, config, progress, n_batches)
    else:
        history = recover_metrics(run_dir, meta["metrics_bytes"], progress.epoch)
    if mark_evaluation_stale(run_dir) and not quiet:
        (tqdm.write if log is None else log)(f"{_path(run_dir, 'eval.json')} no longer describes the model once it "
                                             "trains on: renamed eval.stale.json")
    start_epoch = progress.epoch
    every = max(1, config.epochs // 25)          # how often a per-epoch line is printed
    last_checkpoint = (progress.epoch, time.monotonic())

    def due(epoch):
        kind, value = interval
        if kind == "epochs":
            return epoch - last_checkpoint[0] >= value
        return time.monotonic() - last_checkpoint[1] >= value

    def result(status, signal_name=None):
        return TrainResult(status, progress.epoch, progress.batch, history, run_dir, model, dataset, start_epoch,
                           n_batches, signal_name)

    bar = tqdm(total=config.epochs * n_batches, initial=progress.epoch * n_batches + progress.batch,
               unit="batch", disable=quiet, leave=False, file=sys.stderr, dynamic_ncols=True)
    with bar, _StopOnSignal() as stop, threadpool_limits(limits=config.threads, user_api="blas"):
        for epoch in range(progress.epoch, config.epochs):
            if progress.batch == 0:
                progress = Progress(epoch, 0, perm=np.concatenate(shuffled_batches(n, config.batch_size, rng)))
            start_batch, perm, sums = progress.batch, progress.perm, progress.sums
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
                        f"training stopped in epoch {epoch + 1}, batch {b + 1}/{n_batches}: {problem}; "
                        f"{_divergence_hint(opt, config.lr)}; rerun under detect_anomaly: "
                        f"{_diagnose(model, xb, eps, config.kl)}; {describe_checkpoint(run_dir)}")
                opt.step()
                for i, t in enumerate(out):
                    sums[i] += float(t.data.sum(dtype=np.float64))
                progress.count += len(xb)
                if not quiet:
                    bar.set_postfix(batch=f"{b + 1}/{n_batches}", loss=f"{-sums[0] / progress.count:.3f}",
                                    refresh=False)
                    bar.update(1)
                if on_batch is not None:
                    on_batch(epoch, b, model)
                if stop.requested and b + 1 < n_batches:          # after the last batch: finish the epoch
                    bar.close()
                    progress.batch, progress.seconds = b + 1, progress.seconds + time.perf_counter() - t0
                    save_checkpoint(run_dir, model, opt, rng, config, progress, n_batches)
                    return result("interrupted", stop.requested)
            test = evaluate(model, dataset.test, 1, config.kl, np.random.default_rng([config.seed, epoch]))
            count = progress.count
            row = {"epoch": epoch + 1, "train_elbo": sums[0] / count, "train_reconstruction": sums[1] / count,
                   "train_kl": sums[2] / count, "test_elbo": test["elbo"],
                   "test_reconstruction": test["reconstruction"], "test_kl": test["kl"],
                   "seconds": progress.seconds + time.perf_counter() - t0}
            history.append(row)
            append_metrics(run_dir, row)
            progress = Progress(epoch + 1)
            if stop.requested or epoch + 1 == config.epochs or due(epoch + 1):
                save_checkpoint(run_dir, model, opt, rng, config, progress, n_batches)
                last_checkpoint = (epoch + 1, time.monotonic())
            if not quiet and ((epoch + 1) % every == 0 or epoch + 1 in (1, config.epochs)):
                (bar.write if log is None else log)(
                    f"epoch {epoch + 1}/{config.epochs}: train ELBO {row['train_elbo']:.3f}, test ELBO "
                    f"{row['test_elbo']:.3f} (reconstruction {row['test_reconstruction']:.3f}, KL {row['test_kl']:.3f})"
                    f" nats, {row['seconds']:.3f} s")
            if stop.requested:
                bar.close()
                return result("interrupted", stop.requested)
    model.save(_path(run_dir, MODEL))
    return result("completed")
