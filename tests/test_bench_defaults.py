"""benchmarks/bench_defaults.py: the quick run (table, PNG); each variant starts from the initialization it
names; and the protocol is the same for all of them — from the same weights, the PyTorch run and the minigrad
run trace the same curve — so the table's differences are the initializations'."""

import dataclasses

import numpy as np
import pytest
from helpers import PNG_MAGIC, table_rows

from benchmarks import bench_defaults as bd
from minigrad import nn

TINY = dataclasses.replace(bd.QUICK, epochs=(1, 2), iwae_k=5, n_test=(("digits", 50),))


@pytest.fixture(scope="module")
def digits():
    return bd.config_for("digits", TINY, 0).load_data()


def test_quick_run_writes_the_table_and_the_figure(tmp_path, digits):
    markdown = bd.run(TINY, str(tmp_path), datasets={"digits": digits})
    assert (tmp_path / bd.PLOT).read_bytes()[:8] == PNG_MAGIC
    rows = table_rows(markdown, "data")
    variants = [bd.VARIANTS[v] for v in TINY.variants if v != "pytorch" or bd.bt.torch_available()[0]]
    assert [(r[0], int(r[1]), r[2]) for r in rows] == [("digits", e, v) for e in (1, 2) for v in variants]
    for row in rows:
        assert -80 < float(row[3]) < 0
        assert (row[5] == "—") == (row[2] == bd.VARIANTS["pytorch"])
    scales = table_rows(markdown, "layer")
    assert [r[0] for r in scales] == ["encoder.0", "enc_mu", "enc_logvar", "decoder.0", "decoder.2"]
    assert scales[3][1:] == ["4 → 32", "±0.408, b = 0", "±0.500"]          # √(6/36) and 1/√4


def test_minigrad_variants_start_from_the_initialization_they_name(digits):
    config = bd.config_for("digits", TINY, 3)
    glorot = bd.initial_minigrad(config, digits.dim, "glorot", 3)
    torch_like = bd.initial_minigrad(config, digits.dim, "torch", 3)
    rng = np.random.default_rng([3, 1])
    for name, a in bd._named_linears(glorot):
        n_in, n_out = a.in_features, a.out_features
        assert np.all(a.bias.data == 0) and np.abs(a.weight.data).max() <= np.sqrt(6 / (n_in + n_out)), name
        assert np.abs(a.weight.data).max() > 0.9 * np.sqrt(6 / (n_in + n_out)), name
    for name, layer in bd._named_linears(torch_like):                     # drawn in parameter order from (seed, 1)
        ref = nn.Linear(layer.in_features, layer.out_features, rng=rng, init="torch")
        np.testing.assert_array_equal(layer.weight.data, ref.weight.data, err_msg=name)
        np.testing.assert_array_equal(layer.bias.data, ref.bias.data, err_msg=name)


def test_the_pytorch_variant_is_torch_nn_linears_own_init(digits):
    torch = pytest.importorskip("torch")
    config = bd.config_for("digits", TINY, 5)
    module = bd.initial_pytorch(config, digits.dim, 5)
    torch.manual_seed(5)                                                    # the same layers, in the same order
    sizes = [(64, 32), (32, 4), (32, 4), (4, 32), (32, 64)]
    expected = [torch.nn.Linear(a, b) for a, b in sizes]
    got = [module.encoder[0], module.enc_mu, module.enc_logvar, module.decoder[0], module.decoder[2]]
    for layer, ref in zip(got, expected):
        assert torch.equal(layer.weight, ref.weight) and torch.equal(layer.bias, ref.bias)
    copied = bd.minigrad_weights(module, config, digits.dim).state_dict()
    np.testing.assert_array_equal(copied["decoder.2.weight"], module.decoder[2].weight.detach().numpy())


def test_from_the_same_weights_pytorch_and_minigrad_trace_the_same_curve(digits, monkeypatch):
    """The protocol (minibatches, ε, loss, Adam, evaluation) is the same for every variant: given minigrad's
    Glorot weights, the PyTorch run's test ELBO after each of 2 epochs (30 Adam steps) and its IWAE bounds agree
    with the minigrad run's to a relative 1e-5 (float32 rounding, amplified a little by training). Started from
    its own weights instead, the PyTorch run differs by far more than that."""
    pytest.importorskip("torch")
    config = bd.config_for("digits", TINY, 0)
    mine = bd.train_one("glorot", digits, config, TINY)
    own = bd.train_one("pytorch", digits, config, TINY)

    def glorot_module(config, dim, seed):
        module = bd.docs_pytorch_vae()(**config.model_config(dim))
        weights = bd.initial_minigrad(config, dim, "glorot", seed).state_dict()
        module.load_state_dict({k: bd_torch().from_numpy(v) for k, v in weights.items()})
        return module

    monkeypatch.setattr(bd, "initial_pytorch", glorot_module)
    twin = bd.train_one("pytorch", digits, config, TINY)
    for a, b, c in zip(mine["history"], twin["history"], own["history"]):
        assert abs(a["test_elbo"] - b["test_elbo"]) <= 1e-5 * abs(a["test_elbo"])
        assert abs(a["test_elbo"] - c["test_elbo"]) > 1e-3 * abs(a["test_elbo"])
    for epoch in TINY.epochs:
        assert abs(mine["iwae"][epoch] - twin["iwae"][epoch]) <= 1e-5 * abs(mine["iwae"][epoch])


def bd_torch():
    import torch
    return torch
