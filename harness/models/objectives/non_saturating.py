"""The non-saturating GAN loss (Goodfellow et al. 2014), as in the study we reproduce."""

import torch
import torch.nn.functional as F

from harness.models.objectives import OBJECTIVES, GANObjective


@OBJECTIVES.register("non_saturating")
class NonSaturating(GANObjective):
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        logits = torch.cat([real_logits, fake_logits]).float()
        targets = torch.cat([torch.ones(len(real_logits), device=logits.device),
                             torch.zeros(len(fake_logits), device=logits.device)])
        # Sum of the real and the fake mean losses, as in the standard recipe.
        return 2 * F.binary_cross_entropy_with_logits(logits, targets)

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        logits = fake_logits.float()
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
