"""The protocol every model family follows, and the optional capabilities metrics ask for.

A family owns its networks and optimizers and knows one training step. The trainer
never looks at a class name: it calls `train_step`; metrics check capabilities with
`isinstance(model, Encodes)` / `isinstance(model, Decodes)`.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Annotated, ClassVar, Literal, Protocol, runtime_checkable

import torch
from accelerate.utils import extract_model_from_parallel
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from harness.batches import ShardedNoise

Backward = Callable[[torch.Tensor], None]
LatentDistribution = Literal["uniform", "normal"]
# Adam's (beta1, beta2): a TOML list of two numbers in [0, 1).
Betas = Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)]


class ModelConfig(BaseModel):
    """Base of every family's options: unknown keys and wrong types are errors, never coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class GenerativeModel(ABC):
    """A model family: networks, their optimizers, one training step and `sample`."""

    config_class: ClassVar[type[ModelConfig]]
    description: ClassVar[str]
    loss_names: ClassVar[tuple[str, ...]]

    def __init__(self, config: ModelConfig, image_shape: tuple[int, int, int]) -> None:
        self.config = config
        self.image_shape = image_shape
        self.num_pixels = image_shape[0] * image_shape[1] * image_shape[2]
        self.networks: dict[str, nn.Module] = self.build_networks()
        self.optimizers: dict[str, torch.optim.Optimizer] = self.build_optimizers()

    @abstractmethod
    def build_networks(self) -> dict[str, nn.Module]: ...

    @abstractmethod
    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    @abstractmethod
    def train_step(self, images: torch.Tensor, noise: ShardedNoise, backward: Backward) -> dict[str, torch.Tensor]:
        """One update on `images` (floats in [0, 1], shape (b, pixels)); returns detached named losses."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` new images, floats in [0, 1], shape (n, C, H, W)."""

    def net(self, name: str) -> nn.Module:
        """The plain module behind a (possibly DDP-wrapped) network, for inference."""
        return extract_model_from_parallel(self.networks[name])

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

    def to_images(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.float().reshape(-1, *self.image_shape)


@runtime_checkable
class Decodes(Protocol):
    """Maps latents to images; GAN inversion and VAE decoding both use it."""

    latent_dim: int
    latent_distribution: LatentDistribution

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], shape (n, C, H, W), from latents of shape (n, latent_dim)."""
        ...


@runtime_checkable
class Encodes(Protocol):
    """Maps images to a posterior over latents (the VAE family)."""

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance for images in [0, 1] of shape (n, C, H, W)."""
        ...


@runtime_checkable
class BoundsLikelihood(Protocol):
    """Gives lower bounds on log p(x): the ELBO and importance weights for the IWAE bound."""

    def elbo(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-image ELBO in nats (analytic KL, one posterior sample), shape (n,)."""
        ...

    def log_importance_weights(self, images: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """log p(x, z_i) - log q(z_i | x) for z_i ~ q(z | x), shape (n, num_samples)."""
        ...
