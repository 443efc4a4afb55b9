"""GAN objectives: the losses of the discriminator and generator updates, for any architecture.

A new objective is one module here that registers a `GANObjective` subclass.
"""

from abc import ABC, abstractmethod

import torch

from harness.registry import Registry


class GANObjective(ABC):
    """Losses from discriminator logits, shape (n,); real and fake come from one forward pass."""

    @abstractmethod
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor: ...


OBJECTIVES: Registry[type[GANObjective]] = Registry("GAN objective")

from harness.models.objectives import hinge, least_squares, non_saturating  # noqa: E402,F401
