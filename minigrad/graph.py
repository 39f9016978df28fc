"""See the gradient flow: which parameters ∇ reaches, where it is cut, and the graph itself drawn.

Everything here reads what the engine already records: each Function node's `parents` and
`needs_input_grad`, the creation site that nodes cutting the flow keep (`site`), and the `Cut`
markers that detach() and no_grad regions leave on their outputs (each keeps the nodes, markers and
leaves it came from). Nothing is switched on beforehand, and nothing here runs on an op's path.

A parameter θ gets a gradient from an output L exactly when there is a path θ → … → L whose every
edge is differentiable (the consuming node's needs_input_grad is True for it). Otherwise, walking back
from L, the first edge that is not differentiable is the cut we report.
"""

from collections import deque

import numpy as np

from .engine import Cut, Function, Tensor

__all__ = ["explain", "Explanation", "draw", "to_dot"]


def _named(params):
    """[(name, tensor)] from a Module, a dict name → tensor, or a list of tensors."""
    if hasattr(params, "named_parameters"):
        return list(params.named_parameters())
    if isinstance(params, dict):
        return list(params.items())
    if isinstance(params, Tensor):
        return [("param", params)]
    return [(f"param[{i}]", p) for i, p in enumerate(params)]


def _require_graph(node):
    if isinstance(node, Function) and node.parents is None:
        raise RuntimeError(f"the graph through {type(node).__name__} was released by backward(); call this "
                           "before backward(), or pass retain_graph=True to backward()")


def _node_of(entry):
    """The recorded node (or Cut marker) behind a graph entry: a node keeps, per input, the node that
    made it, or the input itself when it is a leaf, a constant or a tensor cut from the graph."""
    node = entry if isinstance(entry, (Function, Cut)) else getattr(entry, "_node", None)
    _require_graph(node)
    return node


def _requires_grad(entry):
    if isinstance(entry, Cut):
        return False
    return True in entry.needs_input_grad if isinstance(entry, Function) else bool(entry.requires_grad)


def _differentiable_leaves(output):
    """ids of the tensors from which a gradient reaches `output` (the engine's own walk)."""
    reached, stack, seen = set(), [output], set()
    while stack:
        entry = stack.pop()
        node = _node_of(entry)
        if not _requires_grad(entry):
            continue
        if node is None:
            reached.add(id(entry))
        elif id(node) not in seen:
            seen.add(id(node))
            stack.extend(i for i, need in zip(node.parents, node.needs_input_grad) if need)
    return reached


class _CutAt:
    """A place the flow stops: a node that passes no gradient to an input, or a detach/no_grad Cut."""

    def __init__(self, op, site, label):
        self.op, self.site, self.label = op, site or "(site not recorded)", label


def _node_cut(node):
    op = type(node).__name__
    why = "samples z directly, no reparameterization" if getattr(node, "stochastic", False) else "no gradient"
    return _CutAt(op, node.site, f"{op} ({why})")


def _marker_cut(cut):
    if cut.kind == "detach":
        return _CutAt("detach", cut.site, "detach()")
    return _CutAt(cut.op, cut.site, f"{cut.op} under no_grad")


def _nearest_cuts(output):
    """Walk the whole recorded graph back from `output`, breadth first, and map id(leaf) → the cut
    nearest to the output on the first path found (None when the path has no cut)."""
    found = {}
    queue, seen = deque([(output, None)]), set()
    while queue:
        entry, cut = queue.popleft()
        node = _node_of(entry)
        key = id(node) if node is not None else id(entry)
        if key in seen:
            continue
        seen.add(key)
        if node is None:
            found.setdefault(id(entry), cut)
        elif isinstance(node, Cut):             # walk on behind the marker; its own cut, if nearer
            if isinstance(entry, Tensor) and entry.requires_grad:
                found.setdefault(id(entry), cut)        # a tensor cut from the graph and made a leaf again
            here = cut or (_marker_cut(node) if node.kind else None)
            queue.extend((source, here) for source in node.sources)
        else:
            for parent, need in zip(node.parents, node.needs_input_grad):
                if isinstance(parent, (Tensor, Function)):   # a masked input that requires grad: cut here
                    cuts_here = not cut and not need and _requires_grad(parent)
                    queue.append((parent, _node_cut(node) if cuts_here else cut))
    return found


class Explanation:
    """One row per parameter: name, shape, whether ∇ reaches it, and if not, which node cuts it."""

    def __init__(self, rows):
        self.rows = rows

    def __getitem__(self, name):
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(name)

    def reachable(self):
        return [r["name"] for r in self.rows if r["reachable"]]

    def cut(self):
        return [r["name"] for r in self.rows if not r["reachable"]]

    def __str__(self):
        header = ("parameter", "shape", "gradient", "cut by", "created at")
        lines = [(r["name"], str(r["shape"]), "reaches" if r["reachable"] else "NONE",
                  r["cut_by"] or "", r["site"] or "") for r in self.rows]
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        return "\n".join(fmt.format(*line).rstrip()
                         for line in [header, ["-" * w for w in widths], *lines])

    __repr__ = __str__


def explain(output, params, show=True):
    """For each parameter, whether a differentiable path from it to `output` exists, and where not,
    the node that cuts it: its op name and the file:line of user code that created it.

    `params` is a Module, a dict name → tensor, or a list of tensors. Prints the table unless
    show=False; returns an Explanation (str() is the table; rows are dicts)."""
    if not isinstance(output, Tensor):
        raise TypeError(f"explain: output must be a Tensor, got {type(output).__name__}")
    reached = _differentiable_leaves(output)
    cuts = _nearest_cuts(output)
    rows = []
    for name, p in _named(params):
        row = {"name": name, "shape": tuple(p.shape), "reachable": id(p) in reached, "cut_by": None,
               "site": None, "reason": None, "op": None}
        if row["reachable"]:
            pass
        elif not p.requires_grad:
            row["reason"] = row["cut_by"] = "requires_grad=False (a constant)"
        elif id(p) not in cuts:
            row["reason"] = row["cut_by"] = "not used to compute this output"
        else:
            cut = cuts[id(p)]
            row.update(cut_by=cut.label, site=cut.site, reason=cut.label, op=cut.op)
        rows.append(row)
    result = Explanation(rows)
    if show:
        print(result)
    return result


# ----------------------------------------------------------------------------------------------
# The graph as boxes and arrows

class _Graph:
    """Vertices (ops, leaves, constants, cuts) and edges of the recorded graph of `output`.

    Vertex keys: ("node", id) for an op, ("group", name) for a collapsed module, ("leaf", id) for a
    tensor or array that no recorded node made. `cut_edges` are the non-differentiable edges out of
    something that requires grad: where the flow is cut."""

    def __init__(self, output, params=None, labels=None, groups=None, keep=None):
        self.names = {id(p): n for n, p in _named(params)} if params is not None else {}
        for name, value in (labels or {}).items():      # an interior tensor is seen through its node
            node = getattr(value, "_node", None)
            self.names[id(node if isinstance(node, Function) else value)] = name
        self.spans = [(name, m._span) for name, m in (groups or {}).items() if getattr(m, "_span", None)]
        self.hidden = {id(p) for m in (groups or {}).values() for p in m.parameters()} - {id(keep)}
        self.vertices, self.edges, self.differentiable_edges, self.cut_edges = {}, set(), set(), set()
        self.param_keys = {}
        self.output = self._visit(output)

    def _key(self, t):
        node = t if isinstance(t, Function) else getattr(t, "_node", None)
        if isinstance(node, Function):
            for name, (lo, hi) in self.spans:
                if lo < node.seq < hi:
                    return ("group", name)
            return ("node", id(node))
        return ("leaf", id(t))

    def _visit(self, root):
        stack, seen = [root], set()
        while stack:
            t = stack.pop()
            if id(t) in seen:
                continue
            seen.add(id(t))
            node = _node_of(t) if isinstance(t, (Tensor, Function)) else None
            k = self._key(t)
            name = self.names.get(id(node)) if isinstance(node, Function) else None
            name = name or self.names.get(id(t))
            if isinstance(t, Function):
                shape = tuple(t.out_shape)
            else:
                shape = tuple(np.shape(t.data if isinstance(t, Tensor) else t))
            if isinstance(node, Function):
                op = type(node).__name__
                if k not in self.vertices:
                    kind = "stochastic" if getattr(node, "stochastic", False) else (
                        "cut" if not any(node.needs_input_grad) else "op")
                    label = k[1] if k[0] == "group" else (f"{name} = {op}" if name else op)
                    self.vertices[k] = {"label": label, "kind": kind, "shape": shape, "seq": node.seq}
                elif k[0] == "group" and node.seq > self.vertices[k]["seq"]:
                    self.vertices[k].update(shape=shape, seq=node.seq)
                for inp, need in zip(node.parents, node.needs_input_grad):
                    if not isinstance(inp, (Tensor, Function, np.ndarray)) or id(inp) in self.hidden:
                        continue
                    ik = self._key(inp)
                    if ik != k:
                        self.edges.add((ik, k))
                        if need:
                            self.differentiable_edges.add((ik, k))
                        elif not isinstance(inp, np.ndarray) and _requires_grad(inp):
                            self.cut_edges.add((ik, k))
                    stack.append(inp)
            else:
                if isinstance(node, Cut):
                    kind, label = "cut", name or ("detach()" if node.kind == "detach" else f"{node.op} (no_grad)")
                elif isinstance(t, Tensor) and t.requires_grad:
                    kind, label = "param", name or "parameter"
                elif isinstance(t, Tensor):
                    kind, label = "input", name or "input"
                else:
                    kind, label = "constant", name or "constant"
                self.vertices[k] = {"label": label, "kind": kind, "shape": shape, "seq": -1}
                if name is not None:
                    self.param_keys[name] = k
        return self._key(root)

    def path_from(self, key):
        """Edges on differentiable paths from vertex `key` to the output: those whose ends are both
        reachable from `key` and both reach the output, along differentiable edges."""
        def closure(start, edges):
            seen, stack = {start}, [start]
            while stack:
                v = stack.pop()
                for w in edges.get(v, ()):
                    if w not in seen:
                        seen.add(w)
                        stack.append(w)
            return seen
        forward, backward = {}, {}
        for a, b in self.differentiable_edges:
            forward.setdefault(a, []).append(b)
            backward.setdefault(b, []).append(a)
        on = closure(key, forward) & closure(self.output, backward)
        return {(a, b) for a, b in self.differentiable_edges if a in on and b in on}

    def layout(self):
        """{vertex: (column, row)}: an op's column is the longest path to it from the inputs, a leaf
        sits one column before its first consumer; rows follow the mean row of the neighbours already
        placed (ops from their inputs, leaves from their consumers), pushed at least 1 apart."""
        preds, succs = {}, {}
        for a, b in self.edges:
            preds.setdefault(b, []).append(a)
            succs.setdefault(a, []).append(b)
        ops = sorted((v for v in self.vertices if self.vertices[v]["seq"] >= 0),
                     key=lambda v: self.vertices[v]["seq"])
        col = {}
        for v in ops:
            col[v] = 1 + max((col[p] for p in preds.get(v, ()) if p in col), default=0)
        leaves = [v for v in self.vertices if v not in col]
        for v in leaves:
            col[v] = min((col[w] for w in succs.get(v, ()) if w in col), default=1) - 1
        row = {}

        def place(members, neighbours):
            want = {}
            for v in members:
                near = [row[n] for n in neighbours.get(v, ()) if n in row]
                want[v] = row.get(v, sum(near) / len(near) if near else 0.0)
            order = sorted(members, key=lambda v: (want[v], self.vertices[v]["seq"]))
            placed = []
            for v in order:
                placed.append(max(want[v], placed[-1] + 1) if placed else want[v])
            shift = sum(want.values()) / len(want) - sum(placed) / len(placed)
            row.update({v: y + shift for v, y in zip(order, placed)})

        for c in sorted({col[v] for v in ops}):
            place([v for v in ops if col[v] == c], preds)
        for c in sorted({col[v] for v in self.vertices}, reverse=True):
            place([v for v in self.vertices if col[v] == c], succs)
        return {v: (col[v], row[v]) for v in self.vertices}


_STYLE = {   # kind -> (face colour, edge colour, line style)
    "op": ("#fff6d5", "#8a7a3a", "-"), "param": ("#d6e8ff", "#2b5d9b", "-"),
    "input": ("#eeeeee", "#777777", "-"), "constant": ("#ffffff", "#777777", "--"),
    "stochastic": ("#ffb3b3", "#c00000", "-"), "cut": ("#ffe0c2", "#c06000", "--"),
}


def draw(output, path=None, params=None, labels=None, groups=None, highlight=None, title=None, dpi=100):
    """Render the graph of `output` with matplotlib (no graphviz needed); return the Figure.

    One box per op (name and output shape), parameters and inputs labelled (`params`: a Module, dict or
    list; `labels`: name → tensor or ndarray, e.g. {"ε ~ N(0, I)": eps}), constant inputs dashed, nodes
    that cut the flow orange and stochastic sampling nodes red. `groups`: name → Module collapses the
    nodes made inside that module's most recent call into one box. `highlight`: a parameter (tensor or name)
    whose backward path is drawn in green. Saved as PNG when `path` is given."""
    import matplotlib
    if path is not None and matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    named = dict(_named(params)) if params is not None else {}
    keep = named.get(highlight) if isinstance(highlight, str) else highlight
    g = _Graph(output, params, labels, groups, keep=keep)
    grid = g.layout()
    first_col = min(c for c, _ in grid.values())
    pos = {v: (2.2 * (c - first_col), -r) for v, (c, r) in grid.items()}
    xs, ys = [x for x, _ in pos.values()], [y for _, y in pos.values()]
    hl = set()
    if highlight is not None:
        key = g.param_keys.get(highlight) if isinstance(highlight, str) else ("leaf", id(highlight))
        if key is None:
            raise ValueError(f"draw: highlight {highlight!r} is not a named parameter of this graph")
        hl = g.path_from(key)
    hl_vertices = {a for a, _ in hl} | {b for _, b in hl}

    width, height = max(xs) - min(xs) + 2.4, max(ys) - min(ys) + 1.0
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * width), max(2.0, 0.8 * height + (0.4 if title else 0))),
                           dpi=dpi)
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    ax.axis("off")
    for a, b in g.edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        on, cut = (a, b) in hl, (a, b) in g.cut_edges
        color = "#1a9e3a" if on else ("#d00000" if cut else "#999999")
        ax.annotate("", xy=(x1 - 0.85, y1), xytext=(x0 + 0.85, y0),
                    arrowprops=dict(arrowstyle="-|>", lw=2.5 if on else (1.6 if cut else 1.0), color=color,
                                    ls="-" if (a, b) in g.differentiable_edges else ":"))
        if cut:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, "✗ no ∇", color="#d00000", fontsize=8, ha="center",
                    va="bottom", weight="bold")
    for v, info in g.vertices.items():
        x, y = pos[v]
        face, edge, ls = _STYLE[info["kind"]]
        if v in hl_vertices:
            edge = "#1a9e3a"
        ax.add_patch(FancyBboxPatch((x - 0.85, y - 0.32), 1.7, 0.64, boxstyle="round,pad=0.02",
                                    fc=face, ec=edge, ls=ls, lw=2.2 if v in hl_vertices else 1.2))
        ax.text(x, y + 0.08, info["label"], ha="center", va="center", weight="bold",
                fontsize=8 if len(info["label"]) <= 20 else 6)
        ax.text(x, y - 0.16, str(info["shape"]), ha="center", va="center", fontsize=7, color="#444444")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def to_dot(output, params=None, labels=None, groups=None):
    """The graph of `output` as Graphviz DOT text (for users who have graphviz): same vertices and
    colours as draw(); non-differentiable edges dotted, cut edges red."""
    g = _Graph(output, params, labels, groups)
    ids = {v: f"n{i}" for i, v in enumerate(g.vertices)}
    shapes = {"op": "box", "param": "ellipse", "input": "ellipse", "constant": "note",
              "stochastic": "box", "cut": "octagon"}
    lines = ["digraph minigrad {", "  rankdir=LR;"]
    for v, info in g.vertices.items():
        face, edge, ls = _STYLE[info["kind"]]
        label = f"{info['label']}\\n{info['shape']}".replace('"', "'")
        style = "filled,dashed" if ls == "--" else "filled"
        lines.append(f'  {ids[v]} [label="{label}", shape={shapes[info["kind"]]}, style="{style}", '
                     f'fillcolor="{face}", color="{edge}"];')
    for a, b in sorted(g.edges, key=lambda e: (ids[e[0]], ids[e[1]])):
        style = "" if (a, b) in g.differentiable_edges else (
            ' [style=dotted, color="#d00000"]' if (a, b) in g.cut_edges else " [style=dotted]")
        lines.append(f"  {ids[a]} -> {ids[b]}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
