"""The least-squares GAN loss (LSGAN, Mao et al. 2017), with the 0-1-1 coding of their eq. (9):
the discriminator regresses real images to 1 and generated ones to 0, the generator pushes its
images' scores to 1. Squared distances do not saturate where the sigmoid cross-entropy does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.models.objectives.base import OBJECTIVES, GANObjective

if TYPE_CHECKING:
    import torch


@OBJECTIVES.register("least_squares")
class LeastSquares(GANObjective):
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real, fake = real_logits.float(), fake_logits.float()
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((fake_logits.float() - 1) ** 2).mean()
