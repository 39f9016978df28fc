"""vae.tune_allocator: explicit, reversible, a no-op off glibc, and invisible to the numbers."""

import subprocess
import sys

import numpy as np

import minigrad as mg
import vae
from vae import allocator


def test_import_does_not_tune_the_allocator():
    code = ("import unittest.mock as m, ctypes\n"
            "calls = []\n"
            "with m.patch.object(ctypes, 'CDLL', side_effect=lambda *a, **k: calls.append(a)):\n"
            "    import vae\n"
            "print(len(calls))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0"


def test_tune_and_untune_on_glibc(monkeypatch):
    if allocator._glibc() is None:
        assert vae.tune_allocator() is None
        return
    try:
        assert vae.tune_allocator() == allocator.TUNED
    finally:
        assert vae.tune_allocator(False) == allocator.DEFAULTS


def test_a_no_op_with_a_message_off_glibc(monkeypatch, capsys):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("musl", "1.2"))
    assert vae.tune_allocator(verbose=True) is None
    assert "not glibc" in capsys.readouterr().out


def test_training_numbers_do_not_depend_on_the_allocator():
    def run():
        model = mg.nn.MLP([20, 64, 3], dtype=np.float32, rng=0)
        opt = mg.optim.Adam(model.parameters(), lr=1e-2)
        x = mg.tensor(np.random.default_rng(1).standard_normal((50, 20)).astype(np.float32))
        for _ in range(5):
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            opt.step()
        return [p.data.copy() for p in model.parameters()]
    before = run()
    try:
        vae.tune_allocator()
        after = run()
    finally:
        vae.tune_allocator(False)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_it_belongs_to_the_application_not_the_engine():
    assert not hasattr(mg, "tune_allocator")
    assert vae.tune_allocator is allocator.tune_allocator
