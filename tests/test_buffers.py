"""The engine's buffer pool (engine.buffer): large arrays reused from step to step, never while anything
can still see them — a tensor, a node's saved values, a view, a gradient the user kept."""

import gc

import numpy as np
import pytest

import minigrad as mg
from minigrad import engine

BIG = (300, 200)                      # 480 kB in float64: above BUFFER_MIN_BYTES


@pytest.fixture(autouse=True)
def fresh_pool():
    engine.release_buffers()
    yield
    engine.release_buffers()


def test_an_array_nobody_holds_is_handed_out_again():
    a = engine.buffer(BIG, np.float64)
    first = id(a)
    del a
    b = engine.buffer(BIG, np.float64)
    assert id(b) == first and b.shape == BIG and b.dtype == np.float64


@pytest.mark.parametrize("holder", ["array", "view", "tensor", "reshape"])
def test_an_array_something_still_refers_to_is_never_handed_out(holder):
    a = engine.buffer(BIG, np.float64)
    a[...] = 7.0
    if holder == "array":
        keep = a
    elif holder == "view":
        keep = a[:10]
    elif holder == "tensor":
        keep = mg.Tensor(a)
    else:
        keep = a.reshape(-1)
    del a
    b = engine.buffer(BIG, np.float64)
    b[...] = -1.0
    kept = keep.data if isinstance(keep, mg.Tensor) else keep
    assert not np.shares_memory(b, kept) and np.all(kept == 7.0)


def test_small_arrays_and_other_shapes_or_dtypes_are_not_confused():
    assert engine.buffer((3, 3), np.float64).base is None          # plain np.empty, not pooled
    a = engine.buffer(BIG, np.float64)
    del a
    assert engine.buffer(BIG, np.float32).dtype == np.float32
    assert engine.buffer((200, 300), np.float64).shape == (200, 300)


def test_the_pool_is_bounded(monkeypatch):
    monkeypatch.setattr(engine, "BUFFER_CAP_BYTES", 2 * 300 * 200 * 8)
    held = [engine.buffer(BIG, np.float64) for _ in range(5)]      # all in use: five distinct arrays
    assert len({id(a) for a in held}) == 5
    assert sum(len(v) for v in engine._buffers.values()) == 2 and engine._buffer_bytes <= engine.BUFFER_CAP_BYTES


def test_training_steps_reuse_memory_and_keep_every_value_they_hand_out():
    """Two Linear-tanh steps: the second reuses the first's buffers, but an output or a gradient the user
    kept from the first step keeps its values (it is never handed out while held)."""
    rng = np.random.default_rng(0)
    model = mg.nn.MLP([200, 300, 200], activation="tanh", dtype=np.float64, rng=0)
    x = mg.tensor(rng.standard_normal((300, 200)))

    def step():
        for p in model.parameters():
            p.grad = None
        y = model(x)
        y.sum().backward()
        return y

    y1 = step()
    kept_out, kept_grad = y1.data.copy(), model.parameters()[0].grad
    kept_grad_values = kept_grad.copy()
    before = engine._buffer_bytes
    y2 = step()
    gc.collect()
    np.testing.assert_array_equal(y1.data, kept_out)
    np.testing.assert_array_equal(kept_grad, kept_grad_values)
    assert not np.shares_memory(y1.data, y2.data)
    assert not np.shares_memory(kept_grad, model.parameters()[0].grad)
    del y1, kept_grad
    step()
    steady = engine._buffer_bytes
    step()
    assert engine._buffer_bytes == steady >= before > 0        # steady state: no new buffers


def test_a_pooled_leaf_gradient_is_taken_without_a_copy():
    w = mg.tensor(np.random.default_rng(1).standard_normal((200, 300)), requires_grad=True)
    x = mg.tensor(np.ones((400, 300)))
    mg.functional.linear(x, w).sum().backward()
    assert id(w.grad) in engine._pooled                        # the matmul's own buffer, not a copy
