"""See the gradient flow: which parameters ∇ reaches, where it is cut, and the graph itself drawn.

Everything here reads what the engine already records: each Function node's `parents` and
`needs_input_grad`, the creation site that nodes cutting the flow keep (`site`), and the `Cut`
markers that detach() and no_grad regions leave on their outputs (each keeps the nodes, markers and
leaves it came from). Nothing is switched on beforehand, and nothing here runs on an op's path.

A parameter θ gets a gradient from an output L exactly when there is a path θ → … → L whose every
edge is differentiable (the consuming node's needs_input_grad is True for it). Otherwise, walking back
from L, the first edge that is not differentiable is the cut we report.
"""

import os
from collections import deque

import numpy as np

from .engine import Cut, Function, Tensor
from .files import atomic_write_bytes, png_bytes

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

def _span(name, group):
    """(lo, hi): the group holds the recorded nodes with lo < seq < hi. A Module's span is its most
    recent call; a pair (first, last) of tensors spans the nodes made after `first` up to `last`."""
    if isinstance(group, tuple) and len(group) == 2:
        ends = [getattr(t, "_node", None) for t in group]
        if not all(isinstance(node, Function) for node in ends):
            raise ValueError(f"draw: groups[{name!r}] = (first, last) must be two tensors made by recorded ops")
        return ends[0].seq, ends[1].seq + 1
    span = getattr(group, "_span", None)
    if span is None:
        raise ValueError(f"draw: groups[{name!r}] must be a Module that has been called, or a pair (first, last) "
                         f"of tensors; got {type(group).__name__}")
    return span


class _Graph:
    """Vertices (ops, leaves, constants, cuts) and edges of the recorded graph of `output`.

    Vertex keys: ("node", id) for an op, ("group", name) for a collapsed group of nodes, ("leaf", id) for
    a tensor or array that no recorded node made, ("params", id) for the parameters that feed the same
    consumers, merged into one box that lists each (the weight and bias of a Linear, the parameters of a
    grouped module). `cut_edges` are the non-differentiable edges out of something that requires grad:
    where the flow is cut."""

    BOX_WIDTH, COLUMN, GAP = 1.7, 2.2, 0.36          # plot units: a box, a column's pitch, the space between rows
    MEMBER = 0.42                                    # the height of one parameter (name over shape) in a merged box

    def __init__(self, output, params=None, labels=None, groups=None):
        named = _named(params) if params is not None else []
        self.names = {id(p): n for n, p in named}
        self.order = {id(p): i for i, (_, p) in enumerate(named)}
        for name, value in (labels or {}).items():      # an interior tensor is seen through its node
            node = getattr(value, "_node", None)
            self.names[id(node if isinstance(node, Function) else value)] = name
        self.spans = [(name, _span(name, g)) for name, g in (groups or {}).items()]
        self.vertices, self.edges, self.differentiable_edges, self.cut_edges = {}, set(), set(), set()
        self.param_keys = {}
        self.output = self._visit(output)
        self._merge_parameters()

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
                    if not isinstance(inp, (Tensor, Function, np.ndarray)):
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
                self.vertices[k] = {"label": label, "kind": kind, "shape": shape, "seq": -1,
                                    "rank": self.order.get(id(t), len(self.order))}
                if name is not None:
                    self.param_keys[name] = k
        return self._key(root)

    def _merge_parameters(self):
        """One box for the parameters that feed exactly the same consumers, listing each by name and
        shape: a grouped module shows every parameter it holds, and a Linear's weight and bias sit together."""
        consumers = {}
        for a, b in self.edges:
            consumers.setdefault(a, set()).add(b)
        together = {}
        for v, info in self.vertices.items():
            if info["kind"] == "param":
                together.setdefault(frozenset(consumers.get(v, ())), []).append(v)
        self.renamed = renamed = {}             # ("leaf", id) of a merged parameter → its box
        for members in together.values():
            if len(members) < 2:
                continue
            members.sort(key=lambda v: (self.vertices[v]["rank"], self.vertices[v]["label"]))
            key = ("params", members[0][1])
            rows = [(self.vertices[v]["label"], self.vertices[v]["shape"]) for v in members]
            self.vertices[key] = {"label": "\n".join(n for n, _ in rows), "kind": "param", "members": rows,
                                  "shape": rows[0][1], "seq": -1, "rank": self.vertices[members[0]]["rank"]}
            for v in members:
                del self.vertices[v]
                renamed[v] = key

        def move(edges):
            return {(renamed.get(a, a), b) for a, b in edges}
        self.edges, self.differentiable_edges, self.cut_edges = (
            move(self.edges), move(self.differentiable_edges), move(self.cut_edges))
        self.param_keys = {name: renamed.get(k, k) for name, k in self.param_keys.items()}

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

    def height(self, v):
        """A box's height in plot units: a name over a shape, or one line per merged parameter."""
        members = len(self.vertices[v].get("members", ()))
        return 0.64 if members < 2 else 0.12 + self.MEMBER * members

    def layout(self):
        """({vertex: (column, row)}, {edge: [waypoint vertices]}), a layered drawing left to right.

        An op's column is the longest path to it from the inputs; a leaf sits one column before its first
        consumer. An edge that spans several columns passes through one waypoint in each column between, and
        waypoints take a row like a box does, so no edge crosses a box. Rows follow the mean row of the
        neighbours already placed (ops and waypoints from their inputs, then leaves from their consumers),
        pushed apart by the boxes' heights."""
        preds, succs = {}, {}
        for a, b in self.edges:
            preds.setdefault(b, []).append(a)
            succs.setdefault(a, []).append(b)
        ops = sorted((v for v in self.vertices if self.vertices[v]["seq"] >= 0),
                     key=lambda v: self.vertices[v]["seq"])
        col = {}
        for v in ops:
            col[v] = 1 + max((col[p] for p in preds.get(v, ()) if p in col), default=0)
        for v in self.vertices:
            if v not in col:
                col[v] = min((col[w] for w in succs.get(v, ()) if w in col), default=1) - 1
        heights = {v: self.height(v) for v in self.vertices}
        seq = {v: self.vertices[v]["seq"] for v in self.vertices}
        waypoints, wp_preds, wp_succs = {}, {}, {}
        for a, b in sorted(self.edges, key=lambda e: (col[e[0]], seq[e[0]], seq[e[1]], str(e))):
            chain = [("waypoint", a, b, c) for c in range(col[a] + 1, col[b])]
            waypoints[(a, b)] = chain
            for prev, w, nxt in zip([a, *chain], chain, [*chain[1:], b]):
                col[w], heights[w], seq[w] = w[3], 0.3, seq[b] - 0.5
                wp_preds[w], wp_succs[w] = [prev], [nxt]
        all_preds = {**preds, **wp_preds}
        all_succs = {**succs, **wp_succs}
        row = {}

        def place(members, neighbours):
            want = {}
            for v in members:
                near = [row[n] for n in neighbours.get(v, ()) if n in row]
                want[v] = row.get(v, sum(near) / len(near) if near else 0.0)
            order = sorted(members, key=lambda v: (want[v], seq[v]))
            placed = []
            for i, v in enumerate(order):
                lowest = placed[-1] + (heights[order[i - 1]] + heights[v]) / 2 + self.GAP if placed else want[v]
                placed.append(max(want[v], lowest))
            shift = sum(want.values()) / len(want) - sum(placed) / len(placed)
            row.update({v: y + shift for v, y in zip(order, placed)})

        moving = ops + [w for chain in waypoints.values() for w in chain]
        for c in sorted({col[v] for v in moving}):
            place([v for v in moving if col[v] == c], all_preds)
        for c in sorted(set(col.values()), reverse=True):
            place([v for v in col if col[v] == c], all_succs)
        return {v: (col[v], row[v]) for v in col}, waypoints

    def geometry(self):
        """Where draw() puts things, in plot units (y grows upwards): {vertex: (x, y, width, height)} of
        the boxes, centred, and {edge: [(x, y), …]} of the polylines from a box's right side to the next
        box's left side, level through every waypoint."""
        grid, waypoints = self.layout()
        first = min(c for c, _ in grid.values())
        at = {v: (self.COLUMN * (c - first), -r) for v, (c, r) in grid.items()}
        half = self.BOX_WIDTH / 2
        boxes = {v: (*at[v], self.BOX_WIDTH, self.height(v)) for v in self.vertices}
        routes = {}
        for (a, b), chain in waypoints.items():
            points = [(at[a][0] + half, at[a][1])]
            for w in chain:
                points += [(at[w][0] - half, at[w][1]), (at[w][0] + half, at[w][1])]
            routes[(a, b)] = points + [(at[b][0] - half, at[b][1])]
        return boxes, routes


_STYLE = {   # kind -> (face colour, edge colour, line style)
    "op": ("#fff6d5", "#8a7a3a", "-"), "param": ("#d6e8ff", "#2b5d9b", "-"),
    "input": ("#eeeeee", "#777777", "-"), "constant": ("#ffffff", "#777777", "--"),
    "stochastic": ("#ffb3b3", "#c00000", "-"), "cut": ("#ffe0c2", "#c06000", "--"),
}
GREEN, RED, GREY = "#1a9e3a", "#d00000", "#999999"
INCH = 0.85          # inches per plot unit


def _fit(text, size, em=0.55, width=_Graph.BOX_WIDTH):
    """The font size (points) at which `text` fits a box `width` plot units wide, a character being about
    `em` of the size (0.55 regular, 0.63 bold)."""
    longest = max(len(line) for line in text.split("\n"))
    return min(size, 0.92 * width * INCH * 72 / (em * max(longest, 1)))


def draw(output, path=None, params=None, labels=None, groups=None, highlight=None, title=None, dpi=100,
         overwrite=False):
    """Render the graph of `output` with matplotlib (no graphviz needed); return the Figure.

    One box per op (name and output shape), parameters and inputs labelled (`params`: a Module, dict or
    list; `labels`: name → tensor or ndarray, e.g. {"ε ~ N(0, I)": eps}), constant inputs dashed, nodes
    that cut the flow orange and stochastic sampling nodes red. `groups`: name → Module collapses the
    nodes made inside that module's most recent call into one box (name → (first, last), two tensors,
    collapses the nodes made after `first` up to `last`); the parameters feeding the same box are listed
    together in one, so every parameter stays visible. `highlight`: a parameter (tensor or name) whose
    backward path is drawn in green. Saved as PNG when `path` is given: atomically (an interrupted save
    leaves the old file or none, never half a PNG), and over an existing file only with overwrite=True
    (else FileExistsError, before anything is drawn).

    Drawn on a matplotlib Figure with the Agg canvas, without pyplot: the global backend is left alone
    and no figure stays open (a notebook shows the returned Figure when it is a cell's value)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    if path is not None and not overwrite and os.path.exists(path):
        raise FileExistsError(f"draw: {os.fspath(path)} exists; pass overwrite=True to replace it")
    named = dict(_named(params)) if params is not None else {}
    g = _Graph(output, params, labels, groups)
    hl = set()
    if highlight is not None:
        target = named.get(highlight) if isinstance(highlight, str) else highlight
        key = g.renamed.get(("leaf", id(target)), ("leaf", id(target)))
        if target is None or key not in g.vertices:
            raise ValueError(f"draw: highlight {highlight!r} is not a named parameter of this graph")
        hl = g.path_from(key)
    hl_vertices = {a for a, _ in hl} | {b for _, b in hl}

    boxes, routes = g.geometry()
    x0 = min(x - w / 2 for x, _, w, _ in boxes.values()) - 0.3
    x1 = max(x + w / 2 for x, _, w, _ in boxes.values()) + 0.3
    ys = [y for points in routes.values() for _, y in points]
    y0 = min([y - h / 2 for _, y, _, h in boxes.values()] + ys) - 0.3
    y1 = max([y + h / 2 for _, y, _, h in boxes.values()] + ys) + 0.3
    legend = _legend(g, hl, highlight)
    columns = max(1, min(len(legend), int((x1 - x0) * INCH / 3.2)))
    top, bottom = (0.5 if title else 0.1), 0.3 * -(-len(legend) // columns) + 0.15     # inches
    width, height = (x1 - x0) * INCH, (y1 - y0) * INCH + top + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, bottom / height, 1, (y1 - y0) * INCH / height))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.axis("off")
    for (a, b), points in routes.items():
        on, cut = (a, b) in hl, (a, b) in g.cut_edges
        style = _edge_style(on, cut, (a, b) in g.differentiable_edges)
        xs, ys = zip(*points)
        ax.plot(xs[:-1], ys[:-1], **style)
        ax.annotate("", xy=points[-1], xytext=points[-2], arrowprops=dict(arrowstyle="-|>", **style))
        if cut:
            (xa, ya), (xb, yb) = points[-2], points[-1]
            ax.text((xa + xb) / 2, (ya + yb) / 2, "✗", color=RED, fontsize=12, ha="center", va="center",
                    weight="bold")
    for v, (x, y, w, h) in boxes.items():
        info = g.vertices[v]
        face, edge, ls = _STYLE[info["kind"]]
        on = v in hl_vertices
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=face,
                                    ec=GREEN if on else edge, ls=ls, lw=2.2 if on else 1.2))
        members = info.get("members", ())
        if len(members) > 1:            # merged parameters: each name over its shape
            size = _fit("\n".join(name for name, _ in members), 10)
            for i, (name, shape) in enumerate(members):
                at = y + h / 2 - 0.06 - _Graph.MEMBER * (i + 0.5)
                ax.text(x, at + 0.09, name, ha="center", va="center", fontsize=size)
                ax.text(x, at - 0.1, str(shape), ha="center", va="center", fontsize=8, color="#444444")
        else:
            ax.text(x, y + 0.1, info["label"], ha="center", va="center", weight="bold",
                    fontsize=_fit(info["label"], 11, em=0.63))
            ax.text(x, y - 0.17, str(info["shape"]), ha="center", va="center", fontsize=9, color="#444444")
    if title:
        fig.suptitle(title, fontsize=12, y=1 - 0.12 / height)
    fig.legend(handles=legend, loc="lower center", ncol=columns, fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.02 / height), handlelength=2.5)
    if path is not None:
        atomic_write_bytes(path, png_bytes(fig, dpi))
    return fig


def _edge_style(on_path, cut, differentiable):
    return dict(lw=2.5 if on_path else (1.6 if cut else 1.0), color=GREEN if on_path else (RED if cut else GREY),
                ls="-" if differentiable else ":")


_MEANING = {"op": "op (name, output shape)", "param": "parameters", "input": "input",
            "constant": "constant input (no gradient)", "stochastic": "samples inside the graph",
            "cut": "cuts the flow (detach, no_grad)"}


def _legend(g, hl, highlight):
    """The legend's handles, for the kinds of box and edge this graph has."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    kinds = {info["kind"] for info in g.vertices.values()}
    handles = [Patch(fc=face, ec=edge, ls=ls, label=_MEANING[k]) for k, (face, edge, ls) in _STYLE.items()
               if k in kinds]
    rest = g.edges - hl
    name = highlight if isinstance(highlight, str) else "the highlighted parameter"
    for present, style, label in (
            (hl, (True, False, True), f"backward path of {name}"),
            (rest & g.differentiable_edges, (False, False, True), "differentiable edge"),
            (rest - g.differentiable_edges - g.cut_edges, (False, False, False), "edge needing no gradient"),
            (g.cut_edges, (False, True, False), "✗ cut: no gradient passes")):
        if present:
            handles.append(Line2D([], [], label=label, **_edge_style(*style)))
    return handles


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
        members = info.get("members", [(info["label"], info["shape"])])
        label = "\\n".join(f"{name} {shape}" for name, shape in members).replace('"', "'")
        style = "filled,dashed" if ls == "--" else "filled"
        lines.append(f'  {ids[v]} [label="{label}", shape={shapes[info["kind"]]}, style="{style}", '
                     f'fillcolor="{face}", color="{edge}"];')
    for a, b in sorted(g.edges, key=lambda e: (ids[e[0]], ids[e[1]])):
        style = "" if (a, b) in g.differentiable_edges else (
            ' [style=dotted, color="#d00000"]' if (a, b) in g.cut_edges else " [style=dotted]")
        lines.append(f"  {ids[a]} -> {ids[b]}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
