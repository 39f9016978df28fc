"""Run every registered benchmark, print its markdown, and write the results, atomically:

    OUT/<name>.md      one report per benchmark (its tables, then links to the plots it wrote)
    OUT/*.png          the plots (each benchmark writes its own into OUT)
    OUT/results.md     all reports, with the machine line and the settings
    OUT/machine.json   benchmarks.common.machine_info(), peer versions, the settings, each benchmark's status

    python -m benchmarks                      # quick sizes: a few minutes on 2 cores
    python -m benchmarks --full               # the long versions
    python -m benchmarks --only engine estimators --out /tmp/results
    python -m benchmarks --full --out benchmarks/results --readme   # the results committed with the repository
    python -m benchmarks --collect --out benchmarks/results --readme   # rebuild results.md and the README from
                                                                       # the reports there, running nothing

OUT is a fresh folder, benchmark-results/<date>-<time> in the current directory, unless --out names one:
running the benchmarks never rewrites the repository's own benchmarks/results by default. --readme (rewrite
README.md between the results markers, linking the plots in OUT) needs an explicit --out.

A benchmark is a module with `run_benchmark(out_dir, quick=True) -> str` (markdown). Modules are imported
lazily, one at a time: one that does not exist (yet), or whose import needs something not installed, is
skipped with a one-line "skipped <name>: <reason>"; one that raises while running is reported, the rest
still run, and the exit status is 1. An optional `benchmark_settings(quick)` is recorded in machine.json.
"""

import argparse
import datetime
import importlib
import json
import os
import re
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script, too

from benchmarks.common import (  # noqa: E402
    atomic_write,
    machine_info,
    machine_line,
    peer_versions,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
START, END = "<!-- results:start -->", "<!-- results:end -->"

# name → module, in the order they run
REGISTRY = {
    "engine": "benchmarks.bench_engine",
    "estimators": "benchmarks.bench_estimators",
    "vae": "benchmarks.bench_vae",
    "peers": "benchmarks.bench_peers",
    "training": "benchmarks.bench_training",
    "checkpoint": "benchmarks.bench_checkpoint",
    "posteriors": "benchmarks.bench_posteriors",
    "defaults": "benchmarks.bench_defaults",
    "mnist": "benchmarks.bench_mnist",
}


def collect(names, out_dir):
    """The results of earlier runs, read back from OUT/<name>.md (and the plots those reports link)."""
    results = []
    for name in names:
        path = os.path.join(out_dir, f"{name}.md")
        if not os.path.exists(path):
            print(f"skipped {name}: no report {path}", flush=True)
            results.append({"name": name, "status": "skipped", "reason": f"no report in {out_dir}"})
            continue
        with open(path, encoding="utf-8") as f:
            markdown = f.read()
        plots = sorted({os.path.join(out_dir, link) for link in re.findall(r"\]\(([^)\s]+\.png)\)", markdown)
                        if os.path.exists(os.path.join(out_dir, link))})
        results.append({"name": name, "status": "ok", "markdown": markdown, "plots": plots})
    return results


def fresh_out_dir(parent="benchmark-results"):
    """A folder that does not exist yet: PARENT/<date>-<time>[-n], relative to the current directory."""
    base = os.path.join(parent, time.strftime("%Y%m%d-%H%M%S"))
    out, i = base, 1
    while os.path.exists(out):
        i += 1
        out = f"{base}-{i}"
    return out


def load(module_name):
    """(module, None), or (None, reason) when it cannot be used: not written yet, a missing dependency,
    or no run_benchmark. Any other error while importing (a SyntaxError, say) propagates: that is a bug."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            return None, f"no module {module_name}"
        return None, f"{module_name} needs {e.name or e}, which is not installed"
    except ImportError as e:
        return None, f"{module_name} failed to import ({e})"
    if not callable(getattr(module, "run_benchmark", None)):
        return None, f"{module_name} has no run_benchmark(out_dir, quick)"
    return module, None


def _png_state(out_dir):
    state = {}
    for root, _, files in os.walk(out_dir):
        for f in files:
            if f.endswith(".png") and not f.startswith(".tmp-"):
                path = os.path.join(root, f)
                st = os.stat(path)
                state[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return state


def _written_pngs(out_dir, before):
    return sorted(p for p, s in _png_state(out_dir).items() if before.get(p) != s)


def render(markdown, pngs, out_dir, base_dir):
    """The benchmark's markdown with image links relative to base_dir: links it already has to PNGs in
    out_dir are rewritten, and the PNGs it wrote but did not link are appended."""
    def rel(path):
        return os.path.relpath(path, base_dir).replace(os.sep, "/")

    def fix(match):
        target = match.group(2)
        full = os.path.join(out_dir, target)
        if re.match(r"^[a-z]+://", target) or os.path.isabs(target) or not os.path.exists(full):
            return match.group(0)
        return f"{match.group(1)}({rel(full)})"

    linked = set(re.findall(r"\]\(([^)\s]+\.png)\)", markdown))
    text = re.sub(r"(!?\[[^\]]*\])\(([^)\s]+\.png)\)", fix, markdown.rstrip())
    extra = [p for p in pngs if os.path.relpath(p, out_dir).replace(os.sep, "/") not in linked]
    if extra:
        text += "\n\n" + "\n\n".join(f"![{os.path.splitext(os.path.basename(p))[0]}]({rel(p)})" for p in extra)
    return text + "\n"


def _provenance(mode, when):
    if mode == "collected":
        return (f"collected on {when} by `python -m benchmarks --collect` from the reports in the results folder, "
                "each written by its own run (sizes and machine as each report states)")
    return f"generated by `python -m benchmarks{' --full' if mode == 'full' else ''}` on {when} ({mode} sizes)"


def combined(results, out_dir, base_dir, mode, when):
    """results.md / the README section: a header, then every benchmark that ran."""
    parts = [f"{_provenance(mode, when)}. Machine: {machine_line()}. Regenerate with `python -m benchmarks --out "
             "benchmarks/results --readme` (add `--full` for the long versions); what each benchmark measures: "
             "benchmarks/README.md.", ""]
    for r in results:
        if r["status"] == "ok":
            parts += [render(r["markdown"], r["plots"], out_dir, base_dir)]
        else:
            parts += [f"_{r['name']}: {r['status']} — {r['reason']}_", ""]
    return "\n".join(parts).rstrip() + "\n"


# The plots the README shows (the rest are in results.md): what the lecture claims, and what training shows.
README_PLOTS = ("estimators_vs_M.png", "training.png")


def summary(results, out_dir, base_dir, mode, when):
    """The README's section: per benchmark its heading and first table, a link to its full report, and
    the plots named in README_PLOTS. results.md keeps everything."""
    def rel(path):
        return os.path.relpath(path, base_dir).replace(os.sep, "/")

    everything = rel(os.path.join(out_dir, "results.md"))
    parts = [f"Headline tables: {_provenance(mode, when)} ({machine_line()}); the README section is written by "
             "`python -m benchmarks --out benchmarks/results --readme` (or `--collect`). "
             f"Every table, setting and plot: [{everything}]({everything}).", ""]
    for r in results:
        if r["status"] != "ok":
            parts += [f"_{r['name']}: {r['status']} — {r['reason']}_", ""]
            continue
        lines = r["markdown"].splitlines()
        heading = next((line for line in lines if line.startswith("#")), f"### {r['name']}")
        start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
        table = []
        if start is not None:
            for line in lines[start:]:
                if not line.startswith("|"):
                    break
                table.append(line)
        report = os.path.join(out_dir, f"{r['name']}.md")
        parts += [heading, "", *table, "", f"More: [{rel(report)}]({rel(report)}).", ""]
        parts += [f"![{os.path.splitext(os.path.basename(p))[0]}]({rel(p)})\n" for p in r["plots"]
                  if os.path.basename(p) in README_PLOTS]
    return "\n".join(parts).rstrip() + "\n"


def update_readme(path, section):
    """Replace what lies between the results markers of `path` with `section`, atomically.
    Returns False (README untouched) when either marker is missing or they are out of order."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        print(f"README not updated: {path} lacks the markers {START} and {END} (in that order)")
        return False
    new = text[:start + len(START)] + "\n" + section.rstrip() + "\n" + text[end:]
    mode = os.stat(path).st_mode & 0o777
    atomic_write(path, new)
    os.chmod(path, mode)                 # the temporary file was created 0600; keep the README's own mode
    print(f"README updated: {path}")
    return True


def parse_args(argv, registry):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the long versions (default: quick sizes)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(registry),
                        help=f"run only these, of: {', '.join(registry)}")
    parser.add_argument("--out", help="results directory (default: a fresh benchmark-results/<date>-<time>; the "
                        "results committed with the repository are benchmarks/results)")
    parser.add_argument("--readme", action="store_true",
                        help=f"rewrite the section of README.md between {START} and {END}")
    parser.add_argument("--readme-file", default=README, help="the README to rewrite (default %(default)s)")
    parser.add_argument("--collect", action="store_true",
                        help="run nothing: rebuild OUT/results.md (and, with --readme, the README section) from the "
                        "reports <name>.md already in --out, each as its own run wrote it")
    args = parser.parse_args(argv)
    if args.collect and args.out is None:
        parser.error("--collect reads the reports in a results folder: name it with --out")
    if args.readme and args.out is None:
        parser.error("--readme links the README to the results' plots: name their folder with --out (the one "
                     "committed with the repository is benchmarks/results)")
    return args


def main(argv=None, registry=None):
    """Run the benchmarks; returns the exit status (0, or 1 when a benchmark failed)."""
    registry = dict(REGISTRY if registry is None else registry)
    args = parse_args(argv, registry)
    out_dir = os.path.abspath(args.out or fresh_out_dir())
    os.makedirs(out_dir, exist_ok=True)
    mode = "full" if args.full else "quick"
    names = [n for n in registry if args.only is None or n in args.only]
    started = datetime.datetime.now(datetime.timezone.utc)
    results = collect(names, out_dir) if args.collect else []
    for name in [] if args.collect else names:
        module, reason = load(registry[name])
        if module is None:
            print(f"skipped {name}: {reason}", flush=True)
            results.append({"name": name, "status": "skipped", "reason": reason})
            continue
        print(f"running {name} ({mode}) …", file=sys.stderr, flush=True)
        before = _png_state(out_dir)
        t0 = time.perf_counter()
        entry = {"name": name, "module": registry[name]}
        try:
            if callable(getattr(module, "benchmark_settings", None)):
                entry["settings"] = module.benchmark_settings(quick=not args.full)
            markdown = str(module.run_benchmark(out_dir, quick=not args.full))
        except (Exception, SystemExit) as e:         # SystemExit: a benchmark's own consistency check
            traceback.print_exc()
            reason = f"{type(e).__name__}: {e}"
            print(f"FAILED {name}: {reason}", flush=True)
            entry.update(status="failed", reason=reason, seconds=round(time.perf_counter() - t0, 2),
                         plots=_written_pngs(out_dir, before))
            results.append(entry)
            continue
        plots = _written_pngs(out_dir, before)
        entry.update(status="ok", seconds=round(time.perf_counter() - t0, 2), plots=plots, markdown=markdown)
        atomic_write(os.path.join(out_dir, f"{name}.md"), render(markdown, plots, out_dir, out_dir))
        print(markdown.rstrip() + "\n", flush=True)
        print(f"{name}: {entry['seconds']:.1f} s", file=sys.stderr, flush=True)
        results.append(entry)

    when = started.strftime("%Y-%m-%d %H:%M UTC")
    if args.collect:
        mode = "collected"
    atomic_write(os.path.join(out_dir, "results.md"),
                 "# Benchmark results\n\n" + combined(results, out_dir, out_dir, mode, when))
    record = {
        "machine": machine_info(), "peers": peer_versions(),
        "settings": {"mode": mode, "only": args.only, "out": out_dir, "argv": sys.argv[1:] if argv is None else argv,
                     "started": started.isoformat(timespec="seconds"),
                     "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
        "benchmarks": {r["name"]: {k: (v if k != "plots" else [os.path.relpath(p, out_dir) for p in v])
                                   for k, v in r.items() if k not in ("name", "markdown")} for r in results},
    }
    if not args.collect:                 # collected reports keep the machine.json of their own runs
        atomic_write(os.path.join(out_dir, "machine.json"), json.dumps(record, indent=2, default=str) + "\n")

    failed = [r["name"] for r in results if r["status"] == "failed"]
    if args.readme:
        if failed:
            print(f"README not updated: {', '.join(failed)} failed")
        else:
            readme = os.path.abspath(args.readme_file)
            update_readme(readme, summary(results, out_dir, os.path.dirname(readme), mode, when))
    print(f"results: {os.path.join(out_dir, 'results.md')}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
