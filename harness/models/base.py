"""What every model is to the trainer and the metrics: networks, optimizers, one update, `sample`.

The trainer never looks at a class name: it calls `train_step` with image-shaped batches
(b, C, H, W) and a `Noise` source for the step's random draws (the strategy decides which
share of the global draw this process gets; the model never knows about ranks).
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Protocol

import torch
from accelerate.utils import extract_model_from_parallel
from torch import nn

from harness.models.options import ImageShape, ModelOptions

Backward = Callable[[torch.Tensor], None]


class Noise(Protocol):
    """Random draws for one training step: a (local batch, *shape) tensor on the training device."""

    def normal(self, *shape: int) -> torch.Tensor: ...

    def uniform(self, low: float, high: float, *shape: int) -> torch.Tensor: ...


class GenerativeModel(ABC):
    """A model: named networks, their optimizers, one training step and `sample`."""

    loss_names: ClassVar[tuple[str, ...]]
    network_names: ClassVar[tuple[str, ...]]  # what an architecture must build for this family

    def __init__(self, options: ModelOptions, networks: dict[str, nn.Module], image_shape: ImageShape) -> None:
        if set(networks) != set(self.network_names):
            raise ValueError(f"a {type(self).__name__} architecture builds {', '.join(map(repr, self.network_names))}, "
                             f"not {sorted(networks)}")
        self.options = options
        self.image_shape = image_shape
        self.networks = networks
        self._plain_networks: dict[str, tuple[nn.Module, nn.Module]] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = self.build_optimizers()

    @abstractmethod
    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    @abstractmethod
    def train_step(self, images: torch.Tensor, noise: Noise, backward: Backward) -> dict[str, torch.Tensor]:
        """One update on `images` (floats in [0, 1], shape (b, C, H, W)); returns detached named losses."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` new images, floats in [0, 1], shape (n, C, H, W)."""

    def net(self, name: str) -> nn.Module:
        """The plain module behind a (possibly DDP-wrapped) network, for inference and frozen use.

        Cached per wrapper: accelerate's unwrapping checks versions and walks the module tree on
        every call (about 0.1 ms), and the GAN asks for its discriminator on every step.
        """
        wrapped = self.networks[name]
        cached = self._plain_networks.get(name)
        if cached is None or cached[0] is not wrapped:
            cached = self._plain_networks[name] = (wrapped, extract_model_from_parallel(wrapped))
        return cached[1]

    def device(self) -> torch.device:
        return next(self.net(next(iter(self.networks))).parameters()).device

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in self.net(name).parameters()) for name in self.networks}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """All networks' weights under '<network>.<parameter>' keys (for safetensors)."""
        return {
            f"{name}.{key}": value.detach().cpu().contiguous()
            for name in self.networks
            for key, value in self.net(name).state_dict().items()
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name in self.networks:
            prefix = f"{name}."
            self.net(name).load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})


def adam(parameters, options: ModelOptions) -> torch.optim.Adam:
    """Adam with the options' lr and betas (every family's optimizer so far).

    The fused kernel updates every parameter in one pass instead of a dozen element-wise passes
    per tensor: the tuned GAN trains 1.3-1.5x faster on a CPU (docs/benchmarks.md, "Fused Adam"),
    and CUDA has the same kernel. The models are built on the CPU, which supports it.
    """
    return torch.optim.Adam(parameters, lr=options.lr, betas=options.betas, fused=True)
