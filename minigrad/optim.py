"""Optimizers with PyTorch's names and update rules, updating parameters in place.

Every buffer (momentum, Adam's moments, one scratch array) is allocated once per parameter, at the
first step that parameter has a gradient, and reused: a step allocates no new arrays. An update runs
block by block over the parameter's rows (kernels.by_row_blocks), so that its passes find the block in
cache: the same numbers as in one piece. A parameter whose `.grad` is None is skipped, not treated as a
zero gradient.

Hyper-parameters are checked where they enter — the constructor and load_state_dict — not at step():
each must be a finite real number (Python or NumPy, not a bool or a string) in its range (lr, eps,
weight_decay ≥ 0; SGD's momentum in [0, 1]; Adam's betas a pair in [0, 1)), else a TypeError or
ValueError naming the optimizer, the hyper-parameter and the value. They are stored as plain floats.
"""

import functools
import math
import numbers

import numpy as np

from .engine import Tensor
from .ops import kernels

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    buffers = ()          # names of the per-parameter state arrays that state_dict() saves

    def __init__(self, params, **hyperparameters):
        if isinstance(params, Tensor):    # iterating a tensor would yield its rows (views, not leaves)
            raise TypeError(f"{type(self).__name__}: params must be an iterable of tensors, got a single "
                            "Tensor; wrap it in a list")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: parameter {i} is not a tensor that requires grad")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: parameter {i} is not a leaf tensor (it was computed "
                                 f"by {type(p.grad_fn).__name__}); it never receives .grad, so it cannot be "
                                 "optimized")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter appears more than once")
        self.params = params
        self.hyperparameters = self._checked(hyperparameters, type(self).__name__)
        self.state = [{} for _ in params]

    def _checked(self, hyperparameters, where):
        """The hyper-parameters as plain floats after checking each is a finite real number in its range
        (`_check`), so that a bad value fails here, named, not as inf/NaN parameters steps later.
        Used by the constructor and by load_state_dict."""
        return {name: self._check(name, value, where) for name, value in hyperparameters.items()}

    def _check(self, name, value, where):
        """A number ≥ 0 (every hyper-parameter of SGD and Adam but momentum and betas)."""
        value = _finite_real(value, name, where)
        if value < 0:
            raise ValueError(f"{where}: {name} must be ≥ 0, got {value:g}")
        return value

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            if p.grad.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.step: gradient of shape {p.grad.shape} for a "
                                 f"parameter of shape {p.shape}")
            if not state:
                state.update({name: np.zeros_like(p.data) for name in self.buffers + ("scratch",)},
                             step=0)
            state["step"] += 1
            # block by block, so that the update's passes find the parameter's rows in cache
            kernels.by_row_blocks(functools.partial(self._update, state["step"]), p.data, p.grad,
                                  state["scratch"], *(state[name] for name in self.buffers))
            p._bump_version()                  # a node that saved p must not use the new values

    def _update(self, t, param, grad, scratch, *buffers):
        """One step t of the rule on (a block of rows of) one parameter, in place; `buffers` are the
        parameter's state arrays named in `self.buffers`, in that order."""
        raise NotImplementedError

    def _decayed(self, param, grad):
        """g + λθ (L2 weight decay, as PyTorch's SGD and Adam apply it); a new array only if λ ≠ 0."""
        wd = self.hyperparameters.get("weight_decay", 0)
        return grad + wd * param if wd else grad

    def state_dict(self):
        return {"optimizer": type(self).__name__,
                "hyperparameters": dict(self.hyperparameters),
                "state": [{k: (v.copy() if isinstance(v, np.ndarray) else v)
                           for k, v in s.items() if k != "scratch"} for s in self.state]}

    def load_state_dict(self, state_dict):
        name = type(self).__name__
        if state_dict.get("optimizer") != name:
            raise ValueError(f"{name}.load_state_dict: the state dict is for {state_dict.get('optimizer')!r}")
        saved_hyper = state_dict["hyperparameters"]
        if set(saved_hyper) != set(self.hyperparameters):
            raise ValueError(f"{name}.load_state_dict: the state dict has hyper-parameters {sorted(saved_hyper)}, "
                             f"{name} has {sorted(self.hyperparameters)}")
        hyperparameters = self._checked(saved_hyper, f"{name}.load_state_dict")
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(states)} parameters, "
                             f"this optimizer has {len(self.params)}")
        for i, (p, saved) in enumerate(zip(self.params, states)):
            for key in self.buffers:
                if key in saved and np.shape(saved[key]) != p.shape:
                    raise ValueError(f"{name}.load_state_dict: {key} of parameter {i} has shape "
                                     f"{np.shape(saved[key])}, the parameter has {p.shape}")
        self.hyperparameters.update(hyperparameters)
        for p, state, saved in zip(self.params, self.state, states):
            state.clear()
            if saved:
                state.update({k: np.array(v, dtype=p.dtype) for k, v in saved.items() if k in self.buffers},
                             step=int(saved["step"]), scratch=np.zeros_like(p.data))


def _finite_real(value, name, where):
    """`value` as a float if it is a finite real number (a Python or NumPy int or float, not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {value}")
    return value


class SGD(Optimizer):
    """θ ← θ − lr · v, with v = μ v + g (v = g on the first step) when momentum μ > 0, else v = g."""

    buffers = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def _check(self, name, value, where):
        value = super()._check(name, value, where)
        if name == "momentum" and value > 1:          # μ > 1 makes v grow geometrically for any gradient
            raise ValueError(f"{where}: momentum must be in [0, 1], got {value:g}")
        return value

    def _update(self, t, param, grad, scratch, buf):
        h = self.hyperparameters
        grad = self._decayed(param, grad)
        if h["momentum"]:
            if t == 1:
                buf[...] = grad
            else:
                buf *= h["momentum"]
                buf += grad
            grad = buf
        np.multiply(grad, h["lr"], out=scratch)
        param -= scratch


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, step t counted per parameter:
        m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²,
        θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε),
    computed as θ ← θ − (lr·c / (1−β₁ᵗ)) · m / (√v + ε·c) with c = √(1−β₂ᵗ): the same number, one
    pass over the parameter fewer (12 in all, each in place into the one scratch buffer)."""

    buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _check(self, name, value, where):
        if name != "betas":
            return super()._check(name, value, where)
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(f"{where}: betas must be a pair of numbers in [0, 1), got {value!r}")
        betas = tuple(_finite_real(b, "betas", where) for b in value)
        if not all(0 <= b < 1 for b in betas):         # β = 1 divides by 1 − βᵗ = 0
            raise ValueError(f"{where}: betas must be a pair of numbers in [0, 1), got {tuple(value)}")
        return betas

    def _update(self, t, param, grad, scratch, m, v):
        h = self.hyperparameters
        beta1, beta2 = h["betas"]
        grad = self._decayed(param, grad)
        m *= beta1
        np.multiply(grad, 1 - beta1, out=scratch)
        m += scratch
        v *= beta2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - beta2
        v += scratch
        c = math.sqrt(1 - beta2 ** t)
        np.sqrt(v, out=scratch)
        scratch += h["eps"] * c
        np.divide(m, scratch, out=scratch)
        scratch *= h["lr"] * c / (1 - beta1 ** t)
        param -= scratch
