"""WGAN-GP (Gulrajani et al. 2017): the critic estimates the Wasserstein-1 distance as
E D(x) - E D(G(z)) and is kept near 1-Lipschitz by a gradient penalty on real-fake interpolates;
it is trained 5 times per generator update. The penalty and the schedule live in the GAN update
(harness/models/gan.py) and are options of every GAN; this objective only sets their defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.models.objectives.base import OBJECTIVES, GANObjective

if TYPE_CHECKING:
    import torch


@OBJECTIVES.register("wasserstein_gp")
class WassersteinGP(GANObjective):
    critic_steps = 5  # n_critic of the paper's Algorithm 1
    gradient_penalty = 10.0  # lambda of the paper's Algorithm 1

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.float().mean() - real_logits.float().mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()
