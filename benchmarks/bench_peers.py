"""The VAE training step in minigrad, hand-written NumPy and the peers that are installed (PyTorch eager,
JAX jit, HIPS autograd), each framework in its own process, timed in interleaved rounds.

Every worker builds the same weights, data and ε (benchmarks/vae_steps.py), computes −ELBO and its
gradient for every weight at the initial weights, then runs three steps and reports the losses; the
table gives the largest relative difference from minigrad's (gradients: max|Δ| / max|∇| per weight,
≤ 1e-8 in float64, ≤ 1e-5 in float32; the three losses: ≤ 1e-10 / 1e-5) — a timing of different
computations would mean nothing, so a disagreement stops the benchmark. Then the parent
asks each worker in turn for a round of steps until every framework has run `steps` timed steps, so a
change in the machine's speed hits all of them alike. Reported: median ms per step, the ratio to
PyTorch (or to NumPy when PyTorch is absent), minor page faults per step, and the worker's peak RSS.
"minigrad+tuned" is minigrad in a process that called `vae.tune_allocator()` (as `python -m vae
train` does); every other row runs in the default environment.

    python benchmarks/bench_peers.py                 # batch 32/100/1000 × float32/float64
    python benchmarks/bench_peers.py --quick         # batch 100, float32
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.common import machine_line, markdown_table  # noqa: E402
from benchmarks.vae_steps import five_products, max_relative_difference  # noqa: E402

ORDER = ("minigrad", "minigrad+tuned", "numpy", "torch", "jax", "autograd")
# "minigrad+tuned": the same minigrad step in a process that called vae.tune_allocator() first
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}           # first three losses, relative
GRAD_TOLERANCE = {"float32": 1e-5, "float64": 1e-8}       # −ELBO and every gradient at the initial weights


def available(name):
    if name in ("minigrad", "minigrad+tuned", "numpy"):
        return True, ""
    try:
        __import__(name)
        return True, ""
    except Exception as e:          # absent or broken: skip with one line
        return False, f"{type(e).__name__}: {e}".splitlines()[0]


# ----------------------------------------------------------------------------------------------
# the worker: one framework, one process, commands on stdin, JSON lines on stdout


def worker(name, batch, dtype, grad_file):
    from benchmarks.vae_steps import FRAMEWORKS, GRADIENTS, make_problem
    if name == "minigrad+tuned":
        import vae
        vae.tune_allocator()
        name = "minigrad"
    problem = make_problem(batch, dtype)
    loss, grads = GRADIENTS[name](problem)            # at the initial weights, for the agreement check
    np.savez(grad_file, __loss__=loss, **grads)
    step = FRAMEWORKS[name](problem)
    losses = [step(i) for i in range(3)]
    rss_setup = peak_rss_mb()
    rss_steps = None              # the peak after the timed steps, before the profile's own arrays
    reply({"losses": losses})
    i = 3
    for line in sys.stdin:
        command, *arg = line.split()
        if command == "run":
            times, faults = [], []
            for _ in range(int(arg[0])):
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t0 = time.perf_counter()
                step(i)
                times.append(time.perf_counter() - t0)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
                i += 1
            reply({"times": times, "faults": faults})
        elif command == "profile":
            rss_steps = peak_rss_mb()
            reply(profile(name, problem, step, i, int(arg[0])))
            i += int(arg[0])
        elif command == "quit":
            reply({"maxrss_mb": rss_steps or peak_rss_mb(), "setup_rss_mb": rss_setup})
            return


PROFILED = ("minigrad", "numpy", "torch")      # jax jit runs the step as one fused program: no phases


def profile(name, problem, step, i, steps):
    """Where one step's time goes (median ms over `steps` steps): the gradients (forward + backward),
    the optimizer, and of the gradients' time the five large matrix products alone (`five_products`,
    timed on their own with the framework's matmul) and the rest (elementwise work, reductions, the
    framework's own overhead)."""
    products = five_products(name, problem)
    grads, optimizer, gemms = [], [], []
    for k in range(steps):
        marks = []
        t0 = time.perf_counter()
        step(i + k, marks)
        t1 = time.perf_counter()
        grads.append(marks[0] - t0)
        optimizer.append(t1 - marks[0])
        t0 = time.perf_counter()
        products()
        gemms.append(time.perf_counter() - t0)
    ms = {key: 1e3 * float(np.median(v)) for key, v in
          [("gradients", grads), ("optimizer", optimizer), ("products", gemms)]}
    return dict(ms, rest=ms["gradients"] - ms["products"])


def peak_rss_mb():
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux keeps that across fork and exec, so a
    worker started by a big parent would report the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------------------------------
# the parent


class Worker:
    def __init__(self, name, batch, dtype, tmp):
        self.grad_file = os.path.join(tmp, f"{name}.npz")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--batch", str(batch), "--dtypes", dtype,
               "--grad-file", self.grad_file]
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT)

    def gradients(self):
        with np.load(self.grad_file) as f:
            return float(f["__loss__"]), {k: f[k] for k in f.files if k != "__loss__"}

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench_peers: the {self.name} worker died: {self.proc.stderr.read().strip()[-800:]}")
        return json.loads(line)

    def ask(self, command):
        """Wake the worker, give it a command, and stop it again once it has answered: an idle worker's
        BLAS/OpenMP threads spin-wait for a while after each call, and would steal the CPU from the one
        being timed."""
        self.proc.send_signal(signal.SIGCONT)
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.read()
        if command != "quit":
            self.proc.send_signal(signal.SIGSTOP)
        return answer


def measure(batch, dtype, names, steps, warmup, round_size, profile_steps=0):
    """{name: dict(ms, faults, maxrss_mb, setup_rss_mb, max_rel_diff, grad_rel_diff, profile)} for one
    cell; `profile` (see profile()) for the PROFILED frameworks when profile_steps > 0, else None."""
    tmp = tempfile.mkdtemp(prefix="bench_peers-")
    workers = [Worker(n, batch, dtype, tmp) for n in names]
    try:
        losses = {}
        for w in workers:
            losses[w.name] = np.array(w.read()["losses"])
            w.proc.send_signal(signal.SIGSTOP)
        ref = losses["minigrad"]
        ref_grads = workers[0].gradients()
        grad_diff = {w.name: max_relative_difference(w.gradients(), ref_grads) for w in workers}
        for w in workers:
            w.ask(f"run {warmup}")
        times = {w.name: [] for w in workers}
        faults = {w.name: [] for w in workers}
        while len(times[names[0]]) < steps:
            for w in workers:
                r = w.ask(f"run {round_size}")
                times[w.name] += r["times"]
                faults[w.name] += r["faults"]
        profiles = {w.name: w.ask(f"profile {profile_steps}") for w in workers
                    if w.name in PROFILED and profile_steps}
        memory = {w.name: w.ask("quit") for w in workers}
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGCONT)
                w.proc.kill()
            w.proc.wait()
            for pipe in (w.proc.stdin, w.proc.stdout, w.proc.stderr):
                pipe.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return {n: {"ms": 1e3 * float(np.median(times[n])), "faults": float(np.median(faults[n])),
                "maxrss_mb": memory[n]["maxrss_mb"], "setup_rss_mb": memory[n]["setup_rss_mb"],
                "max_rel_diff": float(np.max(np.abs(losses[n] - ref) / np.abs(ref))),
                "grad_rel_diff": grad_diff[n], "profile": profiles.get(n)} for n in names}


def run(batches=(32, 100, 1000), dtypes=("float32", "float64"), steps=40, warmup=5, round_size=5, frameworks=ORDER,
        profile_steps=20):
    names, notes = [], []
    for n in frameworks:
        ok, why = available(n)
        (names.append(n) if ok else notes.append(f"skipped {n}: {why}"))
    baseline = "torch" if "torch" in names else "numpy"
    rows, failures, profile_rows, summary_rows = [], [], [], []
    for dtype in dtypes:
        for batch in batches:
            cell = measure(batch, dtype, names, steps, warmup, round_size, profile_steps)
            summary_rows.append([batch, dtype] + [f"{cell[n]['ms']:.2f} ({cell[n]['ms'] / cell[baseline]['ms']:.2f})"
                                                  for n in names])
            profile_rows += [[batch, dtype, n] + [f"{cell[n]['profile'][k]:.2f}" for k in
                                                  ("gradients", "products", "rest", "optimizer")]
                             for n in names if cell[n]["profile"]]
            for n in names:
                c = cell[n]
                agree = c["max_rel_diff"] <= TOLERANCE[dtype] and c["grad_rel_diff"] <= GRAD_TOLERANCE[dtype]
                if not agree:
                    failures.append(f"{n} batch {batch} {dtype}: losses differ by {c['max_rel_diff']:.2e}, "
                                    f"gradients by {c['grad_rel_diff']:.2e}")
                rows.append([batch, dtype, n,
                             f"{c['ms']:.2f}", f"{c['ms'] / cell[baseline]['ms']:.2f}", f"{c['faults']:.0f}",
                             f"{c['maxrss_mb']:.0f}", f"{c['maxrss_mb'] - c['setup_rss_mb']:.0f}",
                             f"{c['grad_rel_diff']:.1e}", f"{c['max_rel_diff']:.1e} {'✓' if agree else '✗'}"])
    text = "\n".join([
        "### VAE step (784-400-20, tanh, Bernoulli, analytic KL, Adam 1e-3): each framework in its own process",
        "",
        f"Median of {steps} steps after {warmup} warm-up, in interleaved rounds of {round_size}; "
        f"ratio to {baseline}; {machine_line()}",
        "",
        f"ms per step (× {baseline}); every framework agreed with minigrad before it was timed (below)."
        if not failures else "",
        "",
        markdown_table(["batch", "dtype", *names], summary_rows),
        "",
        "#### Every framework in detail",
        "",
        markdown_table(["batch", "dtype", "framework", "ms/step", f"× {baseline}", "page faults/step",
                        "peak RSS MB", "RSS growth in steps MB", "−ELBO and ∇ vs minigrad",
                        "first 3 losses vs minigrad"], rows),
        "", *notes, *(["", "**Losses disagree:** " + "; ".join(failures)] if failures else []), "",
        *([f"#### Where the time goes (median of {profile_steps} more steps per framework, each in its process)",
           "",
           "The gradients' time (forward + backward), split into the five large matrix products — timed on "
           "their own with the framework's matmul: NumPy's OpenBLAS for minigrad and NumPy — and the rest "
           "(elementwise work, reductions, the framework's overhead); then the optimizer (Adam). jax is not "
           "split: jit runs the whole step as one program.",
           "",
           markdown_table(["batch", "dtype", "framework", "gradients ms", "five products ms",
                           "rest of gradients ms", "Adam ms"], profile_rows), ""] if profile_rows else []),
    ])
    if failures:
        raise SystemExit(text)
    return text


def run_benchmark(out_dir=None, quick=True):
    if quick:
        return run(batches=(100,), dtypes=("float32",), steps=10, warmup=2, round_size=5, profile_steps=5)
    return run(steps=100)         # a shared 2-core machine swings ±10 % between rounds: many rounds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 100, 1000])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--round-size", type=int, default=5)
    parser.add_argument("--profile-steps", type=int, default=20,
                        help="steps per framework for the where-the-time-goes table (0: none)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--frameworks", nargs="+", default=list(ORDER), help=f"subset of {', '.join(ORDER)}")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--grad-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.batch, args.dtypes[0], args.grad_file)
    if args.quick:
        print(run_benchmark(quick=True))
    else:
        print(run(args.batches, args.dtypes, args.steps, args.warmup, args.round_size, tuple(args.frameworks),
                  args.profile_steps))


if __name__ == "__main__":
    main()
