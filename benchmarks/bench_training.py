"""Training: what the reparameterization trick buys, as test-ELBO curves of the default VAE on the digits.

Every run is `python -m vae train`'s default configuration (vae.train.TrainConfig: scikit-learn's 8×8
digits as grey levels, 64-256-2 tanh encoder and its mirror as decoder, Bernoulli likelihood on logits,
analytic KL, Adam 1e-3, batch 100, float32, seed 0, 1 BLAS thread), trained for a fixed number of epochs
with one gradient estimator each:

    reparam M=1, 5, 10   the reparameterized (pathwise) ELBO gradient with M ε samples per example —
                         exactly `python -m vae train --samples M` (same Generator, same order of draws)
    score M=1            the score-function (REINFORCE) estimator for the encoder, same budget as
                         reparam M=1: the same initial weights, minibatches and ε
    score M=10 + LOO     the score-function estimator with 10 samples and a leave-one-out baseline
    PyTorch reparam M=1  (when torch is installed) reparam M=1 written in PyTorch, started from the same
                         initial weights and fed the same minibatches and ε: it should trace the minigrad
                         curve to float32 rounding for the first epochs (afterwards rounding differences
                         are amplified by training, as between any two float32 implementations)

After every epoch each run's test ELBO is evaluated on the whole test set with the analytic KL and
`eval_samples` ε draws per example from a Generator seeded with (seed, epoch index) — the same ε for every
run at a given epoch (with eval_samples = 1 this is exactly the test ELBO `python -m vae train` records).
The figure shows test ELBO against epoch and against training wall-clock seconds (evaluation excluded),
and, with PyTorch, |PyTorch − minigrad| per epoch.

The score-function surrogate (`score_function_elbo`). With z⁽ʲ⁾ = μ_φ(x) + σ_φ(x) ⊙ ε⁽ʲ⁾ computed from
*detached* μ and σ (a draw from q_φ(z|x) with no gradient path to φ), f_j = log p_θ(x|z⁽ʲ⁾), b_j a
baseline that does not depend on z⁽ʲ⁾, and ⊥[·] the stop-gradient (`.detach()`):

    S(θ, φ) = (1/M) Σ_j { f_j + ⊥[f_j − b_j] · (log q_φ(z⁽ʲ⁾|x) − ⊥[log q_φ(z⁽ʲ⁾|x)]) } − KL(q_φ(z|x) ‖ N(0, I))

Its value is the Monte-Carlo ELBO (the bracket is exactly 0), and its gradient is

    ∇_θ S = (1/M) Σ_j ∇_θ log p_θ(x|z⁽ʲ⁾)                       (z⁽ʲ⁾ a constant: the decoder's usual gradient)
    ∇_φ S = (1/M) Σ_j (f_j − b_j) ∇_φ log q_φ(z⁽ʲ⁾|x) − ∇_φ KL   (the score-function estimator; the analytic
                                                                KL's gradient is exact and needs none)

which is unbiased for ∇_φ E_{q_φ}[log p_θ(x|z)] because E_q[∇_φ log q_φ(z|x)] = 0, so any b_j independent
of z⁽ʲ⁾ (here 0, or the leave-one-out mean of the other M − 1 samples' f) leaves the mean unchanged.
tests/test_bench_training.py checks that against the pathwise gradient (and that plausible slips — z left
on the reparameterized path, the wrong sign, f not detached — are caught by the same check).

    python benchmarks/bench_training.py            # quick: a few epochs (≲ 30 s on 2 cores)
    python benchmarks/bench_training.py --full     # more epochs (≲ 10 minutes)
"""

import argparse
import dataclasses
import math
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script, too

import minigrad as mg  # noqa: E402
from benchmarks.common import RESULTS_DIR, machine_line, markdown_table, save_figure  # noqa: E402
from vae.data import binarize, shuffled_batches  # noqa: E402
from vae.model import ELBO, VAE, gaussian_log_prob, kl_to_standard_normal  # noqa: E402
from vae.train import EVAL_BATCH, TrainConfig  # noqa: E402

PLOT = "training.png"
FIGSIZE, DPI = (15.0, 4.6), 110                       # the PNG is 1650 × 506 pixels
ESTIMATORS = {"reparam": "reparameterized (pathwise)", "score": "score function"}
BASELINES = (None, "loo")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a run depends on besides vae.train.TrainConfig's defaults (recorded in the report)."""
    epochs: int = 60
    reparam_samples: tuple = (1, 5, 10)              # M of the reparameterized runs
    score_runs: tuple = ((1, None), (10, "loo"))     # (M, baseline) of the score-function runs
    eval_samples: int = 10                           # ε draws per test example for the test ELBO
    torch: bool = True                               # overlay the PyTorch run when torch is installed
    seed: int = 0


QUICK = Settings()                                   # ≈ 17 s on 2 cores
FULL = Settings(epochs=1000)                         # `python -m vae train`'s 1000 epochs


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    estimator: str           # "reparam" or "score"
    samples: int             # M
    baseline: str | None = None
    framework: str = "minigrad"


def runs_for(settings):
    """The runs of a benchmark, in table order (the PyTorch run last, if asked for)."""
    runs = [Run(f"reparam M={m}", "reparam", m) for m in settings.reparam_samples]
    for m, b in settings.score_runs:
        if b not in BASELINES:
            raise ValueError(f"bench_training: baseline must be one of {BASELINES}, got {b!r}")
        if b == "loo" and m < 2:
            raise ValueError("bench_training: the leave-one-out baseline needs M >= 2")
        runs.append(Run(f"score M={m}" + (" + LOO baseline" if b else ""), "score", m, b))
    if settings.torch:
        runs.append(Run("PyTorch reparam M=1", "reparam", 1, framework="torch"))
    return runs


# ----------------------------------------------------------------------------------------------
# The score-function surrogate


def _leave_one_out(f):
    """b_j = mean of f over the other samples (axis 0): independent of sample j, so unbiased."""
    m = f.shape[0]
    return (f.sum(axis=0, keepdims=True) - f) / (m - 1)


def score_function_elbo(model, x, eps, baseline=None):
    """ELBO(elbo, reconstruction, kl) of each example of x (B, D) whose VALUES are those of
    model.elbo(x, eps=eps) but whose GRADIENT w.r.t. the encoder is the score-function estimator:

        reconstruction = (1/M) Σ_j { f_j + ⊥[f_j − b_j] · (log q_φ(z⁽ʲ⁾|x) − ⊥[log q_φ(z⁽ʲ⁾|x)]) }
        f_j = log p_θ(x|z⁽ʲ⁾),  z⁽ʲ⁾ = ⊥[μ_φ(x)] + ⊥[σ_φ(x)] ⊙ ε⁽ʲ⁾   (a draw from q_φ, no path to φ)

    so ∇_θ = (1/M) Σ_j ∇_θ log p_θ(x|z⁽ʲ⁾) and ∇_φ = (1/M) Σ_j (f_j − b_j) ∇_φ log q_φ(z⁽ʲ⁾|x); the bracket is
    0 in value. kl is the analytic KL with its exact gradient. Unbiased: ∇_φ E_q[f] = ∫ f ∇_φ q_φ dz
    = E_q[f ∇_φ log q_φ(z|x)], and E_q[b ∇_φ log q_φ(z|x)] = b ∫ ∇_φ q_φ dz = 0 for b independent of z.
    eps: (B, d), or (M, B, d) for M samples.
    baseline: None (b = 0) or "loo" (b_j = mean of f over the other M − 1 samples of the same example)."""
    if baseline not in BASELINES:
        raise ValueError(f"score_function_elbo: baseline must be one of {BASELINES}, got {baseline!r}")
    x = np.asarray(x, dtype=model.dtype)
    eps = np.asarray(eps, dtype=model.dtype)
    mu, logvar = model.encoder_params(x)                             # q_φ(z|x)
    sigma = mg.exp(0.5 * logvar)
    z = mg.GaussianReparam.apply(mu.detach(), sigma.detach(), eps)   # z ~ q_φ(z|x), cut from φ
    log_px = model.log_likelihood(x, model.decoder_params(z))       # f_j: (B,) or (M, B); ∇ reaches θ only
    log_q = gaussian_log_prob(z, mu, logvar)                         # log q_φ(z⁽ʲ⁾|x), z a constant
    f = log_px.data
    if baseline == "loo":
        if eps.ndim != 3 or eps.shape[0] < 2:
            raise ValueError("score_function_elbo: the leave-one-out baseline needs eps of shape (M, B, d), M >= 2")
        f = f - _leave_one_out(f)
    weight = mg.Tensor(np.ascontiguousarray(f))                      # ⊥[f_j − b_j]: a constant
    reconstruction = log_px + weight * (log_q - log_q.detach())      # value: log_px; ∇_φ: weight · ∇_φ log q
    if eps.ndim == 3:
        reconstruction = reconstruction.mean(axis=0)
    kl = kl_to_standard_normal(mu, logvar, sigma)
    return ELBO(reconstruction - kl, reconstruction, kl)


def elbo_terms(model, x, eps, estimator, baseline=None):
    """The training objective's terms for one estimator ("reparam": model.elbo; "score": the surrogate)."""
    if estimator == "reparam":
        return model.elbo(x, eps=eps)
    if estimator == "score":
        return score_function_elbo(model, x, eps, baseline)
    raise ValueError(f"elbo_terms: estimator must be one of {tuple(ESTIMATORS)}, got {estimator!r}")


# ----------------------------------------------------------------------------------------------
# The training loop, shared by minigrad and PyTorch: the same order of draws as vae.train.train


def default_config(seed=0):
    """`python -m vae train`'s defaults (epochs aside) with the given seed."""
    config = TrainConfig(seed=seed)
    if config.data != "digits" or config.likelihood != "bernoulli" or config.activation != "tanh":
        raise RuntimeError(f"bench_training: expected vae's default digits/bernoulli/tanh model, got {config}")
    return config


def eval_batches(test, config, eval_samples, epoch):
    """[(x chunk, ε chunk)] for the test ELBO after epoch index `epoch` (0-based): ε from a Generator
    seeded with (seed, epoch), drawn chunk by chunk as vae.train.evaluate draws them."""
    rng = np.random.default_rng([config.seed, epoch])
    dtype = np.dtype(config.dtype)
    out = []
    for start in range(0, len(test), EVAL_BATCH):
        x = test[start:start + EVAL_BATCH]
        shape = (len(x), config.latent) if eval_samples == 1 else (eval_samples, len(x), config.latent)
        out.append((x, rng.standard_normal(shape, dtype=dtype)))
    return out


def train_loop(run, data, config, settings, make_stepper, log=None, on_epoch=None):
    """Train one run for settings.epochs epochs; returns its record (history of per-epoch test ELBOs).
    on_epoch(epochs done), if given, is called after each epoch's evaluation (outside the timed part).

    make_stepper(initial_model) → (step(xb, eps) → per-example ELBO array or None if not finite,
                                   evaluate(x, eps) → per-example test ELBO array)
    All randomness comes from one Generator seeded with config.seed, drawn in vae.train.train's order:
    the initial weights, then per epoch a permutation, then per batch ε of shape (B, d) or (M, B, d)."""
    rng = np.random.default_rng(config.seed)
    dtype = np.dtype(config.dtype)
    initial = VAE(**config.model_config(data.dim), rng=rng)
    step, evaluate = make_stepper(initial)
    n, bs = len(data.train), config.batch_size
    n_batches = -(-n // bs)
    history, seconds, diverged = [], 0.0, None
    for epoch in range(settings.epochs):
        t0 = time.perf_counter()
        perm = np.concatenate(shuffled_batches(n, bs, rng))
        total, count = 0.0, 0
        for b in range(n_batches):
            xb = data.train[perm[b * bs:(b + 1) * bs]]
            if data.binarize == "dynamic":
                xb = binarize(xb, rng)
            shape = (len(xb), config.latent) if run.samples == 1 else (run.samples, len(xb), config.latent)
            eps = rng.standard_normal(shape, dtype=dtype)        # ε ~ N(0, I), outside the graph
            elbo = step(xb, eps)
            if elbo is None:
                diverged = epoch + 1
                break
            total += float(elbo.sum(dtype=np.float64))
            count += len(xb)
        seconds += time.perf_counter() - t0
        if diverged:
            break
        test = sum(float(evaluate(x, e).sum(dtype=np.float64))
                   for x, e in eval_batches(data.test, config, settings.eval_samples, epoch)) / len(data.test)
        if not math.isfinite(test):
            diverged = epoch + 1
            break
        history.append({"epoch": epoch + 1, "train_elbo": total / count, "test_elbo": test, "seconds": seconds})
        if on_epoch is not None:
            on_epoch(epoch + 1)
        if log is not None:
            log(f"{run.name}: epoch {epoch + 1}/{settings.epochs}, test ELBO {test:.3f} nats, {seconds:.1f} s")
    return {"run": run, "history": history, "seconds": seconds, "diverged": diverged}


def minigrad_stepper(run, config):
    def make(model):
        opt = mg.optim.Adam(model.parameters(), lr=config.lr)

        def step(xb, eps):
            opt.zero_grad()
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                out = elbo_terms(model, xb, eps, run.estimator, run.baseline)
                loss = -out.elbo.mean()
                if not math.isfinite(loss.item()):
                    return None
                loss.backward()
            if not all(p.grad is None or np.isfinite(p.grad).all() for p in opt.params):
                return None
            opt.step()
            return out.elbo.data

        def evaluate(x, eps):
            with mg.no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return model.elbo(x, eps=eps).elbo.data
        return step, evaluate
    return make


def train_minigrad(run, data, config, settings, log=None):
    if run.framework != "minigrad":
        raise ValueError(f"train_minigrad: {run.name} is a {run.framework} run")
    with threadpool_limits(limits=config.threads, user_api="blas"):
        return train_loop(run, data, config, settings, minigrad_stepper(run, config), log)


# ----------------------------------------------------------------------------------------------
# PyTorch (optional): the same model, the same initial weights, the same minibatches and ε


def torch_available():
    """(True, "") or (False, one line saying why not)."""
    try:
        import torch  # noqa: F401
        return True, ""
    except Exception as e:          # absent or broken: skip with one line
        return False, f"{type(e).__name__}: {e}".splitlines()[0]


def torch_stepper(config):
    """The VAE of vae/model.py in PyTorch for any hidden sizes: encoder Linear+tanh layers encoder.{0,2,…},
    heads enc_mu/enc_logvar, decoder decoder.{0,2,…} with tanh between; Bernoulli logits; analytic KL."""
    import torch
    F = torch.nn.functional
    dtype = {"float32": torch.float32, "float64": torch.float64}[config.dtype]

    def make(model):
        state = model.state_dict()
        w = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in state.items()}
        n_enc = len(model.hidden_dims)
        opt = torch.optim.Adam(list(w.values()), lr=config.lr)

        def lin(h, layer):
            return F.linear(h, w[f"{layer}.weight"], w[f"{layer}.bias"])

        def elbo(x, eps):
            h = x
            for i in range(n_enc):
                h = torch.tanh(lin(h, f"encoder.{2 * i}"))
            mu, logvar = lin(h, "enc_mu"), lin(h, "enc_logvar")
            sigma = torch.exp(0.5 * logvar)
            z = mu + sigma * eps
            h = z
            for i in range(n_enc):
                h = torch.tanh(lin(h, f"decoder.{2 * i}"))
            logits = lin(h, f"decoder.{2 * n_enc}")
            rec = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
            if eps.dim() == 3:
                rec = rec.mean(0)
            kl = 0.5 * (mu * mu + sigma * sigma - 1.0 - logvar).sum(-1)
            return rec - kl

        def step(xb, eps):
            opt.zero_grad()
            out = elbo(torch.from_numpy(xb), torch.from_numpy(eps))
            loss = -out.mean()
            if not math.isfinite(loss.item()):
                return None
            loss.backward()
            if not all(torch.isfinite(p.grad).all() for p in w.values()):
                return None
            opt.step()
            return out.detach().numpy()

        def evaluate(x, eps):
            with torch.no_grad():
                return elbo(torch.from_numpy(x), torch.from_numpy(eps)).numpy()
        return step, evaluate
    return make


def train_torch(run, data, config, settings, log=None):
    import torch
    if config.likelihood != "bernoulli" or config.kl != "analytic" or config.activation != "tanh":
        raise ValueError("train_torch: only the default tanh / Bernoulli / analytic-KL model is written in PyTorch")
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return train_loop(run, data, config, settings, torch_stepper(config), log)
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------------------------
# The benchmark


def train_all(settings, log=None, data=None):
    """(config, [record per run], note): every run of `settings`; note says why PyTorch was skipped."""
    config = default_config(settings.seed)
    data = data if data is not None else config.load_data()
    records, note = [], ""
    for run in runs_for(settings):
        if run.framework == "torch":
            ok, why = torch_available()
            if not ok:
                note = f"PyTorch not installed ({why}): the PyTorch overlay is skipped."
                continue
            records.append(train_torch(run, data, config, settings, log))
        else:
            records.append(train_minigrad(run, data, config, settings, log))
    return config, records, note


def _fmt(x):
    return f"{x:.3f}"


def summary_rows(records):
    rows = []
    for r in records:
        run, hist = r["run"], r["history"]
        est = ESTIMATORS[run.estimator] + (", leave-one-out baseline" if run.baseline == "loo" else "")
        if run.framework == "torch":
            est += ", PyTorch"
        if hist:
            best = max(hist, key=lambda h: h["test_elbo"])
            final = _fmt(hist[-1]["test_elbo"]) + (f" (diverged at epoch {r['diverged']})" if r["diverged"] else "")
            best_cell = f"{_fmt(best['test_elbo'])} (epoch {best['epoch']})"
        else:
            final, best_cell = f"diverged at epoch {r['diverged']}", "—"
        rows.append([run.name, run.samples, est, final, best_cell, f"{r['seconds']:.1f}"])
    return rows


def agreement(records):
    """[(epoch, minigrad, torch, |Δ|)] for reparam M=1 vs its PyTorch twin, or None without the PyTorch run."""
    mine = next((r for r in records if r["run"].framework == "minigrad" and r["run"].estimator == "reparam"
                 and r["run"].samples == 1), None)
    theirs = next((r for r in records if r["run"].framework == "torch"), None)
    if mine is None or theirs is None:
        return None
    return [(a["epoch"], a["test_elbo"], b["test_elbo"], abs(a["test_elbo"] - b["test_elbo"]))
            for a, b in zip(mine["history"], theirs["history"])]


def agreement_rows(pairs):
    epochs = sorted({e for e in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000) if e <= len(pairs)} | {len(pairs)})
    return [[e, f"{pairs[e - 1][1]:.6f}", f"{pairs[e - 1][2]:.6f}", f"{pairs[e - 1][3]:.2e}",
             f"{pairs[e - 1][3] / abs(pairs[e - 1][1]):.1e}"] for e in epochs]


def settings_epochs(records):
    return max((len(r["history"]) for r in records), default=0)


def plot(records, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=FIGSIZE)
    colours = {}
    palette = iter(("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9"))
    for r in records:
        run, hist = r["run"], r["history"]
        if not hist:
            continue
        epochs = [h["epoch"] for h in hist]
        elbo = [h["test_elbo"] for h in hist]
        secs = [h["seconds"] for h in hist]
        if run.framework == "torch":
            style = dict(color="black", linestyle="--", linewidth=1.2)
        else:
            colours[run.name] = next(palette)
            style = dict(color=colours[run.name], linestyle="-" if run.estimator == "reparam" else ":",
                         linewidth=1.6)
        axes[0].plot(epochs, elbo, label=run.name, **style)
        axes[1].plot(secs, elbo, label=run.name, **style)
    axes[0].set(xlabel="epoch", ylabel="test ELBO (nats per example)", title=title)
    if settings_epochs(records) >= 20:
        axes[0].set_xscale("log")
    finals = [r["history"][-1]["test_elbo"] for r in records if r["history"]]
    if finals:                  # the right panel zooms in on where the runs end up
        top = max(h["test_elbo"] for r in records for h in r["history"])
        axes[1].set_ylim(min(finals) - 2.0, top + 0.5)
    axes[1].set(xlabel="training wall-clock seconds (evaluation excluded)", ylabel="test ELBO (nats per example)",
                title="against time (y zoomed in)")
    for ax in axes[:2]:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")
    pairs = agreement(records)
    ax = axes[2]
    if pairs:
        diff = np.array([max(p[3], 1e-9) for p in pairs])
        ax.semilogy([p[0] for p in pairs], diff, color="black")
        ax.set(xlabel="epoch", ylabel="|test ELBO PyTorch − minigrad| (nats)",
               title="PyTorch vs minigrad: reparam M=1, same start")
        ax.grid(alpha=0.3, which="both")
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "PyTorch not installed:\nno overlay", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI)
    plt.close(fig)
    return path


def report(config, settings, records, note, path, data):
    sizes = "-".join(str(s) for s in (data.dim, *config.hidden, config.latent))
    lines = [f"### Training: test ELBO per estimator — the default VAE on the digits, {settings.epochs} epochs",
             "",
             f"`python -m vae train` defaults: {config.data} ({len(data.train)} training, {len(data.test)} test "
             f"examples), {sizes} tanh encoder and its mirror, Bernoulli likelihood, analytic KL, "
             f"Adam {config.lr:g}, batch {config.batch_size}, {config.dtype}, seed {config.seed}, "
             f"{config.threads} BLAS/torch thread(s). Test ELBO: every test example, analytic KL, "
             f"{settings.eval_samples} ε per example (the same ε for every run at a given epoch). Every run "
             "starts from the same weights; runs with the same M (reparam M=1, score M=1 and PyTorch; reparam "
             "and score M=10) also see the same minibatches and ε. Seconds: training only, evaluation excluded. "
             f"{machine_line()}",
             "",
             markdown_table(["run", "M", "estimator", "final test ELBO", "best test ELBO", "seconds"],
                            summary_rows(records)),
             ""]
    pairs = agreement(records)
    if pairs:
        first = max(p[3] / abs(p[1]) for p in pairs[:3])
        lines += ["PyTorch vs minigrad (reparam M=1, same initial weights, minibatches and ε): test ELBO per epoch. "
                  f"Largest relative difference over the first {min(3, len(pairs))} epochs: {first:.1e} "
                  f"(float32 ε = {np.finfo(np.float32).eps:.1e}).",
                  "",
                  markdown_table(["epoch", "minigrad", "PyTorch", "abs. diff (nats)", "rel. diff"],
                                 agreement_rows(pairs)),
                  ""]
    elif note:
        lines += [note, ""]
    lines += [f"![training]({os.path.basename(path)})", ""]
    return "\n".join(lines)


def run(settings, out_dir=None, log=None, data=None):
    """Train every run, draw the figure into out_dir, return the markdown report."""
    out_dir = out_dir or RESULTS_DIR
    config = default_config(settings.seed)
    data = data if data is not None else config.load_data()
    config, records, note = train_all(settings, log, data)
    path = os.path.join(out_dir, PLOT)
    plot(records, path, f"test ELBO, default VAE on the digits (seed {settings.seed})")
    return report(config, settings, records, note, path, data)


def benchmark_settings(quick=True):
    """The settings run_benchmark uses (the runner records them in machine.json)."""
    return dataclasses.asdict(QUICK if quick else FULL)


def run_benchmark(out_dir=None, quick=True):
    """The run_all convention: the markdown report; the PNG goes into out_dir."""
    return run(QUICK if quick else FULL, out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help=f"{FULL.epochs} epochs (default: {QUICK.epochs})")
    parser.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    parser.add_argument("--eval-samples", type=int, default=None, help="ε per test example for the test ELBO")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch run even when torch is installed")
    parser.add_argument("--out", default=RESULTS_DIR, help="where the PNG goes (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="a line per run and epoch on stderr")
    args = parser.parse_args(argv)
    settings = FULL if args.full else QUICK
    changes = {k: v for k, v in (("epochs", args.epochs), ("eval_samples", args.eval_samples), ("seed", args.seed))
               if v is not None}
    if args.no_torch:
        changes["torch"] = False
    settings = dataclasses.replace(settings, **changes)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else None
    print(run(settings, args.out, log))
    print(f"figure: {os.path.join(os.path.abspath(args.out), PLOT)}")


if __name__ == "__main__":
    main()
