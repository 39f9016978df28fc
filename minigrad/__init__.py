"""minigrad: a small, fast, honest reverse-mode autodiff engine on NumPy."""

from . import distributions, estimators, functional, nn, optim, random
from .engine import (
    Function,
    Tensor,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    ones,
    ones_like,
    tensor,
    unbroadcast,
    zeros,
    zeros_like,
)
from .estimators import pathwise_gradient, score_function_gradient
from .gradcheck import GradcheckError, gradcheck, numerical_grad
from .graph import draw, explain, to_dot
from .ops import (
    abs,
    add,
    broadcast_to,
    clip,
    concatenate,
    cos,
    div,
    exp,
    expand_dims,
    leaky_relu,
    log,
    log1p,
    log_sigmoid,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    pow,
    relu,
    reshape,
    sigmoid,
    sin,
    softplus,
    sqrt,
    squeeze,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    where,
)
from .random import as_generator
from .reparam import DirectGaussianSample, GaussianReparam, gaussian_reparam

__version__ = "0.1.0"
