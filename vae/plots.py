"""Figures of a trained VAE, written as PNGs with matplotlib's object API and the Agg canvas (no pyplot,
no display, no global backend switch: it works headless and leaves a notebook's backend alone).

    loss_curves.png       −ELBO per epoch on the training and test sets, and its two parts
    reconstructions.png   test inputs x and the decoder's mean at z = μ_φ(x)
    samples.png           decoder means for z ~ N(0, I), the prior
    latent_scatter.png    μ_φ(x) of the test set coloured by label (first two principal axes if d > 2)
    manifold.png          (d = 2 only) decoder means over z = Φ⁻¹(u) for u on a regular grid in (0, 1)²,
                          the Kingma & Welling figure: equal steps of u are equal steps of prior mass
"""

import os

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.special import ndtri

__all__ = ["PLOT_PIXELS", "plot_all", "tile"]

DPI = 100
# (width, height) in pixels of every figure; figures are saved without bbox cropping, so this is exact.
PLOT_PIXELS = {"loss_curves.png": (1000, 400), "reconstructions.png": (1000, 260), "samples.png": (600, 600),
               "latent_scatter.png": (700, 600), "manifold.png": (600, 600)}


def _figure(name):
    w, h = PLOT_PIXELS[name]
    fig = Figure(figsize=(w / DPI, h / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=DPI)
    return path


def tile(images, image_shape, rows, cols, pad=1):
    """Arrange `images` (n, D) as a rows × cols mosaic of image_shape pictures separated by `pad` NaN
    pixels (drawn in grey); missing cells stay NaN."""
    h, w = image_shape
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan)
    for i, img in enumerate(np.asarray(images)[:rows * cols]):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = img.reshape(h, w)
    return out


def _imshow(ax, mosaic, vrange):
    cmap = colormaps["gray"].with_extremes(bad="#7f7f7f")
    ax.imshow(mosaic, cmap=cmap, vmin=vrange[0], vmax=vrange[1], interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_losses(history, out_dir):
    fig = _figure("loss_curves.png")
    ax1, ax2 = fig.subplots(1, 2)
    if history:
        epochs = [row["epoch"] for row in history]
        for part, style in (("train", "-"), ("test", "--")):
            ax1.plot(epochs, [-row[f"{part}_elbo"] for row in history], style, label=f"{part}")
            ax2.plot(epochs, [-row[f"{part}_reconstruction"] for row in history], style, color="C2",
                     label=f"{part}: −E[log p(x|z)]")
            ax2.plot(epochs, [row[f"{part}_kl"] for row in history], style, color="C3", label=f"{part}: KL")
        skip = len(history) // 50               # long runs: let the first 2% of epochs leave the frame
        values = [-row[f"{part}_elbo"] for row in history[skip:] for part in ("train", "test")]
        values = [v for v in values if np.isfinite(v)]
        if values:
            lo, hi = min(values), max(values)
            pad = 0.05 * (hi - lo) or 1.0
            ax1.set_ylim(lo - pad, hi + pad)
        ax1.legend()
        ax2.legend(fontsize="small")
    else:
        ax1.text(0.5, 0.5, "no completed epoch yet", ha="center", va="center", transform=ax1.transAxes)
    ax1.set(title="−ELBO (nats per example)", xlabel="epoch")
    ax2.set(title="its two parts", xlabel="epoch")
    fig.tight_layout()
    return _save(fig, out_dir, "loss_curves.png")


def plot_reconstructions(model, x, image_shape, vrange, out_dir, n=10):
    x = x[:n]
    fig = _figure("reconstructions.png")
    axes = fig.subplots(2, 1)
    for ax, images, title in ((axes[0], x, "test inputs x"),
                              (axes[1], model.reconstruct(x), "reconstructions: mean of p(x|z = μ(x))")):
        _imshow(ax, tile(images, image_shape, 1, len(x)), vrange)
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return _save(fig, out_dir, "reconstructions.png")


def plot_samples(model, image_shape, vrange, rng, out_dir, n=10):
    fig = _figure("samples.png")
    ax = fig.subplots()
    _imshow(ax, tile(model.sample(n * n, rng), image_shape, n, n), vrange)
    ax.set_title("samples: mean of p(x|z), z ~ N(0, I)", fontsize="medium")
    fig.tight_layout()
    return _save(fig, out_dir, "samples.png")


def plot_latent(model, x, labels, out_dir):
    mu, _ = model.encode(x)
    mu = mu.astype(np.float64)
    if mu.shape[1] == 1:
        points, axes_names = np.column_stack([mu[:, 0], np.zeros(len(mu))]), ("z₁", "")
    elif mu.shape[1] == 2:
        points, axes_names = mu, ("z₁", "z₂")
    else:                                        # the first two principal axes of the posterior means
        centred = mu - mu.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        points, axes_names = centred @ vt[:2].T, ("principal axis 1 of μ", "principal axis 2 of μ")
    fig = _figure("latent_scatter.png")
    ax = fig.subplots()
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, alpha=0.7)
    else:
        classes = np.unique(labels)
        cmap = colormaps["tab10" if len(classes) <= 10 else "viridis"]
        lo, hi = classes.min() - 0.5, classes.max() + 0.5
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap=cmap, vmin=lo, vmax=hi, s=6, alpha=0.8)
        bar = fig.colorbar(sc, ax=ax, label="label")
        if len(classes) <= 10:
            bar.set_ticks(classes)
    ax.set(xlabel=axes_names[0], ylabel=axes_names[1], title="posterior means μ_φ(x) of the test set")
    fig.tight_layout()
    return _save(fig, out_dir, "latent_scatter.png")


def plot_manifold(model, image_shape, vrange, out_dir, n=15):
    u = (np.arange(n) + 0.5) / n                 # a regular grid in (0, 1) …
    values = ndtri(u)                            # … through Φ⁻¹, the standard normal's inverse CDF
    z = np.array([[values[j], values[n - 1 - i]] for i in range(n) for j in range(n)])   # z₂ grows upwards
    fig = _figure("manifold.png")
    ax = fig.subplots()
    _imshow(ax, tile(model.decode(z), image_shape, n, n), vrange)
    ax.set_title("decoded manifold: mean of p(x|z), z = Φ⁻¹(u) on a grid", fontsize="medium")
    fig.tight_layout()
    return _save(fig, out_dir, "manifold.png")


def plot_all(model, dataset, history, out_dir, seed=0):
    """Write every figure for `model` on `dataset` into out_dir; return the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    x = dataset.test
    vrange = (0.0, 1.0) if model.likelihood == "bernoulli" else (float(x.min()), float(x.max()))
    shape = tuple(dataset.image_shape)
    paths = [plot_losses(history, out_dir),
             plot_reconstructions(model, x, shape, vrange, out_dir),
             plot_samples(model, shape, vrange, np.random.default_rng(seed), out_dir),
             plot_latent(model, x, dataset.test_labels, out_dir)]
    if model.latent_dim == 2:
        paths.append(plot_manifold(model, shape, vrange, out_dir))
    return paths
