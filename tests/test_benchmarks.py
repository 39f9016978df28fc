"""The benchmark runner and the estimator benchmark: smoke runs with tiny settings (files written, tables
with the expected rows — no timing assertions), the README rewrite, skipping and failing benchmarks, and
the statistics of benchmarks/bench_estimators.py against closed forms.

Statistical checks use fixed seeds and state N. "Within 4 SE" means |measured − exact| < 4 · SE with SE
the standard error of the measured variance, √((m₄ − s⁴)/N): a correct measurement fails it with
probability ≈ 6e-5 per check (CLT); each check is shown to reject a plausible wrong value (a planted
10 % error, or the formula a slip would give).
"""

import contextlib
import io
import json
import math
import os
import re
import sys
import uuid

import numpy as np
import pytest
from helpers import PNG_MAGIC, table_rows

import minigrad as mg
from benchmarks import bench_estimators as be
from benchmarks import run_all
from minigrad.distributions import Exponential, Kumaraswamy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = be.Settings(ms=(1, 10, 100), repeats=20, sigmas=(0.5, 1.0), m_sigma=4, n_single=2000, n_icdf=2000,
                   vae_hidden=8, vae_batch=4, vae_train_steps=5, vae_repeats=5)


def vae_usable():
    return be._load_vae()[0] is not None


# ----------------------------------------------------------------------------------------------
# The real runner: --only engine estimators, quick, estimators at tiny settings


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(be, "QUICK", TINY)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = run_all.main(["--only", "engine", "estimators", "--out", str(out)])
    return {"rc": rc, "out": out, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def test_runner_writes_reports_plots_results_and_machine_json(run):
    out = run["out"]
    assert run["rc"] == 0, run["stdout"] + run["stderr"]
    for name in ("engine.md", "estimators.md", "results.md", "machine.json"):
        assert (out / name).stat().st_size > 0, name
    for png in be.PLOTS:
        assert (out / png).read_bytes()[:8] == PNG_MAGIC, png
    assert not [p for p in os.listdir(out) if p.startswith(".tmp-")]          # no temporary left behind
    assert sorted(p for p in os.listdir(out) if p.endswith(".png")) == sorted(be.PLOTS)

    record = json.loads((out / "machine.json").read_text())
    assert record["machine"]["cpus"] == os.cpu_count() and record["machine"]["numpy"] == np.__version__
    assert set(record["peers"]) == {"torch", "autograd", "jax"}
    assert record["settings"]["mode"] == "quick" and record["settings"]["only"] == ["engine", "estimators"]
    assert list(record["benchmarks"]) == ["engine", "estimators"]
    assert all(b["status"] == "ok" for b in record["benchmarks"].values())
    assert record["benchmarks"]["estimators"]["settings"]["repeats"] == TINY.repeats   # the settings used
    assert sorted(record["benchmarks"]["estimators"]["plots"]) == sorted(be.PLOTS)

    results = (out / "results.md").read_text()
    assert "### Engine" in results and "### Gradient estimators" in results
    for png in be.PLOTS:                         # links relative to OUT, in the report and in results.md
        assert f"]({png})" in results and f"]({png})" in (out / "estimators.md").read_text()
    assert "| batch | dtype |" in run["stdout"] and "| f | estimator |" in run["stdout"]   # printed too


def test_engine_table_has_a_row_per_batch_size(run):
    rows = table_rows((run["out"] / "engine.md").read_text(), "batch")
    assert [(r[0], r[1]) for r in rows] == [("32", "float32"), ("100", "float32")]    # quick sizes
    assert all(float(r[4]) > 0 for r in rows)                                        # the ratio column


def test_estimator_table_has_a_row_per_integrand_and_estimator(run):
    md = (run["out"] / "estimators.md").read_text()
    rows = table_rows(md, "f")
    assert [(r[0], r[1]) for r in rows] == [(f, be.LABELS[e]) for f in be.FUNCTIONS for e in be.ESTIMATORS]
    for r in rows:
        if r[1] != be.LABELS["score+loo"]:                      # measured ± SE, then the exact value
            assert re.fullmatch(r"[-\d.e+]+ ± [\d.e+-]+", r[2]) and re.fullmatch(r"[\d.e+]+( q)?", r[3])
        assert r[3].endswith(" q") == (r[0] == "sin(z)" and r[1] != be.LABELS["score+loo"])
    sigma_table = md.split("as σ varies")[1]
    assert len(table_rows(sigma_table, "f")) == 12 and "σ = 0.5 | σ = 1 |" in sigma_table
    icdf = table_rows(md, "distribution")
    expected = [(label, f, f"∂/∂{p}") for label, _, names, _, _, fs in be.ICDF_CASES for f in fs for p in names]
    assert [(r[0], r[1], r[2]) for r in icdf] == expected
    assert {r[7] for r in icdf} == {"yes"}                      # pathwise and score means agree
    if vae_usable():
        vae_rows = table_rows(md, "model")
        assert {r[0] for r in vae_rows} == {"untrained", f"after {TINY.vae_train_steps} Adam steps"}
        assert {r[1] for r in vae_rows} >= {"enc_mu.weight", "enc_logvar.bias"}
    else:
        assert "VAE encoder-gradient variance skipped:" in md


# ----------------------------------------------------------------------------------------------
# The runner's plumbing, with small fake benchmarks


def write_module(tmp_path, monkeypatch, body):
    name = f"fake_bench_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


OK_BENCH = '''
import os
from benchmarks.common import atomic_write

def run_benchmark(out_dir, quick=True):
    atomic_write(os.path.join(out_dir, "fake_plot.png"), b"\\x89PNG\\r\\n\\x1a\\nnot really")
    return "### Fake\\n\\n| size | ms |\\n|---|---|\\n| 1 | 2.0 |\\n"
'''


@pytest.fixture
def ok_bench(tmp_path, monkeypatch):
    return write_module(tmp_path, monkeypatch, OK_BENCH)


def test_missing_module_is_skipped_with_one_line(tmp_path, ok_bench, monkeypatch, capsys):
    needs = write_module(tmp_path, monkeypatch, "import not_an_installed_package_3f9a\n")
    bare = write_module(tmp_path, monkeypatch, "X = 1\n")
    registry = {"ghost": "benchmarks.bench_does_not_exist", "needy": needs, "bare": bare, "fake": ok_bench}
    out = tmp_path / "out"
    assert run_all.main(["--out", str(out)], registry=registry) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "skipped ghost: no module benchmarks.bench_does_not_exist" in lines
    assert f"skipped needy: {needs} needs not_an_installed_package_3f9a, which is not installed" in lines
    assert f"skipped bare: {bare} has no run_benchmark(out_dir, quick)" in lines
    assert sum(line.startswith("skipped ") for line in lines) == 3
    assert (out / "fake.md").exists() and not (out / "ghost.md").exists()
    statuses = {k: v["status"] for k, v in json.loads((out / "machine.json").read_text())["benchmarks"].items()}
    assert statuses == {"ghost": "skipped", "needy": "skipped", "bare": "skipped", "fake": "ok"}


def test_failing_benchmark_makes_the_runner_exit_non_zero_after_the_rest(tmp_path, ok_bench, monkeypatch, capsys):
    bad = write_module(tmp_path, monkeypatch, "def run_benchmark(out_dir, quick=True):\n"
                                              "    raise RuntimeError('boom')\n")
    exits = write_module(tmp_path, monkeypatch, "def run_benchmark(out_dir, quick=True):\n"
                                                "    raise SystemExit('losses disagree')\n")
    out = tmp_path / "out"
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- results:start -->\nold\n<!-- results:end -->\nb\n")
    code = run_all.main(["--out", str(out), "--readme", "--readme-file", str(readme)],
                        registry={"bad": bad, "exits": exits, "fake": ok_bench})
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED bad: RuntimeError: boom" in captured.out
    assert "FAILED exits: SystemExit: losses disagree" in captured.out
    assert "failed: bad, exits" in captured.out and "Traceback" in captured.err
    assert (out / "fake.md").exists()                                   # the rest still ran
    assert "README not updated: bad, exits failed" in captured.out
    assert "old" in readme.read_text()                                  # a failed run leaves the README alone
    record = json.loads((out / "machine.json").read_text())
    assert record["benchmarks"]["bad"]["status"] == "failed" and "boom" in record["benchmarks"]["bad"]["reason"]


def test_readme_rewrite_between_markers(tmp_path, ok_bench, capsys, monkeypatch):
    """On a copy of the project's README, given results markers (its own, or appended when it has none):
    the headline table of each benchmark, links to the full reports, and only the plots README_PLOTS names."""
    monkeypatch.setattr(run_all, "README_PLOTS", ("fake_plot.png",))
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        original = f.read()
    if run_all.START not in original:
        original += f"\n## Results\n\n{run_all.START}\n{run_all.END}\n"
    head, rest = original.split(run_all.START, 1)
    tail = rest.split(run_all.END, 1)[1] + "\nTail.\n"
    readme = tmp_path / "README.md"
    readme.write_text(f"{head}{run_all.START}\nstale table\n{run_all.END}{tail}")
    os.chmod(readme, 0o644)
    out = tmp_path / "benchmarks" / "results"
    args = ["--out", str(out), "--readme", "--readme-file", str(readme)]
    assert run_all.main(args, registry={"fake": ok_bench}) == 0
    text = readme.read_text()
    assert text.startswith(head + run_all.START) and text.endswith(run_all.END + tail)   # the rest untouched
    section = text.split(run_all.START)[1].split(run_all.END)[0]
    assert "stale table" not in section and "| 1 | 2.0 |" in section and "### Fake" in section
    assert "![fake_plot](benchmarks/results/fake_plot.png)" in section          # relative to the README
    assert "python -m benchmarks --out benchmarks/results --readme" in section
    assert "[benchmarks/results/results.md](benchmarks/results/results.md)" in section
    assert "[benchmarks/results/fake.md](benchmarks/results/fake.md)" in section
    monkeypatch.setattr(run_all, "README_PLOTS", ())
    assert run_all.main(args, registry={"fake": ok_bench}) == 0
    assert "fake_plot" not in readme.read_text().split(run_all.START)[1]      # a plot the README does not name
    assert run_all.main(args, registry={"fake": ok_bench, "fake2": ok_bench}) == 0
    assert readme.read_text().count("| 1 | 2.0 |") == 2                       # one headline table each
    monkeypatch.setattr(run_all, "README_PLOTS", ("fake_plot.png",))
    assert run_all.main(args, registry={"fake": ok_bench}) == 0
    assert "](fake_plot.png)" in (out / "fake.md").read_text()                # relative to OUT there
    assert f"README updated: {readme}" in capsys.readouterr().out
    assert os.stat(readme).st_mode & 0o777 == 0o644                           # its permissions kept
    assert run_all.main(args, registry={"fake": ok_bench}) == 0                 # idempotent: replaced, not added
    again = readme.read_text()
    assert again.count(run_all.START) == text.count(run_all.START) and again.count("| 1 | 2.0 |") == 1
    assert again.startswith(head + run_all.START) and again.endswith(run_all.END + tail)


@pytest.mark.parametrize("content", ["no markers at all\n", "<!-- results:start --> only one\n",
                                     "<!-- results:end -->\nwrong order\n<!-- results:start -->\n"])
def test_readme_rewrite_refuses_without_markers(tmp_path, ok_bench, capsys, content):
    readme = tmp_path / "README.md"
    readme.write_text(content)
    code = run_all.main(["--out", str(tmp_path / "out"), "--readme", "--readme-file", str(readme)],
                        registry={"fake": ok_bench})
    assert code == 0 and readme.read_text() == content
    out = capsys.readouterr().out
    assert f"README not updated: {readme} lacks the markers" in out and "README updated" not in out


def test_runner_as_a_script_and_as_a_package_lists_the_registry(tmp_path):
    import subprocess
    for cmd in ([sys.executable, "-m", "benchmarks", "--help"],
                [sys.executable, os.path.join(REPO, "benchmarks", "run_all.py"), "--help"]):
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert "engine, estimators, vae, peers, training, checkpoint" in " ".join(res.stdout.split())
    res = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nonsense", "--out", str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "invalid choice: 'nonsense'" in res.stderr


# ----------------------------------------------------------------------------------------------
# The estimator benchmark's numbers


def test_z_squared_closed_forms_are_the_shared_readme_numbers():
    expected = {"pathwise": (4, 12), "score": (30, 136), "score+b": (18, 96)}
    for est, values in expected.items():
        np.testing.assert_allclose(be.closed_form_variance("z²", est, 1.0, 1.0), values, rtol=1e-12)


@pytest.mark.parametrize("name", ["z²", "exp(z)"])
def test_closed_forms_match_quadrature(name):
    """The derived closed forms (exp(z), the leave-one-out formula) against Gauss–Hermite quadrature of the
    same moments: an algebra slip in either shows up here."""
    for mu, sigma in [(1.0, 1.0), (0.3, 0.5), (-0.7, 1.4), (2.0, 0.2)]:
        for est in be.ESTIMATORS:
            for m in (1, 2, 7, 1000):
                closed = be.closed_form_variance(name, est, mu, sigma, m)
                quad = be.quadrature_variance(name, est, mu, sigma, m)
                if est == "score+loo" and m == 1:
                    assert closed is None and quad is None
                    continue
                np.testing.assert_allclose(closed, quad, rtol=1e-9, err_msg=f"{name} {est} μ={mu} σ={sigma} M={m}")
    assert be.closed_form_variance("sin(z)", "pathwise", 1.0, 1.0) is None
    assert be.exact_variance("sin(z)", "pathwise", 1.0, 1.0)[1] == "quadrature"


def test_measured_single_sample_variances_of_z_squared_match_closed_forms():
    """N = 1,000,000 single-sample estimates per estimator at μ = σ = 1: each measured variance within
    4 SE of the closed form (a correct estimator fails a check with probability ≈ 6e-5), and each check
    rejects the closed form inflated by 10 %."""
    n = 1_000_000
    for k, est in enumerate(("pathwise", "score", "score+b")):
        mean, se_mean, var, se_var = be.single_sample_statistics("z²", est, 1.0, 1.0, n, np.random.default_rng([11, k]))
        exact = np.array(be.closed_form_variance("z²", est, 1.0, 1.0))
        assert np.all(np.abs(var - exact) < 4 * se_var), (est, var, exact, se_var)
        assert np.all(np.abs(var - 1.1 * exact) > 4 * se_var), (est, var, exact, se_var)       # power
        assert np.all(np.abs(mean - 2.0) < 4 * se_mean), (est, mean)                          # unbiased: (2μ, 2σ)


def test_measured_m_sample_variances_match_var1_over_m_and_the_leave_one_out_formula():
    """R = 5,000 calls of the M = 2 estimator: the variance of their outputs matches Var₁/2 (pathwise, score)
    and the derived leave-one-out formula, each within 4 SE; the same measurements reject the alternatives
    a slip would give — Var₁ without the 1/M (pathwise, score), and for the leave-one-out ∂/∂μ the naive
    Var₁(b = E f)/M that ignores the estimated baseline (14 vs 9 here)."""
    m = 2
    for k, est in enumerate(("pathwise", "score", "score+loo")):
        _, var, se = be.measured_m_sample_variance("z²", est, 1.0, 1.0, m, 5000, np.random.default_rng([12, k]))
        exact = np.array(be.closed_form_variance("z²", est, 1.0, 1.0, m))
        assert np.all(np.abs(var - exact) < 4 * se), (est, var, exact, se)
        if est != "score+loo":
            assert np.all(np.abs(var - m * exact) > 4 * se), (est, var, exact, se)           # not Var₁
        else:
            naive = be.closed_form_variance("z²", "score+b", 1.0, 1.0, m)[0]
            assert abs(var[0] - naive) > 4 * se[0], (var, naive, se)


def test_sin_integrand_is_differentiable_and_matches_numpy():
    x = mg.tensor(np.linspace(-3, 3, 7), requires_grad=True)
    assert mg.gradcheck(lambda t: be.integrand("sin(z)")(t), [x])
    f = be.integrand("sin(z)")
    np.testing.assert_allclose(f(np.array([0.5])), np.sin([0.5]))


def test_inverse_cdf_true_gradients():
    """E z² = 2/λ² for Exponential(λ): ∂/∂λ = −4/λ³; Kumaraswamy: E z² = b B(1 + 2/a, b)."""
    from scipy.special import beta
    g = be.icdf_true_gradient(Exponential, (2.0,), (0.0, math.inf), "z²")
    np.testing.assert_allclose(g, [-0.5], rtol=1e-6)
    a, b, h = 2.0, 3.0, 1e-6
    moment = lambda a, b: b * beta(1 + 2 / a, b)                 # noqa: E731
    truth = [(moment(a + h, b) - moment(a - h, b)) / (2 * h), (moment(a, b + h) - moment(a, b - h)) / (2 * h)]
    np.testing.assert_allclose(be.icdf_true_gradient(Kumaraswamy, (a, b), (0.0, 1.0), "z²"), truth, rtol=1e-6)


@pytest.mark.skipif(not vae_usable(), reason="the vae package (VAE.elbo, VAE.encoder_params) is not importable")
def test_encoder_gradient_variance_hook():
    import vae
    data = vae.load_dataset("digits", dtype=np.float64)
    model = vae.VAE(data.dim, hidden_dims=(8,), latent_dim=2, dtype=np.float64, rng=0)
    res = be.encoder_gradient_variance(model, data.test[:4], n_repeats=8, rng=np.random.default_rng(0))
    names = [t["name"] for t in res["per_tensor"]]
    assert all(n.startswith(("encoder.", "enc_mu.", "enc_logvar.")) for n in names) and len(names) == 6
    assert not any(n.startswith("decoder.") for n in names)           # φ only: the decoder has no path from μ, σ
    assert res["entries"] == sum(int(np.prod(t["shape"])) for t in res["per_tensor"])
    assert res["total_ratio"] > 10                                    # the score function is far noisier
    assert all(p.grad is None for p in model.parameters())            # leaves no gradients behind



def test_collect_rebuilds_results_and_the_readme_from_the_reports_without_running(tmp_path, ok_bench, capsys,
                                                                                    monkeypatch):
    out = tmp_path / "benchmarks" / "results"
    assert run_all.main(["--out", str(out)], registry={"fake": ok_bench}) == 0
    (out / "results.md").unlink()
    machine = (out / "machine.json").read_text()
    boom = write_module(tmp_path, monkeypatch,
                        "def run_benchmark(out_dir, quick=True):\n    raise RuntimeError('ran')\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"a\n{run_all.START}\nold\n{run_all.END}\nb\n")
    args = ["--collect", "--out", str(out), "--readme", "--readme-file", str(readme)]
    monkeypatch.setattr(run_all, "README_PLOTS", ("fake_plot.png",))
    assert run_all.main(args, registry={"fake": boom, "ghost": ok_bench}) == 0     # nothing runs
    printed = capsys.readouterr().out
    assert f"skipped ghost: no report {out / 'ghost.md'}" in printed
    results = (out / "results.md").read_text()
    assert "| 1 | 2.0 |" in results and "](fake_plot.png)" in results and "collected" in results
    section = readme.read_text().split(run_all.START)[1]
    assert "| 1 | 2.0 |" in section and "![fake_plot](benchmarks/results/fake_plot.png)" in section
    assert (out / "machine.json").read_text() == machine                     # the runs' own record kept
    with pytest.raises(SystemExit):
        run_all.main(["--collect"], registry={"fake": ok_bench})               # needs --out
