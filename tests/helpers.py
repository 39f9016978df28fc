"""Helpers shared by the tests (imported as `helpers`: pytest puts tests/ on sys.path)."""

import math

import numpy as np

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def table_rows(markdown, first_header):
    """The body rows (lists of cells) of the markdown table whose header's first cell is `first_header`."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and line.split("|")[1].strip() == first_header:
            rows = []
            for body in lines[i + 2:]:
                if not body.startswith("|"):
                    break
                rows.append([c.strip() for c in body.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"no table with header {first_header!r} in:\n{markdown}")


# ----------------------------------------------------------------------------------------------
# Unbiasedness checks that state, and assert, what they can detect

Z_ACCEPT = 4.0     # |mean − truth| < 4 SE: a correct estimator fails one component with probability 6.3e-5 (CLT)
Z_POWER = 2.326    # the one-sided 99 % point of N(0, 1)
DETECT = 0.05      # the relative bias every unbiasedness check must catch


def power_margin(se, truth, detect=DETECT):
    """(4 + 2.326)·SE / (detect·|truth|) per component: ≤ 1 means a bias of `detect`·|truth| moves the mean
    (4 + 2.326) SE, so it falls outside the ±4 SE band with probability ≥ 99 %. A component whose truth is 0
    is measured against `detect` × the largest |truth| of the estimate (a relative bias of 0 is no bias)."""
    truth = np.abs(np.asarray(truth, dtype=np.float64))
    scale = np.where(truth > 0, truth, truth.max())
    return (Z_ACCEPT + Z_POWER) * se / (detect * scale)


def assert_unbiased(per_sample, truth, what, detect=DETECT):
    """The mean of N single-sample estimates (leading axis) is within 4 SE of `truth` in every component,
    AND the check has power: N is large enough that a relative bias of `detect` (5 %) in any component
    would be caught with probability ≥ 99 % (power_margin ≤ 1, computed from the measured SE). An
    estimator with zero variance (e.g. ∂z/∂loc ≡ 1) must equal the truth to rounding."""
    per_sample = np.asarray(per_sample)
    n = per_sample.shape[0]
    mean, se = per_sample.mean(axis=0), per_sample.std(axis=0, ddof=1) / math.sqrt(n)
    truth = np.broadcast_to(np.asarray(truth, dtype=np.float64), mean.shape)
    exact = se == 0
    np.testing.assert_allclose(mean[exact], truth[exact], rtol=1e-12, atol=1e-15, err_msg=what)
    z = np.abs(mean - truth)[~exact] / se[~exact]
    assert np.all(z < Z_ACCEPT), f"{what}: mean {mean} vs truth {truth}: {z} SE apart (N = {n})"
    margin = power_margin(se, truth, detect)
    assert np.all(margin <= 1), (f"{what}: N = {n} is too small to detect a {detect:.0%} bias with 99 % power "
                                 f"(power margin {margin}; it needs N ≥ {int(n * margin.max() ** 2):,})")


def new_run(path, data, **options):
    """A small run directory (16 hidden units, 3 epochs, batch 50) on `data`, ready to train."""
    from vae.train import TrainConfig, start_run
    config = TrainConfig(**{"data": data, "hidden": (16,), "epochs": 3, "batch_size": 50, **options})
    start_run(config, str(path))
    return str(path)


def quiet_train(run_dir, **kwargs):
    from vae.train import train
    return train(run_dir, quiet=True, **kwargs)


def digits_npz(directory, n_train, n_test=100, labels=True):
    """The first n_train training and n_test test digits (float64) as an .npz file in `directory`."""
    import numpy as np

    from vae.data import load_digits
    d = load_digits(dtype=np.float64)
    arrays = {"train": d.train[:n_train], "test": d.test[:n_test]}
    if labels:
        arrays.update(train_labels=d.train_labels[:n_train], test_labels=d.test_labels[:n_test])
    path = directory / f"digits{n_train}.npz"
    np.savez(path, **arrays)
    return str(path)

