"""explain(), draw() and to_dot(): where the gradient reaches, where it is cut, and the picture.

Each cut must be reported with the right op and the exact file:line of the test code that made it,
so the tests record the line of every cutting statement with inspect and compare."""

import inspect
import re

import matplotlib
import matplotlib.figure
import numpy as np
import pytest

import minigrad as mg
from minigrad.graph import _Graph, draw, explain, to_dot

matplotlib.use("Agg")

HERE = __file__


def previous_line():
    return f"{HERE}:{inspect.currentframe().f_back.f_lineno - 1}"


class TinyVAE(mg.nn.Module):
    """encoder x → h → (μ, log σ²); z from μ, σ; decoder z → Bernoulli logits."""

    def __init__(self, seed=0):
        self.encoder = mg.nn.MLP([6, 8, 4], dtype=np.float64, rng=seed)
        self.decoder = mg.nn.MLP([2, 8, 6], dtype=np.float64, rng=seed + 1)

    def encode(self, x):
        h = self.encoder(x)
        return h[:, :2], (0.5 * h[:, 2:]).exp()


def data(seed=0):
    rng = np.random.default_rng(seed)
    return mg.tensor(rng.random((5, 6))), rng.standard_normal((5, 2)), rng


def loss_of(model, z, x):
    return mg.functional.binary_cross_entropy_with_logits(model.decoder(z), x, reduction="sum")


def rows_by_prefix(explanation, prefix):
    return [r for r in explanation.rows if r["name"].startswith(prefix)]


def test_plain_mlp_every_parameter_reachable(capsys):
    model = mg.nn.MLP([3, 5, 2], dtype=np.float64, rng=0)
    out = model(mg.tensor(np.ones((4, 3)))).sum()
    e = explain(out, model)
    assert e.reachable() == [n for n, _ in model.named_parameters()] and e.cut() == []
    printed = capsys.readouterr().out
    assert "parameter" in printed and "0.weight" in printed and "reaches" in printed


def test_reparameterized_vae_every_parameter_reachable():
    model = TinyVAE()
    x, eps, _ = data()
    mu, sigma = model.encode(x)
    loss = loss_of(model, mg.GaussianReparam.apply(mu, sigma, eps), x)
    e = explain(loss, model, show=False)
    assert e.cut() == [] and len(e.reachable()) == len(model.parameters())


def test_direct_sampling_cuts_every_encoder_parameter_at_the_sampling_node():
    model = TinyVAE()
    x, _, rng = data()
    mu, sigma = model.encode(x)
    z = mg.DirectGaussianSample.apply(mu, sigma, rng)
    site = previous_line()
    e = explain(loss_of(model, z, x), model, show=False)
    encoder_rows = rows_by_prefix(e, "encoder.")
    assert encoder_rows and all(not r["reachable"] for r in encoder_rows)
    for r in encoder_rows:
        assert r["op"] == "DirectGaussianSample" and r["site"] == site, r
    assert all(r["reachable"] for r in rows_by_prefix(e, "decoder."))
    assert "DirectGaussianSample" in str(e) and site in str(e)


def test_detach_is_named_with_its_line():
    model = TinyVAE()
    x, eps, _ = data()
    mu, sigma = model.encode(x)
    z = mg.GaussianReparam.apply(mu.detach(), sigma, eps)
    site = previous_line()
    e = explain(loss_of(model, z, x), model, show=False)
    # μ is cut by detach, but σ still carries a path to every encoder parameter
    assert e.cut() == []
    z = mu.detach() * 2.0
    site = previous_line()
    e = explain(loss_of(model, z, x), model, show=False)
    for r in rows_by_prefix(e, "encoder."):
        assert not r["reachable"] and r["op"] == "detach" and r["site"] == site, r


def test_no_grad_region_is_named_with_its_line():
    """The site of a no_grad cut is the `with no_grad()` that opened the region (recorded once per
    region, not per op); under detect_anomaly, the line of the op itself."""
    model = TinyVAE()
    x, eps, _ = data()
    with mg.no_grad():
        site = previous_line()
        h = model.encoder(x)
    z = h[:, :2] * 1.0
    e = explain(loss_of(model, z, x), model, show=False)
    for r in rows_by_prefix(e, "encoder."):
        assert not r["reachable"] and r["site"] == site and "no_grad" in r["cut_by"], r
    assert all(r["reachable"] for r in rows_by_prefix(e, "decoder."))
    with mg.no_grad(), mg.detect_anomaly():
        h = model.encoder(x)
        site = previous_line()
    e = explain(loss_of(model, h[:, :2] * 1.0, x), model, show=False)
    for r in rows_by_prefix(e, "encoder."):
        assert not r["reachable"] and r["site"] == site and "no_grad" in r["cut_by"], r


def test_a_decorated_no_grad_function_is_a_region_too():
    model = TinyVAE()
    x, eps, _ = data()

    @mg.no_grad
    def encode(x):
        return model.encoder(x)

    h = encode(x)
    site = previous_line()
    e = explain(loss_of(model, h[:, :2] * 1.0, x), model, show=False)
    for r in rows_by_prefix(e, "encoder."):
        assert not r["reachable"] and r["site"] == site and "no_grad" in r["cut_by"], r


def test_a_cut_keeps_only_its_direct_sources_and_explain_walks_them_later():
    """detach() and ops under no_grad are O(1): their marker keeps the node (or leaf) each input came
    from, not the set of leaves upstream (which once cost a walk of the whole graph per detach)."""
    w = mg.tensor(np.ones(2), requires_grad=True)
    x = w
    for _ in range(1000):
        x = x * 1.0
    d = x.detach()
    assert d._node.kind == "detach" and d._node.sources == (x._node,)
    with mg.no_grad():
        n = x * w
    assert n._node.kind == "no_grad" and n._node.sources == [x._node, w]
    carried = d * 2.0
    assert carried._node.kind is None and carried._node.sources == [d._node]
    for out, op in ((d, "detach"), (n, "Mul"), (carried, "detach")):
        row = explain((out * mg.tensor(np.ones(2), requires_grad=True)).sum(), {"w": w}, show=False)["w"]
        assert not row["reachable"] and row["op"] == op, row


def test_unused_and_frozen_parameters():
    w = mg.tensor(np.ones(3), requires_grad=True)
    unused = mg.tensor(np.ones(3), requires_grad=True)
    frozen = mg.tensor(np.ones(3))
    out = (w * frozen).sum()
    e = explain(out, {"w": w, "unused": unused, "frozen": frozen}, show=False)
    assert e["w"]["reachable"]
    assert not e["unused"]["reachable"] and "not used" in e["unused"]["cut_by"]
    assert not e["frozen"]["reachable"] and "requires_grad=False" in e["frozen"]["cut_by"]


def test_where_condition_and_list_params():
    a = mg.tensor(np.arange(4.0), requires_grad=True)
    b = mg.tensor(np.ones(4), requires_grad=True)
    out = mg.where(a.data > 1, a, b * 2).sum()
    e = explain(out, [a, b], show=False)
    assert e.reachable() == ["param[0]", "param[1]"]


def test_explain_after_backward_says_the_graph_was_released():
    model = TinyVAE()
    x, eps, _ = data()
    mu, sigma = model.encode(x)
    loss = loss_of(model, mg.GaussianReparam.apply(mu, sigma, eps), x)
    loss.backward()
    with pytest.raises(RuntimeError, match="released by backward"):
        explain(loss, model, show=False)


def test_explain_rejects_non_tensor_output():
    with pytest.raises(TypeError, match="explain: output must be a Tensor"):
        explain(np.ones(3), [])


def graphs():
    """A fresh model per graph: draw(groups=...) collapses the nodes of a module's most recent call."""
    x, eps, rng = data()
    out = {}
    for mode in ("direct", "reparam"):
        model = TinyVAE()
        mu, sigma = model.encode(x)
        z = (mg.DirectGaussianSample.apply(mu, sigma, rng) if mode == "direct"
             else mg.GaussianReparam.apply(mu, sigma, eps))
        out[mode] = (loss_of(model, z, x), model, eps, x)
    return out


def test_highlighted_backward_path_exists_only_with_reparameterization():
    for mode, expect_path in (("reparam", True), ("direct", False)):
        loss, model, eps, x = graphs()[mode]
        g = _Graph(loss, model)
        key = g.param_keys["encoder.0.weight"]
        path = g.path_from(key)
        assert bool(path) == expect_path, mode
        if expect_path:                       # the path ends at the output and starts at the parameter
            assert any(a == key for a, _ in path) and any(b == g.output for _, b in path)
        assert bool(g.path_from(g.param_keys["decoder.0.weight"]))


def test_draw_writes_a_png_of_the_figure_size(tmp_path):
    loss, model, eps, x = graphs()["reparam"]
    path = tmp_path / "graph.png"
    fig = draw(loss, path, params=model, labels={"ε": eps, "x": x}, highlight="encoder.0.weight", dpi=80)
    image = matplotlib.image.imread(path)
    width, height = fig.get_size_inches() * 80
    assert abs(image.shape[0] - height) <= 1 and abs(image.shape[1] - width) <= 1     # pixels are truncated
    assert image.shape[1] > image.shape[0] > 50          # a left-to-right graph, not an empty canvas


def test_draw_groups_modules_into_boxes_and_marks_the_sampling_node(tmp_path):
    loss, model, eps, x = graphs()["direct"]
    g = _Graph(loss, model, groups={"encoder": model.encoder, "decoder": model.decoder})
    labels = {v["label"] for v in g.vertices.values()}
    assert {"encoder", "decoder"} <= labels
    assert "Linear" not in labels and "Tanh" not in labels        # collapsed inside the groups
    kinds = [v["kind"] for v in g.vertices.values() if v["label"] == "DirectGaussianSample"]
    assert kinds == ["stochastic"] and len(g.cut_edges) == 2       # μ and σ cut at the sampler
    fig = draw(loss, tmp_path / "g.png", params=model, groups={"encoder": model.encoder, "decoder": model.decoder})
    assert (tmp_path / "g.png").stat().st_size > 1000 and fig.axes


def test_draw_rejects_an_unknown_highlight():
    loss, model, eps, x = graphs()["reparam"]
    with pytest.raises(ValueError, match="not a named parameter"):
        draw(loss, params=model, highlight="nope")


def test_to_dot_is_well_formed():
    loss, model, eps, x = graphs()["direct"]
    dot = to_dot(loss, params=model, labels={"ε": eps})
    assert dot.startswith("digraph minigrad {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}") == 1
    declared = set(re.findall(r"^\s+(n\d+) \[label=", dot, flags=re.M))
    edges = re.findall(r"^\s+(n\d+) -> (n\d+)", dot, flags=re.M)
    assert edges and all(a in declared and b in declared for a, b in edges)
    assert all(line.strip().endswith(";") for line in dot.splitlines()[1:-1])
    assert "DirectGaussianSample" in dot and 'color="#d00000"' in dot       # the cut edges are red
    g = _Graph(loss, model)
    assert len(declared) == len(g.vertices) and len(edges) == len(g.edges)


def test_a_cut_is_carried_through_ops_on_constants():
    """z from the sampler enters an op with no input requiring grad (z * 2) before the decoder: the
    encoder parameters must still be reported as cut at the sampling node, not as unused."""
    model = TinyVAE()
    x, _, rng = data()
    mu, sigma = model.encode(x)
    z = mg.DirectGaussianSample.apply(mu, sigma, rng)
    site = previous_line()
    e = explain(loss_of(model, z * 2.0, x), model, show=False)
    for r in rows_by_prefix(e, "encoder."):
        assert not r["reachable"] and r["op"] == "DirectGaussianSample" and r["site"] == site, r
    with pytest.raises(RuntimeError, match=f"DirectGaussianSample, which passes no gradient, at {site}"):
        (z * 2.0).sum().backward()


def test_gradient_flow_doc_runs():
    import pathlib
    doc = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "gradient-flow.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert len(blocks) == 3
    namespace = {}
    for block in blocks:                      # the blocks build on each other, like a session
        exec(compile(block, "docs/gradient-flow.md", "exec"), namespace)


def test_lecture_figures_show_the_cut_and_the_path(tmp_path):
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "docs" / "figures.py"
    spec = importlib.util.spec_from_file_location("docs_figures", path)
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    paths, tables = figures.figures(str(tmp_path), dpi=40)
    for png in paths.values():
        image = matplotlib.image.imread(png)
        assert image.shape[1] > image.shape[0] > 50
    direct = [line for line in tables["direct_sampling"].splitlines() if line.startswith(("encoder.", "enc_"))]
    assert direct and all("NONE" in line and "DirectGaussianSample" in line for line in direct)
    assert "NONE" not in tables["reparameterized"]


def lecture_graph(mode):
    """The graph docs/figures.py draws: a vae.VAE, the reconstruction term, its modules and loss grouped."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "docs" / "figures.py"
    spec = importlib.util.spec_from_file_location("docs_figures", path)
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    from vae.model import VAE

    rng = np.random.default_rng(0)
    x, eps = (rng.random((8, 64)) < 0.3).astype(np.float64), rng.standard_normal((8, 2))
    model = VAE(64, hidden_dims=(16,), latent_dim=2, dtype=np.float64, rng=1)
    sample = ((lambda mu, sigma: mg.DirectGaussianSample.apply(mu, sigma, rng)) if mode == "direct"
              else (lambda mu, sigma: mg.GaussianReparam.apply(mu, sigma, eps)))
    loss, logits, tensors = figures.negative_reconstruction(model, x, sample)
    groups = {"encoder φ": model.encoder, "decoder θ": model.decoder, "loss": (logits, loss)}
    return _Graph(loss, model, {"x": x, "ε": eps, **tensors}, groups), model


def crosses(segment, box):
    """Whether the segment enters the open rectangle (x, y, w, h) (centred): Liang–Barsky clipping."""
    (xa, ya), (xb, yb) = segment
    x, y, w, h = box
    lo, hi = 0.0, 1.0
    for p, q in ((-(xb - xa), xa - (x - w / 2)), (xb - xa, (x + w / 2) - xa),
                 (-(yb - ya), ya - (y - h / 2)), (yb - ya, (y + h / 2) - ya)):
        if p == 0:
            if q <= 1e-9:
                return False
        elif p < 0:
            lo = max(lo, q / p)
        else:
            hi = min(hi, q / p)
    return hi - lo > 1e-9


def test_every_parameter_of_the_lecture_graphs_is_in_a_box():
    """Grouped modules used to hide their parameters (encoder.0.bias was nowhere): now the parameters
    feeding a box are listed together in one."""
    for mode in ("direct", "reparam"):
        g, model = lecture_graph(mode)
        shown = [name for v in g.vertices.values() for name, _ in v.get("members", [(v["label"], v["shape"])])]
        missing = [name for name, _ in model.named_parameters() if name not in shown]
        assert not missing, (mode, missing)
        assert g.vertices[g.param_keys["encoder.0.bias"]] is g.vertices[g.param_keys["encoder.0.weight"]]
        assert g.param_keys["enc_mu.weight"] != g.param_keys["encoder.0.weight"]


@pytest.mark.parametrize("mode", ["direct", "reparam"])
def test_no_edge_crosses_a_box_and_no_boxes_overlap(mode):
    """The x edge to the loss spans the whole graph: it must go round the boxes, through waypoints."""
    loss, model, eps, x = graphs()[mode]
    cases = [lecture_graph(mode)[0], _Graph(loss, model, {"ε": eps, "x": x}),
             _Graph(loss, model, {"x": x}, {"encoder": model.encoder, "decoder": model.decoder})]
    for g in cases:
        boxes, routes = g.geometry()
        assert set(routes) == g.edges and len(boxes) == len(g.vertices)
        assert any(len(points) > 2 for points in routes.values())     # at least one edge is routed round
        for (a, b), points in routes.items():
            for segment in zip(points, points[1:]):
                hit = [v for v, box in boxes.items() if v not in (a, b) and crosses(segment, box)]
                assert not hit, (g.vertices[a]["label"], g.vertices[b]["label"], [g.vertices[v]["label"] for v in hit])
        items = list(boxes.values())
        for i, (x0, y0, w0, h0) in enumerate(items):
            for x1, y1, w1, h1 in items[i + 1:]:
                assert abs(x0 - x1) >= (w0 + w1) / 2 or abs(y0 - y1) >= (h0 + h1) / 2


def test_draw_leaves_the_backend_alone_and_no_figure_open(tmp_path):
    """Issue 15 item 12: 26 calls used to switch the backend to Agg and leave 26 pyplot figures open."""
    import matplotlib.pyplot as plt

    w = mg.tensor(np.ones(3), requires_grad=True)
    out = (w * np.arange(3.0)).sum()
    plt.close("all")
    matplotlib.use("pdf")                      # a non-interactive backend that is not Agg
    try:
        for i in range(26):
            fig = draw(out, tmp_path / f"g{i}.png" if i % 2 else None, params={"w": w}, dpi=30)
            assert isinstance(fig, matplotlib.figure.Figure)
        assert matplotlib.get_backend() == "pdf"
        assert plt.get_fignums() == []
        assert (tmp_path / "g25.png").stat().st_size > 500
    finally:
        matplotlib.use("Agg")


class _PassesOnlySecond(mg.Function):
    """out = a + b, differentiable in b only: a parameter entering as `a` is cut here."""

    nondifferentiable = (0,)

    def forward(ctx, a, b):
        return a + b

    def backward(ctx, g):
        return None, g


def test_the_nearest_of_two_cuts_on_one_path_is_named():
    """Two cuts on the path from w to the output (each node still requires grad through its other input):
    explain names the one nearest to the output, the first a backward pass from the output meets."""
    w = mg.tensor(np.ones(3), requires_grad=True)
    q1 = mg.tensor(np.ones(3), requires_grad=True)
    q2 = mg.tensor(np.ones(3), requires_grad=True)
    inner = _PassesOnlySecond.apply(w, q1)
    inner_site = previous_line()
    outer = _PassesOnlySecond.apply(inner * 2.0, q2)
    outer_site = previous_line()
    e = explain(outer.sum(), {"w": w, "q1": q1, "q2": q2}, show=False)
    assert e.cut() == ["w", "q1"] and e.reachable() == ["q2"]
    for name in ("w", "q1"):
        assert e[name]["op"] == "_PassesOnlySecond" and e[name]["site"] == outer_site != inner_site, e[name]


def test_a_pair_of_tensors_groups_the_ops_between_and_bad_groups_are_refused():
    g, _ = lecture_graph("reparam")
    labels = {v["label"] for v in g.vertices.values()}
    assert "loss" in labels and not labels & {"BinaryCrossEntropyWithLogits", "Sum", "Mean", "Neg"}
    assert g.vertices[g.output]["label"] == "loss"
    loss, model, eps, x = graphs()["reparam"]
    with pytest.raises(ValueError, match=r"groups\['idle'\] must be a Module that has been called"):
        _Graph(loss, model, groups={"idle": mg.nn.Linear(2, 2, dtype=np.float64, rng=0)})
    with pytest.raises(ValueError, match=r"groups\['pair'\] = \(first, last\) must be two tensors"):
        draw(loss, params=model, groups={"pair": (x, loss)})


def test_draw_saves_atomically_and_never_over_a_file_unasked(tmp_path, monkeypatch):
    """An existing file is refused (FileExistsError naming it, the file untouched) unless overwrite=True;
    a save that fails half-way leaves the old file as it was and no temporary file behind."""
    w = mg.tensor(np.ones(3), requires_grad=True)
    out = (w * np.arange(3.0)).sum()
    path = tmp_path / "g.png"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="g.png.*overwrite=True"):
        draw(out, path, params={"w": w}, dpi=30)
    assert path.read_bytes() == b"keep me"

    def broken_savefig(self, f, **kwargs):
        f.write(b"half a png")
        raise OSError("disk full")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        draw(out, path, params={"w": w}, dpi=30, overwrite=True)
    assert path.read_bytes() == b"keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]
    monkeypatch.undo()
    draw(out, path, params={"w": w}, dpi=30, overwrite=True)
    assert path.read_bytes().startswith(b"\x89PNG") and oct(path.stat().st_mode & 0o777) != oct(0o600)
