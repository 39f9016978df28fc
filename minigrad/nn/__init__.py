"""Neural-network building blocks with PyTorch's names: `nn.Linear`, `nn.MLP`, …, and `nn.functional`."""

from . import functional, utils
from .modules import INITS, MLP, LeakyReLU, Linear, Module, Parameter, ReLU, Sequential, Sigmoid, Softplus, Tanh

__all__ = ["Module", "Parameter", "Linear", "Sequential", "MLP", "Tanh", "ReLU", "Sigmoid", "Softplus",
           "LeakyReLU", "INITS", "functional", "utils"]
