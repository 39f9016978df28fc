"""gradcheck and numerical_grad: they pass correct ops, and — the point of a checker — they fail wrong ones.

Tolerances: gradcheck at its defaults (eps=1e-6, atol=1e-5, rtol=1e-4) unless a test says otherwise;
numerical_grad against closed forms at atol=1e-7 (central differences with h=1e-6 are accurate to
≈1e-9 on these functions).
"""

import re
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import GradcheckError


def leaf(x):
    return mg.tensor(x, requires_grad=True)


def randn(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# ----------------------------------------------------------------------------------------------
# Planted wrong VJPs

class CubeWrong(mg.Function):
    """y = x³ with the classic mistake x̄ = 2x·ḡ instead of 3x²·ḡ."""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    def backward(ctx, g):
        return 2 * ctx.saved_tensors[0] * g


class CubeRight(mg.Function):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    def backward(ctx, g):
        return 3 * ctx.saved_tensors[0] ** 2 * g


class OffInOneElement(mg.Function):
    """y = x ⊙ w with x̄ correct except at one element (by `delta`)."""
    where = (1, 2)
    delta = 1e-3

    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx, gw = g * w, g * x
        gx = np.array(gx, copy=True)
        gx[OffInOneElement.where] += OffInOneElement.delta
        return gx, gw


class WrongOnlyForSecondInput(mg.Function):
    """y = a ⊙ b with b̄ = ḡ ⊙ b (should be ḡ ⊙ a)."""
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * b


class TransposedJacobian(mg.Function):
    """y = A x for a fixed non-symmetric A, with the VJP Aḡ instead of Aᵀḡ: right shape, wrong values,
    and only visible through a non-scalar output's projection."""
    A = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [4.0, 0.0, 1.0]])

    def forward(ctx, x):
        return TransposedJacobian.A @ x

    def backward(ctx, g):
        return TransposedJacobian.A @ g


class NanGrad(mg.Function):
    def forward(ctx, x):
        return x * 2

    def backward(ctx, g):
        return np.full_like(g, np.nan)


def test_gradcheck_returns_true_on_correct_ops():
    x = leaf(randn((3, 4), 0))
    assert mg.gradcheck(lambda x: CubeRight.apply(x), [x]) is True
    w = leaf(randn((4, 2), 1))
    assert mg.gradcheck(lambda x, w: (x @ w).tanh().sum(axis=0), [x, w]) is True
    assert mg.gradcheck(lambda x: (x * x).sum(), x) is True                # a bare tensor as inputs
    assert mg.gradcheck(lambda x, c: x * c, (x, mg.tensor(randn((3, 4), 2)))) is True   # a constant input


def test_wrong_vjp_is_caught_and_the_message_names_input_and_worst_index():
    xv = np.array([0.5, -1.5, 2.0, 1.0])     # |3x² − 2x| = 0.25, 9.75, 8, 1: worst at index (1,)
    x = leaf(xv)
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda x: CubeWrong.apply(x).sum(), [x])     # scalar output: weights are ones
    msg = str(info.value)
    assert "input 0" in msg and "index (1,)" in msg, msg
    m = re.search(r"analytic (\S+) vs numerical (\S+) \(error (\S+)", msg)
    assert m, msg                                                 # 2x vs 3x² at x = -1.5, error 9.75
    np.testing.assert_allclose([float(v) for v in m.groups()], [-3.0, 6.75, 9.75], rtol=1e-6)
    assert isinstance(info.value, RuntimeError)


def test_wrong_vjp_is_caught_on_a_non_scalar_output_through_the_random_projection():
    x = leaf(randn(3, 3))
    with pytest.raises(GradcheckError):
        mg.gradcheck(lambda x: TransposedJacobian.apply(x), [x])
    with pytest.raises(GradcheckError):
        mg.gradcheck(lambda x: CubeWrong.apply(x), [leaf(randn((2, 3), 4))])


@pytest.mark.parametrize("where", [(0, 0), (1, 2), (2, 3)], ids=str)
def test_an_error_in_a_single_element_is_caught_and_located(where):
    OffInOneElement.where, OffInOneElement.delta = where, 1e-3
    x, w = leaf(randn((3, 4), 5)), leaf(randn((3, 4), 6))
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda x, w: OffInOneElement.apply(x, w), [x, w])
    msg = str(info.value)
    assert "input 0" in msg and f"index {where}" in msg, msg


def test_an_error_below_the_tolerance_passes():
    OffInOneElement.where, OffInOneElement.delta = (1, 2), 1e-7      # ≪ atol = 1e-5
    x, w = leaf(randn((3, 4), 5)), leaf(randn((3, 4), 6))
    assert mg.gradcheck(lambda x, w: OffInOneElement.apply(x, w), [x, w])
    OffInOneElement.delta = 1e-3
    with pytest.raises(GradcheckError):                               # and tightening atol catches it
        mg.gradcheck(lambda x, w: OffInOneElement.apply(x, w), [x, w], atol=1e-8, rtol=1e-8)


def test_the_message_names_the_wrong_input_among_several():
    a, b = leaf(randn(4, 7)), leaf(randn(4, 8) + 3)
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda a, b: WrongOnlyForSecondInput.apply(a, b), [a, b])
    assert "input 1" in str(info.value)
    c = mg.tensor(randn(4, 9))                                           # input 0 is a constant
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda c, a, b: WrongOnlyForSecondInput.apply(a, b) * c, [c, a, b])
    assert "input 2" in str(info.value)


def test_a_nan_gradient_is_caught():
    with pytest.raises(GradcheckError):
        mg.gradcheck(lambda x: NanGrad.apply(x), [leaf(randn(3, 10))])


# ----------------------------------------------------------------------------------------------
# Precision, arguments, side effects

class ScaledSquare(mg.Function):
    """y = x², x̄ = c · 2x · ḡ: right for c = 1, wrong (by c − 1 relative) otherwise."""
    c = 1.0

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    def backward(ctx, g):
        return ctx.c * 2 * ctx.saved_tensors[0] * g


class ScaledSquareOff(ScaledSquare):
    c = 1.01                       # 1 % wrong: ten times float32 gradcheck's relative tolerance (1e-3)


def float32_leaf(shape, seed):
    return mg.tensor(randn(shape, seed).astype(np.float32), requires_grad=True)


FLOAT32_CORRECT = {
    # name: (fn, input shapes): correct gradients, computed by the engine in float32
    "custom square": (lambda x: ScaledSquare.apply(x), [(4, 5)]),
    "tanh·exp": (lambda x: mg.tanh(x) * mg.exp(x), [(6, 7)]),
    "logsumexp of a product": (lambda x, w: mg.logsumexp(x @ w, axis=1), [(5, 8), (8, 3)]),
    "sigmoid, softplus, sum": (lambda x: (mg.sigmoid(3 * x) + mg.softplus(x)).sum(), [(30, 40)]),
    "bce with logits": (lambda x: mg.functional.binary_cross_entropy_with_logits(
        x, mg.tensor(np.full((8, 9), 0.3, np.float32))), [(8, 9)]),
}


@pytest.mark.parametrize("name", list(FLOAT32_CORRECT))
def test_float32_inputs_with_correct_gradients_pass(name):
    """Issue 15: float32 finite differences accused correct gradients. The differences are now taken in
    float64 on float64 copies, the float32 analytic gradient compared at float32's tolerances (1e-3). The
    same check in float64 passes at the default tolerances, and the inputs stay float32 and unchanged."""
    fn, shapes = FLOAT32_CORRECT[name]
    inputs = [float32_leaf(shape, seed) for seed, shape in enumerate(shapes)]
    before = [x.data.copy() for x in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mg.gradcheck(fn, inputs)
    assert all(x.dtype == np.float32 and np.array_equal(x.data, b) for x, b in zip(inputs, before))
    assert mg.gradcheck(fn, [mg.tensor(b.astype(np.float64), requires_grad=True) for b in before])


def test_float32_finite_differences_would_have_accused_a_correct_gradient():
    """Why: the same central difference taken in float32 (h = 1e-3, already a compromise) is off from the
    exact 2x by far more than any tolerance that could still catch a wrong VJP."""
    x = randn((4, 5), 0).astype(np.float32)
    h = np.float32(1e-3)
    f32 = ((x + h) ** 2 - (x - h) ** 2) / (2 * h)            # x² summed with weight 1, elementwise
    assert np.max(np.abs(f32 - 2 * x.astype(np.float64))) > 1e-4


@pytest.mark.parametrize("wrong, message", [
    (ScaledSquareOff, "wrong gradient for input 0 (shape (4, 5), float32)"),
    (CubeWrong, "wrong gradient for input 0 (shape (4, 5), float32)"),
])
def test_float32_inputs_with_wrong_gradients_fail(wrong, message):
    x = float32_leaf((4, 5), 0)
    with pytest.raises(GradcheckError, match=re.escape(message)):
        mg.gradcheck(lambda x: wrong.apply(x), [x])


def test_float32_check_of_a_large_input_uses_the_float32_tolerance_on_subset_and_direction():
    """> max_elements: a random subset and one directional derivative, both at float32's tolerances."""
    x = float32_leaf((120, 100), 3)
    assert mg.gradcheck(lambda x: ScaledSquare.apply(x).sum(), [x], n_subset=20)
    with pytest.raises(GradcheckError, match="float32"):
        mg.gradcheck(lambda x: ScaledSquareOff.apply(x).sum(), [x], n_subset=20)


class ToFloat32(mg.Function):
    """A cast inside fn: y = x in float32, x̄ = ḡ in x's dtype (a correct VJP)."""

    def forward(ctx, x):
        ctx.dtype = x.dtype
        return x.astype(np.float32)

    def backward(ctx, g):
        return g.astype(ctx.dtype)


def test_fn_that_computes_in_float32_whatever_its_inputs_is_refused_not_misjudged():
    """Finite differences of a float32 computation would be rounding noise: refused with a TypeError that
    says why, rather than a GradcheckError blaming the (correct) gradient."""
    x = float32_leaf((3, 4), 1)
    with pytest.raises(TypeError, match=re.escape("gradcheck: fn returned float32 for float64 copies of inputs "
                                                  "[0]; finite differences are taken in float64")):
        mg.gradcheck(lambda x: ToFloat32.apply(x) * 2.0, [x])


def test_other_dtypes_are_refused():
    x = mg.tensor(np.ones(3, np.float16), requires_grad=True)
    with pytest.raises(TypeError, match=re.escape("gradcheck: inputs [0] have dtype ['float16']; gradcheck checks "
                                                  "float64 and float32 inputs: pass float64 copies")):
        mg.gradcheck(lambda x: x * x, [x])


def test_numerical_grad_of_a_float32_input_is_taken_in_float64():
    x = float32_leaf((3, 4), 2)
    (g,) = mg.numerical_grad(lambda x: (x * x).sum(), [x])
    assert g.dtype == np.float64 and x.dtype == np.float32
    np.testing.assert_allclose(g, 2 * x.data.astype(np.float64), rtol=1e-9, atol=1e-9)


def test_no_warning_for_float64_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mg.gradcheck(lambda x: (x * x).sum(), [leaf(randn(3, 11))])


def test_inputs_data_and_grads_are_unchanged():
    xv, wv = randn((3, 4), 12), randn((4, 2), 13)
    x, w = leaf(xv.copy()), leaf(wv.copy())
    x_data, w_data = x.data, w.data
    w.grad = np.full((4, 2), 7.0)
    assert mg.gradcheck(lambda x, w: (x @ w).sum(), [x, w])
    assert x.data is x_data and w.data is w_data
    np.testing.assert_array_equal(x.data, xv)
    np.testing.assert_array_equal(w.data, wv)
    assert x.grad is None
    np.testing.assert_array_equal(w.grad, np.full((4, 2), 7.0))
    # also when the check fails
    with pytest.raises(GradcheckError):
        mg.gradcheck(lambda x: CubeWrong.apply(x), [x])
    assert x.data is x_data
    np.testing.assert_array_equal(x.data, xv)
    assert x.grad is None


def test_read_only_input_data_is_fine():
    a = randn((3, 4), 14)
    a.flags.writeable = False
    x = mg.Tensor(a, requires_grad=True)
    assert mg.gradcheck(lambda x: x.exp(), [x])
    assert x.data is a and not a.flags.writeable


def test_argument_errors():
    with pytest.raises(ValueError, match="requires grad"):
        mg.gradcheck(lambda x: x * 2, [mg.tensor([1.0])])
    with pytest.raises(TypeError, match="Tensor"):
        mg.gradcheck(lambda x: x.data * 2, [leaf([1.0])])
    with pytest.raises(ValueError, match="grad_output"):
        mg.gradcheck(lambda x: x * 2, [leaf([1.0, 2.0])], grad_output=np.ones(3))


def test_empty_inputs_pass_trivially_and_the_others_are_still_checked():
    e, w = leaf(np.zeros((0, 3))), leaf(randn((3, 4), 25))
    assert mg.gradcheck(lambda e, w: (e @ w).tanh().sum() + (w * w).sum(), [e, w])
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda e, w: (e @ w).sum() + CubeWrong.apply(w).sum(), [e, w])
    assert "input 1" in str(info.value)


def test_grad_output_weights_the_output():
    x = leaf(randn(4, 15))
    assert mg.gradcheck(lambda x: x.tanh(), [x], grad_output=np.array([1.0, -2.0, 0.5, 3.0]))


# ----------------------------------------------------------------------------------------------
# Large inputs: random subset plus a directional derivative

def test_large_input_path_passes_a_correct_op():
    x = leaf(randn(20_000, 16) * 0.5)                  # > max_elements = 10,000
    w = leaf(randn(3, 17))
    assert mg.gradcheck(lambda x, w: (x.tanh() * x).sum() + (w * w).sum(), [x, w])


def test_large_input_path_catches_a_wrong_op():
    x = leaf(randn(20_000, 18) + 2.0)
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda x: CubeWrong.apply(x).sum(), [x])
    assert "input 0" in str(info.value)


class OffAtOneFlatIndex(mg.Function):
    """y = x² with x̄ off by 1 at one flat index k — which a small random subset almost surely misses."""
    k = 777

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    def backward(ctx, g):
        gx = 2 * ctx.saved_tensors[0] * g
        gx.reshape(-1)[OffAtOneFlatIndex.k] += 1.0
        return gx


def test_directional_derivative_catches_an_error_the_subset_misses():
    x = leaf(randn((40, 25), 19))                      # 1,000 elements; checked as "large" below
    messages = []
    for seed in range(5):
        with pytest.raises(GradcheckError) as info:
            mg.gradcheck(lambda x: OffAtOneFlatIndex.apply(x).sum(), [x], max_elements=100, n_subset=5, seed=seed)
        messages.append(str(info.value))
    # a 5-element subset of 1,000 misses element 777 for (nearly) every seed, so the directional
    # derivative must be what caught it
    assert sum("random direction" in m for m in messages) >= 4, messages
    # and with the full check (the default here) the message names the element
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda x: OffAtOneFlatIndex.apply(x).sum(), [x])
    assert "index (31, 2)" in str(info.value), str(info.value)     # flat 777 = 31·25 + 2


def test_large_input_path_same_answer_as_full_check_on_correct_op():
    x = leaf(randn((40, 25), 20))
    assert mg.gradcheck(lambda x: (x * x.sigmoid()).sum(), [x], max_elements=100, n_subset=30)


# ----------------------------------------------------------------------------------------------
# numerical_grad

def test_numerical_grad_matches_known_gradients():
    xv, yv = randn((3, 4), 21), randn((3, 4), 22)
    x, y = leaf(xv), leaf(yv)
    (gx,) = mg.numerical_grad(lambda x: (x ** 3).sum(), [x])
    np.testing.assert_allclose(gx, 3 * xv ** 2, rtol=0, atol=1e-7)
    gx, gy = mg.numerical_grad(lambda x, y: (x * y).sum(), [x, y])
    np.testing.assert_allclose(gx, yv, rtol=0, atol=1e-7)
    np.testing.assert_allclose(gy, xv, rtol=0, atol=1e-7)
    # grad_output weights the output; non-grad inputs get None
    w = randn((3, 4), 23)
    gx, gc = mg.numerical_grad(lambda x, c: x.exp() * c, [x, mg.tensor(yv)], grad_output=w)
    np.testing.assert_allclose(gx, w * np.exp(xv) * yv, rtol=0, atol=1e-7)
    assert gc is None
    assert gx.dtype == np.float64 and gx.shape == (3, 4)
    np.testing.assert_array_equal(x.data, xv)                     # inputs untouched


def test_numerical_grad_of_a_non_scalar_output_defaults_to_sum():
    xv = randn(5, 24)
    (g,) = mg.numerical_grad(lambda x: x.tanh(), [leaf(xv)])
    np.testing.assert_allclose(g, 1 - np.tanh(xv) ** 2, rtol=0, atol=1e-7)
