"""minigrad.optim: SGD and Adam against updates computed by hand in NumPy from PyTorch's documented
rules, skipping of parameters without a gradient, state dicts and exact resume, errors, buffer reuse,
dtype, and one small end-to-end fit.

Every random draw is seeded with numpy.random.default_rng(seed). Hand-computed references run in
float64 and are written the textbook way (bias-corrected m̂ and v̂), not the way optim.py
arranges the arithmetic, so they agree to rounding only: compared with rtol=1e-12, atol=1e-14
(parameters are O(1), each update O(lr))."""

import math
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim


def randn(seed, *shape, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


SHAPES = [(3, 4), (5,)]
STEPS = 6


def make_params(seed=0, dtype=np.float64):
    return [nn.Parameter(randn(seed + i, *s, dtype=dtype)) for i, s in enumerate(SHAPES)]


def grad_sequence(seed, shape, steps=STEPS):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


# ----------------------------------------------------------------------------------------------
# References, from the documented formulas (torch.optim.SGD / torch.optim.Adam, no nesterov,
# no dampening, no amsgrad). `grads` is one gradient per step, None meaning "no gradient this step".


def sgd_reference(theta, grads, lr, momentum=0.0, weight_decay=0.0):
    theta, buf = theta.astype(np.float64), None
    for g in grads:
        if g is None:
            continue
        d = g + weight_decay * theta
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + d
            d = buf
        theta = theta - lr * d
    return theta


def adam_reference(theta, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    theta = theta.astype(np.float64)
    b1, b2 = betas
    m = v = np.zeros_like(theta)
    t = 0
    for g in grads:
        if g is None:
            continue
        t += 1
        g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def run(optimizer, params, grads_per_param):
    """Feed the given gradients (copies, so the optimizer cannot alter our record) step by step."""
    for step in range(len(grads_per_param[0])):
        for p, grads in zip(params, grads_per_param):
            p.grad = None if grads[step] is None else grads[step].copy()
        optimizer.step()


SGD_CASES = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.1, weight_decay=0.01),
             dict(lr=0.05, momentum=0.8, weight_decay=0.1)]
ADAM_CASES = [dict(lr=1e-3), dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.05),
              dict(lr=0.1, betas=(0.5, 0.9), eps=0.1), dict(lr=3e-2, weight_decay=0.2),
              dict(lr=1e-2, betas=(0.0, 0.0))]


@pytest.mark.parametrize("hp", SGD_CASES, ids=str)
def test_sgd_matches_hand_computed_updates(hp):
    params = make_params()
    start = [p.data.copy() for p in params]
    grads = [grad_sequence(10 + i, p.shape) for i, p in enumerate(params)]
    run(optim.SGD(params, **hp), params, grads)
    for p, theta0, gs in zip(params, start, grads):
        np.testing.assert_allclose(p.data, sgd_reference(theta0, gs, **hp), rtol=1e-12, atol=1e-14)
        assert not np.allclose(p.data, theta0)           # it really moved


@pytest.mark.parametrize("hp", ADAM_CASES, ids=str)
def test_adam_matches_hand_computed_updates(hp):
    params = make_params()
    start = [p.data.copy() for p in params]
    grads = [grad_sequence(20 + i, p.shape) for i, p in enumerate(params)]
    run(optim.Adam(params, **hp), params, grads)
    for p, theta0, gs in zip(params, start, grads):
        np.testing.assert_allclose(p.data, adam_reference(theta0, gs, **hp), rtol=1e-12, atol=1e-14)
        assert not np.allclose(p.data, theta0)


def test_adam_first_step_is_lr_times_sign_of_gradient():
    """With bias correction, step 1 moves every element by lr·g/(|g| + ε) ≈ lr·sign(g) whatever |g| is:
    a check of the bias correction that does not depend on the reference above."""
    p = nn.Parameter(np.zeros(4))
    p.grad = np.array([1e-3, -2.0, 50.0, -1e4])
    optim.Adam([p], lr=0.01, eps=1e-12).step()
    np.testing.assert_allclose(p.data, -0.01 * np.sign(p.grad), rtol=1e-8)


def test_sgd_momentum_first_step_is_plain_sgd_then_accumulates():
    p = nn.Parameter(np.zeros(2))
    opt = optim.SGD([p], lr=1.0, momentum=0.5)
    p.grad = np.array([1.0, -1.0])
    opt.step()
    np.testing.assert_array_equal(p.data, [-1.0, 1.0])      # v₁ = g
    opt.step()
    np.testing.assert_array_equal(p.data, [-2.5, 2.5])      # v₂ = 0.5·v₁ + g = 1.5 g


# ----------------------------------------------------------------------------------------------
# Parameters without a gradient are skipped


@pytest.mark.parametrize("cls, hp, reference", [
    (optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1), sgd_reference),
    (optim.Adam, dict(lr=0.05, weight_decay=0.1), adam_reference),
])
def test_parameter_without_grad_is_skipped_not_treated_as_zero(cls, hp, reference):
    """q gets no gradient at steps 1–2 and 5, p none at step 4. With momentum/Adam moments and weight
    decay a zero gradient would still move a parameter; a skipped one must not move at all, its state
    must stay untouched, and Adam's step count t (bias correction) counts only its own updates."""
    p, q = make_params()
    opt = cls([p, q], **hp)
    p_grads = grad_sequence(1, p.shape)
    q_grads = grad_sequence(2, q.shape)
    p_grads[3] = None
    q_grads[0] = q_grads[1] = q_grads[4] = None
    p0, q0 = p.data.copy(), q.data.copy()
    for step in range(STEPS):
        p.grad = None if p_grads[step] is None else p_grads[step].copy()
        q.grad = None if q_grads[step] is None else q_grads[step].copy()
        p_before, q_before = p.data.copy(), q.data.copy()
        q_state_before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.state[1].items()}
        opt.step()
        if step < 2:
            np.testing.assert_array_equal(q.data, q0)
            assert opt.state[1] == {}                       # no state created for it yet
        if q_grads[step] is None and step >= 2:
            np.testing.assert_array_equal(q.data, q_before)
            assert opt.state[1].keys() == q_state_before.keys()
            for k, v in q_state_before.items():
                np.testing.assert_array_equal(opt.state[1][k], v)
        if p_grads[step] is None:
            np.testing.assert_array_equal(p.data, p_before)
    assert opt.state[0]["step"] == 5 and opt.state[1]["step"] == 3
    np.testing.assert_allclose(p.data, reference(p0, p_grads, **hp), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(q.data, reference(q0, q_grads, **hp), rtol=1e-12, atol=1e-14)


def test_zero_gradient_is_not_skipped():
    """The counterpart: an all-zero gradient is a gradient; weight decay still shrinks the parameter."""
    p = nn.Parameter(np.ones(3))
    p.grad = np.zeros(3)
    optim.SGD([p], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.data, np.full(3, 0.95), rtol=1e-15)


def test_zero_grad_clears_gradients_and_the_next_step_does_nothing():
    params = make_params()
    opt = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = np.ones(p.shape)
    opt.step()
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    after_one = [p.data.copy() for p in params]
    opt.step()
    for p, a in zip(params, after_one):
        np.testing.assert_array_equal(p.data, a)
    assert all(s["step"] == 1 for s in opt.state)


def test_step_does_not_modify_the_gradient():
    params = make_params()
    opt = optim.Adam(params, lr=0.1, weight_decay=0.3)
    grads = [randn(5 + i, *p.shape) for i, p in enumerate(params)]
    for p, g in zip(params, grads):
        p.grad = g.copy()
    opt.step()
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad, g)


def test_gradient_of_the_wrong_shape_is_a_clear_error():
    p = nn.Parameter(np.zeros(3))
    p.grad = np.zeros(2)
    with pytest.raises(ValueError, match=re.escape("SGD.step: gradient of shape (2,) for a parameter of shape (3,)")):
        optim.SGD([p], lr=0.1).step()


# ----------------------------------------------------------------------------------------------
# state_dict / load_state_dict / exact resume


def data_and_target():
    x = randn(100, 16, 3)
    return mg.tensor(x), mg.tensor(np.sin(x.sum(axis=1, keepdims=True)))


def train(model, opt, steps):
    x, y = data_and_target()
    for _ in range(steps):
        opt.zero_grad()
        mg.functional.mse_loss(model(x), y).backward()
        opt.step()


OPTIMIZERS = [(optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=1e-3)),
              (optim.Adam, dict(lr=1e-2, betas=(0.8, 0.95), weight_decay=1e-3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls, hp", OPTIMIZERS, ids=["SGD", "Adam"])
def test_exact_resume_from_state_dicts(cls, hp, dtype):
    """Train N=4 steps, save model and optimizer state, train M=5 more. A fresh model (other seed) and
    a fresh optimizer (other lr) loaded from the saved state and trained M steps end bit-identical."""
    model = nn.MLP([3, 8, 1], dtype=dtype, rng=0)
    opt = cls(model.parameters(), **hp)
    train(model, opt, 4)
    saved_model, saved_opt = model.state_dict(), opt.state_dict()
    train(model, opt, 5)

    fresh = nn.MLP([3, 8, 1], dtype=dtype, rng=123)
    fresh_opt = cls(fresh.parameters(), **{**hp, "lr": 0.5})
    fresh.load_state_dict(saved_model)
    fresh_opt.load_state_dict(saved_opt)
    assert fresh_opt.hyperparameters["lr"] == hp["lr"]
    train(fresh, fresh_opt, 5)
    for (name, p), q in zip(model.named_parameters(), fresh.parameters()):
        assert q.dtype == dtype
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    for s, t in zip(opt.state, fresh_opt.state):
        assert s["step"] == t["step"] == 9
        for k in cls.buffers:
            np.testing.assert_array_equal(s[k], t[k])


def test_resume_needs_the_optimizer_state():
    """The exact-resume test can fail: resuming with a fresh (empty) Adam state gives other numbers."""
    model = nn.MLP([3, 8, 1], dtype=np.float64, rng=0)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    train(model, opt, 4)
    saved_model = model.state_dict()
    train(model, opt, 3)
    fresh = nn.MLP([3, 8, 1], dtype=np.float64, rng=0)
    fresh.load_state_dict(saved_model)
    train(fresh, optim.Adam(fresh.parameters(), lr=1e-2), 3)
    assert not np.array_equal(model.parameters()[0].data, fresh.parameters()[0].data)


@pytest.mark.parametrize("cls, hp", OPTIMIZERS, ids=["SGD", "Adam"])
def test_state_dict_contents_and_round_trip(cls, hp):
    params = make_params() + [nn.Parameter(np.zeros(2))]    # the last never gets a gradient
    opt = cls(params, **hp)
    run(opt, params[:2], [grad_sequence(3, params[0].shape, 3), grad_sequence(4, params[1].shape, 3)])
    sd = opt.state_dict()
    assert sd["optimizer"] == cls.__name__
    assert sd["hyperparameters"] == opt.hyperparameters
    assert len(sd["state"]) == 3 and sd["state"][2] == {}
    for s, p in zip(sd["state"][:2], params):
        assert set(s) == {"step", *cls.buffers}               # the scratch buffer is not state
        assert s["step"] == 3
        assert all(s[k].shape == p.shape for k in cls.buffers)

    other = cls([nn.Parameter(np.zeros(p.shape)) for p in params], **hp)
    other.load_state_dict(sd)
    sd2 = other.state_dict()
    assert sd2["optimizer"] == sd["optimizer"] and sd2["hyperparameters"] == sd["hyperparameters"]
    for s, s2 in zip(sd["state"], sd2["state"]):
        assert s.keys() == s2.keys()
        for k in s:
            np.testing.assert_array_equal(s[k], s2[k])


@pytest.mark.parametrize("cls, hp", OPTIMIZERS, ids=["SGD", "Adam"])
def test_state_dict_is_a_copy_both_ways(cls, hp):
    params = make_params()
    opt = cls(params, **hp)
    run(opt, params, [grad_sequence(5, params[0].shape, 2), grad_sequence(6, params[1].shape, 2)])
    sd = opt.state_dict()
    for s, live in zip(sd["state"], opt.state):
        for k in cls.buffers:
            assert not np.shares_memory(s[k], live[k])
    snapshot = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in sd["state"]]
    run(opt, params, [grad_sequence(7, params[0].shape, 2), grad_sequence(8, params[1].shape, 2)])
    for s, snap in zip(sd["state"], snapshot):              # training on does not touch the saved dict
        assert s["step"] == snap["step"] == 2
        for k in cls.buffers:
            np.testing.assert_array_equal(s[k], snap[k])
    sd["hyperparameters"]["lr"] = 99.0
    assert opt.hyperparameters["lr"] == hp["lr"]

    other = cls(make_params(), **hp)
    other.load_state_dict(sd)
    for s in sd["state"]:                                   # nor does mutating it after loading
        for k in cls.buffers:
            s[k][...] = 1e6
    for live in other.state:
        for k in cls.buffers:
            assert not np.any(live[k] == 1e6)


def test_load_state_dict_wrong_optimizer_type():
    params = make_params()
    sgd = optim.SGD(params, lr=0.1)
    with pytest.raises(ValueError, match=re.escape("Adam.load_state_dict: the state dict is for 'SGD'")):
        optim.Adam(params).load_state_dict(sgd.state_dict())


def test_load_state_dict_wrong_number_of_parameters():
    params = make_params()
    sd = optim.Adam(params).state_dict()
    with pytest.raises(ValueError, match=re.escape("Adam.load_state_dict: the state dict has 2 parameters, "
                                                   "this optimizer has 1")):
        optim.Adam(params[:1]).load_state_dict(sd)


def test_load_state_dict_wrong_shapes_changes_nothing():
    params = make_params()
    opt = optim.Adam(params, lr=0.1)
    run(opt, params, [grad_sequence(1, (3, 4), 1), grad_sequence(2, (5,), 1)])
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = np.zeros((4, 3))
    sd["hyperparameters"]["lr"] = 0.5
    target_params = make_params(seed=9)
    target = optim.Adam(target_params, lr=0.1)
    run(target, target_params, [grad_sequence(3, (3, 4), 2), grad_sequence(4, (5,), 2)])
    before = target.state_dict()
    with pytest.raises(ValueError, match=re.escape("Adam.load_state_dict: exp_avg of parameter 0 has shape "
                                                   "(4, 3), the parameter has (3, 4)")):
        target.load_state_dict(sd)
    assert target.hyperparameters["lr"] == 0.1
    for s, b in zip(target.state, before["state"]):
        assert s["step"] == b["step"] == 2
        for k in optim.Adam.buffers:
            np.testing.assert_array_equal(s[k], b[k])


# ----------------------------------------------------------------------------------------------
# Constructor errors


def test_empty_parameter_list():
    for params in ([], iter([]), (p for p in [])):
        with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
            optim.SGD(params, lr=0.1)
    with pytest.raises(ValueError, match="Adam: got an empty parameter list"):
        optim.Adam(nn.Tanh().parameters())


def test_parameter_that_does_not_require_grad():
    with pytest.raises(TypeError, match="Adam: parameter 1 is not a tensor that requires grad"):
        optim.Adam([nn.Parameter(np.zeros(2)), mg.tensor(np.zeros(2))])
    with pytest.raises(TypeError, match="SGD: parameter 0 is not a tensor that requires grad"):
        optim.SGD([np.zeros(2)], lr=0.1)


def test_single_tensor_instead_of_a_list():
    with pytest.raises(TypeError, match="SGD: params must be an iterable of tensors, got a single Tensor"):
        optim.SGD(nn.Parameter(np.zeros((3, 2))), lr=0.1)


def test_non_leaf_tensor_cannot_be_optimized():
    p = nn.Parameter(np.ones(3))
    with pytest.raises(ValueError, match="Adam: parameter 1 is not a leaf tensor .*computed by Mul"):
        optim.Adam([p, p * 2.0])


def test_duplicate_parameter():
    p, q = make_params()
    with pytest.raises(ValueError, match="Adam: a parameter appears more than once"):
        optim.Adam([p, q, p])


@pytest.mark.parametrize("cls, kwargs, name", [
    (optim.SGD, dict(lr=-0.1), "lr"), (optim.SGD, dict(lr=0.1, momentum=-0.9), "momentum"),
    (optim.SGD, dict(lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (optim.Adam, dict(lr=-1e-3), "lr"), (optim.Adam, dict(eps=-1e-8), "eps"),
    (optim.Adam, dict(weight_decay=-0.1), "weight_decay"),
])
def test_negative_hyperparameters(cls, kwargs, name):
    with pytest.raises(ValueError, match=f"{cls.__name__}: {name} must be ≥ 0, got -"):
        cls(make_params(), **kwargs)


@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, 1.0), (-0.1, 0.999), (0.9, 1.5), (0.9,), (0.9, 0.99, 0.9)])
def test_bad_betas(betas):
    with pytest.raises(ValueError, match=re.escape(f"Adam: betas must be a pair of numbers in [0, 1), got {betas}")):
        optim.Adam(make_params(), betas=betas)


BAD_HYPERPARAMETERS = [
    # (optimizer, hyper-parameter, bad value, error type, what the message must say after "<where>: ")
    (optim.SGD, "lr", math.inf, ValueError, "lr must be finite, got inf"),
    (optim.SGD, "lr", math.nan, ValueError, "lr must be finite, got nan"),
    (optim.SGD, "lr", -5, ValueError, "lr must be ≥ 0, got -5"),
    (optim.SGD, "lr", "0.1", TypeError, "lr must be a real number, got '0.1' (str)"),
    (optim.SGD, "lr", None, TypeError, "lr must be a real number, got None (NoneType)"),
    (optim.SGD, "lr", True, TypeError, "lr must be a real number, got True (bool)"),
    (optim.SGD, "lr", np.array([0.1, 0.2]), TypeError, "lr must be a real number, got array([0.1, 0.2]) (ndarray)"),
    (optim.SGD, "momentum", -math.inf, ValueError, "momentum must be finite, got -inf"),
    (optim.SGD, "momentum", 1.5, ValueError, "momentum must be in [0, 1], got 1.5"),
    (optim.SGD, "weight_decay", math.nan, ValueError, "weight_decay must be finite, got nan"),
    (optim.SGD, "weight_decay", "0", TypeError, "weight_decay must be a real number, got '0' (str)"),
    (optim.Adam, "lr", math.inf, ValueError, "lr must be finite, got inf"),
    (optim.Adam, "lr", -5, ValueError, "lr must be ≥ 0, got -5"),
    (optim.Adam, "lr", "0.1", TypeError, "lr must be a real number, got '0.1' (str)"),
    (optim.Adam, "eps", math.nan, ValueError, "eps must be finite, got nan"),
    (optim.Adam, "eps", [1e-8], TypeError, "eps must be a real number, got [1e-08] (list)"),
    (optim.Adam, "weight_decay", math.inf, ValueError, "weight_decay must be finite, got inf"),
    (optim.Adam, "betas", (0.9, math.nan), ValueError, "betas must be finite, got nan"),
    (optim.Adam, "betas", ("0.9", 0.999), TypeError, "betas must be a real number, got '0.9' (str)"),
    (optim.Adam, "betas", 0.9, ValueError, "betas must be a pair of numbers in [0, 1), got 0.9"),
    (optim.Adam, "betas", (0.9, 1.0), ValueError, "betas must be a pair of numbers in [0, 1), got (0.9, 1.0)"),
]
GOOD = {optim.SGD: dict(lr=0.1, momentum=0.9, weight_decay=0.01), optim.Adam: dict(lr=1e-3, betas=(0.9, 0.999),
                                                                                 eps=1e-8, weight_decay=0.0)}


@pytest.mark.parametrize("cls, name, value, error, message", BAD_HYPERPARAMETERS,
                         ids=[f"{c.__name__}-{n}={v!r}" for c, n, v, _, _ in BAD_HYPERPARAMETERS])
def test_bad_hyperparameters_are_refused_by_the_constructor_naming_optimizer_parameter_and_value(
        cls, name, value, error, message):
    with pytest.raises(error, match="^" + re.escape(f"{cls.__name__}: {message}") + "$"):
        cls(make_params(), **{**GOOD[cls], name: value})


@pytest.mark.parametrize("cls, name, value, error, message", BAD_HYPERPARAMETERS,
                         ids=[f"{c.__name__}-{n}={v!r}" for c, n, v, _, _ in BAD_HYPERPARAMETERS])
def test_bad_hyperparameters_are_refused_by_load_state_dict_which_then_changes_nothing(
        cls, name, value, error, message):
    params = make_params()
    opt = cls(params, **GOOD[cls])
    run(opt, params, [grad_sequence(1, (3, 4), 2), grad_sequence(2, (5,), 2)])
    before = opt.state_dict()
    sd = opt.state_dict()
    sd["hyperparameters"][name] = value
    sd["state"][0]["step"] = 99
    with pytest.raises(error, match="^" + re.escape(f"{cls.__name__}.load_state_dict: {message}") + "$"):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["hyperparameters"] == before["hyperparameters"] and after["state"][0]["step"] == 2


def test_hyperparameters_become_plain_floats_and_load_state_dict_checks_the_names():
    opt = optim.Adam(make_params(), lr=np.float32(0.5), betas=[0, np.float64(0.5)], eps=1, weight_decay=0)
    assert opt.hyperparameters == dict(lr=0.5, betas=(0.0, 0.5), eps=1.0, weight_decay=0.0)
    assert all(type(v) is float for v in (opt.hyperparameters["lr"], *opt.hyperparameters["betas"]))
    assert optim.SGD(make_params(), lr=0).hyperparameters["lr"] == 0.0       # lr = 0 is allowed, as in PyTorch
    sd = opt.state_dict()
    sd["hyperparameters"]["lr2"] = sd["hyperparameters"].pop("lr")
    with pytest.raises(ValueError, match=re.escape("Adam.load_state_dict: the state dict has hyper-parameters "
                                                   "['betas', 'eps', 'lr2', 'weight_decay'], Adam has "
                                                   "['betas', 'eps', 'lr', 'weight_decay']")):
        opt.load_state_dict(sd)


# ----------------------------------------------------------------------------------------------
# Buffers: allocated once, reused, private to each optimizer


@pytest.mark.parametrize("cls, hp", OPTIMIZERS, ids=["SGD", "Adam"])
def test_no_new_state_arrays_after_the_first_step(cls, hp):
    params = make_params()
    data_arrays = [p.data for p in params]
    opt = cls(params, **hp)
    grads = [grad_sequence(1, params[0].shape), grad_sequence(2, params[1].shape)]
    for p, g in zip(params, grads):
        p.grad = g[0].copy()
    opt.step()
    first = [{k: v for k, v in s.items() if isinstance(v, np.ndarray)} for s in opt.state]
    assert all(set(f) == {*cls.buffers, "scratch"} for f in first)
    for step in range(1, STEPS):
        for p, g in zip(params, grads):
            p.grad = g[step].copy()
        opt.step()
        for s, f in zip(opt.state, first):
            assert {k for k, v in s.items() if isinstance(v, np.ndarray)} == set(f)
            assert all(s[k] is f[k] for k in f)              # the very same arrays, updated in place
    assert all(p.data is a for p, a in zip(params, data_arrays))   # parameters updated in place


@pytest.mark.parametrize("cls, hp", OPTIMIZERS, ids=["SGD", "Adam"])
def test_two_optimizers_fed_identical_gradients_agree_exactly(cls, hp):
    """Two optimizers stepped alternately on twin parameters: shared or stale scratch space would make
    them drift apart."""
    a, b = make_params(), make_params()
    opt_a, opt_b = cls(a, **hp), cls(b, **hp)
    grads = [grad_sequence(1, a[0].shape), grad_sequence(2, a[1].shape)]
    for step in range(STEPS):
        for pa, pb, g in zip(a, b, grads):
            pa.grad, pb.grad = g[step].copy(), g[step].copy()
        opt_a.step()
        opt_b.step()
        for pa, pb in zip(a, b):
            np.testing.assert_array_equal(pa.data, pb.data)
    assert all(sa[k] is not sb[k] for sa, sb in zip(opt_a.state, opt_b.state) for k in (*cls.buffers, "scratch"))


@pytest.mark.parametrize("cls, hp", OPTIMIZERS, ids=["SGD", "Adam"])
def test_float32_parameters_stay_float32(cls, hp):
    """Five steps in float32 stay float32 (data, buffers) and track the float64 reference to rtol 1e-4."""
    params = make_params(dtype=np.float32)
    start = [p.data.copy() for p in params]
    grads = [[g.astype(np.float32) for g in grad_sequence(30 + i, p.shape, 5)] for i, p in enumerate(params)]
    opt = cls(params, **hp)
    run(opt, params, grads)
    reference = sgd_reference if cls is optim.SGD else adam_reference
    for p, s, theta0, gs in zip(params, opt.state, start, grads):
        assert p.dtype == np.float32
        assert all(s[k].dtype == np.float32 for k in (*cls.buffers, "scratch"))
        np.testing.assert_allclose(p.data, reference(theta0, [g.astype(np.float64) for g in gs], **hp),
                                   rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# End to end


def test_mlp_trained_with_adam_fits_a_small_regression():
    """y = sin(2x₁) + x₂² on 64 points in [−1.5, 1.5]², MLP 2-32-32-1 (tanh, float32), Adam lr 1e-2,
    400 full-batch steps: the MSE must fall below 2% of its initial value (it reaches about 0.1%)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, size=(64, 2)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) + x[:, 1:] ** 2).astype(np.float32)
    x, y = mg.tensor(x), mg.tensor(y)
    model = nn.MLP([2, 32, 32, 1], activation="tanh", rng=1)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(400):
        opt.zero_grad()
        loss = mg.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    final = mg.functional.mse_loss(model(x), y).item()
    assert loss.dtype == np.float32
    assert final < 0.02 * losses[0], (losses[0], final)


@pytest.mark.parametrize("cls, hp", OPTIMIZERS, ids=["SGD", "Adam"])
def test_updates_in_blocks_of_rows_are_the_same_numbers(cls, hp, monkeypatch):
    """The update runs block by block (kernels.by_row_blocks, for the cache): with blocks of two rows, a
    0-d parameter and a transposed (non-contiguous) one, six steps give exactly the one-block result."""
    from minigrad.ops import kernels

    def train(block_bytes):
        monkeypatch.setattr(kernels, "BLOCK_BYTES", block_bytes)
        params = make_params() + [nn.Parameter(randn(7, 5, 6).T), nn.Parameter(np.array(0.5))]
        opt = cls(params, **hp)
        for step in range(STEPS):
            for i, p in enumerate(params):
                p.grad = randn(100 * step + i, *p.shape)
            opt.step()
        return [p.data for p in params], params

    whole, _ = train(1 << 30)
    blocked, params = train(16)
    assert not params[-2].data.flags.c_contiguous
    for a, b in zip(whole, blocked):
        np.testing.assert_array_equal(a, b)
