"""The command line: python -m vae train | eval | plot.

Bad input of any kind (arguments, data, run directories, checkpoints) ends with one line on stderr and a
non-zero exit status: 2 for arguments argparse rejects, 1 for everything else, 130 after Ctrl-C (SIGINT)
and 143 after SIGTERM. Every command the CLI suggests ("continue with: …", "next: …") is runnable as printed.
"""

import argparse
import json
import math
import os
import shlex
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from . import train as training
from .allocator import tune_allocator
from .errors import VAEError
from .io import atomic_write_text

__all__ = ["main", "build_parser"]

DEFAULTS = training.TrainConfig()


def _int_at_least(low, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}")
        return value
    return parse


_positive_int = _int_at_least(1, "positive")
_seed = _int_at_least(0, "non-negative")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _interval(text):
    try:
        training.parse_interval(text)
    except VAEError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[1]) from None
    return text


def _command(*words):
    """A command line as the user can paste it (paths quoted for the shell)."""
    return "python -m vae " + " ".join(shlex.quote(str(w)) for w in words)


def _hidden(text):
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 256 or 400,200, got {text!r}")
    return sizes


# Options of `train` that define a run (they cannot change when it is resumed), with their help texts.
RUN_OPTIONS = {
    "data": ("--data", dict(metavar="NAME|PATH", help="digits (default: scikit-learn's 1,797 8×8 digits, offline), "
                            "mnist (the IDX files in --mnist-dir), a directory of MNIST IDX files, or a .npy/.npz "
                            "file holding an array (N, D)")),
    "mnist_dir": ("--mnist-dir", dict(metavar="DIR", help=f"where --data mnist finds train-images-idx3-ubyte[.gz] "
                                      f"and the other three IDX files (default {DEFAULTS.mnist_dir}); nothing is "
                                      "ever downloaded")),
    "binarize": ("--binarize", dict(choices=["none", "static", "dynamic"],
                                    help="binarize pixels: once (static) or afresh every batch (dynamic); default "
                                         "dynamic for MNIST, none otherwise")),
    "likelihood": ("--likelihood", dict(choices=["bernoulli", "gaussian"],
                                        help=f"p(x|z) (default {DEFAULTS.likelihood})")),
    "latent": ("--latent", dict(type=_positive_int, metavar="D",
                                help=f"latent dimensions (default {DEFAULTS.latent}: the latent space and the "
                                     "decoded manifold can be drawn; 20 gives a better ELBO)")),
    "hidden": ("--hidden", dict(type=_hidden, metavar="H[,H…]",
                                help=f"hidden layer sizes of the encoder; the decoder mirrors them (default "
                                     f"{','.join(map(str, DEFAULTS.hidden))})")),
    "activation": ("--activation", dict(choices=["tanh", "relu"], help=f"default {DEFAULTS.activation}")),
    "batch_size": ("--batch-size", dict(type=_positive_int, metavar="B", help=f"default {DEFAULTS.batch_size}")),
    "lr": ("--lr", dict(type=_positive_float, help=f"Adam's learning rate (default {DEFAULTS.lr:g})")),
    "samples": ("--samples", dict(type=_positive_int, metavar="M",
                                  help=f"ε samples per example in the Monte-Carlo ELBO (default {DEFAULTS.samples})")),
    "kl": ("--kl", dict(choices=["analytic", "mc"],
                        help="KL(q‖p) in closed form (default) or by Monte Carlo on the same samples")),
    "dtype": ("--dtype", dict(choices=["float32", "float64"], help=f"default {DEFAULTS.dtype}")),
    "seed": ("--seed", dict(type=_seed, metavar="N", help=f"seeds every random draw (default {DEFAULTS.seed})")),
    "threads": ("--threads", dict(type=_positive_int, metavar="N",
                                  help=f"BLAS threads while training (default {DEFAULTS.threads}: the fastest for "
                                       "these small matrices, and no stalls when another process holds a core)")),
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m vae",
        description="Train, evaluate and plot a Variational Autoencoder built on minigrad.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,eval,plot}")

    t = commands.add_parser(
        "train", help="train a VAE and write a run directory",
        description="Train a VAE; write config.json, metrics.csv (a row per epoch), checkpoint.npz, model.npz "
                    "and plots/ into a run directory. Ctrl-C or SIGTERM saves a checkpoint and stops; --resume "
                    "continues it exactly where it stopped.")
    for dest, (flag, kwargs) in RUN_OPTIONS.items():
        t.add_argument(flag, dest=dest, default=None, **kwargs)
    t.add_argument("--epochs", type=_positive_int, metavar="N",
                   help=f"epochs in total (default {DEFAULTS.epochs}); with --resume, a new total")
    t.add_argument("--out", metavar="DIR", help="run directory to create (default runs/<time>-<data>)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    t.add_argument("--checkpoint-every", type=_interval, default=training.CHECKPOINT_EVERY, metavar="N|Ns",
                   help="write checkpoint.npz every N epochs, or at the end of the first epoch Ns seconds after "
                        f"the last one (default {training.CHECKPOINT_EVERY}: well under 1%% of the time); always "
                        "before the first epoch, at the end and on Ctrl-C/SIGTERM. A kill -9 loses what came "
                        "after the last one; --resume trains it again, identically")
    t.add_argument("--overwrite", action="store_true",
                   help="with --out: replace the run already in DIR; with --resume: train RUN_DIR again from "
                        "epoch 0 (its metrics, checkpoint and model are deleted)")
    t.add_argument("--allow-data-change", action="store_true",
                   help="with --resume: continue although the data differs from what the run started with")
    t.add_argument("--no-plots", action="store_true", help="do not write the plots at the end")
    t.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    t.add_argument("--no-tune-allocator", action="store_true",
                   help="leave glibc's malloc as it is (by default vae.tune_allocator() makes it keep freed "
                        "memory, so steps do not pay for fresh pages; it changes no number)")
    t.set_defaults(func=cmd_train, subparser=t)

    e = commands.add_parser(
        "eval", help="test ELBO and IWAE log-likelihood estimate of a run",
        description="Estimate the test-set ELBO and the importance-weighted bound IWAE_k (an estimate of log p(x) "
                    "from below that tightens as k grows) of the model in a run directory; also written to "
                    "RUN_DIR/eval.json.")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--iwae-k", type=_positive_int, default=5000, metavar="K",
                   help="importance samples per test example (default 5000)")
    e.add_argument("--samples", type=_positive_int, default=1, metavar="M",
                   help="ε samples per example for the ELBO (default 1)")
    e.add_argument("--seed", type=_seed, default=0, metavar="N", help="seed of the evaluation's draws (default 0)")
    e.add_argument("--threads", type=_positive_int, default=1, metavar="N",
                   help="BLAS threads (default 1; more rarely help here, and stall when another process holds a "
                        "core)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_eval, subparser=e)

    p = commands.add_parser(
        "plot", help="write the PNG figures of a run",
        description="Write loss curves, test inputs vs reconstructions, prior samples, the latent scatter "
                    "coloured by label and (2-D latent) the decoded manifold as PNGs.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="DIR", help="where to write the PNGs (default RUN_DIR/plots)")
    p.set_defaults(func=cmd_plot, subparser=p)
    return parser


# ----------------------------------------------------------------------------------------------

def _default_out(data):
    name = os.path.splitext(os.path.basename(os.path.normpath(data)))[0] or "data"
    base = os.path.join("runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{name}")
    out, i = base, 1
    while os.path.exists(out):
        i += 1
        out = f"{base}-{i}"
    return out


def _write_plots(run_dir, model, dataset, history, seed, out_dir=None):
    from .plots import plot_all  # matplotlib is imported only when plots are made

    out_dir = out_dir or os.path.join(run_dir, training.PLOTS)
    paths = plot_all(model, dataset, history, out_dir, seed=seed)
    return out_dir, paths


def cmd_train(args, parser):
    explicit = {dest: getattr(args, dest) for dest in RUN_OPTIONS if getattr(args, dest) is not None}
    if args.resume:
        if explicit or args.out:
            flags = [RUN_OPTIONS[d][0] for d in explicit] + (["--out"] if args.out else [])
            parser.error(f"{', '.join(flags)} cannot be combined with --resume: a resumed run keeps its "
                         "configuration (only --epochs, --checkpoint-every, --overwrite, --allow-data-change, "
                         "--quiet and --no-plots may be given)")
        run_dir = args.resume
        training.read_run(run_dir)               # a clear error if it is not a run directory
    elif args.allow_data_change:
        parser.error("--allow-data-change only applies with --resume")
    else:
        config = training.TrainConfig(**explicit)
        if args.epochs is not None:
            config.epochs = args.epochs
        for key in ("data", "mnist_dir"):        # paths are stored absolute: eval/plot may run elsewhere
            value = getattr(config, key)
            if key == "mnist_dir" or value not in ("digits", "mnist"):
                setattr(config, key, os.path.abspath(value))
        run_dir = args.out or _default_out(config.data)
        training.start_run(config, run_dir, overwrite=args.overwrite)
        if not args.quiet:
            print(f"run directory: {run_dir}", flush=True)
    if not args.no_tune_allocator:
        tune_allocator()
    t0 = time.perf_counter()
    result = training.train(run_dir, epochs=args.epochs if args.resume else None, quiet=args.quiet,
                            checkpoint_every=args.checkpoint_every, allow_data_change=args.allow_data_change,
                            overwrite=bool(args.resume and args.overwrite))
    if result.status == "interrupted":
        print(f"interrupted ({result.signal}): checkpoint saved {result.position()} in "
              f"{os.path.join(run_dir, training.CHECKPOINT)}; continue with: {_command('train', '--resume', run_dir)}",
              file=sys.stderr)
        return 143 if result.signal == "SIGTERM" else 130
    if result.history:
        last, session = result.history[-1], result.epoch - result.start_epoch
        print(f"done: {result.epoch} epoch{'s' if result.epoch != 1 else ''} in total, {session} in this session "
              f"({time.perf_counter() - t0:.1f} s); test ELBO {last['test_elbo']:.3f} "
              f"nats per example (reconstruction {last['test_reconstruction']:.3f}, KL {last['test_kl']:.3f})")
    print(f"run directory: {run_dir} (config.json, metrics.csv, checkpoint.npz, model.npz)")
    if not args.no_plots:
        config, _ = training.read_run(run_dir)
        out_dir, paths = _write_plots(run_dir, result.model, result.dataset, result.history, config.seed)
        print(f"plots: {out_dir}{os.sep} ({', '.join(os.path.basename(p) for p in paths)})")
    print(f"next: {_command('eval', run_dir, '--iwae-k', 5000)}", flush=True)
    return 0


def cmd_eval(args, parser):
    from tqdm import tqdm

    config, info, model, meta = training.load_run_model(args.run_dir)
    dataset = config.load_data()
    x = dataset.test
    if x.shape[1] != model.input_dim:
        raise VAEError(f"--data {config.data}: the test data has {x.shape[1]} features, the model expects "
                       f"{model.input_dim}")
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    with threadpool_limits(limits=args.threads, user_api="blas"):
        elbo = training.evaluate(model, x, n_samples=args.samples, kl="analytic", rng=rng)
        with tqdm(total=len(x), desc=f"IWAE k={args.iwae_k}", unit="example", disable=args.quiet, leave=False,
                  file=sys.stderr) as bar:
            bound = training.iwae(model, x, args.iwae_k, rng, progress=bar)
    seconds = time.perf_counter() - t0
    where = training.describe_position(meta.get("epoch"), meta.get("batch"), meta.get("n_batches"))
    result = {"checkpoint": where, "data": config.data, "n_test": len(x), "elbo_samples": args.samples,
              "test_elbo": elbo["elbo"], "test_reconstruction": elbo["reconstruction"], "test_kl": elbo["kl"],
              "iwae_k": args.iwae_k, "test_iwae": bound, "seed": args.seed, "seconds": seconds}
    atomic_write_text(os.path.join(args.run_dir, training.EVAL), json.dumps(result, indent=2) + "\n")
    print(f"model: {args.run_dir} {where}; test set: {len(x)} examples of {config.data}")
    print("| estimate | nats per example |\n|---|---|")
    print(f"| test ELBO ({args.samples} sample{'s' if args.samples > 1 else ''}, analytic KL) | {elbo['elbo']:.3f} |")
    print(f"| reconstruction E_q[log p(x|z)] | {elbo['reconstruction']:.3f} |")
    print(f"| KL(q(z|x) ‖ p(z)) | {elbo['kl']:.3f} |")
    print(f"| IWAE bound, k = {args.iwae_k} (log p(x) estimate) | {bound:.3f} |")
    if model.likelihood == "bernoulli" and not np.all((x == 0) | (x == 1)):
        print("note: the test data are grey levels, not binary, so these Bernoulli 'log-likelihoods' are "
              "cross-entropies, not log-probabilities; for numbers comparable with published ones, train on binarized "
              f"data: {_command('train', '--data', config.data, '--binarize', 'dynamic')}")
    print(f"({seconds:.1f} s; written to {os.path.join(args.run_dir, 'eval.json')})")
    return 0


def cmd_plot(args, parser):
    config, info, model, meta = training.load_run_model(args.run_dir)
    dataset = config.load_data()
    if dataset.dim != model.input_dim:
        raise VAEError(f"--data {config.data}: the data has {dataset.dim} features, the model expects "
                       f"{model.input_dim}")
    history = training.read_metrics(args.run_dir)[:meta.get("epoch", 0)]     # rows past the checkpoint: redone
    out_dir, paths = _write_plots(args.run_dir, model, dataset, history, config.seed, args.out)
    print(f"plots: {out_dir}{os.sep} ({', '.join(os.path.basename(p) for p in paths)})")
    return 0


def main(argv=None):
    """Run the command line with `argv` (default sys.argv[1:]); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args, args.subparser)
    except VAEError as e:
        flag = e.option and RUN_OPTIONS.get(e.option[0], (None,))[0]
        hint = f" ({flag}{' ' + e.option[1] if e.option[1] else ''})" if flag else ""
        print(f"{args.subparser.prog}: error: {e}{hint}", file=sys.stderr)
    except OSError as e:
        detail = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else str(e)
        print(f"{args.subparser.prog}: error: {detail}", file=sys.stderr)
    except MemoryError:
        print(f"{args.subparser.prog}: error: out of memory (try a smaller --batch-size)", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{args.subparser.prog}: interrupted; nothing more was saved (the last checkpoint is kept)",
              file=sys.stderr)
        return 130
    return 1
