"""The original minimax GAN loss (Goodfellow et al. 2014, "MM GAN" in Lucic et al. 2018): the
generator minimises log(1 - D(G(z))) directly. It saturates when the discriminator is confident,
which is why the non-saturating loss replaced it; kept to compare the two."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.models.objectives.base import OBJECTIVES, GANObjective

if TYPE_CHECKING:
    import torch


@OBJECTIVES.register("minimax")
class Minimax(GANObjective):
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        # -log D(x) - log(1 - D(G(z))), with log sigmoid(a) = -softplus(-a)
        import torch.nn.functional as F

        return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return -F.softplus(fake_logits.float()).mean()  # log(1 - D(G(z)))
