"""The checkpoint benchmark's quick mode through the runner (no timing assertions: the table's rows, the
checkpoint's constant size, the file written), and the runner's default output folder (issue 15, item 10)."""

import contextlib
import io
import json
import os

import pytest
from helpers import table_rows

from benchmarks import run_all


def test_checkpoint_benchmark_quick_mode(tmp_path):
    out = tmp_path / "results"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        assert run_all.main(["--only", "checkpoint", "--out", str(out)]) == 0, stdout.getvalue() + stderr.getvalue()
    md = (out / "checkpoint.md").read_text()
    assert "| epochs of history |" in stdout.getvalue()                   # printed, too
    rows = table_rows(md, "epochs of history")
    assert [r[0] for r in rows] == ["10", "1,000", "10,000"]
    checkpoint_kb, metrics_kb = [float(r[1]) for r in rows], [float(r[2]) for r in rows]
    assert max(checkpoint_kb) - min(checkpoint_kb) <= 1                 # does not grow with the history
    assert metrics_kb[0] < metrics_kb[1] < metrics_kb[2]                # while metrics.csv does
    assert all(float(r[3]) > 0 and float(r[4]) > 0 and float(r[5]) > 0 for r in rows)
    assert json.loads((out / "machine.json").read_text())["benchmarks"]["checkpoint"]["status"] == "ok"
    assert [p for p in os.listdir(out) if p.startswith(".")] == []       # its temporary runs are gone


def test_the_runner_writes_a_fresh_folder_by_default(tmp_path, monkeypatch):
    """Before: the default --out was the repository's tracked benchmarks/results."""
    monkeypatch.chdir(tmp_path)
    fake = tmp_path / "fake_bench_default_out.py"
    fake.write_text("def run_benchmark(out_dir, quick=True):\n    return '### Fake\\n'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for _ in range(2):
            assert run_all.main([], registry={"fake": "fake_bench_default_out"}) == 0
    runs = sorted(os.listdir(tmp_path / "benchmark-results"))
    assert len(runs) == 2 and all((tmp_path / "benchmark-results" / r / "fake.md").exists() for r in runs)
    assert not os.path.exists(os.path.join(run_all.REPO, "benchmarks", "results", "fake.md"))


def test_readme_needs_an_explicit_out(capsys):
    with pytest.raises(SystemExit) as info:
        run_all.main(["--readme"], registry={})
    assert info.value.code == 2 and "--readme links the README" in capsys.readouterr().err
