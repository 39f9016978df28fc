"""Mutation harness: plant realistic bugs one at a time and report the ones no test catches.

    python tools/mutate.py                 # every mutant below, its tests, then a report
    python tools/mutate.py --list          # the list, without running anything
    python tools/mutate.py -k adam -k iwae # only mutants whose name contains one of the words

Each mutant is (name, file, exact old text, new text, pytest targets). The harness copies the tracked
and untracked-but-not-ignored files of the repository into a temporary directory, checks the targets
pass there unmutated, then for each mutant replaces the old text (which must occur exactly once) in the
copy, runs `python -m pytest -x -q <targets>` on the copy (PYTHONPATH pointing at it, so the editable
install elsewhere is not used) and restores the file. The working tree is never written: an interrupted
run (Ctrl-C) leaves nothing behind but the temporary copy, which is removed on the way out.

A mutant is KILLED when pytest reports failing tests (exit status 1), SURVIVES when the targets pass,
and is an ERROR otherwise (collection error, timeout): errors are listed apart, since a test run that
crashes proves nothing about the tests. Exit status 0 only when every mutant is killed.
tests/test_mutate.py (run with the suite) checks that every old text below still occurs exactly once and
that every target exists, so that this list cannot silently rot when the code changes.

What it plants (the mutation audit of issue 18, reconstructed; item 7, the allocator test, is owned
elsewhere and not planted here). The gaps the audit found, each now guarded:
  explain-farthest-cut      explain() names the farthest of two cuts on one path, not the nearest
  bernoulli-ignores-negatives  Bernoulli data validation checks only the upper end of [0, 1]
  no-obs-noise-floor        the σ_x ≥ 0.01 floor of the learned Gaussian observation noise removed
  empty-columns-accepted    data of shape (N, 0) accepted
  uniform-open-keeps-zeros  uniform_open no longer redraws exact zeros
  loo-baseline-plain-mean   the leave-one-out baseline replaced by the plain mean (a (1 − 1/M) scaling)
  leaky-relu-slope          leaky_relu's default slope 0.01 → 0.02 (forward and VJP agree, so only a value
                            check against a textbook formula sees it: the functional/method tautologies)
  readme-adam-ascends       Adam steps up the gradient (the README's VAE example must notice it)
  readme-kl-sign            the analytic KL's log σ² term with the wrong sign (README example: IWAE < ELBO)
  score-biased-5pc-vs-unbiased, score-biased-5pc-vs-quadrature, score-biased-5pc-vs-mean-gradient,
  pathwise-biased-5pc-vs-unbiased, pathwise-biased-5pc-vs-quadrature, pathwise-biased-5pc-vs-mean-gradient
                            every score-function (pathwise) estimate scaled by 1.05, run against each of the
                            three unbiasedness checks in turn: item 10's sizing, shown by a planted 5 % bias
  surrogate-biased-5pc      the training benchmark's score-function surrogate with a 5 % bias on the encoder
  iwae-k-ignored            the IWAE bound's k samples all made from one ε (IWAE_k = IWAE_1: the
                            monotonicity check must see it)
The core that the audit found well guarded (kept so that it stays guarded):
  unbroadcast-misses-size-1-axes, tanh-vjp-sign, sigmoid-vjp, relu-vjp-passes-negatives,
  adam-no-bias-correction, sgd-momentum-damped, kl-sign, iwae-no-log-k, gaussian-nll-no-logvar,
  reparam-vjp-forgets-eps, resume-forgets-rng, weibull-icdf-exponent, exponential-icdf-rate
Issue 15, items 13 and 15:
  adam-accepts-infinite-lr, load-state-dict-unchecked (hyper-parameters not checked on load),
  gradcheck-float32-in-float32 (finite differences taken in the input's float32),
  gradcheck-float32-tolerance-loose (float32 tolerance 3e-2: a VJP 1 % wrong would pass)
Issue 17 (real MNIST, the papers' objectives, PyTorch hand-over, defaults):
  mnist5k-not-stratified    one class gets one test image more than the others
  torch-init-zero-bias      nn.Linear(init="torch") leaves the bias at 0 (PyTorch draws it)
  export-transposed         export writes every weight transposed (in × out)
  iwae-objective-is-mean    the IWAE objective averages the log weights (the ELBO) instead of log-mean-exp
  best-npz-every-epoch      best.npz rewritten every epoch, not only when the validation ELBO improves
  cb-taylor-coefficient     the continuous Bernoulli's log C series with l²/11 for l²/12
  cb-icdf-series            the inverse CDF's series near λ = ½ with a wrong first-order term
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import namedtuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

Mutant = namedtuple("Mutant", "name file old new tests")

MUTANTS = [
    # ------------------------------------------------------------------------------------------
    # The gaps of issue 18
    Mutant("explain-farthest-cut", "minigrad/graph.py",
           "cuts_here = not cut and not need and _requires_grad(parent)",
           "cuts_here = not need and _requires_grad(parent)",
           ["tests/test_graph.py"]),
    Mutant("bernoulli-ignores-negatives", "vae/data.py",
           "if lo < 0 or hi > 1:", "if hi > 1:",
           ["tests/test_vae_data.py"]),
    Mutant("no-obs-noise-floor", "vae/model.py",
           "return mg.clip(self.obs_logvar, MIN_OBS_LOGVAR, None)", "return self.obs_logvar",
           ["tests/test_vae_model.py"]),
    Mutant("empty-columns-accepted", "vae/data.py",
           "if x.shape[0] == 0 or x.shape[1] == 0:", "if x.shape[0] == 0:",
           ["tests/test_vae_data.py"]),
    Mutant("uniform-open-keeps-zeros", "minigrad/distributions.py",
           "    while zero.any():\n        u[zero] = rng.random(int(zero.sum()), dtype=dtype)\n",
           "    while False:\n        u[zero] = rng.random(int(zero.sum()), dtype=dtype)\n",
           ["tests/test_distributions.py"]),
    Mutant("loo-baseline-plain-mean", "minigrad/estimators.py",
           "return (fz.sum() - fz) / (m - 1)", "return np.full_like(fz, fz.mean())",
           ["tests/test_estimators.py"]),
    Mutant("leaky-relu-slope", "minigrad/ops/elementwise.py",
           "def leaky_relu(x, negative_slope=0.01):", "def leaky_relu(x, negative_slope=0.02):",
           ["tests/test_functional.py::test_functional_reexports_compute_the_textbook_values",
            "tests/test_ops.py::test_tensor_methods_are_the_ops"]),
    Mutant("readme-adam-ascends", "minigrad/optim.py",
           "        scratch *= h[\"lr\"] * c / (1 - beta1 ** t)\n        param -= scratch",
           "        scratch *= h[\"lr\"] * c / (1 - beta1 ** t)\n        param += scratch",
           ["tests/test_readme.py"]),
    Mutant("readme-kl-sign", "vae/model.py",
           "return 0.5 * (mu * mu + var - 1.0 - logvar).sum(axis=-1)",
           "return 0.5 * (mu * mu + var - 1.0 + logvar).sum(axis=-1)",
           ["tests/test_readme.py"]),
    # Item 10: every statistical check is sized to catch a 5 % bias; each of these plants exactly that
    # bias in every estimate of one estimator and runs one check (a separate mutant per check).
    *[Mutant(f"{kind}-biased-5pc-vs-{check}", "minigrad/estimators.py", old, new, [target])
      for kind, old, new, unbiased in [
          ("score", "log_p.backward(np.broadcast_to(w, log_p.shape).copy())",
           "log_p.backward(1.05 * np.broadcast_to(w, log_p.shape))", "test_score_function_estimator_is_unbiased"),
          ("pathwise", "    values.sum().backward()\n", "    (1.05 * values.sum()).backward()\n",
           "test_pathwise_estimator_is_unbiased")]
      for check, target in [
          ("unbiased", f"tests/test_estimators.py::{unbiased}"),
          ("quadrature", "tests/test_estimators.py::test_bounded_integrand_gradient_matches_quadrature"),
          ("mean-gradient", "tests/test_distributions.py::test_mean_gradient_estimates_match_closed_form")]],
    Mutant("surrogate-biased-5pc", "benchmarks/bench_training.py",
           "reconstruction = log_px + weight * (log_q - log_q.detach())",
           "reconstruction = log_px + 1.05 * weight * (log_q - log_q.detach())",
           ["tests/test_bench_training.py::test_score_function_gradient_is_unbiased"]),
    Mutant("iwae-k-ignored", "vae/model.py",
           "lw = self._log_weights(x, params, self.draw_noise(rng, (n, batch, self.latent_dim)))",
           "lw = self._log_weights(x, params, np.broadcast_to(self.draw_noise(rng, (1, batch, self.latent_dim)), "
           "(n, batch, self.latent_dim)))",
           ["tests/test_vae_model.py::test_elbo_below_iwae_and_iwae_increases_with_k"]),
    # ------------------------------------------------------------------------------------------
    # The core, well guarded by the audit: kept guarded
    Mutant("unbroadcast-misses-size-1-axes", "minigrad/engine.py",
           "if s == 1 and grad.shape[lead + i] != 1)", "if s == 1 and grad.shape[lead + i] != 1 and i > 0)",
           ["tests/test_engine.py", "tests/test_ops.py"]),
    Mutant("tanh-vjp-sign", "minigrad/ops/kernels.py",
           "np.subtract(1, d, out=d)", "np.subtract(d, 1, out=d)",
           ["tests/test_ops.py"]),
    Mutant("sigmoid-vjp", "minigrad/ops/elementwise.py",
           "return g * y * (1 - y)", "return g * y * (1 + y)",
           ["tests/test_ops.py"]),
    Mutant("relu-vjp-passes-negatives", "minigrad/ops/elementwise.py",
           "return g * (ctx.saved_tensors[0] > 0)", "return g * (ctx.saved_tensors[0] >= 0)",
           ["tests/test_ops.py"]),
    Mutant("adam-no-bias-correction", "minigrad/optim.py",
           "scratch *= h[\"lr\"] * c / (1 - beta1 ** t)", "scratch *= h[\"lr\"]",
           ["tests/test_optim.py"]),
    Mutant("sgd-momentum-damped", "minigrad/optim.py",
           "buf *= h[\"momentum\"]\n", "buf *= 1 - h[\"momentum\"]\n",
           ["tests/test_optim.py"]),
    Mutant("kl-sign", "vae/model.py",
           "return 0.5 * (mu * mu + var - 1.0 - logvar).sum(axis=-1)",
           "return 0.5 * (mu * mu + var - 1.0 + logvar).sum(axis=-1)",
           ["tests/test_vae_model.py"]),
    Mutant("iwae-no-log-k", "vae/model.py",
           "return mg.Tensor(m + np.log(s) - math.log(k))", "return mg.Tensor(m + np.log(s))",
           ["tests/test_vae_model.py"]),
    Mutant("gaussian-nll-no-logvar", "vae/model.py",
           "(diff * diff) * mg.exp(-logvar) + logvar)", "(diff * diff) * mg.exp(-logvar))",
           ["tests/test_vae_model.py"]),
    Mutant("reparam-vjp-forgets-eps", "minigrad/reparam.py",
           "return g, (g * eps if ctx.needs_input_grad[1] else None), None",
           "return g, (g if ctx.needs_input_grad[1] else None), None",
           ["tests/test_reparam.py"]),
    Mutant("resume-forgets-rng", "vae/runs.py",
           "        rng.bit_generator.state = meta[\"rng\"]\n", "",
           ["tests/test_vae_train.py"]),
    Mutant("weibull-icdf-exponent", "minigrad/distributions.py",
           "return self.scale * ops.pow(-ops.log1p(-u), 1 / self.concentration)",
           "return self.scale * ops.pow(-ops.log1p(-u), self.concentration)",
           ["tests/test_distributions.py"]),
    Mutant("exponential-icdf-rate", "minigrad/distributions.py",
           "return -ops.log1p(-u) / self.rate", "return -ops.log1p(-u) * self.rate",
           ["tests/test_distributions.py"]),
    # ------------------------------------------------------------------------------------------
    # Issue 15, items 13 and 15
    Mutant("adam-accepts-infinite-lr", "minigrad/optim.py",
           "    if not math.isfinite(value):\n", "    if math.isnan(value):\n",
           ["tests/test_optim.py"]),
    Mutant("load-state-dict-unchecked", "minigrad/optim.py",
           "hyperparameters = self._checked(saved_hyper, f\"{name}.load_state_dict\")",
           "hyperparameters = dict(saved_hyper)",
           ["tests/test_optim.py"]),
    Mutant("gradcheck-float32-in-float32", "minigrad/gradcheck.py",
           "t.data = np.array(t.data, dtype=np.float64, copy=True)", "t.data = np.array(t.data, copy=True)",
           ["tests/test_gradcheck.py"]),
    Mutant("gradcheck-float32-tolerance-loose", "minigrad/gradcheck.py",
           "FLOAT32_TOLERANCE = 1e-3", "FLOAT32_TOLERANCE = 3e-2",
           ["tests/test_gradcheck.py"]),
    # ------------------------------------------------------------------------------------------
    # Issue 17
    Mutant("mnist5k-not-stratified", "vae/data.py",
           "n_test = int(round(fraction * len(members)))", "n_test = int(round(fraction * len(members))) + (c == 3)",
           ["tests/test_vae_data.py::test_mnist5k_is_a_fixed_stratified_split_of_the_file"]),
    Mutant("torch-init-zero-bias", "minigrad/nn/modules.py",
           "b = rng.uniform(-limit, limit, size=out_features) if init == \"torch\" and bias else "
           "np.zeros(out_features)",
           "b = np.zeros(out_features)",
           ["tests/test_nn.py::test_torch_initialization_is_pytorchs_uniform_for_weight_and_bias",
            "tests/test_nn.py::test_torch_initialization_has_the_distribution_of_torch_nn_linear"]),
    Mutant("export-transposed", "vae/export.py",
           "tensors = {name: np.ascontiguousarray(value) for", "tensors = {name: np.ascontiguousarray(value.T) for",
           ["tests/test_export.py"]),
    Mutant("iwae-objective-is-mean", "vae/model.py",
           "bound = mg.logsumexp(log_px + log_prior_ratio, axis=0) - math.log(noise.shape[0])",
           "bound = (log_px + log_prior_ratio).mean(axis=0)",
           ["tests/test_vae_objectives.py"]),
    Mutant("best-npz-every-epoch", "vae/train.py",
           "if val_x is not None and row[\"val_elbo\"] > best:", "if val_x is not None:",
           ["tests/test_vae_objectives.py::test_best_npz_is_the_epoch_with_the_best_validation_elbo"]),
    Mutant("cb-taylor-coefficient", "minigrad/distributions.py",
           "l2 * (1 / 12 + l2", "l2 * (1 / 11 + l2",
           ["tests/test_continuous_bernoulli.py"]),
    Mutant("cb-icdf-series", "minigrad/distributions.py",
           "return u + l * (0.5 * (u - u2)", "return u + l * (0.5 * (u + u2)",
           ["tests/test_continuous_bernoulli.py"]),
]


def _tree_files():
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         check=True, capture_output=True).stdout.decode()
    return [f for f in out.split("\0") if f and os.path.isfile(os.path.join(ROOT, f))]


def _copy_tree(dest):
    for rel in _tree_files():
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), target)


def _pytest(tree, targets, timeout):
    """pytest's exit status on `targets` in `tree` (None on timeout), and the tail of its output."""
    env = dict(os.environ, PYTHONPATH=tree, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *targets]
    # Own session (so a timeout or Ctrl-C stops exactly this pytest and its children), and SIGINT at its
    # default even when this harness was started in the background with SIGINT ignored: the training
    # tests interrupt themselves with SIGINT.
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return None, ""
    finally:                       # Ctrl-C or timeout: stop this pytest and its children, nothing else
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()


def check_list(mutants=MUTANTS, root=ROOT):
    """Problems with the list itself: an old text that does not occur exactly once, a missing target."""
    problems = []
    for m in mutants:
        with open(os.path.join(root, m.file), encoding="utf-8") as f:
            count = f.read().count(m.old)
        if count != 1:
            problems.append(f"{m.name}: the old text occurs {count} times in {m.file} (expected once): {m.old!r}")
        for target in m.tests:
            path, _, test = target.partition("::")
            full = os.path.join(root, path)
            if not os.path.isfile(full):
                problems.append(f"{m.name}: no test file {path}")
            elif test:
                with open(full, encoding="utf-8") as f:
                    if f"def {test.split('[')[0]}(" not in f.read():
                        problems.append(f"{m.name}: no test {test} in {path}")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", action="append", default=[], help="run only mutants whose name contains this")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per pytest run (default 600)")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.k or any(k in m.name for k in args.k)]
    if args.list:
        for m in mutants:
            print(f"{m.name:32s} {m.file:28s} {' '.join(m.tests)}")
        return 0
    problems = check_list(mutants)
    if problems:
        print("the mutant list is out of date:\n  " + "\n  ".join(problems))
        return 2
    tree = tempfile.mkdtemp(prefix="minigrad-mutate-")
    results = {}
    try:
        _copy_tree(tree)
        targets = sorted({t for m in mutants for t in m.tests})
        print(f"baseline: {len(targets)} target(s) unmutated ...", flush=True)
        status, out = _pytest(tree, targets, args.timeout)
        if status != 0:
            print(out[-3000:] + "\nthe unmutated tests do not pass: fix them first")
            return 2
        for m in mutants:
            path = os.path.join(tree, m.file)
            with open(path, encoding="utf-8") as f:
                original = f.read()
            start = time.perf_counter()
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original.replace(m.old, m.new, 1))
                status, out = _pytest(tree, m.tests, args.timeout)
            finally:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original)
            verdict = {0: "SURVIVED", 1: "killed"}.get(status, "ERROR" if status is not None else "TIMEOUT")
            results[m.name] = verdict
            print(f"{verdict:8s} {m.name:32s} {time.perf_counter() - start:6.1f} s", flush=True)
            if verdict in ("ERROR", "TIMEOUT"):
                print("    " + "\n    ".join(out.strip().splitlines()[-5:]))
    except KeyboardInterrupt:
        print("\ninterrupted: the working tree was never touched; removing the temporary copy")
        return 130
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    survivors = [n for n, v in results.items() if v == "SURVIVED"]
    errors = [n for n, v in results.items() if v in ("ERROR", "TIMEOUT")]
    print(f"\n{len(results)} mutants: {len(results) - len(survivors) - len(errors)} killed, "
          f"{len(survivors)} survived{': ' + ', '.join(survivors) if survivors else ''}, "
          f"{len(errors)} errors{': ' + ', '.join(errors) if errors else ''}")
    return 0 if not survivors and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
