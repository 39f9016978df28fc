"""minigrad: a small, fast, honest reverse-mode autodiff engine on NumPy."""

from . import distributions, estimators, nn, optim, random
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
from .nn import functional  # minigrad.functional is minigrad.nn.functional, one module
from .ops import *  # noqa: F403 - every op function is also minigrad.<name>
from .ops import linalg  # minigrad.linalg, as numpy.linalg
from .random import as_generator
from .reparam import DirectGaussianSample, GaussianReparam, gaussian_reparam_logvar

__version__ = "0.1.0"
