"""One training step of the Kingma–Welling VAE in each framework, from the same weights, data and ε.

The model: encoder x (784) → tanh(400) → (μ, log σ²) (20 each); z = μ + σ ⊙ ε with ε ~ N(0, I) drawn
beforehand (outside every graph, so all frameworks see the same numbers); decoder z → tanh(400) →
Bernoulli logits (784). Loss = mean over the batch of −ELBO = Σ BCE-with-logits(logits, x)
+ ½ Σ (μ² + σ² − 1 − log σ²). One step = forward, backward, Adam (lr 1e-3, β = (0.9, 0.999), ε = 1e-8).

`make_problem` draws the shared inputs; `FRAMEWORKS[name](problem)` returns `step(i) -> loss` that runs
step i with ε[i mod K]; `GRADIENTS[name](problem)` returns (loss, {weight name: gradient}) at the initial
weights and ε[0], to check that every framework computes the same thing. Optional peers (torch, jax,
autograd) are imported only inside their builders.
"""

import time

import numpy as np

from benchmarks.common import NumpyAdam
from minigrad.ops import kernels  # the same NumPy kernels: the comparison is of the engines

SIZES = {"input": 784, "hidden": 400, "latent": 20}
LAYERS = ("encoder.0", "enc_mu", "enc_logvar", "decoder.0", "decoder.2")
LR, BETAS, ADAM_EPS = 1e-3, (0.9, 0.999), 1e-8


def make_problem(batch, dtype, seed=0, n_eps=8):
    """Weights (name → array, PyTorch layout: W is out × in) as the minigrad VAE initializes them, binary
    data x (batch × 784), and n_eps draws of ε (n_eps × batch × 20)."""
    from vae.model import VAE
    dtype = np.dtype(dtype)
    model = VAE(SIZES["input"], (SIZES["hidden"],), SIZES["latent"], dtype=dtype, rng=seed)
    rng = np.random.default_rng(seed + 1)
    x = (rng.random((batch, SIZES["input"])) < 0.3).astype(dtype)
    eps = rng.standard_normal((n_eps, batch, SIZES["latent"])).astype(dtype)
    return {"weights": model.state_dict(), "x": x, "eps": eps, "dtype": dtype}


# ----------------------------------------------------------------------------------------------
# minigrad


def make_minigrad(problem):
    import minigrad as mg
    from vae.model import VAE
    model = VAE(SIZES["input"], (SIZES["hidden"],), SIZES["latent"], dtype=problem["dtype"], rng=0)
    model.load_state_dict(problem["weights"])
    opt = mg.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=ADAM_EPS)
    x, eps = problem["x"], problem["eps"]

    def step(i, marks=None):
        opt.zero_grad()
        loss = -model.elbo(x, eps=eps[i % len(eps)]).elbo.mean()
        loss.backward()
        _mark(marks)
        opt.step()
        return loss.item()
    return step


# ----------------------------------------------------------------------------------------------
# hand-written NumPy: fused bias adds, in-place activations, derivatives from saved outputs, Adam in
# place with one scratch buffer per parameter — the reference a competent person would write


NAMES = [f"{layer}.{kind}" for layer in LAYERS for kind in ("weight", "bias")]


def numpy_loss_and_grads(w, x, eps):
    """The loss and its gradient for every weight, derived by hand (1/B of the mean folded into the first
    gradient; tanh' = 1 − h² from the saved activations; the KL's ∂/∂μ = μ, ∂/∂ log σ² = ½(σ² − 1))."""
    B = len(x)

    def linear(inp, layer):
        out = inp @ w[f"{layer}.weight"].T
        out += w[f"{layer}.bias"]
        return out

    h = linear(x, "encoder.0")
    np.tanh(h, out=h)
    mu, logvar = linear(h, "enc_mu"), linear(h, "enc_logvar")
    sigma = np.exp(0.5 * logvar)
    z = sigma * eps
    z += mu
    hd = linear(z, "decoder.0")
    np.tanh(hd, out=hd)
    logits = linear(hd, "decoder.2")
    bce = kernels.softplus(logits)
    bce -= x * logits
    var = sigma * sigma
    kl = 0.5 * (mu * mu + var - 1.0 - logvar).sum()
    loss = (bce.sum() + kl) / B
    d_logits = kernels.sigmoid(logits)
    d_logits -= x
    d_logits *= 1.0 / B
    g = {"decoder.2.weight": d_logits.T @ hd, "decoder.2.bias": d_logits.sum(axis=0)}
    d_hd = d_logits @ w["decoder.2.weight"]
    hd *= hd
    np.subtract(1, hd, out=hd)
    d_hd *= hd
    g["decoder.0.weight"], g["decoder.0.bias"] = d_hd.T @ z, d_hd.sum(axis=0)
    d_z = d_hd @ w["decoder.0.weight"]
    d_mu = mu * (1.0 / B)
    d_mu += d_z
    d_logvar = d_z * eps                      # ∂/∂σ of the reconstruction …
    d_logvar *= sigma                         # … times ∂σ/∂ log σ² = σ/2, with the KL's ½(σ² − 1)
    var -= 1.0
    var *= 1.0 / B
    d_logvar += var
    d_logvar *= 0.5
    g["enc_mu.weight"], g["enc_mu.bias"] = d_mu.T @ h, d_mu.sum(axis=0)
    g["enc_logvar.weight"], g["enc_logvar.bias"] = d_logvar.T @ h, d_logvar.sum(axis=0)
    d_h = d_mu @ w["enc_mu.weight"]
    d_h += d_logvar @ w["enc_logvar.weight"]
    h *= h
    np.subtract(1, h, out=h)
    d_h *= h
    g["encoder.0.weight"], g["encoder.0.bias"] = d_h.T @ x, d_h.sum(axis=0)
    return float(loss), g


def make_numpy(problem):
    w = {k: v.copy() for k, v in problem["weights"].items()}
    adam = NumpyAdam([w[n] for n in NAMES], LR, BETAS, ADAM_EPS)
    x, eps_all = problem["x"], problem["eps"]

    def step(i, marks=None):
        loss, g = numpy_loss_and_grads(w, x, eps_all[i % len(eps_all)])
        _mark(marks)
        adam.step([g[n] for n in NAMES])
        return loss
    return step


def grads_numpy(problem):
    return numpy_loss_and_grads({k: v.copy() for k, v in problem["weights"].items()}, problem["x"],
                                problem["eps"][0])


def grads_minigrad(problem):
    from vae.model import VAE
    model = VAE(SIZES["input"], (SIZES["hidden"],), SIZES["latent"], dtype=problem["dtype"], rng=0)
    model.load_state_dict(problem["weights"])
    loss = -model.elbo(problem["x"], eps=problem["eps"][0]).elbo.mean()
    loss.backward()
    return loss.item(), {n: p.grad for n, p in model.named_parameters()}


# ----------------------------------------------------------------------------------------------
# peers (optional)


def _torch_setup(problem):
    import torch
    torch.set_num_threads(2)
    dtype = {np.float32: torch.float32, np.float64: torch.float64}[problem["dtype"].type]
    w = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in problem["weights"].items()}
    x = torch.tensor(problem["x"], dtype=dtype)
    eps_all = [torch.tensor(e, dtype=dtype) for e in problem["eps"]]
    F = torch.nn.functional

    def lin(inp, layer):
        return F.linear(inp, w[f"{layer}.weight"], w[f"{layer}.bias"])

    def loss_fn(eps):
        h = torch.tanh(lin(x, "encoder.0"))
        mu, logvar = lin(h, "enc_mu"), lin(h, "enc_logvar")
        sigma = torch.exp(0.5 * logvar)
        z = mu + sigma * eps
        logits = lin(torch.tanh(lin(z, "decoder.0")), "decoder.2")
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = 0.5 * (mu * mu + sigma * sigma - 1.0 - logvar).sum(-1)
        return (rec + kl).mean()
    return torch, w, eps_all, loss_fn


def make_torch(problem):
    torch, w, eps_all, loss_fn = _torch_setup(problem)
    opt = torch.optim.Adam(list(w.values()), lr=LR, betas=BETAS, eps=ADAM_EPS)

    def step(i, marks=None):
        opt.zero_grad()
        loss = loss_fn(eps_all[i % len(eps_all)])
        loss.backward()
        _mark(marks)
        opt.step()
        return loss.item()
    return step


def grads_torch(problem):
    torch, w, eps_all, loss_fn = _torch_setup(problem)
    loss = loss_fn(eps_all[0])
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in w.items()}


def _adam_tree(jnp_or_np):
    def update(params, grads, state, t):
        b1, b2 = BETAS
        new_params, new_state = {}, {}
        for k in params:
            m, v = state[k]
            m = b1 * m + (1 - b1) * grads[k]
            v = b2 * v + (1 - b2) * grads[k] * grads[k]
            denom = jnp_or_np.sqrt(v) / jnp_or_np.sqrt(1 - b2 ** t) + ADAM_EPS
            new_params[k] = params[k] - (LR / (1 - b1 ** t)) * m / denom
            new_state[k] = (m, v)
        return new_params, new_state
    return update


def _loss_fn(xp, logaddexp):
    def loss(params, x, eps):
        def lin(inp, layer):
            return inp @ params[f"{layer}.weight"].T + params[f"{layer}.bias"]
        h = xp.tanh(lin(x, "encoder.0"))
        mu, logvar = lin(h, "enc_mu"), lin(h, "enc_logvar")
        sigma = xp.exp(0.5 * logvar)
        z = mu + sigma * eps
        logits = lin(xp.tanh(lin(z, "decoder.0")), "decoder.2")
        rec = (logaddexp(0.0, logits) - x * logits).sum(-1)
        kl = 0.5 * (mu * mu + sigma * sigma - 1.0 - logvar).sum(-1)
        return (rec + kl).mean()
    return loss


def make_jax(problem):
    import jax
    if problem["dtype"] == np.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    params = {k: jnp.asarray(v) for k, v in problem["weights"].items()}
    state = {k: (jnp.zeros_like(v), jnp.zeros_like(v)) for k, v in params.items()}
    loss = _loss_fn(jnp, jnp.logaddexp)
    update = _adam_tree(jnp)

    @jax.jit
    def train_step(params, state, x, eps, t):
        value, grads = jax.value_and_grad(loss)(params, x, eps)
        params, state = update(params, grads, state, t)
        return params, state, value

    x = jnp.asarray(problem["x"])
    eps_all = [jnp.asarray(e) for e in problem["eps"]]
    box = {"params": params, "state": state, "t": 0}

    def step(i):
        box["t"] += 1
        t = jnp.asarray(box["t"], dtype=problem["dtype"])
        box["params"], box["state"], value = train_step(box["params"], box["state"], x, eps_all[i % len(eps_all)], t)
        return float(value)               # blocks until the step is done
    return step


def grads_jax(problem):
    import jax
    if problem["dtype"] == np.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    params = {k: jnp.asarray(v) for k, v in problem["weights"].items()}
    value, grads = jax.value_and_grad(_loss_fn(jnp, jnp.logaddexp))(params, jnp.asarray(problem["x"]),
                                                                     jnp.asarray(problem["eps"][0]))
    return float(value), {k: np.asarray(v) for k, v in grads.items()}


def grads_autograd(problem):
    import autograd
    import autograd.numpy as anp
    value, grads = autograd.value_and_grad(_loss_fn(anp, anp.logaddexp))(
        {k: v.copy() for k, v in problem["weights"].items()}, problem["x"], problem["eps"][0])
    return float(value), grads


def make_autograd(problem):
    import autograd
    import autograd.numpy as anp
    params = {k: v.copy() for k, v in problem["weights"].items()}
    state = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    grad_and_value = autograd.value_and_grad(_loss_fn(anp, anp.logaddexp))
    update = _adam_tree(np)
    box = {"params": params, "state": state, "t": 0}
    x, eps_all = problem["x"], problem["eps"]

    def step(i, marks=None):
        box["t"] += 1
        value, grads = grad_and_value(box["params"], x, eps_all[i % len(eps_all)])
        _mark(marks)
        box["params"], box["state"] = update(box["params"], grads, box["state"], box["t"])
        return float(value)
    return step


def _mark(marks):
    """Where the gradients are done and the optimizer starts, for the profile (`marks`: a list, or None
    in the timed steps)."""
    if marks is not None:
        marks.append(time.perf_counter())


def five_products(name, problem):
    """A function that runs the step's five large matrix products — encoder and decoder forward, the
    decoder's input gradient, both large weight gradients — with `name`'s own matmul (NumPy's for every
    framework but torch), writing into preallocated arrays where the framework allows: the floor
    under that framework's step."""
    B, n_in, n_hid = len(problem["x"]), SIZES["input"], SIZES["hidden"]
    rng = np.random.default_rng(0)
    x, h, g_out, g_hid = (rng.random(shape).astype(problem["dtype"]) for shape in
                          [(B, n_in), (B, n_hid), (B, n_in), (B, n_hid)])
    w_enc, w_dec = problem["weights"]["encoder.0.weight"], problem["weights"]["decoder.2.weight"]
    products = [(x, w_enc.T), (h, w_dec.T), (g_out.T, h), (g_out, w_dec), (g_hid.T, x)]
    if name == "torch":                 # the same layouts (transposes are views in both)
        import torch
        torch.set_num_threads(2)
        products = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in products]
        return lambda: [a @ b for a, b in products]
    outs = [np.empty((a.shape[0], b.shape[1]), a.dtype) for a, b in products]
    return lambda: [np.matmul(a, b, out=o) for (a, b), o in zip(products, outs)]


FRAMEWORKS = {"minigrad": make_minigrad, "numpy": make_numpy, "torch": make_torch, "jax": make_jax,
              "autograd": make_autograd}
GRADIENTS = {"minigrad": grads_minigrad, "numpy": grads_numpy, "torch": grads_torch, "jax": grads_jax,
             "autograd": grads_autograd}


def max_relative_difference(a, b):
    """max over parameters of max|a − b| / max|b|: 0 for identical gradients, ≈ 1e-16 in float64 for
    the same computation done in another order."""
    (loss_a, ga), (loss_b, gb) = a, b
    diffs = [abs(loss_a - loss_b) / abs(loss_b)]
    diffs += [float(np.max(np.abs(np.asarray(ga[k]) - gb[k])) / max(np.max(np.abs(gb[k])), 1e-300)) for k in gb]
    return max(diffs)
