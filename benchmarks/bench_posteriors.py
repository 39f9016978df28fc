"""The VAE's posteriors side by side: q(z|x) diagonal Gaussian, full-covariance Gaussian, Laplace, Logistic.

Each is trained by `python -m vae train`'s pipeline (vae.train.start_run + train) with the same seed, data
(scikit-learn's digits, grey levels, Bernoulli likelihood), architecture (64-256-2 tanh), batch 100, Adam 1e-3
and number of epochs; then, on the test set, the ELBO (100 samples; the KL in closed form for the Gaussians,
by Monte Carlo for Laplace and Logistic, which have none against N(0, I)) and the importance-weighted bound
IWAE_k for k = 1, 5, 50, 1000 (one Generator, seeded alike for every posterior). Seconds per epoch are the
trainer's own (the steps plus its per-epoch test ELBO), averaged over the epochs. "mean abs ρ" is the average
absolute correlation of q(z|x) over the test set (0 by construction except for "full").

The plot draws a few test digits' posterior covariance ellipses (2 standard deviations) in the 2-D latent
space, diagonal vs full, over the test set's posterior means.

    python benchmarks/bench_posteriors.py            # 500 epochs each (about 3 minutes on 2 cores)
    python benchmarks/bench_posteriors.py --quick    # 3 epochs, k ≤ 50: seconds
"""

import argparse
import os
import sys
import tempfile

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script, too

from benchmarks.common import machine_line, markdown_table, save_figure  # noqa: E402
from vae.model import POSTERIORS  # noqa: E402
from vae.train import TrainConfig, evaluate, iwae, start_run, train  # noqa: E402

PLOT = "posteriors_ellipses.png"
N_ELLIPSES = 12


def train_one(posterior, epochs, seed):
    """(model, dataset, mean seconds per epoch, last train ELBO) of one posterior's run."""
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, posterior)
        start_run(TrainConfig(posterior=posterior, epochs=epochs, seed=seed), run)
        result = train(run, quiet=True)
    seconds = float(np.mean([row["seconds"] for row in result.history]))
    return result.model, result.dataset, seconds, result.history[-1]["train_elbo"]


def mean_abs_correlation(cov):
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    rho = cov / (sd[..., :, None] * sd[..., None, :])
    off = ~np.eye(cov.shape[-1], dtype=bool)
    return float(np.abs(rho[..., off]).mean())


def plot_ellipses(models, dataset, path):
    """Two panels, diagonal and full: the test set's posterior means (grey) and, for N_ELLIPSES test digits,
    the 2σ ellipse {μ + 2 Σ^{1/2} v : ‖v‖ = 1} of q(z|x), labelled with the digit."""
    from matplotlib.figure import Figure

    x = dataset.test
    pick = np.random.default_rng(0).choice(len(x), N_ELLIPSES, replace=False)
    labels = dataset.test_labels
    fig = Figure(figsize=(10, 4.8))
    circle = np.stack([np.cos(np.linspace(0, 2 * np.pi, 100)), np.sin(np.linspace(0, 2 * np.pi, 100))])
    for i, name in enumerate(("diagonal", "full")):
        ax = fig.add_subplot(1, 2, i + 1)
        mean, cov = models[name].posterior_covariance(x)
        ax.scatter(mean[:, 0], mean[:, 1], s=3, color="0.8")
        for j, k in enumerate(pick):
            lam, q = np.linalg.eigh(cov[k].astype(np.float64))
            outline = mean[k, :, None] + 2 * (q * np.sqrt(lam)) @ circle
            colour = f"C{j % 10}"
            ax.plot(outline[0], outline[1], color=colour, lw=1.2)
            ax.plot(*mean[k], "o", color=colour, ms=3)
            if labels is not None:
                ax.annotate(str(labels[k]), mean[k], textcoords="offset points", xytext=(3, 3), fontsize=8)
        ax.set_title(f"q(z|x) {name}: 2σ ellipses of {N_ELLIPSES} test digits\n(mean abs ρ over the test set "
                     f"{mean_abs_correlation(cov):.2f})", fontsize=9)
        ax.set_xlabel("z₁")
        ax.set_ylabel("z₂")
        ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    save_figure(fig, path)


def run(out_dir=None, epochs=500, ks=(1, 5, 50, 1000), elbo_samples=100, seed=0, posteriors=POSTERIORS):
    """The report as markdown (and the ellipse plot in out_dir, when given)."""
    rows, models, dataset = [], {}, None
    for posterior in posteriors:
        model, dataset, per_epoch, train_elbo = train_one(posterior, epochs, seed)
        models[posterior] = model
        x = dataset.test
        with threadpool_limits(limits=1, user_api="blas"):
            elbo = evaluate(model, x, n_samples=elbo_samples, rng=np.random.default_rng(seed))["elbo"]
            bounds = [iwae(model, x, k, np.random.default_rng([seed, k])) for k in ks]
        _, cov = model.posterior_covariance(x)
        rows.append([posterior, f"{train_elbo:.2f}", f"{elbo:.2f}", *[f"{b:.2f}" for b in bounds],
                     f"{per_epoch * 1e3:.1f}", f"{mean_abs_correlation(cov):.3f}"])
    lines = [f"### VAE posteriors on the digits: {epochs} epochs each (64-256-2 tanh, Bernoulli on grey levels, "
             f"batch 100, Adam 1e-3, 1 BLAS thread, seed {seed})",
             "",
             machine_line(),
             "",
             markdown_table(["posterior", "train ELBO (last epoch)", f"test ELBO ({elbo_samples} samples)",
                             *[f"IWAE k={k}" for k in ks], "ms / epoch", "mean abs ρ"], rows),
             "",
             "Test bounds in nats per digit (higher is better); the Laplace and Logistic ELBOs use the Monte-Carlo "
             "KL, the Gaussians' the closed form. IWAE_1 is a one-sample ELBO with the Monte-Carlo KL.",
             ""]
    if out_dir is not None and {"diagonal", "full"} <= set(models):
        os.makedirs(out_dir, exist_ok=True)
        plot_ellipses(models, dataset, os.path.join(out_dir, PLOT))
        lines += [f"![posterior covariance ellipses, diagonal vs full]({PLOT})", ""]
    return "\n".join(lines)


def run_benchmark(out_dir=None, quick=True):
    """The benchmarks runner's convention: the markdown report; the plot goes to out_dir."""
    if quick:
        return run(out_dir, epochs=3, ks=(1, 5, 50), elbo_samples=5)
    return run(out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs, k ≤ 50: a smoke run in seconds")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--out", default=None, help="folder for the plot and posteriors.md (default: print only)")
    args = parser.parse_args(argv)
    report = run_benchmark(args.out, quick=True) if args.quick else run(args.out, epochs=args.epochs)
    print(report)
    if args.out:
        from benchmarks.common import atomic_write
        atomic_write(os.path.join(args.out, "posteriors.md"), report.encode("utf-8"))


if __name__ == "__main__":
    main()
