"""Figures of a trained VAE, written as PNGs with matplotlib's object API and the Agg canvas (no pyplot,
no display, no global backend switch: it works headless, leaves a notebook's backend alone and leaves no
figure open). Each `*_figure` function returns a Figure (a notebook shows it as a cell's value);
`plot_all` saves them:

    loss_curves.png       −ELBO per epoch on the training and test sets, and its two parts on their own axes
    reconstructions.png   one test input of each label above the decoder's mean at z = μ_φ(x)
    samples.png           decoder means for z ~ N(0, I), the prior
    latent_scatter.png    μ_φ(x) of the test set by label: a strip plot (d = 1), a scatter (d = 2), or the
                          first two principal axes (d > 2)
    manifold.png          (d = 2 only) decoder means over z = Φ⁻¹(u) for u on a regular grid in (0, 1)²,
                          the Kingma & Welling figure: equal steps of u are equal steps of prior mass
"""

import os

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.special import ndtri

from minigrad.files import png_bytes
from minigrad.random import as_generator

from .io import atomic_write_bytes
from .model import UNIT_INTERVAL

__all__ = ["PLOT_PIXELS", "SEPARATOR", "IMAGE_CMAP", "plot_all", "tile", "loss_figure", "reconstructions_figure",
           "samples_figure", "latent_figure", "manifold_figure"]

DPI = 100
# (width, height) in pixels of every figure; figures are saved without bbox cropping, so this is exact.
PLOT_PIXELS = {"loss_curves.png": (1000, 400), "reconstructions.png": (1000, 260), "samples.png": (600, 600),
               "latent_scatter.png": (700, 600), "manifold.png": (600, 600)}
IMAGE_CMAP = "gray"          # data values, black (low) to white (high)
SEPARATOR = "#5b95e0"        # the lines between tiles: a blue, far from every grey a pixel can take
TRAIN, TEST = dict(color="C0", ls="-", lw=1.6), dict(color="C1", ls=(0, (4, 2)), lw=1.6, zorder=3)
VALIDATION = dict(color="C2", ls=":", lw=1.6)


def _figure(name):
    w, h = PLOT_PIXELS[name]
    fig = Figure(figsize=(w / DPI, h / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def tile(images, image_shape, rows, cols, pad=1):
    """Arrange `images` (n, D) as a rows × cols mosaic of image_shape pictures separated by `pad` NaN
    pixels (drawn in SEPARATOR); missing cells stay NaN."""
    h, w = image_shape
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan)
    for i, img in enumerate(np.asarray(images)[:rows * cols]):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = img.reshape(h, w)
    return out


def _imshow(ax, image, vrange):
    """Pixels in IMAGE_CMAP over vrange; NaN (the separators of a mosaic) in SEPARATOR. Square pixels,
    unless the images are one row high (a vector that is not a square image)."""
    cmap = colormaps[IMAGE_CMAP].with_extremes(bad=SEPARATOR)
    aspect = "auto" if image.shape[0] == 1 or np.isnan(image[1]).all() else "equal"
    shown = ax.imshow(image, cmap=cmap, vmin=vrange[0], vmax=vrange[1], interpolation="nearest", aspect=aspect)
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def _pixel_bar(fig, shown, ax, likelihood):
    what = "P(pixel = 1)" if likelihood == "bernoulli" else "pixel value"      # continuous Bernoulli: E[x] too
    fig.colorbar(shown, ax=ax, fraction=0.04, pad=0.02, label=f"mean of p_θ(x|z): {what}")


# ----------------------------------------------------------------------------------------------
# Loss curves

def _fit_ylim(ax, epochs, series):
    """Frame the curves without the first 2 % of epochs of a long run (their loss is far above the rest)
    and say in the panel which points are left out."""
    skip = len(epochs) // 50
    values = np.array([v for s in series for v in s[skip:]], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return
    lo, hi = values.min(), values.max()
    pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 1.0
    ax.set_ylim(lo - pad, hi + pad)
    out = [(e, v) for s in series for e, v in zip(epochs, s) if np.isfinite(v) and not lo - pad <= v <= hi + pad]
    if out:
        first, last = min(e for e, _ in out), max(e for e, _ in out)
        span = f"epoch {first}" if first == last else f"epochs {first}–{last}"
        ax.text(0.98, 0.97, f"off the top: {span} (up to {max(v for _, v in out):.1f})", transform=ax.transAxes,
                ha="right", va="top", fontsize=8, color="#555555")


def loss_figure(history):
    """−ELBO, its reconstruction term −E_q[log p_θ(x|z)] and its KL term, per epoch, each on its own axes
    (at 28×28 scale the reconstruction is ~500 nats and the KL ~20: one shared axis flattens the KL)."""
    fig = _figure("loss_curves.png")
    axes = fig.subplots(1, 3)
    panels = (("−ELBO", lambda row, part: -row[f"{part}_elbo"]),
              ("reconstruction −E_q[log p_θ(x|z)]", lambda row, part: -row[f"{part}_reconstruction"]),
              ("KL(q_φ(z|x) ‖ p(z))", lambda row, part: row[f"{part}_kl"]))
    epochs = [row["epoch"] for row in history]
    marker = "o" if len(history) <= 30 else None        # a short run: show each epoch (one epoch is one point)
    for ax, (title, value) in zip(axes, panels):
        if history:
            series = []
            parts = (("train", TRAIN), ("validation", VALIDATION), ("test", TEST)) if "val_elbo" in history[0] \
                else (("train", TRAIN), ("test", TEST))
            for part, style in parts:
                series.append([value(row, "val" if part == "validation" else part) for row in history])
                ax.plot(epochs, series[-1], marker=marker, ms=3, label=part, **style)
            _fit_ylim(ax, epochs, series)
            ax.legend(loc="best", fontsize="small")
        else:
            ax.text(0.5, 0.5, "no completed epoch yet", ha="center", va="center", transform=ax.transAxes)
        if history and len(history) <= 30:      # whole epochs, even for a run of one epoch
            ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10], min_n_ticks=1))
        ax.set(title=title, xlabel="epoch", ylabel="nats per example")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# Images

def _one_per_label(labels, n):
    """Indices of the first example of each of the first n labels (sorted), or the first n without labels."""
    if labels is None:
        return np.arange(n), None
    classes = np.unique(labels)[:n]
    return np.array([np.flatnonzero(labels == c)[0] for c in classes]), classes


def reconstructions_figure(model, x, labels, image_shape, vrange, n=10):
    """One test input per label (the first of each; the first n inputs when there are no labels) above its
    reconstruction, the mean of p_θ(x|z) at z = μ_φ(x)."""
    index, classes = _one_per_label(labels, min(n, len(x)))
    fig = _figure("reconstructions.png")
    axes = fig.subplots(2, len(index), squeeze=False)
    for row, images in enumerate((x[index], model.reconstruct(x[index]))):
        for col, img in enumerate(images):
            _imshow(axes[row, col], img.reshape(image_shape), vrange)
    for col in range(len(index)):
        axes[0, col].set_title(f"label {classes[col]}" if classes is not None else f"#{index[col]}", fontsize=9)
    axes[0, 0].set_ylabel("input x", fontsize=9)
    axes[1, 0].set_ylabel("reconstruction", fontsize=9)
    which = "the first test example of each label" if classes is not None else f"the first {len(index)} test examples"
    fig.suptitle("test inputs and their reconstructions", fontsize=11)
    fig.text(0.5, 0.015, f"top: {which}; bottom: its reconstruction, the mean of p_θ(x|z) at z = μ_φ(x) "
                         f"(black {vrange[0]:.3g} … white {vrange[1]:.3g})", ha="center", va="bottom", fontsize=9)
    fig.subplots_adjust(left=0.04, right=0.99, top=0.8, bottom=0.12, wspace=0.08, hspace=0.08)
    return fig


def samples_figure(model, image_shape, vrange, rng, n=10):
    """n × n decoder means for z ~ N(0, I) drawn from the Generator `rng`."""
    fig = _figure("samples.png")
    ax = fig.subplots()
    shown = _imshow(ax, tile(model.sample(n * n, rng), image_shape, n, n), vrange)
    ax.set_title(f"{n * n} samples: mean of p_θ(x|z), z ~ N(0, I)", fontsize="medium")
    ax.set_xlabel(f"{n} × {n} independent draws of z; blue lines separate the images", fontsize=9)
    _pixel_bar(fig, shown, ax, model.likelihood)
    fig.tight_layout()
    return fig


def manifold_figure(model, image_shape, vrange, n=15):
    """Decoder means over z = (Φ⁻¹(u₁), Φ⁻¹(u₂)) for u on the regular grid (k + ½)/n, k = 0…n−1, in (0, 1)²:
    each tile holds an equal share of the prior's mass; the axes show the z of each tile."""
    u = (np.arange(n) + 0.5) / n                 # a regular grid in (0, 1) …
    values = ndtri(u)                            # … through Φ⁻¹, the standard normal's inverse CDF
    z = np.array([[values[j], values[n - 1 - i]] for i in range(n) for j in range(n)])   # z₂ grows upwards
    fig = _figure("manifold.png")
    ax = fig.subplots()
    h, w = image_shape
    shown = _imshow(ax, tile(model.decode(z), image_shape, n, n), vrange)
    every = range(0, n, 2)                       # every other tile, so the numbers stay legible
    ax.set_xticks([j * (w + 1) + (w - 1) / 2 for j in every], [f"{values[j]:.2f}" for j in every], fontsize=8)
    ax.set_yticks([i * (h + 1) + (h - 1) / 2 for i in every], [f"{values[n - 1 - i]:.2f}" for i in every],
                  fontsize=8)
    grid = f"u = 1/{2 * n}, 3/{2 * n}, …, {2 * n - 1}/{2 * n}"
    ax.set_xlabel(f"z₁ = Φ⁻¹(u₁), {grid}: prior quantiles", fontsize=9)
    ax.set_ylabel(f"z₂ = Φ⁻¹(u₂), {grid}", fontsize=9)
    ax.set_title("decoded manifold: mean of p_θ(x|z) on a grid of prior quantiles", fontsize="medium")
    _pixel_bar(fig, shown, ax, model.likelihood)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# The latent space

def latent_figure(model, x, labels, rng=0):
    """Posterior means μ_φ(x) by label: a strip plot at d = 1 (one row per label, jittered vertically by
    `rng`; a histogram without labels), a scatter at d = 2, the first two principal axes beyond."""
    mu = model.encode(x)[0].astype(np.float64)
    fig = _figure("latent_scatter.png")
    ax = fig.subplots()
    title = "posterior means μ_φ(x) of the test set"
    if mu.shape[1] == 1 and labels is None:
        ax.hist(mu[:, 0], bins=40, color="C0")
        ax.set(xlabel="z₁ = μ_φ(x)", ylabel="test examples per bin", title=title)
    elif mu.shape[1] == 1:
        classes = np.unique(labels)
        rows = np.searchsorted(classes, labels) + as_generator(rng, "latent_figure").uniform(-0.3, 0.3, len(mu))
        ax.scatter(mu[:, 0], rows, c=_class_colours(classes, labels), s=6, alpha=0.8)
        ax.set_yticks(range(len(classes)), [str(c) for c in classes])
        ax.set(xlabel="z₁ = μ_φ(x)", ylabel="label (points jittered up and down)", title=title)
    else:
        if mu.shape[1] == 2:
            points, names = mu, ("z₁ = μ_φ(x)₁", "z₂ = μ_φ(x)₂")
        else:                                    # the first two principal axes of the posterior means
            centred = mu - mu.mean(axis=0)
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            points, names = centred @ vt[:2].T, ("principal axis 1 of μ_φ(x)", "principal axis 2 of μ_φ(x)")
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
        ax.set(xlabel=names[0], ylabel=names[1], title=title)
    fig.tight_layout()
    return fig


def _class_colours(classes, labels):
    cmap = colormaps["tab10" if len(classes) <= 10 else "viridis"]
    index = np.searchsorted(classes, labels)
    return cmap(index if len(classes) <= 10 else index / max(len(classes) - 1, 1))


# ----------------------------------------------------------------------------------------------

def plot_all(model, dataset, history, out_dir, seed=0):
    """Write every figure for `model` on `dataset` into out_dir, each PNG atomically (a reader never sees a
    half-written file); return the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    x = dataset.test
    vrange = (0.0, 1.0) if model.likelihood in UNIT_INTERVAL else (float(x.min()), float(x.max()))
    shape = tuple(dataset.image_shape)
    figures = {"loss_curves.png": loss_figure(history),
               "reconstructions.png": reconstructions_figure(model, x, dataset.test_labels, shape, vrange),
               "samples.png": samples_figure(model, shape, vrange, np.random.default_rng(seed)),
               "latent_scatter.png": latent_figure(model, x, dataset.test_labels, np.random.default_rng(seed))}
    if model.latent_dim == 2:
        figures["manifold.png"] = manifold_figure(model, shape, vrange)
    paths = []
    for name, fig in figures.items():
        paths.append(os.path.join(out_dir, name))
        atomic_write_bytes(paths[-1], png_bytes(fig, DPI))
    return paths
