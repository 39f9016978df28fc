"""Optimizers with PyTorch's names and update rules, updating parameters in place.

Every buffer (momentum, Adam's moments, one scratch array) is allocated once per parameter, at the
first step that parameter has a gradient, and reused: a step allocates no new arrays. A parameter
whose `.grad` is None is skipped, not treated as a zero gradient.
"""

import math

import numpy as np

from .engine import Tensor

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
        for name, value in hyperparameters.items():
            if not np.all(np.asarray(value, dtype=float) >= 0):      # also rejects NaN
                raise ValueError(f"{type(self).__name__}: {name} must be ≥ 0, got {value}")
        self.params = params
        self.hyperparameters = hyperparameters
        self.state = [{} for _ in params]

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
            self._update(p.data, p.grad, state, state["scratch"])
            p._bump_version()                  # a node that saved p must not use the new values

    def _update(self, param, grad, state, scratch):
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
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(states)} parameters, "
                             f"this optimizer has {len(self.params)}")
        for i, (p, saved) in enumerate(zip(self.params, states)):
            for key in self.buffers:
                if key in saved and np.shape(saved[key]) != p.shape:
                    raise ValueError(f"{name}.load_state_dict: {key} of parameter {i} has shape "
                                     f"{np.shape(saved[key])}, the parameter has {p.shape}")
        self.hyperparameters.update(state_dict["hyperparameters"])
        for p, state, saved in zip(self.params, self.state, states):
            state.clear()
            if saved:
                state.update({k: np.array(v, dtype=p.dtype) for k, v in saved.items() if k in self.buffers},
                             step=int(saved["step"]), scratch=np.zeros_like(p.data))


class SGD(Optimizer):
    """θ ← θ − lr · v, with v = μ v + g (v = g on the first step) when momentum μ > 0, else v = g."""

    buffers = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def _update(self, param, grad, state, scratch):
        h = self.hyperparameters
        grad = self._decayed(param, grad)
        if h["momentum"]:
            buf = state["momentum_buffer"]
            if state["step"] == 1:
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
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: betas must be a pair of numbers in [0, 1), got {betas}")
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def _update(self, param, grad, state, scratch):
        h = self.hyperparameters
        beta1, beta2 = h["betas"]
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
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
