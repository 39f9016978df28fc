"""minigrad.nn: Module bookkeeping (names, order, sharing, state dicts), Linear (values, gradients,
initialization, dtype, errors), Sequential/MLP, the activation modules and clip_grad_norm_.

Every random draw is seeded with numpy.random.default_rng(seed). Gradient checks run in float64 with
gradcheck's defaults (eps=1e-6, atol=1e-5, rtol=1e-4)."""

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils import clip_grad_norm_


def randn(seed, *shape, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def names(module):
    return [name for name, _ in module.named_parameters()]


class Block(nn.Module):
    """A module with every kind of child: parameters assigned out of alphabetical order, a submodule,
    a list of submodules, a shared (aliased) parameter, and attributes that are not parameters."""

    def __init__(self):
        self.zeta = nn.Parameter(np.ones(2))
        self.alpha = nn.Parameter(np.zeros((2, 2)))
        self.inner = nn.Linear(2, 3, rng=0, dtype=np.float64)
        self.heads = [nn.Linear(3, 1, rng=1, dtype=np.float64), nn.Linear(3, 1, bias=False, rng=2,
                                                                         dtype=np.float64)]
        self.alias = self.zeta                         # shared: listed once, under its first name
        self.constant = mg.tensor([1.0, 2.0])          # a plain tensor: not a parameter
        self.array = np.ones(3)                        # an ndarray: not a parameter
        self.label = "block"

    def forward(self, x):
        h = self.inner(x * self.zeta + x @ self.alpha).tanh()
        return self.heads[0](h) + self.heads[1](h)


# ----------------------------------------------------------------------------------------------
# Parameter


def test_parameter_owns_a_copy_requires_grad_and_keeps_float_dtype():
    source = np.arange(6, dtype=np.float32).reshape(2, 3)
    p = nn.Parameter(source)
    assert p.requires_grad and p.is_leaf and p.grad is None
    assert p.dtype == np.float32
    assert not np.shares_memory(p.data, source)
    source[0, 0] = 100.0
    assert p.data[0, 0] == 0.0
    assert nn.Parameter([1, 2]).dtype == np.float64             # Python ints -> float64
    assert nn.Parameter(np.ones(2), dtype=np.float32).dtype == np.float32


def test_parameter_of_integer_array_is_a_type_error():
    with pytest.raises(TypeError, match="requires_grad=True needs floating-point data, got dtype int64"):
        nn.Parameter(np.arange(3, dtype=np.int64))


# ----------------------------------------------------------------------------------------------
# named_parameters / parameters / zero_grad


def test_named_parameters_order_dotted_names_lists_and_sharing():
    block = Block()
    assert names(block) == ["zeta", "alpha", "inner.weight", "inner.bias",
                            "heads.0.weight", "heads.0.bias", "heads.1.weight"]
    params = block.parameters()
    assert [id(p) for p in params] == [id(p) for _, p in block.named_parameters()]
    assert params[0] is block.zeta is block.alias
    assert len({id(p) for p in params}) == len(params)
    assert all(isinstance(p, nn.Parameter) for p in params)


def test_named_parameters_with_prefix():
    assert names(nn.Linear(2, 2, rng=0)) == ["weight", "bias"]
    assert [n for n, _ in nn.Linear(2, 2, rng=0).named_parameters(prefix="enc.")] == ["enc.weight", "enc.bias"]


def test_tied_weights_across_submodules_are_listed_once():
    first, second = nn.Linear(3, 3, rng=0), nn.Linear(3, 3, rng=1)
    second.weight = first.weight
    model = nn.Sequential(first, nn.Tanh(), second)
    assert names(model) == ["0.weight", "0.bias", "2.bias"]
    assert model.parameters()[0] is first.weight


def test_sequential_names_like_pytorch_and_nested():
    model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU(),
                          nn.Sequential(nn.Linear(3, 2, rng=0), nn.Tanh(), nn.Linear(2, 1, rng=0)))
    assert names(model) == ["0.weight", "0.bias", "2.0.weight", "2.0.bias", "2.2.weight", "2.2.bias"]
    assert len(model) == 3 and isinstance(model[1], nn.ReLU) and isinstance(model[2][2], nn.Linear)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Sequential"]


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="Sequential: item 1 is a function, not a Module"):
        nn.Sequential(nn.Linear(2, 2, rng=0), mg.tanh)


def test_modules_without_parameters():
    for act in (nn.Tanh(), nn.ReLU(), nn.Sigmoid(), nn.Softplus(), nn.LeakyReLU(0.2)):
        assert act.parameters() == [] and act.state_dict() == {}
    assert names(nn.Linear(3, 2, bias=False, rng=0)) == ["weight"]


def test_zero_grad_clears_every_parameter_gradient():
    block = Block()
    block(mg.tensor(randn(0, 4, 2))).sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())
    block.zero_grad()                                   # harmless when there is nothing to clear
    assert all(p.grad is None for p in block.parameters())


# ----------------------------------------------------------------------------------------------
# state_dict / load_state_dict


def test_state_dict_is_a_copy_in_named_parameters_order():
    model = nn.MLP([3, 4, 2], rng=0)
    sd = model.state_dict()
    assert list(sd) == names(model) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for name, p in model.named_parameters():
        assert isinstance(sd[name], np.ndarray)
        np.testing.assert_array_equal(sd[name], p.data)
        assert sd[name].dtype == p.dtype
        assert not np.shares_memory(sd[name], p.data)
    before = {k: v.copy() for k, v in sd.items()}
    for v in sd.values():                               # mutating the state dict leaves the model alone
        v[...] = 7.0
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])
    model.parameters()[0].data[...] = -1.0              # and vice versa
    assert np.all(sd["0.weight"] == 7.0)


def test_load_state_dict_round_trip_in_place():
    source, target = nn.MLP([3, 5, 2], rng=0), nn.MLP([3, 5, 2], rng=1)
    x = mg.tensor(randn(2, 6, 3, dtype=np.float32))
    assert not np.array_equal(source(x).data, target(x).data)
    params_before = target.parameters()
    arrays_before = [p.data for p in params_before]
    sd = source.state_dict()
    target.load_state_dict(sd)
    np.testing.assert_array_equal(source(x).data, target(x).data)
    # loaded in place: the same Parameter objects and arrays (an optimizer keeps pointing at them)
    assert all(a is b for a, b in zip(target.parameters(), params_before))
    assert all(p.data is a for p, a in zip(target.parameters(), arrays_before))
    for v in sd.values():                               # not aliased to the loaded dict
        v[...] = 0.0
    assert not np.all(target.parameters()[0].data == 0.0)


def test_load_state_dict_nested_module_round_trip():
    source, target = Block(), Block()
    for p in target.parameters():
        p.data[...] = 0.0
    target.load_state_dict(source.state_dict())
    for (n1, p1), (n2, p2) in zip(source.named_parameters(), target.named_parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1.data, p2.data)


def test_load_state_dict_missing_key():
    model = nn.MLP([3, 4, 2], rng=0)
    sd = model.state_dict()
    del sd["2.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['2\.bias'\], unexpected keys \[\]"):
        model.load_state_dict(sd)


def test_load_state_dict_unexpected_key():
    model = nn.MLP([3, 4, 2], rng=0)
    sd = model.state_dict()
    sd["4.weight"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"missing keys \[\], unexpected keys \['4\.weight'\]"):
        model.load_state_dict(sd)


def test_load_state_dict_shape_mismatch_names_key_and_both_shapes():
    model = nn.MLP([3, 4, 2], rng=0)
    sd = nn.MLP([3, 4, 2], rng=1).state_dict()
    sd["2.weight"] = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"shape mismatch for '2\.weight': the state dict has \(4, 2\), "
                                         r"the model has \(2, 4\)"):
        model.load_state_dict(sd)


def test_failed_load_changes_nothing():
    """A shape error in a later entry must not leave earlier parameters overwritten."""
    model = nn.MLP([3, 4, 2], rng=0)
    before = model.state_dict()
    sd = nn.MLP([3, 4, 2], rng=1).state_dict()
    sd["2.bias"] = np.zeros(3)
    with pytest.raises(ValueError, match="shape mismatch for '2.bias'"):
        model.load_state_dict(sd)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])


def test_load_state_dict_rejects_non_numeric_values():
    model = nn.Linear(2, 2, rng=0)
    sd = model.state_dict()
    sd["bias"] = np.array([True, False])
    with pytest.raises(TypeError, match="'bias' has dtype bool, expected numbers"):
        model.load_state_dict(sd)


def test_load_state_dict_non_strict_loads_the_common_keys():
    model = nn.MLP([3, 4, 2], rng=0)
    sd = nn.MLP([3, 4, 2], rng=1).state_dict()
    del sd["0.weight"]
    sd["extra"] = np.zeros(1)
    before = model.state_dict()
    model.load_state_dict(sd, strict=False)
    np.testing.assert_array_equal(model.state_dict()["0.weight"], before["0.weight"])
    np.testing.assert_array_equal(model.state_dict()["2.weight"], sd["2.weight"])


# ----------------------------------------------------------------------------------------------
# Linear: values, gradients


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear_equals_x_w_transposed_plus_b(shape):
    layer = nn.Linear(3, 4, dtype=np.float64, rng=0)
    layer.bias.data[...] = randn(1, 4)                  # a nonzero bias, so adding it is checked
    x = randn(2, *shape)
    y = layer(mg.tensor(x))
    assert y.shape == shape[:-1] + (4,)
    np.testing.assert_allclose(y.data, x @ layer.weight.data.T + layer.bias.data, rtol=1e-12, atol=0)


def test_linear_without_bias():
    layer = nn.Linear(3, 2, bias=False, dtype=np.float64, rng=0)
    assert layer.bias is None
    x = randn(1, 4, 3)
    np.testing.assert_allclose(layer(mg.tensor(x)).data, x @ layer.weight.data.T, rtol=1e-12, atol=0)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear_gradcheck_wrt_input_and_parameters(shape, bias):
    layer = nn.Linear(3, 4, bias=bias, dtype=np.float64, rng=0)
    if bias:
        layer.bias.data[...] = randn(1, 4)
    x = mg.tensor(randn(2, *shape), requires_grad=True)
    assert mg.gradcheck(lambda x, *params: layer(x), [x, *layer.parameters()])


def test_linear_gradients_match_closed_form():
    """ḡ = 1 for y.sum(): x̄ = 1·W, W̄ = 1ᵀx, b̄ = batch size (float64, rtol 1e-12)."""
    layer = nn.Linear(3, 4, dtype=np.float64, rng=0)
    x = mg.tensor(randn(1, 5, 3), requires_grad=True)
    layer(x).sum().backward()
    ones = np.ones((5, 4))
    np.testing.assert_allclose(x.grad, ones @ layer.weight.data, rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, ones.T @ x.data, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, np.full(4, 5.0), rtol=1e-12)


def test_linear_on_data_input_gives_no_input_gradient():
    layer = nn.Linear(3, 2, dtype=np.float64, rng=0)
    x = mg.tensor(randn(0, 4, 3))
    layer(x).sum().backward()
    assert x.grad is None and layer.weight.grad is not None and layer.bias.grad is not None


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "softplus", "leaky_relu"])
def test_mlp_gradcheck_wrt_input_and_every_parameter(activation):
    model = nn.MLP([3, 5, 4, 2], activation=activation, dtype=np.float64, rng=0)
    for p in model.parameters():                         # nonzero biases so they matter
        if p.ndim == 1:
            p.data[...] = 0.1 * randn(p.size, p.size)
    x = mg.tensor(randn(3, 4, 3), requires_grad=True)
    params = model.parameters()
    assert len(params) == 6
    assert mg.gradcheck(lambda x, *ps: model(x), [x, *params])


def test_mlp_gradcheck_catches_a_wrong_parameter_gradient():
    """The MLP gradcheck above can fail: corrupt the bias gradient of one layer and it is caught."""
    model = nn.MLP([3, 4, 2], dtype=np.float64, rng=0)
    x = mg.tensor(randn(3, 5, 3), requires_grad=True)

    class WrongBias(mg.Function):
        def forward(ctx, b):
            return b

        def backward(ctx, g):
            return 1.5 * g

    def fn(x, *ps):
        h = model[0](x).tanh()
        return mg.functional.linear(h, model[2].weight, WrongBias.apply(model[2].bias))

    with pytest.raises(mg.GradcheckError, match="input 4"):
        mg.gradcheck(fn, [x, *model.parameters()])


# ----------------------------------------------------------------------------------------------
# Linear: initialization


def test_glorot_uniform_initialization_statistics():
    """W ~ U(−a, a), a = √(6/(in+out)). in=300, out=200: 60,000 samples. All within [−a, a]; the
    largest |w| within 0.1% of a (miss probability 0.999^60000 ≈ e⁻⁶⁰); mean within 5 standard errors
    of 0; std within 1% of a/√3 (≈ 5.5 standard errors: the sample std of a uniform has relative
    standard error √(0.8/(4n)) ≈ 0.18%)."""
    n_in, n_out = 300, 200
    w = nn.Linear(n_in, n_out, dtype=np.float64, rng=0).weight.data
    a = np.sqrt(6 / (n_in + n_out))
    assert w.shape == (n_out, n_in)
    assert np.abs(w).max() <= a
    assert np.abs(w).max() >= 0.999 * a
    # standard error of the mean: (a/√3)/√60000 ≈ 2.4e-3·a; allow 5 of them
    assert abs(w.mean()) < 5 * (a / np.sqrt(3)) / np.sqrt(w.size)
    np.testing.assert_allclose(w.std(), a / np.sqrt(3), rtol=0.01)
    # uniform, not normal: the fraction within half the limit is 1/2 (std error 0.2%; allow 1%)
    assert abs(np.mean(np.abs(w) < a / 2) - 0.5) < 0.01


def test_he_normal_initialization_statistics():
    """W ~ N(0, 2/in). in=400, out=300: 120,000 samples. Std within 1.5% of √(2/in) (standard error of
    a normal sample std ≈ 1/√(2n) ≈ 0.2%); mean within 5 standard errors; the fraction within one
    std is 68.27% ± 1% (std error 0.13%), which a uniform of the same std (57.7%) would fail."""
    n_in, n_out = 400, 300
    w = nn.Linear(n_in, n_out, dtype=np.float64, rng=0, init="he").weight.data
    std = np.sqrt(2 / n_in)
    assert w.shape == (n_out, n_in)
    np.testing.assert_allclose(w.std(), std, rtol=0.015)
    assert abs(w.mean()) < 5 * std / np.sqrt(w.size)
    assert abs(np.mean(np.abs(w) < std) - 0.6827) < 0.01


def test_torch_initialization_is_pytorchs_uniform_for_weight_and_bias():
    """init="torch": W and b ~ U(−1/√in, 1/√in). in=400, out=300: 120,000 weights and 300 biases, all inside
    the limit, the weights' std within 1% of limit/√3 (std error 0.2%), the extremes within 0.2% of the limit
    (the largest of 60,000 uniforms falls short by ~limit/60,000); the bias is not zero and also inside."""
    n_in, n_out = 400, 300
    layer = nn.Linear(n_in, n_out, dtype=np.float64, rng=0, init="torch")
    w, b, limit = layer.weight.data, layer.bias.data, 1 / np.sqrt(n_in)
    assert np.abs(w).max() <= limit and np.abs(b).max() <= limit
    np.testing.assert_allclose(w.std(), limit / np.sqrt(3), rtol=0.01)
    np.testing.assert_allclose([w.max(), -w.min()], limit, rtol=0.002)
    assert np.abs(b).max() > limit / 2 and np.all(b != 0)
    assert nn.Linear(n_in, n_out, rng=0, init="torch", bias=False).bias is None
    g = np.random.default_rng(0)                                         # W first, then b, from one Generator
    np.testing.assert_array_equal(w, g.uniform(-limit, limit, (n_out, n_in)))
    np.testing.assert_array_equal(b, g.uniform(-limit, limit, n_out))


def test_torch_initialization_has_the_distribution_of_torch_nn_linear():
    """Two-sample Kolmogorov-Smirnov tests, minigrad's init="torch" against torch.nn.Linear's own draws, for
    a 400 → 300 layer (120,000 weights each) and its bias (300 each) and a 20 → 400 layer: no p-value below
    1e-4 (under the same distribution each fails with probability 1e-4; the seeds are fixed). Glorot's weights
    of the 400 → 300 layer, ±√(6/700) instead of ±1/20, are rejected by the same test."""
    torch = pytest.importorskip("torch")
    from scipy.stats import ks_2samp

    torch.manual_seed(0)
    for n_in, n_out in [(400, 300), (20, 400)]:
        ours = nn.Linear(n_in, n_out, dtype=np.float64, rng=1, init="torch")
        theirs = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
        for a, b in [(ours.weight.data, theirs.weight), (ours.bias.data, theirs.bias)]:
            assert ks_2samp(a.ravel(), b.detach().numpy().ravel()).pvalue > 1e-4, (n_in, n_out, a.shape)
    glorot = nn.Linear(400, 300, dtype=np.float64, rng=1, init="glorot").weight.data
    assert ks_2samp(glorot.ravel(), torch.nn.Linear(400, 300).weight.detach().numpy().ravel()).pvalue < 1e-10


def test_bias_starts_at_zero():
    for init in ("glorot", "he"):
        np.testing.assert_array_equal(nn.Linear(5, 7, rng=0, init=init).bias.data, np.zeros(7, np.float32))


def test_same_seed_gives_identical_weights_and_different_seeds_differ():
    a, b, c = nn.Linear(6, 4, rng=3), nn.Linear(6, 4, rng=3), nn.Linear(6, 4, rng=4)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(nn.Linear(6, 4, rng=g1).weight.data, nn.Linear(6, 4, rng=g2).weight.data)
    # a Generator is consumed: the next layer drawn from it gets different weights
    assert not np.array_equal(nn.Linear(6, 4, rng=g1).weight.data, a.weight.data)
    m1, m2 = nn.MLP([4, 8, 3], rng=7), nn.MLP([4, 8, 3], rng=7)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_linear_init_argument_is_validated():
    with pytest.raises(ValueError, match=r"Linear: init must be one of \('glorot', 'he', 'torch'\), got 'xavier'"):
        nn.Linear(2, 2, init="xavier", rng=0)


@pytest.mark.parametrize("sizes", [(0, 3), (3, 0), (-1, 2), (2.5, 3)])
def test_linear_sizes_must_be_positive_integers(sizes):
    with pytest.raises(ValueError, match="Linear: in_features and out_features must be positive integers"):
        nn.Linear(*sizes, rng=0)


# ----------------------------------------------------------------------------------------------
# Linear: dtype and input validation


def test_linear_default_dtype_is_float32_and_kept_end_to_end():
    layer = nn.Linear(3, 4, rng=0)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    x = mg.tensor(randn(0, 5, 3, dtype=np.float32), requires_grad=True)
    y = layer(x)
    assert y.dtype == np.float32
    (y * 2.0).sum().backward()                          # a Python float must not upcast
    assert x.grad.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "softplus", "leaky_relu"])
def test_mlp_float32_forward_loss_and_gradients_stay_float32(activation):
    model = nn.MLP([3, 8, 2], activation=activation, output_activation="sigmoid", rng=0)
    x = mg.tensor(randn(0, 6, 3, dtype=np.float32))
    out = model(x)
    assert out.dtype == np.float32
    loss = mg.functional.mse_loss(out, mg.tensor(randn(1, 6, 2, dtype=np.float32)))
    assert loss.dtype == np.float32
    loss.backward()
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())


def test_linear_float64_parameters_when_asked():
    layer = nn.Linear(3, 2, dtype=np.float64, rng=0)
    assert layer.weight.dtype == layer.bias.dtype == np.float64
    assert layer(mg.tensor(randn(0, 2, 3))).dtype == np.float64


@pytest.mark.parametrize("shape", [(4, 5), (5,), (2, 3, 2)])
def test_linear_wrong_input_width_is_a_clear_value_error(shape):
    layer = nn.Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match=re.escape(f"Linear: expected input with last dimension 3, got shape "
                                                   f"{shape!r}")):
        layer(mg.tensor(np.zeros(shape, np.float32)))


# ----------------------------------------------------------------------------------------------
# Activation modules


@pytest.mark.parametrize("module, reference", [
    (nn.Tanh(), np.tanh),
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Softplus(), lambda x: np.log1p(np.exp(x))),
    (nn.LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
])
def test_activation_modules_forward_and_gradcheck(module, reference):
    x = mg.tensor(randn(0, 4, 5), requires_grad=True)   # |x| < 5: exp(x) is safe in the reference
    np.testing.assert_allclose(module(x).data, reference(x.data), rtol=1e-12, atol=1e-15)
    assert mg.gradcheck(module, [x])


def test_leaky_relu_slope_is_used_in_backward():
    x = mg.tensor([-2.0, 3.0], requires_grad=True)
    nn.LeakyReLU(0.3)(x).sum().backward()
    np.testing.assert_allclose(x.grad, [0.3, 1.0], rtol=1e-15)


# ----------------------------------------------------------------------------------------------
# MLP


def test_mlp_structure_and_names():
    model = nn.MLP([3, 5, 4, 2], activation="relu", rng=0)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert names(model) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert [m.weight.shape for m in model if isinstance(m, nn.Linear)] == [(5, 3), (4, 5), (2, 4)]


def test_mlp_output_activation_and_activation_class():
    model = nn.MLP([3, 4, 2], activation=nn.Softplus, output_activation="sigmoid", rng=0)
    assert [type(m).__name__ for m in model] == ["Linear", "Softplus", "Linear", "Sigmoid"]
    out = model(mg.tensor(randn(0, 10, 3, dtype=np.float32))).data
    assert np.all((out > 0) & (out < 1))
    assert type(nn.MLP([2, 2], output_activation=nn.Tanh, rng=0)[1]) is nn.Tanh
    assert len(nn.MLP([2, 2], rng=0)) == 1                      # a single layer: no activation at all


@pytest.mark.parametrize("activation, init", [("tanh", "glorot"), ("sigmoid", "glorot"), ("softplus", "glorot"),
                                              ("relu", "he"), ("leaky_relu", "he")])
def test_mlp_initialization_follows_the_activation(activation, init):
    """ReLU-family MLPs use He init, the others Glorot, unless `init` says otherwise; layers draw from one
    generator in order."""
    for model, kind in [(nn.MLP([6, 5, 4], activation=activation, rng=11), init),
                        (nn.MLP([6, 5, 4], activation=activation, rng=11, init="torch"), "torch")]:
        g = np.random.default_rng(11)
        expected = [nn.Linear(6, 5, rng=g, init=kind), nn.Linear(5, 4, rng=g, init=kind)]
        for layer, ref in zip([m for m in model if isinstance(m, nn.Linear)], expected):
            np.testing.assert_array_equal(layer.weight.data, ref.weight.data)
            np.testing.assert_array_equal(layer.bias.data, ref.bias.data)


@pytest.mark.parametrize("sizes", [[], [3], (4,)])
def test_mlp_needs_two_sizes(sizes):
    with pytest.raises(ValueError, match="MLP: sizes needs at least an input and an output size"):
        nn.MLP(sizes, rng=0)


def test_mlp_sizes_must_be_positive():
    with pytest.raises(ValueError, match="must be positive integers, got 4 and 0"):
        nn.MLP([3, 4, 0], rng=0)


@pytest.mark.parametrize("kwargs, what", [({"activation": "gelu"}, "activation 'gelu'"),
                                          ({"activation": np.tanh}, "activation <ufunc 'tanh'>"),
                                          ({"activation": nn.Tanh()}, "activation Tanh()"),
                                          ({"output_activation": "softmax"}, "output_activation 'softmax'"),
                                          ({"output_activation": 3}, "output_activation 3")])
def test_mlp_unknown_activation_is_a_clear_value_error(kwargs, what):
    choices = "['leaky_relu', 'relu', 'sigmoid', 'softplus', 'tanh']"
    with pytest.raises(ValueError, match=re.escape(f"MLP: unknown {what}; choose from {choices}")):
        nn.MLP([3, 4, 2], **kwargs)


# ----------------------------------------------------------------------------------------------
# clip_grad_norm_


def _params_with_grads(seed, scale):
    shapes = [(3, 4), (5,), (2, 2, 2)]
    params = [nn.Parameter(np.zeros(s)) for s in shapes]
    for i, p in enumerate(params):
        p.grad = scale * randn(seed + i, *p.shape)
    return params


def test_clip_grad_norm_returns_pre_clip_norm_and_scales_in_place():
    params = _params_with_grads(0, scale=3.0)
    before = [p.grad.copy() for p in params]
    arrays = [p.grad for p in params]
    total = np.sqrt(sum(np.sum(g ** 2) for g in before))
    assert total > 5                                     # so max_norm=1 really clips
    returned = clip_grad_norm_(params, max_norm=1.0)
    assert isinstance(returned, float)
    np.testing.assert_allclose(returned, total, rtol=1e-12)
    assert all(p.grad is a for p, a in zip(params, arrays))          # in place
    after = np.sqrt(sum(np.sum(p.grad ** 2) for p in params))
    # scaled by max_norm / (‖g‖ + 1e-6): the new norm is 1 up to 1e-6/‖g‖ < 2e-7
    np.testing.assert_allclose(after, 1.0, rtol=1e-6)
    for p, g in zip(params, before):                     # one common factor: the direction is kept
        np.testing.assert_allclose(p.grad, g * (1.0 / (total + 1e-6)), rtol=1e-12)


def test_clip_grad_norm_leaves_small_gradients_untouched():
    params = _params_with_grads(1, scale=0.01)
    before = [p.grad.copy() for p in params]
    total = clip_grad_norm_(params, max_norm=10.0)
    assert total < 10.0
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad, g)


def test_clip_grad_norm_ignores_parameters_without_grad():
    params = _params_with_grads(2, scale=2.0)
    params[1].grad = None
    expected = np.sqrt(np.sum(params[0].grad ** 2) + np.sum(params[2].grad ** 2))
    assert clip_grad_norm_(iter(params), max_norm=0.5) == pytest.approx(expected, rel=1e-12)
    assert params[1].grad is None
    np.testing.assert_allclose(np.sqrt(np.sum(params[0].grad ** 2) + np.sum(params[2].grad ** 2)), 0.5,
                               rtol=1e-6)
    nograd = [nn.Parameter(np.ones(3))]
    assert clip_grad_norm_(nograd, max_norm=1.0) == 0.0 and nograd[0].grad is None


def test_clip_grad_norm_on_a_single_tensor_and_a_model_keeps_float32():
    p = nn.Parameter(np.zeros(4, np.float32))
    p.grad = np.array([3.0, 4.0, 0.0, 0.0], np.float32)
    assert clip_grad_norm_(p, max_norm=1.0) == pytest.approx(5.0, rel=1e-7)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad, [0.6, 0.8, 0.0, 0.0], rtol=1e-6)
    model = nn.MLP([3, 4, 2], rng=0)
    (model(mg.tensor(randn(0, 5, 3, dtype=np.float32))) * 100.0).sum().backward()
    clip_grad_norm_(model.parameters(), max_norm=2.0)
    norm = np.sqrt(sum(np.sum(q.grad.astype(np.float64) ** 2) for q in model.parameters()))
    np.testing.assert_allclose(norm, 2.0, rtol=1e-5)    # float32 accumulation: 1e-5 relative
    assert all(q.grad.dtype == np.float32 for q in model.parameters())


def test_repr_lists_children():
    model = nn.MLP([3, 4, 2], rng=0)
    text = repr(model)
    assert "(0): Linear(in_features=3, out_features=4, bias=True, dtype=float32)" in text
    assert "(1): Tanh()" in text
