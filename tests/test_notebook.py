"""docs/lecture.ipynb runs top to bottom as the suite runs, so it cannot rot: its code cells are executed
in order in one namespace, the way IPython does (a cell's last expression is its value; IPython magics
such as `%matplotlib inline` are dropped), headless, with the standard library only. Every value a cell
shows that is a Figure is rendered, as Jupyter would."""

import ast
import io
import json
import pathlib

import matplotlib
import matplotlib.figure
import matplotlib.pyplot as plt

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "lecture.ipynb"

matplotlib.use("Agg")


def cells(kind):
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return [cell for cell in notebook["cells"] if cell["cell_type"] == kind]


def run_cell(source, name, namespace):
    """exec the cell; return the value of its last line when that is an expression (what Jupyter shows)."""
    code = "".join(line for line in source.splitlines(keepends=True) if not line.lstrip().startswith(("%", "!")))
    tree = ast.parse(code, name)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, name, "exec"), namespace)
    if last is not None:
        return eval(compile(ast.Expression(last.value), name, "eval"), namespace)


def test_notebook_is_committed_without_outputs():
    code = cells("code")
    assert len(code) >= 10
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)


def test_notebook_runs_and_its_figures_render():
    plt.close("all")
    namespace = {"__name__": "__main__"}
    shown = []
    for i, cell in enumerate(cells("code")):
        value = run_cell("".join(cell["source"]), f"docs/lecture.ipynb, code cell {i + 1}", namespace)
        if isinstance(value, matplotlib.figure.Figure):
            shown.append(value)
    assert len(shown) >= 8                     # two graphs, variance, inverse CDF, training, three VAE figures
    for fig in shown:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=30)
        assert buffer.tell() > 1000
    assert plt.get_fignums() == []             # nothing left open in pyplot
