"""The engine core: Tensor construction and dtype policy, backward(), grad mode, anomaly detection,
error messages, and custom Functions.

Tolerances: gradients with a closed form are compared at rtol=1e-12 (float64) or rtol=1e-6
(float32); gradcheck runs at its defaults (eps=1e-6, atol=1e-5, rtol=1e-4).
"""

import re

import numpy as np
import pytest

import minigrad as mg


def leaf(x, dtype=None):
    return mg.tensor(x, requires_grad=True, dtype=dtype)


# ----------------------------------------------------------------------------------------------
# Construction and dtype policy

def test_python_data_becomes_float64():
    for data in ([1, 2, 3], [[1.0, 2.0]], 3, 2.5, True, [True, False], (1, 2)):
        assert mg.tensor(data).dtype == np.float64, data
        assert mg.Tensor(data).dtype == np.float64, data
    assert mg.tensor([1, 2], requires_grad=True).dtype == np.float64


def test_floating_arrays_keep_their_dtype():
    for dtype in (np.float16, np.float32, np.float64):
        assert mg.tensor(np.ones(3, dtype)).dtype == dtype
        assert mg.Tensor(np.ones(3, dtype), requires_grad=True).dtype == dtype
    assert mg.tensor(np.float32(1.5)).dtype == np.float32
    assert mg.tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert mg.tensor(np.ones(2), dtype=np.float32).dtype == np.float32


def test_integer_and_bool_arrays_stay_integer_without_grad():
    assert mg.tensor(np.array([1, 2])).dtype.kind == "i"       # usable as an index
    assert mg.Tensor(np.array([True, False])).dtype == np.bool_


@pytest.mark.parametrize("data", [np.array([1, 2]), np.array([True]), np.arange(3, dtype=np.uint8), np.int64(3)])
def test_requires_grad_on_integer_or_bool_data_is_a_type_error(data):
    with pytest.raises(TypeError, match="floating"):
        mg.tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match="floating"):
        mg.Tensor(data, requires_grad=True)


def test_non_numeric_data_is_a_type_error():
    with pytest.raises(TypeError, match="complex"):
        mg.tensor(np.ones(2, complex))
    with pytest.raises(TypeError):
        mg.tensor(["a", "b"])


def test_tensor_copies_Tensor_wraps():
    a = np.arange(4.0)
    wrapped, copied = mg.Tensor(a), mg.tensor(a)
    assert wrapped.data is a
    assert copied.data is not a and not np.shares_memory(copied.data, a)
    a[0] = 100.0
    assert wrapped.data[0] == 100.0 and copied.data[0] == 0.0
    t = mg.tensor(wrapped)                                       # from a tensor: also a copy
    assert not np.shares_memory(t.data, a)


SCALAR_OPS = {
    "x + 1.5": lambda x: x + 1.5, "2 * x": lambda x: 2 * x, "x / 3": lambda x: x / 3,
    "3 / x": lambda x: 3 / x, "x - 1": lambda x: x - 1, "1 - x": lambda x: 1 - x,
    "x ** 2": lambda x: x ** 2, "x ** 0.5": lambda x: x ** 0.5, "2 ** x": lambda x: 2 ** x,
    "maximum(x, 0.0)": lambda x: mg.maximum(x, 0.0), "minimum(1.0, x)": lambda x: mg.minimum(1.0, x),
    "clip": lambda x: x.clip(-1.0, 1.0), "where": lambda x: mg.where(x.data > 0.4, x, 0.0),
    "leaky_relu": lambda x: x.leaky_relu(0.1), "mean": lambda x: x.mean(), "sum": lambda x: x.sum(axis=-1),
    "max": lambda x: x.max(), "logsumexp": lambda x: x.logsumexp(), "softplus": lambda x: x.softplus(),
    "log_sigmoid": lambda x: x.log_sigmoid(), "sigmoid": lambda x: x.sigmoid(), "tanh": lambda x: x.tanh(),
    "exp": lambda x: x.exp(), "log": lambda x: x.log(), "log1p": lambda x: x.log1p(), "sqrt": lambda x: x.sqrt(),
    "abs": lambda x: abs(x), "relu": lambda x: x.relu(), "neg": lambda x: -x,
    "getitem": lambda x: x.reshape(-1)[::-1], "reshape": lambda x: x.reshape(-1), "T": lambda x: x.T,
    "mse": lambda x: mg.functional.mse_loss(x, mg.zeros_like(x, dtype=np.float32)),
    "bce": lambda x: mg.functional.binary_cross_entropy_with_logits(x, mg.ones_like(x, dtype=np.float32)),
    "softmax": lambda x: mg.functional.softmax(x), "log_softmax": lambda x: mg.functional.log_softmax(x),
}


@pytest.mark.parametrize("shape", [(), (2, 3)], ids=str)
@pytest.mark.parametrize("name", list(SCALAR_OPS))
def test_float32_stays_float32_with_python_scalars_forward_and_backward(name, shape):
    x = leaf(np.full(shape, 0.5, np.float32))
    y = SCALAR_OPS[name](x)
    assert y.dtype == np.float32, (name, y.dtype)
    y.sum().backward()
    assert x.grad.dtype == np.float32, (name, x.grad.dtype)


def test_float32_end_to_end_through_a_small_network():
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((8, 4)).astype(np.float32))
    w1, b1 = leaf(rng.standard_normal((5, 4)), np.float32), leaf(np.zeros(5), np.float32)
    w2 = leaf(rng.standard_normal((5, 1)), np.float32)
    h = mg.functional.linear(x, w1, b1).tanh()
    logits = (h @ w2 + 0.1) * 2.0
    loss = mg.functional.binary_cross_entropy_with_logits(logits, mg.tensor(np.ones((8, 1), np.float32)))
    assert loss.dtype == np.float32
    loss.backward()
    for p in (w1, b1, w2):
        assert p.grad.dtype == np.float32 and p.grad.shape == p.shape
    # and the float32 gradient agrees with the same computation in float64 (rtol 1e-4: float32 rounding)
    w1d, b1d, w2d = (leaf(p.data.astype(np.float64)) for p in (w1, b1, w2))
    xd = mg.tensor(x.data.astype(np.float64))
    ld = mg.functional.binary_cross_entropy_with_logits(
        (mg.functional.linear(xd, w1d, b1d).tanh() @ w2d + 0.1) * 2.0, mg.ones(8, 1))
    ld.backward()
    for p, pd in ((w1, w1d), (b1, b1d), (w2, w2d)):
        np.testing.assert_allclose(p.grad, pd.grad, rtol=1e-4, atol=1e-6)


def test_float32_grad_argument_does_not_upcast():
    x = leaf(np.ones(3, np.float32))
    (x * 2).backward(np.ones(3))                                 # a float64 grad for a float32 output
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_dtype_argument_converts_ndarrays():
    a = np.ones(2)
    for make in (mg.Tensor, mg.tensor):
        t = make(a, dtype=np.float32)
        assert t.dtype == np.float32 and a.dtype == np.float64
    assert mg.Tensor(a, dtype=np.float64).data is a             # no conversion needed: still wraps


# ----------------------------------------------------------------------------------------------
# Properties and helpers

def test_properties():
    a = np.arange(6.0).reshape(2, 3)
    t = mg.tensor(a, requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.dtype == np.float64
    assert t.requires_grad and t.grad is None
    assert mg.tensor(3.5).item() == 3.5 and isinstance(mg.tensor(3.5).item(), float)
    assert mg.tensor([[2.0]]).item() == 2.0
    assert t.numpy() is t.data                                   # shared, not copied
    with pytest.raises(ValueError):
        t.item()                                                 # not a single element


def test_repr_shows_data_and_grad_flag():
    r = repr(mg.tensor([1.5, 2.25], requires_grad=True))
    assert "1.5" in r and "2.25" in r and "requires_grad=True" in r
    r = repr(mg.tensor([1.5, 2.25]))
    assert "1.5" in r and "requires_grad" not in r and "grad_fn" not in r
    r = repr(mg.tensor([1.0], requires_grad=True) * 2)
    assert "2." in r and "grad_fn" in r and "Mul" in r
    assert "float32" in repr(mg.tensor(np.ones(2, np.float32)))


def test_detach_shares_data_and_cuts_the_graph():
    x = leaf([1.0, 2.0, 3.0])
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.data, x.data)
    (d * x).sum().backward()                                     # d is a constant: ∂/∂x (c·x) = c
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError):
        (d * 2).sum().backward()


def test_zero_grad():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    assert x.grad is not None
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])            # starts again from zero


def test_zeros_ones_and_likes():
    for make, value in ((mg.zeros, 0.0), (mg.ones, 1.0)):
        for t in (make(2, 3), make((2, 3)), make([2, 3])):
            assert t.shape == (2, 3) and t.dtype == np.float64 and not t.requires_grad
            np.testing.assert_array_equal(t.data, np.full((2, 3), value))
        assert make(4, dtype=np.float32).dtype == np.float32
        assert make(2, requires_grad=True).requires_grad
        assert make().shape == ()
    src = mg.tensor(np.arange(6, dtype=np.float32).reshape(3, 2))
    for make_like, value in ((mg.zeros_like, 0.0), (mg.ones_like, 1.0)):
        for like in (make_like(src), make_like(src.data)):
            assert like.shape == (3, 2) and like.dtype == np.float32
            np.testing.assert_array_equal(like.data, np.full((3, 2), value))
        assert make_like(src, dtype=np.float64).dtype == np.float64
        assert make_like(src, requires_grad=True).requires_grad


# ----------------------------------------------------------------------------------------------
# backward()

def test_scalar_output_is_seeded_with_one():
    x = leaf(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    y = leaf([2.0])                                              # one element, not 0-d
    (y * 5).backward()
    np.testing.assert_array_equal(y.grad, [5.0])


def test_non_scalar_output_without_grad_names_its_shape():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape("(2, 3)")):
        (x * 2).backward()


def test_backward_with_explicit_grad():
    x = leaf(np.ones((2, 3)))
    g = np.arange(6.0).reshape(2, 3)
    (x * 2).backward(g)
    np.testing.assert_array_equal(x.grad, 2 * g)
    x.zero_grad()
    (x * 2).backward(mg.tensor(g))                               # a Tensor as grad
    np.testing.assert_array_equal(x.grad, 2 * g)


def test_grad_of_the_wrong_shape_is_a_value_error():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape("(3, 2)")) as info:
        (x * 2).backward(np.ones((3, 2)))
    assert "(2, 3)" in str(info.value)
    with pytest.raises(ValueError, match=r"backward\(\)"):
        (x * 2).backward(np.ones(6))
    with pytest.raises(ValueError, match=r"backward\(\)"):
        (x * 2).backward(np.ones((2, 2, 3)))                     # would broadcast: still refused
    assert x.grad is None


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0, 2.0]).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor(1.0).backward()


def test_backward_on_a_leaf():
    x = leaf(np.ones(3))
    x.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])
    s = leaf(2.0)
    s.backward()
    assert s.grad == 1.0


def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 + 4.0])


def test_grad_is_not_an_alias_of_the_incoming_gradient():
    x = leaf(np.zeros(3))
    g = np.ones(3)
    (x + 0).backward(g)
    x.grad += 1                                                  # must not write into g
    np.testing.assert_array_equal(g, np.ones(3))
    a = leaf(np.zeros(2))
    b = leaf(np.zeros(2))
    (a + b).sum().backward()                                     # Add gives both the same array
    a.grad += 5
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_interior_tensors_keep_no_grad_unless_retained():
    x = leaf([1.0, 2.0])
    y = x * 3
    z = y * y
    z.retain_grad()
    w = z.sum()
    w.backward()
    assert y.grad is None
    np.testing.assert_array_equal(z.grad, [1.0, 1.0])
    x2 = leaf([1.0, 2.0])
    y2 = x2 * 3
    y2.retain_grad()
    (y2 * y2).sum().backward()
    np.testing.assert_array_equal(y2.grad, 2 * y2.data)
    np.testing.assert_array_equal(x2.grad, 6 * y2.data)


def test_graph_is_released_after_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])           # the failed call added nothing


def test_released_interior_node_cannot_be_reused():
    x = leaf([1.0, 2.0])
    h = x * x
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2).sum().backward()


def test_retain_graph_allows_a_second_backward_that_doubles_the_grads():
    x, w = leaf([1.0, 2.0]), leaf([3.0, -1.0])
    y = (x * w).tanh().sum() + (x * x).sum()
    y.backward(retain_graph=True)
    g1x, g1w = x.grad.copy(), w.grad.copy()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, 2 * g1x, rtol=1e-15)
    np.testing.assert_allclose(w.grad, 2 * g1w, rtol=1e-15)
    y.backward()                                                 # third, now releasing
    np.testing.assert_allclose(x.grad, 3 * g1x, rtol=1e-15)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_deep_chain_of_100000_ops():
    # 100,000 ops: y = ((x·a − 0.1)·a − 0.1)… ; dy/dx = a^50000. A recursive backward would overflow
    # Python's stack long before this depth.
    a = 1.00001
    x = leaf(1.0)
    y = x
    for _ in range(50_000):
        y = y * a
        y = y - 0.1
    y.backward()
    np.testing.assert_allclose(x.grad, a ** 50_000, rtol=1e-9)
    assert abs(x.grad - np.exp(0.5)) < 1e-4                     # a^50000 ≈ e^0.5


def test_shared_subexpressions_sum_their_gradients():
    x = leaf([0.5, -1.0, 2.0])
    (x * x * x + x).sum().backward()                             # x used four times
    np.testing.assert_allclose(x.grad, 3 * x.data ** 2 + 1, rtol=1e-14)
    x.zero_grad()
    s = x
    for _ in range(9):
        s = s + x                                                # ten uses
    s.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 10.0))


def test_diamond_graph():
    #       x
    #      / \
    #   a=2x  b=x²          y = exp(a)·b + a        dy/dx = 2·exp(2x)·x² + exp(2x)·2x + 2
    #      \ /
    #       y
    xv = np.array([0.3, -0.7])
    x = leaf(xv)
    a, b = x * 2, x * x
    y = (a.exp() * b + a).sum()
    y.backward()
    expected = 2 * np.exp(2 * xv) * xv ** 2 + np.exp(2 * xv) * 2 * xv + 2
    np.testing.assert_allclose(x.grad, expected, rtol=1e-13)
    assert mg.gradcheck(lambda x: ((x * 2).exp() * (x * x) + x * 2).sum(), [leaf(xv)])


class Counted(mg.Function):
    """y = 2x, counting its backward calls."""
    calls = 0

    def forward(ctx, x):
        return 2 * x

    def backward(ctx, g):
        Counted.calls += 1
        return 2 * g


def test_each_node_backward_runs_once_with_the_summed_gradient():
    Counted.calls = 0
    x = leaf([1.0, 2.0])
    h = Counted.apply(x)
    y = (h * h + h.exp() + h).sum()                              # h feeds three consumers
    y.backward()
    assert Counted.calls == 1
    hv = 2 * x.data
    np.testing.assert_allclose(x.grad, 2 * (2 * hv + np.exp(hv) + 1), rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# Grad mode

def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2 + 1
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.data, [3.0, 5.0])
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_enable_grad_inside_no_grad_and_nesting():
    x = leaf([1.0])
    with mg.no_grad():
        with mg.enable_grad():
            assert mg.is_grad_enabled()
            y = x * 2
            with mg.no_grad():
                z = x * 2
                with mg.no_grad():
                    assert not mg.is_grad_enabled()
                assert not mg.is_grad_enabled()
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert y.requires_grad and not z.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0])


def test_grad_mode_decorators():
    @mg.no_grad()
    def f(x):
        assert not mg.is_grad_enabled()
        return x * 2

    @mg.enable_grad()
    def g(x):
        return x * 2

    x = leaf([1.0])
    assert not f(x).requires_grad
    assert mg.is_grad_enabled()
    with mg.no_grad():
        assert g(x).requires_grad
        assert not mg.is_grad_enabled()
    assert f.__name__ == "f"


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(KeyError):
        with mg.no_grad():
            raise KeyError("boom")
    assert mg.is_grad_enabled()

    @mg.no_grad()
    def fails():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        fails()
    assert mg.is_grad_enabled()


def test_one_no_grad_object_can_be_reused_and_nested():
    ng = mg.no_grad()
    with ng:
        with mg.enable_grad():
            with ng:
                assert not mg.is_grad_enabled()
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


def test_grad_mode_is_per_thread():
    """As PyTorch's: a thread inside no_grad does not stop another thread from recording (which would
    silently leave its parameters without gradients), and a new thread starts with grad enabled."""
    import threading

    entered, release, seen = threading.Event(), threading.Event(), {}

    def evaluate():                       # holds a no_grad region open while the main thread records
        with mg.no_grad():
            entered.set()
            release.wait(10)
            seen["eval"] = mg.is_grad_enabled()

    thread = threading.Thread(target=evaluate)
    thread.start()
    entered.wait(10)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    release.set()
    thread.join()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert seen["eval"] is False

    with mg.no_grad():
        t = threading.Thread(target=lambda: seen.update(new=mg.is_grad_enabled()))
        t.start()
        t.join()
        assert not mg.is_grad_enabled()
    assert seen["new"] is True


# ----------------------------------------------------------------------------------------------
# detect_anomaly

class MakesInf(mg.Function):
    def forward(ctx, x):
        return x + np.inf

    def backward(ctx, g):
        return g


class NanGrad(mg.Function):
    def forward(ctx, x):
        return x * 1.0

    def backward(ctx, g):
        return np.full_like(g, np.nan)


def test_detect_anomaly_names_the_first_op_with_a_non_finite_forward():
    x = leaf([1.0, 0.0])
    with mg.detect_anomaly(), np.errstate(divide="ignore"):
        y = x * 2                                                # finite: no error
        with pytest.raises(FloatingPointError, match="Log") as info:
            y.log().exp()                                        # log(0) = -inf is the first
    assert "forward" in str(info.value)
    with mg.detect_anomaly():
        with pytest.raises(FloatingPointError, match="MakesInf"):
            MakesInf.apply(x)
    with np.errstate(divide="ignore"):
        assert np.isinf(y.log().data).any()                      # off outside the context


def test_detect_anomaly_names_the_op_whose_backward_is_non_finite():
    x = leaf([1.0, 0.0])
    with mg.detect_anomaly(), np.errstate(divide="ignore"):
        y = x.sqrt().sum()                                       # forward finite; d√x/dx = ∞ at 0
        with pytest.raises(FloatingPointError, match="Sqrt") as info:
            y.backward()
    assert "backward" in str(info.value)
    x = leaf([1.0, 2.0])
    with mg.detect_anomaly():
        y = (NanGrad.apply(x) * 3).sum()
        with pytest.raises(FloatingPointError, match="NanGrad"):
            y.backward()


def test_without_detect_anomaly_non_finite_values_pass_silently():
    x = leaf([1.0, 0.0])
    with np.errstate(divide="ignore"):
        x.sqrt().sum().backward()
    assert np.isinf(x.grad[1])


def test_detect_anomaly_in_no_grad_checks_forward_too():
    with mg.no_grad(), mg.detect_anomaly(), pytest.raises(FloatingPointError, match="MakesInf"):
        MakesInf.apply(mg.tensor([1.0]))


# ----------------------------------------------------------------------------------------------
# Errors name the op and the shapes

@pytest.mark.parametrize("op,name", [(lambda a, b: a + b, "Add"), (lambda a, b: a - b, "Sub"),
                                     (lambda a, b: a * b, "Mul"), (lambda a, b: a / b, "Div"),
                                     (lambda a, b: a ** b, "Pow"), (mg.maximum, "Maximum"),
                                     (mg.minimum, "Minimum"), (lambda a, b: mg.where(True, a, b), "Where")])
def test_shape_mismatch_names_the_op_and_both_shapes(op, name):
    a, b = leaf(np.ones((3, 4))), leaf(np.ones(5))
    with pytest.raises(ValueError) as info:
        op(a, b)
    msg = str(info.value)
    assert name in msg and "(3, 4)" in msg and "(5,)" in msg, msg


def test_matmul_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ValueError) as info:
        leaf(np.ones((3, 4))) @ leaf(np.ones((5, 2)))
    msg = str(info.value)
    assert "MatMul" in msg and "(3, 4)" in msg and "(5, 2)" in msg, msg


@pytest.mark.parametrize("fn,name", [(lambda t: t.sum(axis=2), "Sum"), (lambda t: t.mean(axis=-3), "Mean"),
                                     (lambda t: t.max(axis=(0, 5)), "Max"), (lambda t: t.logsumexp(axis=2),
                                                                             "LogSumExp"),
                                     (lambda t: t.transpose(0, 2), "Transpose"), (lambda t: t.squeeze(0), "Squeeze")])
def test_bad_axis_names_the_op_and_the_shape(fn, name):
    with pytest.raises(ValueError) as info:
        fn(leaf(np.ones((3, 4))))
    msg = str(info.value)
    assert name in msg and "(3, 4)" in msg, msg


def test_other_shape_errors_name_the_op():
    with pytest.raises(ValueError, match="Reshape") as info:
        leaf(np.ones((3, 4))).reshape(5, 2)
    assert "(3, 4)" in str(info.value)
    with pytest.raises(ValueError, match="Concatenate"):
        mg.concatenate([leaf(np.ones((2, 3))), leaf(np.ones((2, 4)))])
    with pytest.raises(ValueError, match="Stack"):
        mg.stack([leaf(np.ones(3)), leaf(np.ones(4))])
    with pytest.raises(ValueError, match="BroadcastTo"):
        mg.broadcast_to(leaf(np.ones(3)), (4, 2))


# ----------------------------------------------------------------------------------------------
# Custom Functions

class Cube(mg.Function):
    """y = x³;  x̄ = 3x² · ḡ  (the README's example)"""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * grad


def test_custom_function_like_the_readme():
    xv = np.array([[1.0, -2.0], [0.5, 3.0]])
    x = leaf(xv)
    y = Cube.apply(x)
    np.testing.assert_array_equal(y.data, xv ** 3)
    assert y.requires_grad and isinstance(y.grad_fn, Cube)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 3 * xv ** 2)
    assert mg.gradcheck(lambda x: Cube.apply(x), [leaf(xv)])


class ScaleBy(mg.Function):
    """y = x · k for a non-tensor option k; two tensor inputs with broadcasting; x̄ = ḡ k b, b̄ = ḡ k x."""
    def forward(ctx, x, b, k=1.0):
        ctx.save_for_backward(x, b)
        ctx.k = k
        return x * b * k

    def backward(ctx, g):
        x, b = ctx.saved_tensors
        return g * b * ctx.k, g * x * ctx.k           # broadcast-shaped: the engine reduces them


def test_custom_function_with_options_and_broadcasting():
    x, b = leaf(np.random.default_rng(0).standard_normal((3, 4))), leaf(np.random.default_rng(1).standard_normal(4))
    assert mg.gradcheck(lambda x, b: ScaleBy.apply(x, b, k=2.5), [x, b])
    ScaleBy.apply(x, b, k=2.5).sum().backward()
    np.testing.assert_allclose(b.grad, 2.5 * x.data.sum(axis=0), rtol=1e-14)


class WrongShape(mg.Function):
    def forward(ctx, x):
        return x * 2

    def backward(ctx, g):
        return np.ones((7,))                           # cannot be reduced to the input's shape


class TooFewGrads(mg.Function):
    def forward(ctx, x, y):
        return x * y

    def backward(ctx, g):
        return g


def test_custom_backward_with_an_impossible_gradient_shape():
    with pytest.raises(ValueError) as info:
        WrongShape.apply(leaf(np.ones((2, 3)))).sum().backward()
    msg = str(info.value)
    assert "WrongShape" in msg and "(7,)" in msg and "(2, 3)" in msg, msg


def test_custom_backward_with_too_few_gradients():
    with pytest.raises(ValueError, match="TooFewGrads"):
        TooFewGrads.apply(leaf([1.0]), leaf([2.0])).sum().backward()


class Recorder(mg.Function):
    """y = x · a · b; records what it was told about its inputs and returns only needed gradients."""
    seen = []

    def forward(ctx, x, a, b):
        Recorder.seen.append(("forward", ctx.needs_input_grad))
        ctx.save_for_backward(x, a, b)
        return x * a * b

    def backward(ctx, g):
        x, a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        Recorder.seen.append(("backward", need))
        return (g * a * b if need[0] else None, g * x * b if need[1] else None, g * x * a if need[2] else None)


def test_needs_input_grad_is_false_for_constants():
    Recorder.seen = []
    x = leaf([1.0, 2.0])
    const = mg.tensor([3.0, 4.0])                                # a tensor not requiring grad
    y = Recorder.apply(x, const, 5.0)                            # and a Python number
    y.sum().backward()
    assert Recorder.seen == [("forward", (True, False, False)), ("backward", (True, False, False))]
    np.testing.assert_array_equal(x.grad, [15.0, 20.0])
    assert const.grad is None
    Recorder.seen = []
    y = Recorder.apply(np.array([1.0, 1.0]), x, leaf(2.0))        # an ndarray constant
    assert Recorder.seen == [("forward", (False, True, True))]
    Recorder.seen = []
    with mg.no_grad():
        y = Recorder.apply(x, x, x)
    assert Recorder.seen == [("forward", (False, False, False))] and not y.requires_grad


class SecondIsIndex(mg.Function):
    """y = x[idx] with idx passed as a tensor; declares that position 1 gets no gradient."""
    nondifferentiable = (1,)

    def forward(ctx, x, idx):
        ctx.args = x.shape, idx
        Recorder.seen.append(ctx.needs_input_grad)
        return x[idx.astype(int)]

    def backward(ctx, g):
        shape, idx = ctx.args
        gx = np.zeros(shape)
        np.add.at(gx, idx.astype(int), g)
        return gx, np.full(idx.shape, np.nan)            # ignored: position 1 is nondifferentiable


def test_nondifferentiable_positions_get_no_gradient():
    Recorder.seen = []
    x, idx = leaf([1.0, 2.0, 3.0]), leaf([2.0, 2.0])             # idx even asks for a gradient
    SecondIsIndex.apply(x, idx).sum().backward()
    assert Recorder.seen == [(True, False)]
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 2.0])
    assert idx.grad is None


def test_function_without_forward_or_backward():
    class NoForward(mg.Function):
        pass

    with pytest.raises(NotImplementedError, match="NoForward"):
        NoForward.apply(leaf([1.0]))

    class NoBackward(mg.Function):
        def forward(ctx, x):
            return x

    with pytest.raises(NotImplementedError, match="NoBackward"):
        NoBackward.apply(leaf([1.0])).sum().backward()


# ----------------------------------------------------------------------------------------------
# Comparisons (no gradient; used for masks)

def test_comparisons_return_boolean_tensors_without_grad():
    a, b = leaf([1.0, 2.0, 3.0]), mg.tensor([2.0, 2.0, 2.0])
    for op, ref in ((a < b, [1, 0, 0]), (a <= b, [1, 1, 0]), (a > b, [0, 0, 1]), (a >= b, [0, 1, 1]),
                    (a == b, [0, 1, 0]), (a != b, [1, 0, 1]), (a > 2.0, [0, 0, 1])):
        assert op.dtype == np.bool_ and not op.requires_grad
        np.testing.assert_array_equal(op.data, np.array(ref, bool))
    assert len({a, b}) == 2                                      # tensors stay hashable


# -- leaf gradients: taken without a copy only when nothing else holds them ---------------------


def test_leaf_gradient_is_never_shared_between_leaves_or_with_an_op():
    a = mg.tensor(np.ones(3), requires_grad=True)
    b = mg.tensor(np.ones(3), requires_grad=True)
    (a + b).backward(np.ones(3))          # Add returns the same ḡ for both inputs
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 1                            # accumulating into one must not change the other
    np.testing.assert_array_equal(b.grad, np.ones(3))

    class Held(mg.Function):
        def forward(ctx, x):
            return x * 2

        def backward(ctx, g):
            ctx.held = g * 2
            Held.last = ctx.held
            return ctx.held

    x = mg.tensor(np.ones(3), requires_grad=True)
    Held.apply(x).backward(np.ones(3))
    assert x.grad is not Held.last and not np.shares_memory(x.grad, Held.last)


def test_a_fresh_leaf_gradient_is_taken_without_a_copy():
    from minigrad import engine
    assert engine._FRESH_REFS > 0, "calibration found no safe reference count on this interpreter"

    class Fresh(mg.Function):
        def forward(ctx, x):
            return x * 2

        def backward(ctx, g):
            out = np.full(3, 2.0) * g
            Fresh.out_id = id(out)             # an id, not a reference: the engine holds the only one
            return out

    x = mg.tensor(np.ones(3), requires_grad=True)
    Fresh.apply(x).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, np.full(3, 2.0))
    assert id(x.grad) == Fresh.out_id          # taken, not copied


def test_float_of_a_one_element_tensor():
    assert float(mg.tensor([2.5])) == 2.5 and float(mg.tensor(3.0)) == 3.0


def test_anomaly_reports_the_op_not_a_numpy_warning():
    x = mg.tensor([-1.0, 1.0], requires_grad=True)
    with mg.detect_anomaly(), pytest.raises(FloatingPointError, match="forward of Log"):
        mg.log(x)                          # no np.errstate here: pytest turns warnings into errors
    y = mg.tensor([0.0, 1.0], requires_grad=True)
    with mg.detect_anomaly(), pytest.raises(FloatingPointError, match="backward of Sqrt"):
        mg.sqrt(y).sum().backward()


def test_gradcheck_passes_when_the_output_does_not_depend_on_the_input():
    x = mg.tensor(np.ones(3), requires_grad=True)
    assert mg.gradcheck(lambda x: mg.tensor(np.ones(2)) * 3.0, [x])


def test_an_error_that_already_names_the_op_is_not_prefixed_twice():
    with pytest.raises(ValueError) as info:
        mg.GaussianReparam.apply(mg.tensor([0.0]), mg.tensor([0.0]), np.zeros(1))
    message = str(info.value)
    assert message.startswith("GaussianReparam: sigma must be > 0") and message.count("GaussianReparam:") == 1
    assert "[inputs: (1,) float64, (1,) float64, (1,) float64]" in message


# -- ops that write into their own buffers must not corrupt what forward saved ------------------


IN_PLACE_CASES = {
    "tanh": lambda x, t: mg.tanh(x),
    "sigmoid": lambda x, t: mg.sigmoid(x),
    "softplus": lambda x, t: mg.softplus(x),
    "log_sigmoid": lambda x, t: mg.log_sigmoid(x),
    "bce_with_logits": lambda x, t: mg.functional.binary_cross_entropy_with_logits(x, t, reduction="none"),
    "mse_mean": lambda x, t: mg.functional.mse_loss(x, t),
    "linear": lambda x, t: mg.functional.linear(x, t, t[0]),
    "logsumexp": lambda x, t: mg.logsumexp(x, axis=1),
    "reparam": lambda x, t: mg.gaussian_reparam_logvar(x, t, np.full((3, 3), 0.5)),
}


@pytest.mark.parametrize("name", list(IN_PLACE_CASES))
def test_backward_twice_gives_the_same_gradients_and_leaves_outputs_alone(name):
    """With retain_graph=True a second backward reuses everything forward saved: if a VJP had written into
    a saved array (or into the output), the second gradient or the output would change."""
    rng = np.random.default_rng(7)
    x = mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    t = mg.tensor(rng.random((3, 3)), requires_grad=True)
    y = IN_PLACE_CASES[name](x, t)
    out = y.data.copy()
    seed = rng.standard_normal(y.shape)
    y.backward(seed, retain_graph=True)
    first = [None if v.grad is None else v.grad.copy() for v in (x, t)]
    assert first[0] is not None
    y.backward(seed)
    np.testing.assert_array_equal(y.data, out)
    for v, g in zip((x, t), first):
        if g is None:
            assert v.grad is None
        else:
            np.testing.assert_allclose(v.grad, 2 * g, rtol=1e-15, atol=0)


def test_an_intermediate_result_is_freed_as_soon_as_nobody_holds_it():
    """Nodes link to the nodes that made their inputs, not to the intermediate tensors: h's array goes
    away when the user drops h (Tanh saves its output, not its input), and backward still works."""
    import weakref
    x = mg.tensor(np.full((50, 50), 0.3), requires_grad=True)
    h = x * 2.0
    alive = weakref.ref(h.data)
    y = mg.tanh(h)
    del h
    assert alive() is None
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * (1 - np.tanh(0.6) ** 2), rtol=1e-14)


def test_a_node_reused_after_its_graph_was_released_still_gets_the_clear_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    (y * 2.0).sum().backward()           # releases y's node
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (y * 5.0).sum().backward()


# -- saved inputs written in place between forward and backward (version counter) ----------------


def test_an_optimizer_step_between_forward_and_backward_is_refused():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    opt = mg.optim.SGD([w], lr=0.1)
    w.grad = np.ones(2)
    opt.step()                               # writes w in place: Mul saved it for x̄ = ḡ · w
    with pytest.raises(RuntimeError, match=r"an input of Mul \(shape \(2,\)\) that it saved for backward "
                                           r"was modified in place afterwards"):
        y.backward()


def test_setitem_under_no_grad_is_detected_and_a_write_before_forward_is_fine():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    with mg.no_grad():
        w[0] = 10.0                          # before forward: the node sees the new value
    y = (x * w).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [10.0, 4.0])
    with mg.no_grad():
        w[...] = 100.0
    with pytest.raises(RuntimeError, match="modified in place afterwards"):
        y.backward()


def test_a_written_input_that_was_not_saved_does_not_matter():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    c = mg.tensor([3.0, 4.0])
    y = (x + c).sum()                        # Add saves nothing: its VJP does not read c
    c[0] = 7.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_setitem_on_a_tensor_that_requires_grad_needs_no_grad():
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"requires grad; write into it under minigrad.no_grad\(\)"):
        w[0] = 1.0
    h = w * 2.0
    with mg.no_grad(), pytest.raises(RuntimeError, match="requires grad"):
        h[0] = 1.0                           # computed by an op: never written in place
    c = mg.tensor(np.zeros(3))
    c[mg.tensor(np.array([0, 2]))] = mg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(c.data, [1.0, 0.0, 2.0])


def test_no_grad_works_as_a_bare_decorator_and_with_parentheses():
    x = mg.tensor([1.0], requires_grad=True)

    @mg.no_grad
    def bare(t):
        return t * 2.0

    @mg.no_grad()
    def called(t):
        return t * 2.0

    for fn in (bare, called):
        assert not fn(x).requires_grad and fn.__name__ in ("bare", "called")
    assert (x * 2.0).requires_grad and mg.is_grad_enabled()
