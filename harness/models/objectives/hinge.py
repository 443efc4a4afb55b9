"""The hinge GAN loss (Lim & Ye 2017; used by Miyato et al. 2018 with spectral normalisation):
the discriminator is a margin classifier (real scores above 1, generated below -1), the generator
raises its images' scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.models.objectives.base import OBJECTIVES, GANObjective

if TYPE_CHECKING:
    import torch


@OBJECTIVES.register("hinge")
class Hinge(GANObjective):
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.relu(1 - real_logits.float()).mean() + F.relu(1 + fake_logits.float()).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()
