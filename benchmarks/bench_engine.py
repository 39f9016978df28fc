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
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script, too

import minigrad as mg  # noqa: E402
from benchmarks.common import NumpyAdam, interleaved, machine_line, markdown_table, peak_traced_bytes  # noqa: E402

SIZES = (784, 400, 20)


def initial_weights(dtype, seed=0):
    model = mg.nn.MLP(list(SIZES), activation="tanh", dtype=dtype, rng=seed)
    return model, [p.data.copy() for p in model.parameters()]


class NumpyMLP:
    """The same step written by hand: fused bias adds, tanh' from the saved activation, Adam with
    in-place moment updates and one scratch buffer per parameter — a competent reference."""

    def __init__(self, weights):
        self.w = [w.copy() for w in weights]
        self.adam = NumpyAdam(self.w, lr=1e-3)

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
        self.adam.step(grads)
        return loss


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


def bench_step(batch, dtype, steps, warmup):
    """(minigrad ms, NumPy ms, minigrad faults/step, NumPy faults/step, minigrad peak MB, NumPy peak MB)."""
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
    res = interleaved({"minigrad": lambda: ours.step(xt, tt), "numpy": lambda: ref.step(x, target)},
                      steps, warmup)
    peak_ours = peak_traced_bytes(lambda: ours.step(xt, tt)) / 2**20
    peak_ref = peak_traced_bytes(lambda: ref.step(x, target)) / 2**20
    return (res["minigrad"][0] * 1e3, res["numpy"][0] * 1e3, res["minigrad"][1], res["numpy"][1],
            peak_ours, peak_ref)


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

    res = interleaved({"minigrad": chain, "numpy": bare}, repeats, warmup=1)
    return {name: t / n_ops * 1e6 for name, (t, _) in res.items()}


def run(batches=(32, 100, 1000), dtypes=("float32", "float64"), steps=50, warmup=5, overhead_repeats=20):
    """The benchmark's markdown report."""
    rows = []
    for dtype in dtypes:
        for batch in batches:
            ours, ref, f_ours, f_ref, m_ours, m_ref = bench_step(batch, np.dtype(dtype).type, steps, warmup)
            rows.append([batch, dtype, f"{ours:.2f}", f"{ref:.2f}", f"{ours / ref:.2f}", f"{f_ours:.0f}",
                         f"{f_ref:.0f}", f"{m_ours:.1f}", f"{m_ref:.1f}"])
    overhead = bench_overhead(repeats=overhead_repeats)
    return "\n".join([
        f"### Engine: MLP {'-'.join(map(str, SIZES))} (tanh) step — forward, MSE, backward, Adam",
        "",
        f"Median of {steps} interleaved steps after {warmup} warm-up; {machine_line()}",
        "",
        markdown_table(["batch", "dtype", "minigrad ms", "NumPy ms", "ratio", "minigrad faults/step",
                        "NumPy faults/step", "minigrad peak MB", "NumPy peak MB"], rows),
        "",
        markdown_table(["per-op overhead: 1,000 muls of 10×10, forward + backward", "µs per op"],
                       [["minigrad", f"{overhead['minigrad']:.2f}"],
                        ["bare NumPy, same arithmetic", f"{overhead['numpy']:.2f}"]]),
        "",
    ])


def run_benchmark(out_dir=None, quick=True):
    """The run_all convention: return the markdown report (this benchmark makes no plots)."""
    if quick:
        return run(batches=(32, 100), dtypes=("float32",), steps=5, warmup=1, overhead_repeats=3)
    return run()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 100, 1000])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=50, help="timed steps per cell (median reported)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: batch 32/100, float32, 5 steps")
    args = parser.parse_args(argv)
    if args.quick:
        print(run_benchmark(quick=True))
    else:
        print(run(args.batches, args.dtypes, args.steps, args.warmup))


if __name__ == "__main__":
    main()
