"""What checkpointing costs a training epoch, and that the cost does not grow with the run.

`python -m vae train`'s default run (the digits, 64-256-2 tanh, batch 100, Adam 1e-3, float32, 1 BLAS thread)
is prepared as if it had already trained H = 10, 1,000 and 10,000 epochs: it trains one epoch, then its
metrics.csv gets H rows and its checkpoint says epoch H (the weights are the 1-epoch ones: only the sizes of
the files matter here). From a fresh copy of that directory, `vae.train.train` continues for E epochs, once
with a checkpoint every epoch (`--checkpoint-every 1`, the worst case) and once with the default interval
(`30s`: none between the first and the last epoch of the measurement), alternating, for R rounds.
Seconds per epoch are the wall time between the starts of consecutive epochs — the batches, the test-set
evaluation, the metrics row and any checkpoint — medians over the R·(E − 1) epochs; one save is
`vae.train.save_checkpoint` timed on its own (median of its R·E calls). Before issue 15 the history was kept
in the checkpoint and both files were rewritten every epoch: one save took 14 ms at 1 row of history, 39 ms
at 1,000 and ~300 ms at 10,000.

    python benchmarks/bench_checkpoint.py --quick          # seconds
    python benchmarks/bench_checkpoint.py --out DIR        # the full version; writes DIR/checkpoint.md
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script, too

import vae.train as training  # noqa: E402
from benchmarks.common import atomic_write, machine_line, markdown_table  # noqa: E402
from vae.io import load_npz, save_npz  # noqa: E402

HISTORIES = (10, 1_000, 10_000)
QUICK = {"epochs": 4, "rounds": 1}
FULL = {"epochs": 20, "rounds": 3}


def benchmark_settings(quick=True):
    return {"histories": list(HISTORIES), **(QUICK if quick else FULL)}


def trained_one_epoch(run_dir):
    training.start_run(training.TrainConfig(epochs=1), run_dir)
    training.train(run_dir, quiet=True)
    os.remove(os.path.join(run_dir, training.MODEL))


def prepare(base, run_dir, history):
    """A copy of the one-epoch run `base` that looks as if it had trained `history` epochs."""
    shutil.copytree(base, run_dir)
    row = training.read_metrics(run_dir)[0]
    rows = [{**row, "epoch": e} for e in range(1, history + 1)]
    path = os.path.join(run_dir, training.METRICS)
    text = ",".join(training.METRIC_FIELDS) + "\n" + "".join(
        ",".join(repr(r[k]) if isinstance(r[k], float) else str(r[k]) for k in training.METRIC_FIELDS) + "\n"
        for r in rows)
    atomic_write(path, text)
    ckpt = os.path.join(run_dir, training.CHECKPOINT)
    arrays, meta = load_npz(ckpt, "checkpoint")
    meta.update(epoch=history, metrics_bytes=os.path.getsize(path))
    meta["config"]["train"]["epochs"] = history
    save_npz(ckpt, arrays, meta)


def continue_run(template, work, epochs, every):
    """(seconds per epoch for each epoch after the first, seconds of each checkpoint save) of `epochs` more
    epochs of a fresh copy of `template`, checkpointing every `every`."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work)
    starts, saves = [], []
    real_save = training.save_checkpoint

    def timed_save(*args, **kwargs):
        t0 = time.perf_counter()
        real_save(*args, **kwargs)
        saves.append(time.perf_counter() - t0)

    def on_batch(epoch, batch, model):
        if batch == 0:
            starts.append(time.perf_counter())

    done = training.read_metrics(work)[-1]["epoch"]
    training.save_checkpoint = timed_save
    try:
        training.train(work, epochs=done + epochs, quiet=True, on_batch=on_batch, checkpoint_every=every)
    finally:
        training.save_checkpoint = real_save
    return [b - a for a, b in zip(starts, starts[1:])], saves


def run(epochs, rounds, histories=HISTORIES, where=None):
    """The markdown report; the runs are made in a temporary folder inside `where` (default: the system's),
    so that the disk measured is the one the results go to."""
    rows = []
    if where is not None:
        os.makedirs(where, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where, prefix=".bench-checkpoint-") as tmp:
        trained_one_epoch(os.path.join(tmp, "base"))
        for history in histories:
            template = os.path.join(tmp, f"h{history}")
            prepare(os.path.join(tmp, "base"), template, history)
            sizes = [os.path.getsize(os.path.join(template, name)) / 1024
                     for name in (training.CHECKPOINT, training.METRICS)]
            per_epoch = {"1": [], training.CHECKPOINT_EVERY: []}
            saves = []
            for _ in range(rounds):
                for every in per_epoch:
                    seconds, timed = continue_run(template, os.path.join(tmp, "work"), epochs, every)
                    per_epoch[every] += seconds
                    if every == "1":
                        saves += timed
            with_ckpt, without = (statistics.median(per_epoch[k]) for k in ("1", training.CHECKPOINT_EVERY))
            rows.append([f"{history:,}", f"{sizes[0]:.0f}", f"{sizes[1]:.0f}", f"{statistics.median(saves) * 1e3:.1f}",
                         f"{with_ckpt:.4f}", f"{without:.4f}", f"{(with_ckpt - without) / without * 100:+.0f} %"])
    return "\n".join([
        "### Checkpoint cost per epoch (`python -m vae train` defaults, digits)",
        "",
        f"Medians of {rounds} × {epochs - 1} epochs per cell; seconds per epoch include the test-set evaluation "
        f"and the metrics row. \"every epoch\": `--checkpoint-every 1`; \"default\": `--checkpoint-every "
        f"{training.CHECKPOINT_EVERY}` (no checkpoint within the measurement). {machine_line()}",
        "",
        markdown_table(["epochs of history", "checkpoint.npz KB", "metrics.csv KB", "one save ms",
                        "s/epoch, checkpoint every epoch", "s/epoch, default interval", "every epoch vs default"],
                       rows),
        ""])


def run_benchmark(out_dir=None, quick=True):
    """The benchmarks runner's convention: return the markdown report (no plots)."""
    return run(**(QUICK if quick else FULL), where=out_dir)


def main(argv=None):
    from benchmarks.run_all import fresh_out_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK['epochs']} epochs, 1 round (seconds)")
    parser.add_argument("--out", help="folder for checkpoint.md (default: a fresh benchmark-results/<date>-<time>)")
    args = parser.parse_args(argv)
    out = args.out or fresh_out_dir()
    markdown = run_benchmark(out, quick=args.quick)
    atomic_write(os.path.join(out, "checkpoint.md"), markdown)
    print(markdown)
    print(f"written to {os.path.join(out, 'checkpoint.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
