"""`python -m vae export`: the model as .safetensors under PyTorch's names; the PyTorch module of
docs/pytorch.md loads it and computes the same ELBO; export → import is exact; files are never overwritten
unasked."""

import os
import sys

import numpy as np
import pytest

from benchmarks.common import docs_pytorch_vae
from vae import VAE, CheckpointError, VAEError
from vae.cli import main
from vae.export import export_safetensors, load_safetensors

TINY = ["--hidden", "16", "--epochs", "2", "--quiet", "--no-plots"]


def trained_like(dtype=np.float32, likelihood="bernoulli", hidden=(12,), activation="tanh", seed=0, obs_std="learned"):
    """A VAE whose every parameter (biases and σ_x too) is random, as after training: no zero left that could
    hide a parameter lost or misplaced on the way."""
    model = VAE(10, hidden_dims=hidden, latent_dim=3, likelihood=likelihood, activation=activation, dtype=dtype,
                rng=seed, obs_std=obs_std)
    rng = np.random.default_rng(seed + 1)
    model.load_state_dict({k: v + 0.3 * rng.standard_normal(v.shape) for k, v in model.state_dict().items()})
    return model


def data(n=7, dim=10, seed=2, dtype=np.float32):
    return np.random.default_rng(seed).random((n, dim)).astype(dtype)


CASES = [dict(), dict(dtype=np.float64), dict(likelihood="gaussian"), dict(likelihood="gaussian", obs_std=0.3),
         dict(hidden=(12, 8), activation="relu", dtype=np.float64), dict(likelihood="continuous-bernoulli"),
         dict(likelihood="continuous-bernoulli", dtype=np.float64)]


@pytest.mark.parametrize("case", CASES)
def test_export_then_import_is_exact(tmp_path, case):
    model = trained_like(**case)
    path = export_safetensors(model, tmp_path / "m.safetensors")
    back = load_safetensors(path)
    assert back.config() == model.config()
    a, b = model.state_dict(), back.state_dict()
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    eps = np.random.default_rng(3).standard_normal((7, 3))
    x = data(dtype=model.dtype)
    np.testing.assert_array_equal(model.elbo(x, eps=eps).elbo.data, back.elbo(x, eps=eps).elbo.data)


def test_export_never_overwrites_unasked_and_writes_atomically(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"the user's file")
    with pytest.raises(VAEError, match=r"m\.safetensors already exists.*overwrite=True"):
        export_safetensors(trained_like(), path)
    assert path.read_bytes() == b"the user's file"
    export_safetensors(trained_like(), path, overwrite=True)
    assert load_safetensors(path).config() == trained_like().config()
    assert os.listdir(tmp_path) == ["m.safetensors"]                 # no temporary file left behind


def test_load_refuses_what_is_not_an_export(tmp_path):
    import safetensors.numpy

    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match=r"junk\.safetensors: not a readable safetensors file"):
        load_safetensors(tmp_path / "junk.safetensors")
    safetensors.numpy.save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match=r"other\.safetensors: a safetensors file, but not a vae export"):
        load_safetensors(tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="absent.safetensors: no such file"):
        load_safetensors(tmp_path / "absent.safetensors")


def test_without_safetensors_the_error_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)              # how Python marks a package as absent
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(VAEError, match=r"'safetensors', which is not installed; install it with: "
                                       r"python -m pip install safetensors"):
        export_safetensors(trained_like(), tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_cli_export(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "m.safetensors"
    assert main(["train", "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "after epoch 2" in printed and str(out) in printed and "docs/pytorch.md" in printed
    final = VAE.load(run / "model.npz")
    for name, value in final.state_dict().items():
        np.testing.assert_array_equal(load_safetensors(out).state_dict()[name], value)
    before = out.read_bytes()
    other = str(tmp_path / "b.safetensors")
    for argv, fragment in [(["export", str(run), "--out", str(out)], "already exists; choose another --out, or "
                            "pass --force"),
                           (["export", str(run), "--out", other, "--best"], "has no best.npz")]:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], err
    assert out.read_bytes() == before and not (tmp_path / "b.safetensors").exists()
    assert main(["export", str(run), "--out", str(out), "--force"]) == 0


@pytest.mark.parametrize("case", CASES)
def test_the_pytorch_module_of_the_docs_gets_the_same_elbo_for_the_same_eps(tmp_path, case):
    """float32: |Δ| ≤ 4e-6 · (1 + |ELBO|), ~32 float32 ulps (seen: ≤ 3.5e-7, different summation orders);
    float64: ≤ 1e-12 · (1 + |ELBO|) (seen: ≤ 2e-16). One ε sample and three (averaged)."""
    torch = pytest.importorskip("torch")
    model = trained_like(**case)
    path = export_safetensors(model, tmp_path / "m.safetensors")
    TorchVAE = docs_pytorch_vae()
    peer = TorchVAE.load(str(path))
    assert {k: tuple(v.shape) for k, v in peer.state_dict().items()} == {k: v.shape for k, v in
                                                                         model.state_dict().items()}
    x = data(dtype=model.dtype)
    rtol = 4e-6 if model.dtype == np.float32 else 1e-12
    for shape in [(7, 3), (3, 7, 3)]:
        eps = np.random.default_rng(4).standard_normal(shape).astype(model.dtype)
        ours = model.elbo(x, eps=eps).elbo.data
        with torch.no_grad():
            theirs = peer.elbo(torch.from_numpy(x), torch.from_numpy(eps)).numpy()
        assert theirs.dtype == ours.dtype
        assert np.all(np.abs(theirs - ours) <= rtol * (1 + np.abs(ours))), (theirs - ours, ours)
