"""vae.plots: every figure written at its promised size, titled and labelled, with no pyplot figure left
open; the fixes of issue 19 checked on the Figure objects themselves (one reconstruction per label,
reconstruction and KL on their own axes, what was cut said, integer epochs, prior quantiles on the
manifold, a strip plot at d = 1, separators that no pixel value can be mistaken for)."""

import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from scipy.special import ndtri

from vae import VAE, Dataset, plots

matplotlib.use("Agg")


def dataset(labels=True, d=64, n=60, seed=0):
    rng = np.random.default_rng(seed)
    test_labels = np.array([6, 6, 6, 2, 5, 6, 6, 2, 2, 1] + list(rng.integers(0, 10, n - 10))) if labels else None
    side = int(np.sqrt(d))
    return Dataset("fake", rng.random((n, d)), rng.random((n, d)), None, test_labels, (side, side))


def model(latent=2, d=64, likelihood="bernoulli"):
    return VAE(d, hidden_dims=(8,), latent_dim=latent, likelihood=likelihood, dtype=np.float64, rng=0)


def history(epochs, recon=545.0, kl=20.0):
    """Rows like train.py's: a first epoch far above the rest, then slowly falling; test slightly off."""
    rows = []
    for e in range(1, epochs + 1):
        r, k = recon + 300.0 / e ** 2, kl + 2.0 / e
        rows.append({"epoch": e, "train_reconstruction": -r, "train_kl": k, "train_elbo": -(r + k),
                     "test_reconstruction": -(r + 1), "test_kl": k + 0.5, "test_elbo": -(r + k + 1.5)})
    return rows


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a plot function left a pyplot figure open"


def test_plot_all_writes_every_png_at_its_size(tmp_path):
    """(d ≠ 2 writes no manifold.png: tests/test_vae_cli.py::test_a_wider_latent_space_has_no_manifold_plot)"""
    m, data = model(), dataset()
    (tmp_path / "samples.png").write_bytes(b"an older, broken figure")     # redrawing replaces it whole
    paths = plots.plot_all(m, data, history(4), str(tmp_path), seed=0)
    names = [p.rsplit("/", 1)[-1] for p in paths]
    assert names == list(plots.PLOT_PIXELS)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)     # no temporary file left behind
    for path, name in zip(paths, names):
        image = matplotlib.image.imread(path)
        width, height = plots.PLOT_PIXELS[name]
        assert image.shape == (height, width, 4), name
        assert image[..., :3].std() > 0.05, name          # not a blank canvas
    assert plt.get_fignums() == []


def test_reconstructions_show_one_input_per_label_with_a_caption():
    data = dataset()
    fig = plots.reconstructions_figure(model(), data.test, data.test_labels, (8, 8), (0.0, 1.0))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [f"label {c}" for c in range(10)]
    index, classes = plots._one_per_label(data.test_labels, 10)
    assert list(classes) == list(range(10)) and [index[c] for c in (6, 2, 5, 1)] == [0, 3, 4, 9]
    assert all(data.test_labels[i] == c and (data.test_labels[:i] != c).all() for i, c in zip(index, classes))
    axes = np.array(fig.axes).reshape(2, 10)
    for col, i in enumerate(index):                   # input above its own reconstruction
        np.testing.assert_allclose(axes[0, col].images[0].get_array(), data.test[i].reshape(8, 8))
        np.testing.assert_allclose(axes[1, col].images[0].get_array(),
                                   model().reconstruct(data.test[i:i + 1]).reshape(8, 8))
    assert fig.get_suptitle() and any("top:" in t.get_text() and "bottom:" in t.get_text() for t in fig.texts)
    unlabelled = plots.reconstructions_figure(model(), data.test, None, (8, 8), (0.0, 1.0))
    assert [ax.get_title() for ax in unlabelled.axes if ax.get_title()] == [f"#{i}" for i in range(10)]


def test_loss_curves_give_reconstruction_and_kl_their_own_axes():
    fig = plots.loss_figure(history(100))
    axes = fig.axes
    assert len(axes) == 3
    assert ["ELBO" in axes[0].get_title(), "reconstruction" in axes[1].get_title(), "KL" in axes[2].get_title()] \
        == [True] * 3
    for ax in axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "nats per example"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
        train, test = ax.get_lines()
        # test is visibly distinct from train: another colour, dashed, and drawn on top
        assert train.get_color() != test.get_color() and train.get_linestyle() != test.get_linestyle()
        assert test.get_zorder() > train.get_zorder()
    # at 28×28 scale the KL (≈ 20 nats) must not be flattened by the reconstruction (≈ 545)
    lo, hi = axes[2].get_ylim()
    assert 19 < lo and hi < 25
    # the first 2 % of epochs are left out of the frame, and each panel says so
    first = history(100)[1]
    for ax, value in zip(axes, (-first["test_elbo"], -first["test_reconstruction"], first["test_kl"])):
        assert ax.get_ylim()[1] < value
        cut = [t.get_text() for t in ax.texts if "off the top" in t.get_text()]
        assert cut == [f"off the top: epochs 1–2 (up to {max(value, -history(100)[0]['test_elbo']):.1f})"] \
            if ax is axes[0] else len(cut) == 1 and "epochs 1–2" in cut[0], cut


def test_short_runs_have_integer_epoch_ticks_and_a_visible_single_epoch():
    for epochs in (1, 3, 7):
        fig = plots.loss_figure(history(epochs))
        fig.canvas.draw()
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), (epochs, ticks)
            assert all(line.get_marker() == "o" for line in ax.get_lines())      # one epoch is one dot
            assert not [t for t in ax.texts if "off the top" in t.get_text()]   # nothing cut in short runs
    empty = plots.loss_figure([])
    assert all("no completed epoch" in ax.texts[0].get_text() for ax in empty.axes)


def test_manifold_axes_show_the_prior_quantiles():
    n = 15
    fig = plots.manifold_figure(model(), (8, 8), (0.0, 1.0), n=n)
    ax = fig.axes[0]
    z = ndtri((np.arange(n) + 0.5) / n)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{z[j]:.2f}" for j in range(0, n, 2)]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{z[n - 1 - i]:.2f}" for i in range(0, n, 2)]
    xticks = ax.get_xticks()
    assert np.allclose(xticks, [j * 9 + 3.5 for j in range(0, n, 2)])      # the centre of each labelled tile
    assert "Φ⁻¹(u₁)" in ax.get_xlabel() and "Φ⁻¹(u₂)" in ax.get_ylabel() and "1/30" in ax.get_xlabel()
    assert ax.get_title()
    assert fig.axes[1].get_ylabel().startswith("mean of p_θ(x|z)")        # the colour bar says what pixels are


def test_latent_space_at_d1_is_a_strip_plot_not_a_line():
    data = dataset()
    fig = plots.latent_figure(model(latent=1), data.test, data.test_labels, rng=0)
    ax = fig.axes[0]
    points = ax.collections[0].get_offsets()
    classes = np.unique(data.test_labels)
    rows = np.searchsorted(classes, data.test_labels)
    assert np.all(np.abs(points[:, 1] - rows) <= 0.3)                     # each label on its own row …
    assert points[:, 1].std() > 1                                           # … not all on y = 0
    np.testing.assert_allclose(points[:, 0], model(latent=1).encode(data.test)[0][:, 0])
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in classes]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    pca = plots.latent_figure(model(latent=3), data.test, data.test_labels).axes[0]
    assert "principal axis 1" in pca.get_xlabel() and pca.collections[0].get_offsets()[:, 1].std() > 0
    hist = plots.latent_figure(model(latent=1), data.test, None, rng=0).axes[0]
    assert len(hist.patches) == 40 and sum(p.get_height() for p in hist.patches) == len(data.test)
    assert hist.get_ylabel() == "test examples per bin"


def test_separators_cannot_be_mistaken_for_a_pixel_value():
    separator = np.array(to_rgb(plots.SEPARATOR))
    greys = colormaps[plots.IMAGE_CMAP](np.linspace(0, 1, 256))[:, :3]
    assert np.min(np.linalg.norm(greys - separator, axis=1)) > 0.25
    for likelihood in ("bernoulli", "gaussian"):            # both likelihoods draw their mosaics with them
        fig = plots.samples_figure(model(likelihood=likelihood), (8, 8), (0.0, 1.0), np.random.default_rng(0))
        image = fig.axes[0].images[0]
        assert np.allclose(image.cmap.get_bad()[:3], separator)
        mosaic = image.get_array()
        assert mosaic.mask[8, :].all() and mosaic.mask[:, 8].all() and not mosaic.mask[:8, :8].any()


def test_every_figure_has_a_title_and_labelled_axes():
    m, data = model(), dataset()
    figures = [plots.loss_figure(history(3)), plots.samples_figure(m, (8, 8), (0, 1), np.random.default_rng(0)),
               plots.latent_figure(m, data.test, data.test_labels), plots.manifold_figure(m, (8, 8), (0, 1))]
    for fig in figures:
        main = [ax for ax in fig.axes if ax.get_title()]
        assert main, fig
        for ax in main:
            assert ax.get_xlabel() and (ax.get_ylabel() or ax.images), ax.get_title()
