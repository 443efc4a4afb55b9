"""The GAN family (Goodfellow et al. 2014): a generator and a discriminator from an architecture,
an objective from harness/models/objectives, and the alternating update written once."""

import torch
from torch import nn

from harness.models.base import Backward, GenerativeModel, Noise, adam
from harness.models.latents import Prior
from harness.models.objectives import GANObjective
from harness.models.options import GANOptions, ImageShape


class GAN(GenerativeModel):
    """Networks: "generator" (latents -> images in [-1, 1], tanh) and "discriminator" (images -> 1 logit)."""

    loss_names = ("discriminator", "generator")
    network_names = ("generator", "discriminator")
    options: GANOptions

    def __init__(self, options: GANOptions, networks: dict[str, nn.Module], image_shape: ImageShape,
                 objective: GANObjective) -> None:
        super().__init__(options, networks, image_shape)
        self.objective = objective
        self.latent_dim = options.latent_dim
        self.prior = Prior(options.latent_distribution, options.latent_dim)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {name: adam(self.networks[name].parameters(), self.options) for name in ("generator", "discriminator")}

    def train_step(self, images: torch.Tensor, noise: Noise, backward: Backward) -> dict[str, torch.Tensor]:
        generator, discriminator = self.networks["generator"], self.networks["discriminator"]
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        real = images * 2 - 1  # the generator's tanh range
        n = real.shape[0]

        # Discriminator update: the generator runs without a graph, so no gradient reaches it.
        # Real and fake go through one forward pass (one DDP all-reduce per update).
        with torch.no_grad():
            fake = generator(self.prior.draw(noise))
        logits = discriminator(torch.cat([real, fake.to(real.dtype)])).squeeze(1)
        loss_d = self.objective.discriminator_loss(logits[:n], logits[n:])
        opt_d.zero_grad(set_to_none=True)
        backward(loss_d)
        opt_d.step()

        # Generator update: the discriminator is frozen (requires_grad off) and called unwrapped,
        # so its weights get no gradient and DDP expects no reduction for it.
        frozen_discriminator = self.net("discriminator")
        frozen_discriminator.requires_grad_(False)
        try:
            loss_g = self.objective.generator_loss(frozen_discriminator(generator(self.prior.draw(noise))).squeeze(1))
            opt_g.zero_grad(set_to_none=True)
            backward(loss_g)
            opt_g.step()
        finally:
            frozen_discriminator.requires_grad_(True)
        return {"discriminator": loss_d.detach(), "generator": loss_g.detach()}

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return ((self.net("generator")(z) + 1) / 2).float()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(self.prior.sample(n, generator).to(self.device())).clamp(0, 1)
