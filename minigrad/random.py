"""The one rule for randomness: every draw goes through an explicit `numpy.random.Generator`."""

import numpy as np

__all__ = ["as_generator"]


def as_generator(rng, where):
    """`rng` as a Generator: a Generator is used as it is, an int is a seed for a new one.

    None is refused: minigrad never draws from hidden global random state, so a result can always be
    reproduced from what the caller passed. `where` names the caller in the error."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(int(rng))
    got = "nothing (rng=None)" if rng is None else type(rng).__name__
    raise TypeError(f"{where}: rng must be a numpy.random.Generator or an int seed, got {got}; pass "
                    "rng=numpy.random.default_rng(seed) (minigrad never draws from hidden global state)")
