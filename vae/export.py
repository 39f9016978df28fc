"""Handing a trained VAE to PyTorch: its weights as a .safetensors file under PyTorch's names and layouts.

minigrad's modules already use PyTorch's conventions, so the export is the model's state_dict as it is:

    encoder.0.weight (H, D)   encoder.0.bias (H,)     the trunk: nn.Sequential(nn.Linear(D, H), nn.Tanh(), …)
    enc_mu.weight    (d, H)   enc_mu.bias    (d,)     the heads μ_φ(x) and log σ²_φ(x): nn.Linear(H, d)
    enc_logvar.weight (d, H)  enc_logvar.bias (d,)
    decoder.0.weight (H, d)   …  decoder.2.weight (D, H)   nn.Sequential(nn.Linear(d, H), nn.Tanh(), nn.Linear(H, D))
    obs_logvar       (D,)     Gaussian likelihood with learned σ_x only

A weight is (out_features, in_features) and y = x Wᵀ + b, exactly as torch.nn.Linear stores and applies
it, so nothing is transposed; the Sequential indices count the activations as PyTorch's do. The model's
configuration (VAE.config()) travels as JSON in the file's metadata under "config"; docs/pytorch.md has
the PyTorch module that rebuilds itself from it and loads the weights. The file is written with the
`safetensors` package's NumPy API (no format written by hand), atomically, and never over an existing file
unless asked.
"""

import json
import os

import numpy as np

from .errors import CheckpointError, VAEError
from .io import atomic_write_bytes
from .model import VAE

__all__ = ["export_safetensors", "load_safetensors", "FORMAT"]

FORMAT = "vae-safetensors"


def _safetensors(what):
    """The safetensors package, or a VAEError naming it and the pip command."""
    try:
        import safetensors.numpy
    except ImportError:
        raise VAEError(f"{what} needs the Python package 'safetensors', which is not installed; install it with: "
                       "python -m pip install safetensors (or python -m pip install -e \".[dev]\")") from None
    return safetensors


def export_safetensors(model, path, overwrite=False, metadata=None):
    """Write `model`'s parameters to `path` (.safetensors) under their PyTorch names, with its configuration
    (and any extra `metadata`, strings) in the header. VAEError if `path` exists and not `overwrite`."""
    st = _safetensors("export")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise VAEError(f"{path} is a directory; name the .safetensors file to write")
    if os.path.exists(path) and not overwrite:
        raise VAEError(f"{path} already exists; choose another name or pass overwrite=True to replace it")
    tensors = {name: np.ascontiguousarray(value) for name, value in model.state_dict().items()}
    header = {"format": FORMAT, "version": "1", "config": json.dumps(model.config()), **(metadata or {})}
    atomic_write_bytes(path, st.numpy.save(tensors, metadata=header))
    return path


def load_safetensors(path):
    """The VAE exported to `path` by export_safetensors: the same configuration and the same parameters,
    bit for bit. CheckpointError naming the file if it is not such an export."""
    st = _safetensors("loading a .safetensors export")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    try:
        with st.safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
            params = {name: f.get_tensor(name) for name in f.keys()}
    except (st.SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path}: a safetensors file, but not a vae export (its metadata has format "
                              f"{meta.get('format')!r}; expected {FORMAT!r} and the model's config)")
    try:
        config = json.loads(meta["config"])
    except ValueError as e:
        raise CheckpointError(f"{path}: the model configuration in its metadata is not JSON ({e})") from None
    return VAE.from_state(config, params, path)
