"""VAE speed and quality: one training step of the Kingma–Welling MNIST-shaped VAE in minigrad vs
hand-written NumPy, and what a fixed training budget on the digits reaches.

Step: the 784-400-20 VAE (tanh, Bernoulli likelihood on logits, analytic KL, one ε sample, Adam 1e-3),
forward + backward + Adam. Both steps come from benchmarks/vae_steps.py (the NumPy one written out by hand:
fused bias adds, tanh' from the saved activations, stable softplus/sigmoid in a few in-place passes, Adam in
place with one scratch buffer per parameter); they start from the same weights and see the same data and
the same ε, and their losses are compared before anything is timed. Rounds are interleaved (minigrad
step, NumPy step, …) so that drift in the machine's speed hits both; the table gives medians over the
rounds, their ratio and page faults.

Epochs: `python -m vae train`'s pipeline on scikit-learn's digits for a fixed number of epochs, with a 2-D
and a 20-D latent space; test ELBO and the IWAE bound afterwards.

    python benchmarks/bench_vae.py            # steps at batch 100 (float32, float64), 1000-epoch runs
    python benchmarks/bench_vae.py --quick    # a smoke run: few steps, 20 epochs, k = 100
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script, too

from benchmarks.common import interleaved, machine_line, markdown_table, peak_traced_bytes  # noqa: E402
from benchmarks.vae_steps import make_minigrad, make_numpy, make_problem  # noqa: E402
from vae.train import TrainConfig, evaluate, iwae, start_run, train  # noqa: E402

SIZES = (784, 400, 20)


def bench_step(batch, dtype, steps, warmup):
    """(minigrad ms, NumPy ms, minigrad faults/step, NumPy faults/step, loss rel. diff, (minigrad peak MB,
    NumPy peak MB)) at one size, both steps from benchmarks/vae_steps.py (the same weights, data and ε);
    peak: the most memory allocated above what was live before one step (tracemalloc)."""
    problem = make_problem(batch, dtype)
    ours, ref = make_minigrad(problem), make_numpy(problem)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    worst = 0.0
    for i in range(3):                   # the same computation, or the ratio means nothing
        a, b = ours(i), ref(i)
        worst = max(worst, abs(a - b) / abs(b))
        if abs(a - b) > tol * abs(b):
            raise SystemExit(f"bench_vae: losses disagree at step {i}: minigrad {a!r} vs NumPy {b!r}")
    shared = {"i": 3}

    def minigrad_step():
        ours(shared["i"])

    def numpy_step():                    # runs right after minigrad_step in each round: the same ε
        ref(shared["i"])
        shared["i"] += 1

    result = interleaved({"minigrad": minigrad_step, "numpy": numpy_step}, steps, warmup)
    (t_ours, f_ours), (t_ref, f_ref) = result["minigrad"], result["numpy"]
    peaks = (peak_traced_bytes(minigrad_step) / 2**20, peak_traced_bytes(numpy_step) / 2**20)
    return t_ours * 1e3, t_ref * 1e3, f_ours, f_ref, worst, peaks


def bench_epochs(epochs, latent, k, seed=0):
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "run")
        start_run(TrainConfig(latent=latent, epochs=epochs, seed=seed), run)
        t0 = time.perf_counter()
        result = train(run, quiet=True)
        seconds = time.perf_counter() - t0
    x = result.dataset.test
    rng = np.random.default_rng(seed)
    with threadpool_limits(limits=1, user_api="blas"):          # as `python -m vae eval` does by default
        elbo = evaluate(result.model, x, n_samples=100, rng=rng)["elbo"]
        t1 = time.perf_counter()
        bound = iwae(result.model, x, k, rng)
        iwae_seconds = time.perf_counter() - t1
    return {"train_elbo": result.history[-1]["train_elbo"], "elbo": elbo, "iwae": bound, "seconds": seconds,
            "per_epoch": seconds / epochs, "iwae_seconds": iwae_seconds}


def run(batches=(100,), dtypes=("float32", "float64"), steps=50, warmup=5, threads=None, epochs=1000,
        iwae_k=5000):
    """The report as markdown."""
    lines = [f"### VAE: {'-'.join(map(str, SIZES))} (tanh, Bernoulli, analytic KL) training step — forward, "
             "backward, Adam",
             "",
             f"Median of {steps} interleaved steps after {warmup} warm-up; BLAS threads: "
             f"{'library default' if threads is None else threads}; {machine_line()}",
             ""]
    rows = []
    with threadpool_limits(limits=threads, user_api="blas"):
        for dtype in dtypes:
            for batch in batches:
                ours, ref, f_ours, f_ref, diff, peaks = bench_step(batch, np.dtype(dtype).type, steps, warmup)
                rows.append([batch, dtype, f"{ours:.2f}", f"{ref:.2f}", f"{ours / ref:.2f}", f"{f_ours:.0f}",
                             f"{f_ref:.0f}", f"{peaks[0]:.1f}", f"{peaks[1]:.1f}", f"{diff:.1e}"])
    lines += [markdown_table(["batch", "dtype", "minigrad ms", "NumPy ms", "ratio", "minigrad faults/step",
                              "NumPy faults/step", "minigrad peak MB", "NumPy peak MB",
                              "loss rel. diff (3 checked steps)"], rows), ""]
    if epochs >= 1:
        rows = []
        for latent in (2, 20):
            r = bench_epochs(epochs, latent, iwae_k)
            rows.append([latent, f"{r['train_elbo']:.2f}", f"{r['elbo']:.2f}", f"{r['iwae']:.2f}",
                         f"{r['seconds']:.1f}", f"{r['per_epoch'] * 1e3:.1f}", f"{r['iwae_seconds']:.1f}"])
        lines += [f"### VAE on the digits: {epochs} epochs of `python -m vae train` (64-256-d tanh, Bernoulli on "
                  "grey levels, batch 100, Adam 1e-3, 1 BLAS thread, seed 0)",
                  "",
                  markdown_table(["latent d", "train ELBO (last epoch)", "test ELBO (100 samples)",
                                  f"test IWAE k={iwae_k}", "training s", "ms / epoch", "IWAE s"], rows),
                  ""]
    return "\n".join(lines)


def run_benchmark(out_dir=None, quick=True):
    """The benchmarks runner's convention: return the markdown report (this benchmark makes no plots)."""
    if quick:
        return run(dtypes=("float32",), steps=5, warmup=1, epochs=20, iwae_k=100)
    return run(batches=(32, 100, 1000))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[100])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=50, help="timed steps per cell (median reported; ≥ 30)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads for the step benchmark "
                        "(default: the library's own setting)")
    parser.add_argument("--epochs", type=int, default=1000, help="epochs of the digits runs (default 1000; 0: skip)")
    parser.add_argument("--iwae-k", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 steps, float32, 20 epochs, k = 100")
    args = parser.parse_args(argv)
    if args.quick:
        print(run_benchmark(quick=True))
    else:
        print(run(args.batches, args.dtypes, args.steps, args.warmup, args.threads, args.epochs, args.iwae_k))


if __name__ == "__main__":
    main()
