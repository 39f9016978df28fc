"""The lecture's two pictures, drawn from the real computation graph of a small VAE.

(1) Direct sampling: z ~ q_φ(z|x) drawn inside the graph (DirectGaussianSample). The backward path from
    the loss stops at the sampling node: the encoder's parameters φ get no gradient.
(2) Reparameterization: z = μ_φ(x) + σ_φ(x) ⊙ ε with ε ~ N(0, I) entering from outside as a constant.
    The backward path from the loss reaches φ; it is highlighted.

    python docs/figures.py [--out docs/figures]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad as mg  # noqa: E402
from vae.model import VAE  # noqa: E402


def negative_reconstruction(model, x, sample):
    """−E_q[log p_θ(x|z)] of the batch (one sample, z made by `sample(μ, σ)`), and the tensors worth
    labelling. The KL term is left out on purpose: it depends on μ and σ directly, so φ would get its
    gradient whatever happens at the sampling node; the lecture's question is about this term."""
    mu, logvar = model.encoder_params(x)                      # q_φ(z|x) = N(μ_φ(x), diag σ²_φ(x))
    sigma = mg.exp(0.5 * logvar)
    z = sample(mu, sigma)
    logits = model.decoder_params(z)
    loss = -model.log_likelihood(x, logits).mean()                       # −log p_θ(x|z), batch mean
    return loss, logits, {"μ_φ(x)": mu, "log σ²_φ(x)": logvar, "σ_φ(x)": sigma, "z": z}


def figures(out_dir, dpi=110):
    """Write direct_sampling.png and reparameterized.png into out_dir; return their paths and the
    explain() tables of the two graphs."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    x = (rng.random((8, 64)) < 0.3).astype(np.float64)
    eps = rng.standard_normal((8, 2))
    cases = {
        "direct_sampling": ("(1) z ~ q_φ(z|x) sampled directly: no gradient reaches the encoder φ",
                            lambda mu, sigma: mg.DirectGaussianSample.apply(mu, sigma, rng)),
        "reparameterized": ("(2) z = μ + σ ⊙ ε, ε ~ N(0, I) from outside: ∇ reaches φ (green)",
                            lambda mu, sigma: mg.GaussianReparam.apply(mu, sigma, eps)),
    }
    paths, tables = {}, {}
    for name, (title, sample) in cases.items():
        model = VAE(64, hidden_dims=(16,), latent_dim=2, dtype=np.float64, rng=1)
        loss, logits, tensors = negative_reconstruction(model, x, sample)
        paths[name] = os.path.join(out_dir, f"{name}.png")
        groups = {"encoder φ": model.encoder, "decoder θ": model.decoder,
                  "−log p_θ(x|z), mean": (logits, loss)}          # the ops after the decoder, as one box
        mg.draw(loss, paths[name], params=model, labels={"x": x, "ε ~ N(0, I)": eps, **tensors}, groups=groups,
                highlight="encoder.0.weight", title=title, dpi=dpi, overwrite=True)   # regenerating them is the job
        tables[name] = str(mg.explain(loss, model, show=False))
    return paths, tables


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures"))
    args = parser.parse_args(argv)
    paths, tables = figures(args.out)
    for name, path in paths.items():
        print(f"{path}\n{tables[name]}\n")


if __name__ == "__main__":
    main()
