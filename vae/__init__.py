"""vae: a Variational Autoencoder on minigrad — model, data, training with checkpoints, plots, a CLI.

    import numpy as np
    import vae

    data = vae.load_dataset("digits")
    model = vae.VAE(data.dim, hidden_dims=[256], latent_dim=2, rng=0)
    terms = model.elbo(data.train[:100], rng=np.random.default_rng(0))   # ELBO(elbo, reconstruction, kl)
    loss = -terms.elbo.mean()

From the shell: python -m vae train, python -m vae eval RUN_DIR, python -m vae plot RUN_DIR,
python -m vae export RUN_DIR --out model.safetensors (for PyTorch: docs/pytorch.md).
"""

from .allocator import tune_allocator
from .data import Dataset, load_dataset, read_idx, write_idx
from .errors import CheckpointError, DataError, NonFiniteError, VAEError, WriteError
from .model import ELBO, VAE
from .train import TrainConfig

__all__ = ["VAE", "ELBO", "Dataset", "load_dataset", "read_idx", "write_idx", "TrainConfig", "VAEError", "DataError",
           "CheckpointError", "NonFiniteError", "WriteError", "tune_allocator"]
