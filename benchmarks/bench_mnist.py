"""MNIST: the VAE and the IWAE on 28×28 digits, in Burda et al.'s Table 1 layout (rows objective × k).

mnist5k (4,000 training and 1,000 test images of real MNIST, `python -m vae train --data mnist5k`),
dynamically binarized; 784-400-20 tanh, Bernoulli likelihood, Adam 1e-3, batch 100, float32, seed 0. Every
row starts from the same initial weights and sees the same minibatches and binarization (one Generator,
drawn in `python -m vae train`'s order — bench_training.train_loop); only the number k of ε per example
differs, and with it the ε. The two objectives, both through vae.train.objective:

    VAE,  k samples   (1/k) Σ_i log w_i         (`--objective elbo --samples k --kl mc`: Burda et al.'s VAE
                                                 estimator, the ELBO with the KL estimated on the samples)
    IWAE, k samples   log (1/k) Σ_i w_i         (`--objective iwae --k k`)

    log w_i = log p_θ(x|z_i) + log p(z_i) − log q_φ(z_i|x),  z_i = μ_φ(x) + σ_φ(x) ⊙ ε_i.

With k = 1 the two are the same function with the same gradient, so the two k = 1 rows must trace the same
curve (checked here, end to end, and in tests/test_bench_mnist.py). After training, each row's test
log-likelihood is estimated by the IWAE bound with 5,000 samples on the first `n_test` test images, with the
same ε for every row; the test ELBO (one ε per image, the same for every row at an epoch) is logged per epoch.

The PyTorch peer (when torch is installed): the module of docs/pytorch.md loaded with the same initial
weights, trained on the same minibatches and ε with torch.optim.Adam on the VAE k = 1 objective (its KL
estimated on the sample as above). Its test-ELBO curve must agree with minigrad's to float32 round-off over
the first epochs (asserted before plotting; later, training amplifies rounding differences as between any
two float32 implementations).

Burda et al. 2015 (Table 1) trained 784-200-200-50 networks (one stochastic layer) for 3,280 passes over
all 60,000 MNIST images: their numbers are quoted for orientation only.

    python benchmarks/bench_mnist.py            # quick: a small network on 500 images, 2 epochs (seconds)
    python benchmarks/bench_mnist.py --full     # the study: 30 epochs × 6 rows (≈ 9 min on 2 cores; the k = 50
                                                # rows take 4–8 s an epoch, hence 30 epochs for every row)
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
from vae import plots  # noqa: E402
from vae.train import TrainConfig, objective  # noqa: E402

CURVES, RECONSTRUCTIONS, SAMPLES = "mnist_curves.png", "mnist_reconstructions.png", "mnist_samples.png"
OBJECTIVES = {"elbo": "VAE", "iwae": "IWAE"}
# Burda et al. 2015, Table 1, MNIST, one stochastic layer (784-200-200-50): test log-likelihood (IWAE-5000)
BURDA = {("elbo", 1): -86.76, ("elbo", 5): -86.47, ("elbo", 50): -86.35,
         ("iwae", 1): -86.76, ("iwae", 5): -85.54, ("iwae", 50): -84.78}
AGREE_EPOCHS, AGREE_RTOL = 3, 1e-4      # PyTorch vs minigrad: |Δ test ELBO| / |test ELBO| over the first epochs


@dataclasses.dataclass(frozen=True)
class Settings:
    epochs: int = 30
    ks: tuple = (1, 5, 50)
    hidden: int = 400
    latent: int = 20
    iwae_k: int = 5000
    n_test: int = 500            # the first n_test test images for the IWAE-5000 estimate
    n_train: int | None = None   # the first n_train training images (None: all 4,000)
    eval_samples: int = 1        # ε per test image for the per-epoch test ELBO
    torch: bool = True
    seed: int = 0
    threads: int = 2


QUICK = Settings(epochs=2, ks=(1, 2), hidden=32, latent=4, iwae_k=50, n_test=50, n_train=500)
FULL = Settings()


def config_for(settings, obj, k):
    return TrainConfig(data="mnist5k", hidden=(settings.hidden,), latent=settings.latent, seed=settings.seed,
                       epochs=settings.epochs, threads=settings.threads, kl="mc", objective=obj,
                       **({"k": k} if obj == "iwae" else {"samples": k}))


def load_data(settings):
    data = config_for(settings, "elbo", 1).load_data()
    return dataclasses.replace(data, train=data.train[:settings.n_train], train_labels=data.train_labels[
        :settings.n_train]) if settings.n_train else data


# ----------------------------------------------------------------------------------------------
# Training

def minigrad_stepper(config, trained):
    """make(model) for bt.train_loop: Adam on −mean of vae.train.objective; the model is kept in `trained`."""
    def make(model):
        trained["model"] = model
        opt = mg.optim.Adam(model.parameters(), lr=config.lr)
        f = objective(model, config)

        def step(xb, eps):
            opt.zero_grad()
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                out = f(xb, eps)
                loss = -out.elbo.mean()
                if not math.isfinite(loss.item()):
                    return None
                loss.backward()
            opt.step()
            return out.elbo.data

        def evaluate(x, eps):
            with mg.no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return model.elbo(x, kl=config.kl, eps=eps).elbo.data
        return step, evaluate
    return make


def torch_stepper(config, dim):
    """make(model) for bt.train_loop: the docs/pytorch.md module holding the model's initial weights, trained
    by torch.optim.Adam on −mean (log p_θ(x|z) + log p(z) − log q_φ(z|x)), z = μ + σ ⊙ ε (the VAE, k = 1)."""
    import torch
    F = torch.nn.functional

    def elbo(module, x, eps):
        h = module.encoder(x)
        mu, logvar = module.enc_mu(h), module.enc_logvar(h)
        z = mu + torch.exp(0.5 * logvar) * eps
        log_px = -F.binary_cross_entropy_with_logits(module.decoder(z), x, reduction="none").sum(-1)
        return log_px + 0.5 * (eps * eps + logvar - z * z).sum(-1)     # log p(z) − log q(z|x): the 2π cancel

    def make(model):
        module = docs_pytorch_vae()(**config.model_config(dim))
        module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
        opt = torch.optim.Adam(module.parameters(), lr=config.lr)

        def step(xb, eps):
            opt.zero_grad()
            out = elbo(module, torch.from_numpy(xb), torch.from_numpy(eps))
            loss = -out.mean()
            if not math.isfinite(loss.item()):
                return None
            loss.backward()
            opt.step()
            return out.detach().numpy()

        def evaluate(x, eps):
            with torch.no_grad():
                return elbo(module, torch.from_numpy(x), torch.from_numpy(eps)).numpy()
        return step, evaluate
    return make


def iwae_estimate(model, data, settings):
    """Mean IWAE-k bound on the first n_test test images, the same ε for every model (Generator (seed, k))."""
    rng = np.random.default_rng([settings.seed, settings.iwae_k])
    test = data.test[:settings.n_test]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return float(np.mean(np.concatenate([model.iwae_bound(test[i:i + 100], settings.iwae_k, rng=rng).data
                                             for i in range(0, len(test), 100)])))


def train_row(settings, data, obj, k, log=None):
    config = config_for(settings, obj, k)
    run = bt.Run(f"{OBJECTIVES[obj]} k={k}", "reparam", k)
    trained = {}
    with threadpool_limits(limits=settings.threads, user_api="blas"):
        record = bt.train_loop(run, data, config, settings, minigrad_stepper(config, trained), log)
        t0 = time.perf_counter()
        iwae = iwae_estimate(trained["model"], data, settings) if not record["diverged"] else float("nan")
    if log:
        log(f"{run.name}: test IWAE-{settings.iwae_k} {iwae:.3f} ({time.perf_counter() - t0:.0f} s)")
    return {**record, "objective": obj, "k": k, "iwae": iwae, "model": trained["model"]}


def train_torch(settings, data, log=None):
    import torch
    config = config_for(settings, "elbo", 1)
    run = bt.Run("PyTorch VAE k=1", "reparam", 1, framework="torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        return bt.train_loop(run, data, config, settings, torch_stepper(config, data.dim), log)
    finally:
        torch.set_num_threads(threads)


def curve(record):
    return np.array([h["test_elbo"] for h in record["history"]])


def max_rel_gap(a, b, epochs=None):
    """max over the first `epochs` epochs of |a − b| / |a| between two records' test-ELBO curves."""
    a, b = curve(a)[:epochs], curve(b)[:epochs]
    if len(a) != len(b) or not len(a):
        raise RuntimeError(f"bench_mnist: curves of {len(a)} and {len(b)} epochs cannot be compared")
    return float(np.max(np.abs(a - b) / np.abs(a)))


def train_all(settings, data, log=None):
    """(rows in table order, the PyTorch record or None, a note). The VAE k = 1 row runs first and the PyTorch
    peer right after it, so a disagreement stops the study before the long rows."""
    rows = [train_row(settings, data, "elbo", settings.ks[0], log)]
    peer, note = None, ""
    ok, why = bt.torch_available()
    if settings.torch and settings.ks[0] == 1 and ok:
        peer = train_torch(settings, data, log)
        gap = max_rel_gap(rows[0], peer, AGREE_EPOCHS)
        if gap > AGREE_RTOL:
            raise RuntimeError(f"bench_mnist: PyTorch's test ELBO differs from minigrad's by {gap:.2e} (relative) "
                               f"over the first {AGREE_EPOCHS} epochs, more than float32 round-off ({AGREE_RTOL:g})")
    elif settings.torch and not ok:
        note = f"PyTorch not installed ({why}): its peer run is skipped."
    rows += [train_row(settings, data, obj, k, log) for obj in OBJECTIVES for k in settings.ks
             if (obj, k) != ("elbo", settings.ks[0])]
    return rows, peer, note


# ----------------------------------------------------------------------------------------------
# Report

def table(rows):
    out = []
    for r in rows:
        burda = BURDA.get((r["objective"], r["k"]))
        out.append([OBJECTIVES[r["objective"]], r["k"], f"{r['iwae']:.2f}", f"{curve(r)[-1]:.2f}",
                    f"{r['seconds'] / max(len(r['history']), 1):.2f}", "—" if burda is None else f"{burda:.2f}"])
    return out


def plot_curves(rows, peer, settings, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13.0, 4.6))
    for i, r in enumerate(rows):
        c = curve(r)
        axes[0].plot(np.arange(1, len(c) + 1), c, color=f"C{i}", linestyle="-" if r["objective"] == "elbo" else "--",
                     label=f"{OBJECTIVES[r['objective']]} k={r['k']}")
    lo = min(curve(r)[len(curve(r)) // 5] for r in rows)
    axes[0].set_ylim(lo - 2, max(curve(r).max() for r in rows) + 2)
    axes[0].set(xlabel="epoch", ylabel="test ELBO (nats)",
                title=f"mnist5k, 784-{settings.hidden}-{settings.latent}: test ELBO per epoch")
    axes[0].legend(fontsize=8, loc="lower right")
    mine = rows[0]
    c = curve(mine)
    axes[1].plot(np.arange(1, len(c) + 1), c, color="C0", linewidth=2.5, alpha=0.6, label="minigrad VAE k=1")
    if peer is not None:
        p = curve(peer)
        axes[1].plot(np.arange(1, len(p) + 1), p, color="black", linestyle="--", label="PyTorch VAE k=1")
        twin = axes[1].twinx()
        twin.semilogy(np.arange(1, len(p) + 1), np.maximum(np.abs(p - c), 1e-9), color="C3", linewidth=0.8,
                      label="|PyTorch − minigrad|")
        twin.set_ylabel("|Δ| (nats, log scale)", color="C3")
        twin.legend(fontsize=8, loc="center right")
    axes[1].set_ylim(c[len(c) // 5] - 2, c.max() + 2)
    axes[1].set(xlabel="epoch", ylabel="test ELBO (nats)",
                title="the same VAE from the same weights, minibatches and ε")
    axes[1].legend(fontsize=8, loc="lower right")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_model(model, data, settings, out_dir):
    """vae.plots' reconstructions (one test image per class) and prior samples of the trained model."""
    fig = plots.reconstructions_figure(model, data.test, data.test_labels, data.image_shape, (0.0, 1.0))
    save_figure(fig, os.path.join(out_dir, RECONSTRUCTIONS), dpi=plots.DPI)
    fig = plots.samples_figure(model, data.image_shape, (0.0, 1.0), np.random.default_rng([settings.seed, 2]))
    save_figure(fig, os.path.join(out_dir, SAMPLES), dpi=plots.DPI)


def report(rows, peer, note, settings, data, seconds):
    s = settings
    k1 = {r["objective"]: r for r in rows if r["k"] == 1}
    lines = [f"### MNIST (mnist5k): VAE vs IWAE, test log-likelihood estimate IWAE-{s.iwae_k}", "",
             f"mnist5k: {len(data.train)} training images, dynamically binarized; 784-{s.hidden}-{s.latent} tanh, "
             f"Bernoulli likelihood, Adam {TrainConfig().lr:g}, batch {TrainConfig().batch_size}, float32, seed "
             f"{s.seed}, {s.epochs} epochs; every row from the same initial weights, minibatches and binarization. "
             f"VAE: (1/k) Σ log w_i (KL estimated on the samples); IWAE: log (1/k) Σ w_i. Test IWAE-{s.iwae_k}: "
             f"the first {s.n_test} of the {len(data.test)} test images, the same ε for every row. Final test "
             f"ELBO: all {len(data.test)} test images, one ε each. Seconds per epoch: training only, "
             f"{s.threads} BLAS threads. {machine_line()}", "",
             markdown_table(["objective", "k", f"test IWAE-{s.iwae_k} (nats)", "final test ELBO", "s / epoch",
                             "Burda et al. 2015 (full MNIST, see below)"], table(rows)), "",
             "The last column is **not comparable**: Burda et al.'s Table 1 (one stochastic layer, 784-200-200-50, "
             "trained 3,280 passes over all 60,000 MNIST images, evaluated on the 10,000 test images). It is "
             "quoted only to show the pattern the paper reports: IWAE gains with k, the VAE barely does.", ""]
    if "elbo" in k1 and "iwae" in k1:
        gap = max_rel_gap(k1["elbo"], k1["iwae"])
        lines += [f"VAE k=1 and IWAE k=1 are the same objective: their test-ELBO curves differ by at most "
                  f"{gap:.1e} (relative) over {s.epochs} epochs.", ""]
    if peer is not None:
        gap = max_rel_gap(rows[0], peer)
        first = max_rel_gap(rows[0], peer, AGREE_EPOCHS)
        lines += [f"PyTorch peer (docs/pytorch.md's module, the same initial weights, minibatches and ε, "
                  f"torch.optim.Adam): its test ELBO agrees with minigrad's VAE k=1 to {first:.1e} (relative) over "
                  f"the first {AGREE_EPOCHS} epochs (asserted ≤ {AGREE_RTOL:g}) and {gap:.1e} over all "
                  f"{len(peer['history'])}; final {curve(peer)[-1]:.3f} vs {curve(rows[0])[-1]:.3f}, "
                  f"{peer['seconds'] / len(peer['history']):.2f} s / epoch.", ""]
    if note:
        lines += [note, ""]
    lines += [f"![test ELBO curves]({CURVES})", "",
              f"The VAE k={rows[0]['k']} model after {s.epochs} epochs: the first test image of each class above "
              "its reconstruction, and samples from the prior (vae/plots.py's figures).", "",
              f"![reconstructions]({RECONSTRUCTIONS})", "", f"![samples]({SAMPLES})", "",
              f"({seconds:.0f} s in all.)", ""]
    return "\n".join(lines)


def run(settings, out_dir=None, log=None, data=None):
    out_dir = out_dir or RESULTS_DIR
    t0 = time.perf_counter()
    data = data if data is not None else load_data(settings)
    rows, peer, note = train_all(settings, data, log)
    plot_curves(rows, peer, settings, os.path.join(out_dir, CURVES))
    plot_model(rows[0]["model"], data, settings, out_dir)
    return report(rows, peer, note, settings, data, time.perf_counter() - t0)


def benchmark_settings(quick=True):
    return dataclasses.asdict(QUICK if quick else FULL)


def run_benchmark(out_dir=None, quick=True):
    return run(QUICK if quick else FULL, out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the study (≈ 9 min on 2 cores)")
    parser.add_argument("--out", default=RESULTS_DIR, help="where the report and PNGs go (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="a line per epoch on stderr")
    args = parser.parse_args(argv)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else None
    markdown = run(FULL if args.full else QUICK, args.out, log)
    if args.full:
        from benchmarks.common import atomic_write
        atomic_write(os.path.join(args.out, "mnist.md"), markdown)
    print(markdown)


if __name__ == "__main__":
    main()
