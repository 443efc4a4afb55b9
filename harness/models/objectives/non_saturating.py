"""The non-saturating GAN loss (Goodfellow et al. 2014), as in the study we reproduce."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.models.objectives.base import OBJECTIVES, GANObjective

if TYPE_CHECKING:
    import torch


@OBJECTIVES.register("non_saturating")
class NonSaturating(GANObjective):
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        logits = torch.cat([real_logits, fake_logits]).float()
        targets = torch.cat([torch.ones(len(real_logits), device=logits.device),
                             torch.zeros(len(fake_logits), device=logits.device)])
        # Sum of the real and the fake mean losses, as in the standard recipe.
        return 2 * F.binary_cross_entropy_with_logits(logits, targets)

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        logits = fake_logits.float()
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
