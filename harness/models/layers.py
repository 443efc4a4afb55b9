"""Building blocks shared by architectures (imported when a model is built, not by `validate`)."""

from collections.abc import Callable
from typing import get_args

from torch import nn

from harness.models.options import ActivationName

ACTIVATIONS: dict[str, Callable[[float], nn.Module]] = {
    "relu": lambda slope: nn.ReLU(),
    "leaky_relu": lambda slope: nn.LeakyReLU(slope),
    "elu": lambda slope: nn.ELU(),
    "gelu": lambda slope: nn.GELU(),
    "silu": lambda slope: nn.SiLU(),
    "tanh": lambda slope: nn.Tanh(),
}

assert set(ACTIVATIONS) == set(get_args(ActivationName))


def mlp_layers(sizes: list[int], activation: str, leaky_slope: float = 0.2) -> list[nn.Module]:
    """Linear layers through `sizes`, the activation between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation](leaky_slope))
    return layers


class FromImages(nn.Sequential):
    """A sequential network that reads images (b, C, H, W) as flat vectors.

    Flattening in `forward` (not as a first layer) keeps the parameter names of a plain
    nn.Sequential, so saved weights stay loadable.
    """

    def forward(self, images):
        return super().forward(images.flatten(1))


class ToImages(nn.Sequential):
    """A sequential network whose flat output is returned as images (b, C, H, W)."""

    def __init__(self, *layers: nn.Module, image_shape: tuple[int, int, int]) -> None:
        super().__init__(*layers)
        self.image_shape = tuple(image_shape)

    def forward(self, latents):
        return super().forward(latents).unflatten(1, self.image_shape)
