"""The README's promises: its usage example runs verbatim, and its two Quick-start commands are the
ones CI runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_usage_examples_run():
    blocks = python_blocks(README)
    assert blocks, "README.md has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})


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
