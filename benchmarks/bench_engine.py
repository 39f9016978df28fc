"""Engine speed: an MLP 784-400-20 (tanh) training step in minigrad vs hand-written NumPy.

One step = forward, mean-squared-error loss against a fixed target, backward, Adam update.
Both implementations start from the same weights, see the same data, and are checked to produce
the same losses before anything is timed. Rounds are interleaved (minigrad step, NumPy step, …) so
that drift in the machine's speed hits both equally; the table gives medians and their ratio.
Also: the per-op overhead of a chain of 1,000 multiplications of 10×10 tensors, forward + backward.

    python benchmarks/bench_engine.py            # batch 32/100/1000, float32/float64, 50 steps
    python benchmarks/bench_engine.py --quick    # a smoke run: small sizes, few steps
"""

import argparse
import os
import resource
import sys
import time

import numpy as np

import minigrad as mg

SIZES = (784, 400, 20)


def machine_summary():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:
        blas = "unknown"
    malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    return (f"python {sys.version.split()[0]}, numpy {np.__version__} ({blas}), {os.cpu_count()} CPUs, "
            f"allocator env: {malloc or 'default'}")


def initial_weights(dtype, seed=0):
    model = mg.nn.MLP(list(SIZES), activation="tanh", dtype=dtype, rng=seed)
    return model, [p.data.copy() for p in model.parameters()]


class NumpyMLP:
    """The same step written by hand: fused bias adds, tanh' from the saved activation, Adam with
    in-place moment updates and one scratch buffer per parameter — a competent reference."""

    def __init__(self, weights, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.w = [w.copy() for w in weights]
        self.m = [np.zeros_like(w) for w in self.w]
        self.v = [np.zeros_like(w) for w in self.w]
        self.scratch = [np.zeros_like(w) for w in self.w]
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0

    def step(self, x, target):
        w1, b1, w2, b2 = self.w
        h = x @ w1.T
        h += b1
        np.tanh(h, out=h)
        y = h @ w2.T
        y += b2
        y -= target
        loss = float(np.vdot(y, y)) / y.size
        dy = y
        dy *= 2.0 / y.size
        grads = [None, None, dy.T @ h, dy.sum(axis=0)]
        dh = dy @ w2
        h *= h
        np.subtract(1, h, out=h)
        dh *= h
        grads[0] = dh.T @ x
        grads[1] = dh.sum(axis=0)
        self.adam(grads)
        return loss

    def adam(self, grads):
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, (1 - b2 ** self.t) ** 0.5
        for p, g, m, v, s in zip(self.w, grads, self.m, self.v, self.scratch):
            m *= b1
            np.multiply(g, 1 - b1, out=s)
            m += s
            v *= b2
            np.multiply(g, g, out=s)
            s *= 1 - b2
            v += s
            np.sqrt(v, out=s)
            s /= c2
            s += self.eps
            np.divide(m, s, out=s)
            s *= self.lr / c1
            p -= s


class MinigradMLP:
    def __init__(self, model):
        self.model = model
        self.opt = mg.optim.Adam(model.parameters(), lr=1e-3)

    def step(self, x, target):
        self.opt.zero_grad()
        loss = mg.functional.mse_loss(self.model(x), target)
        loss.backward()
        self.opt.step()
        return loss.item()


def timed(fn, *args):
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def bench_step(batch, dtype, steps, warmup):
    rng = np.random.default_rng(1)
    x = rng.random((batch, SIZES[0])).astype(dtype)
    target = rng.standard_normal((batch, SIZES[-1])).astype(dtype)
    model, weights = initial_weights(dtype)
    ours, ref = MinigradMLP(model), NumpyMLP(weights)
    xt, tt = mg.Tensor(x), mg.Tensor(target)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for i in range(3):               # same computation, or the ratio means nothing
        a, b = ours.step(xt, tt), ref.step(x, target)
        if abs(a - b) > tol * abs(b):
            raise SystemExit(f"bench_engine: losses disagree at step {i}: minigrad {a} vs NumPy {b}")
    for _ in range(warmup):
        ours.step(xt, tt)
        ref.step(x, target)
    t_ours, t_ref, f_ours, f_ref = [], [], [], []
    for _ in range(steps):
        dt, df = timed(ours.step, xt, tt)
        t_ours.append(dt)
        f_ours.append(df)
        dt, df = timed(ref.step, x, target)
        t_ref.append(dt)
        f_ref.append(df)
    return (np.median(t_ours) * 1e3, np.median(t_ref) * 1e3, np.median(f_ours), np.median(f_ref))


def bench_overhead(n_ops=1000, repeats=20):
    rng = np.random.default_rng(2)
    x = mg.tensor(rng.standard_normal((10, 10)), requires_grad=True)
    c = mg.tensor(1 + 1e-3 * rng.standard_normal((10, 10)))

    def chain():
        y = x
        for _ in range(n_ops):
            y = y * c
        y.sum().backward()

    def bare():            # the same arithmetic in plain NumPy: forward products, backward products
        y, cd = x.data, c.data
        for _ in range(n_ops):
            y = y * cd
        g = np.ones_like(y)
        for _ in range(n_ops):
            g = g * cd

    times = {}
    for name, fn in (("minigrad", chain), ("numpy", bare)):
        fn()
        times[name] = np.median([timed(fn)[0] for _ in range(repeats)]) / n_ops * 1e6
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 100, 1000])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=50, help="timed steps per cell (median reported)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: batch 32/100, float32, 5 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.dtypes, args.steps, args.warmup = [32, 100], ["float32"], 5, 1

    print(f"# minigrad engine benchmark: MLP {'-'.join(map(str, SIZES))} tanh, MSE, Adam")
    print(f"{machine_summary()}\n")
    print("| batch | dtype | minigrad ms | NumPy ms | ratio | minigrad faults/step | NumPy faults/step |")
    print("|---|---|---|---|---|---|---|")
    for dtype in args.dtypes:
        for batch in args.batches:
            ours, ref, f_ours, f_ref = bench_step(batch, np.dtype(dtype).type, args.steps, args.warmup)
            print(f"| {batch} | {dtype} | {ours:.2f} | {ref:.2f} | {ours / ref:.2f} | {f_ours:.0f} | {f_ref:.0f} |",
                  flush=True)
    overhead = bench_overhead(repeats=3 if args.quick else 20)
    print("\n| per-op overhead (10×10 mul, fwd + bwd) | µs per op |")
    print("|---|---|")
    print(f"| minigrad | {overhead['minigrad']:.2f} |")
    print(f"| bare NumPy (same arithmetic) | {overhead['numpy']:.2f} |")


if __name__ == "__main__":
    main()
