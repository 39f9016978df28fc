"""benchmarks/bench_posteriors.py runs (one epoch per posterior, small k) and reports what it says it does."""

from helpers import PNG_MAGIC, table_rows

from benchmarks import bench_posteriors


def test_bench_posteriors_reports_every_posterior_and_draws_the_ellipses(tmp_path):
    report = bench_posteriors.run(tmp_path, epochs=1, ks=(1, 5), elbo_samples=2)
    rows = table_rows(report, "posterior")
    assert [r[0] for r in rows] == ["diagonal", "full", "laplace", "logistic"]
    for name, train_elbo, elbo, iwae_1, iwae_5, ms, rho in rows:
        assert all(float(v) < 0 for v in (train_elbo, elbo, iwae_1, iwae_5)), name     # log-likelihood bounds
        assert float(ms) > 0
        assert (float(rho) > 0) == (name == "full"), (name, rho)       # only the full posterior correlates
    assert (tmp_path / bench_posteriors.PLOT).read_bytes().startswith(PNG_MAGIC)
    assert f"]({bench_posteriors.PLOT})" in report
