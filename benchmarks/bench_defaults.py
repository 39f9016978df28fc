"""Defaults: why the VAE a user would write in PyTorch learned better than minigrad's, and the defaults that
close the gap.

The same protocol — data, architecture, Adam 1e-3, batch 100, the minibatches, the dynamic binarization and
the ε of every step (one numpy Generator seeded with the seed, drawn in `python -m vae train`'s order) — is
trained three ways, three seeds each:

    minigrad, Glorot (old default)  minigrad trains; W ~ U(±√(6/(in+out))) (He for ReLU), b = 0: the VAE's
                                    initialization before this study
    minigrad, init="torch"          minigrad trains; every Linear as nn.Linear(init="torch"):
                                    W, b ~ U(±1/√in), from numpy (the VAE's default after this study)
    PyTorch, its own init           PyTorch trains the module of docs/pytorch.md, built under
                                    torch.manual_seed(seed): torch.nn.Linear's own reset_parameters()

What differs between the first and the last is only the initial weights: minigrad's Adam is PyTorch's
(β = (0.9, 0.999), ε = 1e-8 added to √v̂, the same bias correction; optimizer defaults are checked below), the
loss is the same −mean ELBO, and the same weights give the same curve (benchmarks/bench_training.py
tests that to float32 rounding). The initial scales do differ, most in the small fan-in layers:

    layer (784-400-20)        Glorot (old)   PyTorch
    encoder.0  784 → 400      ±0.071, b = 0  ±0.036, b ~ ±0.036
    enc_mu     400 → 20       ±0.120, b = 0  ±0.050, b ~ ±0.050
    decoder.0   20 → 400      ±0.120, b = 0  ±0.224, b ~ ±0.224
    decoder.2  400 → 784      ±0.071, b = 0  ±0.050, b ~ ±0.050

After 50, 100 and 200 epochs every run's test IWAE bound (k importance samples) is computed by one code,
minigrad's VAE.iwae_bound with the run's weights copied in, on the same test examples with the same ε for
every run of a seed. On mnist5k the bound uses the first `n_test` (500 of 1,000) test examples to keep the
full run short; the runs of a seed are compared on the same examples, so the comparison is paired.

    python benchmarks/bench_defaults.py            # quick: the digits, 2 epochs, a small network (seconds)
    python benchmarks/bench_defaults.py --full     # 3 seeds × {digits, mnist5k} × 200 epochs (≈ 12 min, 1 core)

Results (benchmarks/results/defaults.md): the initialization is the whole difference. Minigrad trained from
PyTorch's own initial weights ends where PyTorch does (0.000 nats); the old Glorot default trails PyTorch by
0.07/0.34/0.19 nats (digits) and 1.81/0.91/0.16 (mnist5k) after 50/100/200 epochs; init="torch" is within
0.02 on the digits and +0.02/+0.09/+0.18 (± 0.13/0.11/0.11, six seeds) on mnist5k, where single seeds spread
by 0.2–0.4 nats.
"""

import argparse
import dataclasses
import math
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script, too

import minigrad as mg  # noqa: E402
from benchmarks import bench_training as bt  # noqa: E402
from benchmarks.common import RESULTS_DIR, docs_pytorch_vae, machine_line, markdown_table, save_figure  # noqa: E402
from minigrad import nn  # noqa: E402
from vae.model import VAE  # noqa: E402
from vae.train import TrainConfig  # noqa: E402

PLOT = "defaults.png"
FIGSIZE, DPI = (12.0, 4.4), 110
VARIANTS = {"glorot": "minigrad, Glorot (old default)", "torch": "minigrad, init=\"torch\"",
            "torch_w": "minigrad, init=\"torch\" W, b = 0", "twin": "minigrad, from PyTorch's initial weights",
            "pytorch": "PyTorch, its own init"}
DATASETS = {"digits": "scikit-learn's 8×8 digits, grey levels", "mnist5k": "mnist5k, dynamically binarized"}


@dataclasses.dataclass(frozen=True)
class Settings:
    datasets: tuple = ("digits", "mnist5k")
    seeds: tuple = (0, 1, 2)
    epochs: tuple = (50, 100, 200)          # IWAE evaluated after each of these
    hidden: int = 400
    latent: int = 20
    iwae_k: int = 1000
    n_test: tuple = (("digits", None), ("mnist5k", 500))    # test examples for the IWAE bound (None: all)
    variants: tuple = ("glorot", "torch", "pytorch")     # --ablation adds "torch_w": is it the weights or b?
    threads: int = 1


QUICK = Settings(datasets=("digits",), seeds=(0,), epochs=(1, 2), hidden=32, latent=4, iwae_k=20,
                 n_test=(("digits", 100),))
FULL = Settings()


def n_test_for(settings, name):
    return dict(settings.n_test).get(name)


# ----------------------------------------------------------------------------------------------
# Initial weights

def initial_minigrad(config, dim, init, seed):
    """A minigrad VAE whose every Linear is drawn as nn.Linear(in, out, init=init) in parameter order, from a
    Generator seeded with (seed, 1) — not the data stream's Generator, so every variant sees the same data.
    init="torch_w": init="torch"'s weights with the biases set to 0."""
    model = VAE(**config.model_config(dim), rng=0)
    rng = np.random.default_rng([seed, 1])
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            fresh = nn.Linear(layer.in_features, layer.out_features, dtype=model.dtype, rng=rng,
                              init="torch" if init == "torch_w" else init)
            layer.weight.data[...] = fresh.weight.data
            layer.bias.data[...] = 0 if init == "torch_w" else fresh.bias.data
    return model


def initial_pytorch(config, dim, seed):
    """The module of docs/pytorch.md built under torch.manual_seed(seed): torch.nn.Linear's own init."""
    import torch

    torch.manual_seed(seed)
    TorchVAE = docs_pytorch_vae()
    return TorchVAE(**config.model_config(dim))


def minigrad_weights(torch_module, config, dim):
    """A minigrad VAE holding a PyTorch module's current weights (the names are the same)."""
    model = VAE(**config.model_config(dim), rng=0)
    model.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()})
    return model


def initial_scales(config, dim):
    """[(layer, in, out, Glorot limit, torch limit)] of the VAE's Linear layers."""
    model = VAE(**config.model_config(dim), rng=0)
    rows = []
    for name, layer in ((n, m) for n, m in _named_linears(model)):
        n_in, n_out = layer.in_features, layer.out_features
        rows.append((name, n_in, n_out, math.sqrt(6 / (n_in + n_out)), 1 / math.sqrt(n_in)))
    return rows


def _named_linears(model):
    for name, _ in model.named_parameters():
        if name.endswith(".weight"):
            layer = model
            for part in name.split(".")[:-1]:
                layer = getattr(layer, part)
            yield name[:-len(".weight")], layer


# ----------------------------------------------------------------------------------------------
# Training

def torch_stepper(module, lr):
    """(step, evaluate) for train_loop: torch.optim.Adam with its defaults on the module's −mean ELBO."""
    import torch

    opt = torch.optim.Adam(module.parameters(), lr=lr)

    def step(xb, eps):
        opt.zero_grad()
        out = module.elbo(torch.from_numpy(xb), torch.from_numpy(eps))
        loss = -out.mean()
        if not math.isfinite(loss.item()):
            return None
        loss.backward()
        opt.step()
        return out.detach().numpy()

    def evaluate(x, eps):
        with torch.no_grad():
            return module.elbo(torch.from_numpy(x), torch.from_numpy(eps)).numpy()
    return step, evaluate


def config_for(name, settings, seed):
    return TrainConfig(data=name, hidden=(settings.hidden,), latent=settings.latent, seed=seed,
                       epochs=max(settings.epochs), threads=settings.threads)


def train_one(variant, data, config, settings, log=None):
    """Train one variant for max(settings.epochs) epochs; {epoch: test IWAE_k} at settings.epochs, and the
    per-epoch history of train_loop."""
    test = data.test[:n_test_for(settings, config.data)]
    if variant == "pytorch":
        import torch
        module = initial_pytorch(config, data.dim, config.seed)
        current = lambda: minigrad_weights(module, config, data.dim)                # noqa: E731
        make = lambda initial: torch_stepper(module, config.lr)                      # noqa: E731
    else:
        model = minigrad_weights(initial_pytorch(config, data.dim, config.seed), config, data.dim) \
            if variant == "twin" else initial_minigrad(config, data.dim, variant, config.seed)
        run = bt.Run(VARIANTS[variant], "reparam", 1)
        current = lambda: model                                                       # noqa: E731
        make = lambda initial: bt.minigrad_stepper(run, config)(model)               # noqa: E731
    iwae = {}

    def on_epoch(epoch):
        if epoch in settings.epochs:
            rng = np.random.default_rng([config.seed, epoch, 7])                      # the same ε for every variant
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                iwae[epoch] = float(np.mean(np.concatenate(
                    [current().iwae_bound(test[i:i + 100], settings.iwae_k, rng=rng).data
                     for i in range(0, len(test), 100)])))
            if log:
                log(f"{config.data} seed {config.seed} {VARIANTS[variant]}: epoch {epoch}, test IWAE-"
                    f"{settings.iwae_k} {iwae[epoch]:.3f}")

    lim = dataclasses.replace(bt.QUICK, epochs=max(settings.epochs), eval_samples=1)
    run = bt.Run(VARIANTS[variant], "reparam", 1, framework="torch" if variant == "pytorch" else "minigrad")
    if variant == "pytorch":
        threads = torch.get_num_threads()
        torch.set_num_threads(settings.threads)
    try:
        with threadpool_limits(limits=settings.threads, user_api="blas"):
            record = bt.train_loop(run, data, config, lim, make, on_epoch=on_epoch)
    finally:
        if variant == "pytorch":
            torch.set_num_threads(threads)
    return {"variant": variant, "seed": config.seed, "data": config.data, "iwae": iwae,
            "history": record["history"], "seconds": record["seconds"], "diverged": record["diverged"]}


def train_all(settings, log=None, datasets=None):
    """[record] for every dataset, seed and variant; PyTorch's runs are left out (with a note) without torch."""
    ok, why = bt.torch_available()
    variants = [v for v in settings.variants if ok or v != "pytorch"]
    note = "" if ok else f"PyTorch not installed ({why}): its runs are skipped."
    records = []
    for name in settings.datasets:
        data = (datasets or {}).get(name) or config_for(name, settings, 0).load_data()
        for seed in settings.seeds:
            config = config_for(name, settings, seed)
            for variant in variants:
                records.append(train_one(variant, data, config, settings, log))
    return records, note


# ----------------------------------------------------------------------------------------------
# Report

def summarize(records, settings):
    """Rows (dataset, epoch, variant, mean IWAE, sd over seeds, mean paired Δ vs PyTorch, its SE)."""
    rows = []
    for name in settings.datasets:
        for epoch in settings.epochs:
            by = {v: {r["seed"]: r["iwae"].get(epoch) for r in records if r["data"] == name and r["variant"] == v}
                  for v in settings.variants}
            ref = by.get("pytorch") or {}
            for v, values in by.items():
                vals = [x for x in values.values() if x is not None]
                if not vals:
                    continue
                diffs = [values[s] - ref[s] for s in values if ref.get(s) is not None and values[s] is not None]
                rows.append((name, epoch, v, float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1
                             else float("nan"), float(np.mean(diffs)) if diffs and v != "pytorch" else None,
                             float(np.std(diffs, ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 and
                             v != "pytorch" else None))
    return rows


def table_rows(summary):
    out = []
    for name, epoch, v, mean, sd, diff, se in summary:
        d = "—" if diff is None else (f"{diff:+.3f}" + (f" ± {se:.3f}" if se is not None else ""))
        out.append([name, epoch, VARIANTS[v], f"{mean:.3f}", "—" if math.isnan(sd) else f"{sd:.3f}", d])
    return out


def plot(records, settings, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(settings.datasets), figsize=FIGSIZE, squeeze=False)
    styles = {"glorot": dict(color="C3"), "torch": dict(color="C0"), "torch_w": dict(color="C2", linestyle=":"),
              "twin": dict(color="C4", linestyle="-."),
              "pytorch": dict(color="black", linestyle="--")}
    for ax, name in zip(axes[0], settings.datasets):
        curves = []
        for v in settings.variants:
            hists = [r["history"] for r in records if r["data"] == name and r["variant"] == v and r["history"]]
            if not hists:
                continue
            n = min(len(h) for h in hists)
            curves.append(np.mean([[h[i]["test_elbo"] for i in range(n)] for h in hists], axis=0))
            ax.plot(np.arange(1, n + 1), curves[-1], label=VARIANTS[v], linewidth=1.4, **styles[v])
        if curves and len(curves[0]) > 10:          # from a tenth of the way in: the first epochs dwarf the rest
            ax.set_ylim(min(c[len(c) // 10] for c in curves) - 1, max(c.max() for c in curves) + 1)
        ax.set(xlabel="epoch", ylabel="test ELBO (nats, mean over seeds)", title=DATASETS[name])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI)
    plt.close(fig)
    return path


def report(records, settings, note, path, seconds):
    ref = TrainConfig()
    sizes = f"D-{settings.hidden}-{settings.latent}"
    config = config_for(settings.datasets[0], settings, 0)
    scales = initial_scales(config, 784 if "mnist5k" in settings.datasets else 64)
    torch_adam = _torch_adam_defaults()
    lines = [f"### Defaults: minigrad vs the VAE a PyTorch user writes ({sizes} tanh, test IWAE-{settings.iwae_k})",
             "",
             f"Seeds {', '.join(map(str, settings.seeds))}; Adam {ref.lr:g}, batch {ref.batch_size}, float32, "
             f"Bernoulli likelihood, analytic KL; the runs of a seed see the same minibatches, binarization and ε. "
             "Test IWAE bound: one code (minigrad's `VAE.iwae_bound`, the run's weights copied in), the same ε for "
             "every run of a seed, on " + "; ".join(f"{name}: {_which_test(settings, name)} test examples"
                                                     for name in settings.datasets)
             + ". Δ: the paired difference to PyTorch's run of "
             f"the same seed, mean ± its standard error over seeds. {machine_line()}",
             "",
             markdown_table(["data", "epochs", "run", f"test IWAE-{settings.iwae_k}", "sd over seeds",
                             "Δ vs PyTorch (nats)"], table_rows(summarize(records, settings))),
             "",
             "What differs before training (the optimizers do not: "
             f"minigrad Adam {_minigrad_adam_defaults()}, torch.optim.Adam {torch_adam}):",
             "",
             markdown_table(["layer", "in → out", "Glorot (old default) W", "PyTorch / init=\"torch\" W and b"],
                            [[n, f"{a} → {b}", f"±{g:.3f}, b = 0", f"±{t:.3f}"] for n, a, b, g, t in scales]),
             ""]
    if note:
        lines += [note, ""]
    lines += [f"![defaults]({os.path.basename(path)})", "", f"({seconds:.0f} s in all.)", ""]
    return "\n".join(lines)


def _which_test(settings, name):
    n = n_test_for(settings, name)
    return "all" if n is None else f"the first {n}"


def _minigrad_adam_defaults():
    h = mg.optim.Adam([mg.tensor(np.zeros(1), requires_grad=True)]).hyperparameters
    return f"lr={h['lr']:g}, betas={tuple(h['betas'])}, eps={h['eps']:g}, weight_decay={h['weight_decay']:g}"


def _torch_adam_defaults():
    ok, _ = bt.torch_available()
    if not ok:
        return "(not installed)"
    import torch
    d = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults
    return f"lr={d['lr']:g}, betas={tuple(d['betas'])}, eps={d['eps']:g}, weight_decay={d['weight_decay']:g}"


def run(settings, out_dir=None, log=None, datasets=None):
    out_dir = out_dir or RESULTS_DIR
    t0 = time.perf_counter()
    records, note = train_all(settings, log, datasets)
    path = plot(records, settings, os.path.join(out_dir, PLOT))
    return report(records, settings, note, path, time.perf_counter() - t0)


def benchmark_settings(quick=True):
    return dataclasses.asdict(QUICK if quick else FULL)


def run_benchmark(out_dir=None, quick=True):
    return run(QUICK if quick else FULL, out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="3 seeds × digits and mnist5k × 200 epochs")
    parser.add_argument("--data", nargs="+", choices=list(DATASETS), help="only these data sets")
    parser.add_argument("--seeds", type=int, nargs="+", help="only these seeds")
    parser.add_argument("--ablation", action="store_true", help="add the run with init=\"torch\" weights and b = 0, "
                        "and minigrad trained from PyTorch's own initial weights")
    parser.add_argument("--epochs", type=int, nargs="+", help="evaluate after these epochs (default 50 100 200)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="only these runs (PyTorch's last)")
    parser.add_argument("--out", default=RESULTS_DIR, help="where the PNG goes (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="a line per evaluation on stderr")
    args = parser.parse_args(argv)
    settings = FULL if args.full else QUICK
    if args.data:
        settings = dataclasses.replace(settings, datasets=tuple(args.data))
    if args.seeds:
        settings = dataclasses.replace(settings, seeds=tuple(args.seeds))
    if args.ablation:
        settings = dataclasses.replace(settings, variants=("glorot", "torch", "torch_w", "twin", "pytorch"))
    if args.epochs:
        settings = dataclasses.replace(settings, epochs=tuple(args.epochs))
    if args.variants:
        settings = dataclasses.replace(settings, variants=tuple(args.variants))
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else None
    print(run(settings, args.out, log))


if __name__ == "__main__":
    main()
