"""minigrad.random.as_generator: the one rule every module uses to turn `rng` into a Generator."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.random import as_generator


def test_a_generator_is_used_as_it_is_and_an_int_is_a_seed():
    g = np.random.default_rng(3)
    assert as_generator(g, "here") is g
    for seed in (5, np.int64(5)):
        assert as_generator(seed, "here").random() == np.random.default_rng(5).random()


@pytest.mark.parametrize("bad, got", [(None, r"nothing \(rng=None\)"), (True, "bool"), (1.5, "float"),
                                      (np.random.RandomState(0), "RandomState")])
def test_anything_else_is_refused_naming_the_caller(bad, got):
    with pytest.raises(TypeError, match=rf"^where: rng must be a numpy.random.Generator or an int seed, got {got}"):
        as_generator(bad, "where")


@pytest.mark.parametrize("call, where", [
    (lambda: mg.nn.Linear(2, 2), "Linear"),
    (lambda: mg.nn.MLP([2, 3, 1]), "MLP"),
    (lambda: mg.distributions.Normal(0.0, 1.0).rsample(), "Normal.rsample"),
    (lambda: mg.DirectGaussianSample.apply(np.zeros(2), np.ones(2), None), "DirectGaussianSample"),
])
def test_every_module_applies_the_same_rule(call, where):
    with pytest.raises(TypeError, match=rf"{where}: rng must be a numpy.random.Generator or an int seed"):
        call()
