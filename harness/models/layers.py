"""Building blocks shared by the model families."""

from collections.abc import Callable
from typing import Literal, get_args

from torch import nn

ActivationName = Literal["relu", "leaky_relu", "elu", "gelu", "silu", "tanh"]

ACTIVATIONS: dict[str, Callable[[float], nn.Module]] = {
    "relu": lambda slope: nn.ReLU(),
    "leaky_relu": lambda slope: nn.LeakyReLU(slope),
    "elu": lambda slope: nn.ELU(),
    "gelu": lambda slope: nn.GELU(),
    "silu": lambda slope: nn.SiLU(),
    "tanh": lambda slope: nn.Tanh(),
}

assert set(ACTIVATIONS) == set(get_args(ActivationName))


def mlp(sizes: list[int], activation: str, leaky_slope: float = 0.2) -> nn.Sequential:
    """Linear layers through `sizes`, the activation between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation](leaky_slope))
    return nn.Sequential(*layers)
