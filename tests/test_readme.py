"""The README's promises: its usage example runs verbatim, and its two Quick-start commands are the
ones CI runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def run_readme_blocks():
    """Run every python block of the README in its own namespace; return the namespaces."""
    blocks = python_blocks(README)
    assert blocks, "README.md has no python example"
    namespaces = []
    for block in blocks:
        namespaces.append({"__name__": "readme_example"})
        exec(compile(block, "README.md", "exec"), namespaces[-1])
    return namespaces


def test_readme_usage_examples_run_and_the_vae_example_does_what_it_says(capsys):
    """The engine example asserts its own results. The VAE example must (1) train: after its 20 Adam steps
    the ELBO of its 50 test digits is higher than the same model's at its initial weights — the mean
    per-digit gain more than 4 standard errors above 0 over the 50 digits, both ELBOs with the same 100 ε
    per digit; (2) print an IWAE estimate that is not below the ELBO: E IWAE_k ≥ ELBO, so the mean of
    IWAE₁₀₀ − ELBO (100 samples) over the 50 digits must not be below 0 by more than 4 SE (this early in
    training q is close to the posterior and the true gap is small, so only the one-sided check is
    sound); (3) print the line it promises with that number."""
    import numpy as np

    import vae

    example = next(ns for ns in run_readme_blocks() if "log_px" in ns)
    model, data, log_px = example["model"], example["data"], example["log_px"].data
    x = data.test[:50]
    eps = np.random.default_rng(1).standard_normal((100, 50, 2)).astype(np.float32)
    trained = model.elbo(x, eps=eps).elbo.data.astype(np.float64)
    initial = vae.VAE(data.dim, hidden_dims=[256], latent_dim=2, rng=0).elbo(x, eps=eps).elbo.data
    gain = trained - initial
    assert gain.mean() > 4 * gain.std(ddof=1) / np.sqrt(len(gain)), (gain.mean(), gain.std(ddof=1))
    tighter = log_px.astype(np.float64) - trained
    assert log_px.shape == (50,) and np.isfinite(log_px).all()
    assert tighter.mean() > -4 * tighter.std(ddof=1) / np.sqrt(len(tighter)), (tighter.mean(), tighter.std(ddof=1))
    printed = capsys.readouterr().out
    assert f"test log p(x) ≥ {log_px.mean():.2f} nats (IWAE, k = 100)" in printed, printed


def test_quick_start_commands_are_the_ones_ci_runs():
    quick = re.search(r"## Quick start\n+```bash\n(.*?)```", README, flags=re.S)
    assert quick, "README.md has no Quick start bash block"
    commands = [line for line in quick.group(1).splitlines() if line.strip()]
    assert len(commands) == 2, commands
    install, test = commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install_step = install.split("&&")[0].strip()
    assert install_step in ci, f"CI does not install with {install_step!r}"
    assert test.strip() in ci, f"CI does not run {test!r}"


def test_ci_checks_the_peer_agreement_in_its_own_step_after_the_readme_commands():
    """The README's agreement columns are tested by tests that skip without the peers: CI installs the
    peers after the README's own install and test commands (which stay as they are) and fails if the peer
    tests are skipped."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    quick = re.search(r"## Quick start\n+```bash\n(.*?)```", README, flags=re.S).group(1)
    install, test = [line.split("&&")[0].strip() for line in quick.splitlines() if line.strip()]
    peers = ci.index("python -m pip install torch==2.13.0 autograd jax jaxlib")
    assert ci.index(install) < ci.index(test) < peers
    step = ci[peers:]
    assert "tests/test_peers.py" in step and "-rs" in step and "skipped" in step and "exit 1" in step
