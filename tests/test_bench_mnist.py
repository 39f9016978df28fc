"""benchmarks/bench_mnist.py: the quick run writes Burda et al.'s table layout (objective × k) and its three
PNGs; IWAE training with k = 1 traces the VAE's (ELBO) curve end to end; the PyTorch peer traces it too."""

import dataclasses

import numpy as np
import pytest
from helpers import PNG_MAGIC, table_rows

from benchmarks import bench_mnist as bm

TINY = dataclasses.replace(bm.QUICK, epochs=2, ks=(1, 2), hidden=16, latent=3, iwae_k=20, n_test=30, n_train=300)


@pytest.fixture(scope="module")
def data():
    return bm.load_data(TINY)


@pytest.fixture(scope="module")
def trained(data):
    return bm.train_all(TINY, data)


def test_quick_run_writes_the_table_and_the_plots(tmp_path, data):
    markdown = bm.run(TINY, str(tmp_path), data=data)
    for name in (bm.CURVES, bm.RECONSTRUCTIONS, bm.SAMPLES):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC, name
        assert f"]({name})" in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| objective"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "objective", "k", "test IWAE-20 (nats)", "final test ELBO", "s / epoch",
        "Burda et al. 2015 (full MNIST, see below)"]
    rows = table_rows(markdown, "objective")
    assert [(r[0], int(r[1])) for r in rows] == [("VAE", 1), ("VAE", 2), ("IWAE", 1), ("IWAE", 2)]
    for r in rows:
        assert -800 < float(r[2]) < 0 and -800 < float(r[3]) < 0 and float(r[4]) >= 0
        assert r[5] == ("-86.76" if r[1] == "1" else "—")        # Burda et al.'s k = 1 rows; no k = 2 in the paper
    assert "not comparable" in markdown
    assert f"the first {TINY.n_test} of the 1000 test images" in markdown


def test_iwae_with_k_1_trains_exactly_as_the_elbo(trained):
    rows, _, _ = trained
    by = {(r["objective"], r["k"]): r for r in rows}
    assert len(by[("elbo", 1)]["history"]) == len(by[("iwae", 1)]["history"]) == TINY.epochs
    # the same objective, gradient, weights, minibatches and ε: float32 round-off only (1.5e-9 seen)
    assert bm.max_rel_gap(by[("elbo", 1)], by[("iwae", 1)]) < 1e-6
    # ... and the check can tell two different objectives apart (k = 2 draws other ε and weighs them otherwise)
    assert bm.max_rel_gap(by[("elbo", 2)], by[("iwae", 2)]) > 1e-5
    np.testing.assert_array_equal(bm.curve(by[("iwae", 1)]), [h["test_elbo"] for h in by[("iwae", 1)]["history"]])


def test_every_row_trains_to_a_finite_estimate_in_table_order(trained):
    rows, _, _ = trained
    assert [(r["objective"], r["k"]) for r in rows] == [("elbo", 1), ("elbo", 2), ("iwae", 1), ("iwae", 2)]
    for r in rows:
        assert np.isfinite(r["iwae"]) and not r["diverged"] and len(r["history"]) == TINY.epochs


def test_the_pytorch_peer_traces_minigrads_curve(trained):
    pytest.importorskip("torch")
    rows, peer, note = trained
    assert peer is not None and note == ""
    assert bm.max_rel_gap(rows[0], peer) < bm.AGREE_RTOL
