"""What every benchmark shares: the machine it ran on, timing and memory measurement, markdown tables,
and atomic writes of results (a crash never leaves a half-written table or plot behind)."""

import importlib
import os
import platform
import resource
import sys
import time
import tracemalloc

import numpy as np

from minigrad.files import atomic_write_bytes, png_bytes

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
PEERS = ("torch", "autograd", "jax")


def blas_name():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:          # older NumPy: no dict mode
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def peer_versions():
    versions = {}
    for name in PEERS:
        try:
            versions[name] = importlib.import_module(name).__version__
        except Exception:
            versions[name] = None
    return versions


def machine_info():
    import scipy

    import minigrad
    threads = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")}
    return {
        "cpu": cpu_model(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
        "numpy": np.__version__, "scipy": scipy.__version__, "blas": blas_name(),
        "minigrad": minigrad.__version__, "thread_env": threads or "default",
        "allocator_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")} or "default",
    }


def machine_line():
    m = machine_info()
    return (f"{m['cpu']}, {m['cpus']} CPUs; python {m['python']}, numpy {m['numpy']} ({m['blas']}), "
            f"scipy {m['scipy']}; threads env: {m['thread_env']}; allocator env: {m['allocator_env']}")


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def atomic_write(path, data):
    """Write text or bytes to `path` atomically (minigrad.files), making its folder if needed."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data)


def save_figure(fig, path, dpi=110):
    """Save a matplotlib figure atomically (PNG)."""
    atomic_write(path, png_bytes(fig, dpi))


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved(fns, steps, warmup=3):
    """Run the callables in `fns` (name → fn) round-robin, `warmup` rounds untimed, then `steps` timed
    rounds; return name → (median seconds, median minor page faults per call)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    faults = {name: [] for name in fns}
    for _ in range(steps):
        for name, fn in fns.items():
            f0 = minor_faults()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            faults[name].append(minor_faults() - f0)
    return {name: (float(np.median(times[name])), float(np.median(faults[name]))) for name in fns}


def peak_traced_bytes(fn):
    """Peak bytes allocated through Python/NumPy's allocator while fn() runs, above what was live
    before it (tracemalloc sees NumPy's array buffers). minigrad's buffer pool is emptied first, so the
    arrays a step keeps in it for the next step are counted too: they are the step's working memory."""
    from minigrad import engine
    engine.release_buffers()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        if not was_tracing:
            tracemalloc.stop()


class NumpyAdam:
    """Adam as a competent NumPy reference writes it: moments updated in place, one scratch buffer per
    parameter, no other temporaries, the bias corrections folded into two scalars (PyTorch's rule)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.s = [np.zeros_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, (1 - b2 ** self.t) ** 0.5
        for p, g, m, v, s in zip(self.params, grads, self.m, self.v, self.s):
            m *= b1
            np.multiply(g, 1 - b1, out=s)
            m += s
            v *= b2
            np.multiply(g, g, out=s)
            s *= 1 - b2
            v += s
            np.sqrt(v, out=s)                 # (lr·c₂/c₁)·m/(√v + ε·c₂) = (lr/c₁)·m/(√v/c₂ + ε)
            s += self.eps * c2
            np.divide(m, s, out=s)
            s *= self.lr * c2 / c1
            p -= s


def docs_pytorch_vae():
    """The PyTorch `VAE` module of docs/pytorch.md (its first python block, run as written; needs torch)."""
    import re

    path = os.path.join(os.path.dirname(RESULTS_DIR), "..", "docs", "pytorch.md")
    with open(path, encoding="utf-8") as f:
        block = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)[0]
    namespace = {"__name__": "pytorch_md"}
    exec(compile(block, "docs/pytorch.md", "exec"), namespace)
    return namespace["VAE"]
