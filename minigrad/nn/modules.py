"""Modules with PyTorch's names: Module, Parameter, Linear, Sequential, MLP and activations."""

import numpy as np

from .. import ops
from ..engine import Tensor, _as_array, clock
from ..random import as_generator

__all__ = ["Module", "Parameter", "Linear", "Sequential", "MLP", "Tanh", "ReLU", "Sigmoid",
           "Softplus", "LeakyReLU"]


class Parameter(Tensor):
    """A leaf tensor owned by a Module and updated by an optimizer: its own copy of the data,
    requires_grad=True."""

    __slots__ = ()

    def __init__(self, data, dtype=None):
        super().__init__(_as_array(data, dtype, copy=True), requires_grad=True)


class Module:
    """Base class: attributes that are Parameters, Modules, or lists/tuples of them are found by
    `named_parameters()`, in the order they were assigned, under dotted names."""

    def __call__(self, *args, **kwargs):
        first = clock()
        out = self.forward(*args, **kwargs)
        self._span = (first, clock())    # nodes made inside: draw() can group them
        return out

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def _children(self):
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix="", _seen=None):
        seen = set() if _seen is None else _seen
        for name, value in self._children():
            if isinstance(value, Parameter):
                if id(value) not in seen:
                    seen.add(id(value))
                    yield prefix + name, value
            else:
                yield from value.named_parameters(f"{prefix}{name}.", seen)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def modules(self):
        yield self
        for _, value in self._children():
            if isinstance(value, Module):
                yield from value.modules()

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def state_dict(self):
        """{name: copy of the parameter's array}."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters in place (optimizers keep pointing at the same tensors)."""
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise ValueError(f"load_state_dict: {type(self).__name__} does not match the state dict: "
                             f"missing keys {missing}, unexpected keys {unexpected}")
        values = {}
        for name, p in own.items():           # check everything first: a failed load changes nothing
            if name not in state_dict:
                continue
            value = np.asarray(state_dict[name])
            if value.shape != p.shape:
                raise ValueError(f"load_state_dict: shape mismatch for {name!r}: the state dict has "
                                 f"{value.shape}, the model has {p.shape}")
            if value.dtype.kind not in "fiu":
                raise TypeError(f"load_state_dict: {name!r} has dtype {value.dtype}, expected numbers")
            values[name] = value
        for name, value in values.items():
            own[name].data[...] = value
            own[name]._bump_version()

    def __repr__(self):
        inner = [f"  ({name}): " + repr(m).replace("\n", "\n  ")
                 for name, m in self._children() if isinstance(m, Module)]
        return f"{type(self).__name__}({self.extra_repr()}" + ("\n" + "\n".join(inner) + "\n)" if inner else ")")

    def extra_repr(self):
        return ""


class Linear(Module):
    """y = x Wᵀ + b with W of shape (out_features, in_features).

    init="glorot" (default, for tanh/sigmoid): W ~ U(−a, a), a = √(6 / (in + out));
    init="he" (for ReLU): W ~ N(0, 2 / in). The bias starts at 0. `rng` is a numpy Generator or a seed."""

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None, init="glorot"):
        if not all(isinstance(n, (int, np.integer)) and n > 0 for n in (in_features, out_features)):
            raise ValueError(f"Linear: in_features and out_features must be positive integers, got "
                             f"{in_features!r} and {out_features!r}")
        rng = as_generator(rng, "Linear")
        if init == "glorot":
            limit = np.sqrt(6.0 / (in_features + out_features))
            w = rng.uniform(-limit, limit, size=(out_features, in_features))
        elif init == "he":
            w = rng.normal(0.0, np.sqrt(2.0 / in_features), size=(out_features, in_features))
        else:
            raise ValueError(f"Linear: init must be 'glorot' or 'he', got {init!r}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(w, dtype=dtype)
        self.bias = Parameter(np.zeros(out_features), dtype=dtype) if bias else None

    def forward(self, x):
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: expected input with last dimension {self.in_features}, got shape "
                             f"{x.shape}")
        return ops.Linear.apply(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}, dtype={self.weight.dtype}"


class Tanh(Module):
    def forward(self, x):
        return ops.tanh(x)


class ReLU(Module):
    def forward(self, x):
        return ops.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return ops.sigmoid(x)


class Softplus(Module):
    def forward(self, x):
        return ops.softplus(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope)


class Sequential(Module):
    """Applies its modules in order; parameters are named '0.weight', '1.bias', … as in PyTorch."""

    def __init__(self, *modules):
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def __iter__(self):
        return iter([m for m in vars(self).values() if isinstance(m, Module)])

    def __len__(self):
        return len(list(iter(self)))

    def __getitem__(self, i):
        return list(iter(self))[i]

    def forward(self, x):
        for m in self:
            x = m(x)
        return x


ACTIVATIONS = {"tanh": Tanh, "relu": ReLU, "sigmoid": Sigmoid, "softplus": Softplus, "leaky_relu": LeakyReLU}


def _activation(activation, what):
    """The Module class for an activation given by name or as a Module subclass."""
    act = ACTIVATIONS.get(activation) if isinstance(activation, str) else activation
    if not (isinstance(act, type) and issubclass(act, Module)):
        raise ValueError(f"MLP: unknown {what} {activation!r}; choose from {sorted(ACTIVATIONS)} "
                         "or pass a Module subclass")
    return act


class MLP(Sequential):
    """Linear → activation → … → Linear for layer sizes [in, h₁, …, out]; no activation after the last
    layer unless `output_activation` is given. ReLU-family activations get He initialization."""

    def __init__(self, sizes, activation="tanh", output_activation=None, dtype=np.float32, rng=None):
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        act = _activation(activation, "activation")
        out_act = None if output_activation is None else _activation(output_activation, "output_activation")
        init = "he" if act in (ReLU, LeakyReLU) else "glorot"
        rng = as_generator(rng, "MLP")
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, dtype=dtype, rng=rng, init=init))
            if i < len(sizes) - 2:
                layers.append(act())
            elif out_act is not None:
                layers.append(out_act())
        super().__init__(*layers)
