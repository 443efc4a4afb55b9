"""MLP GAN (Goodfellow et al. 2014) with the non-saturating loss, as in the study we reproduce."""

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveFloat, PositiveInt

from harness.batches import ShardedNoise
from harness.models import MODELS
from harness.models.base import Backward, Betas, GenerativeModel, LatentDistribution, ModelConfig
from harness.models.layers import ActivationName, mlp


class MLPGANConfig(ModelConfig):
    latent_dim: PositiveInt = 100
    latent_distribution: LatentDistribution = "uniform"
    generator_hidden: list[PositiveInt] = Field(default=[256, 512], min_length=1)
    discriminator_hidden: list[PositiveInt] = Field(default=[512, 256], min_length=1)
    activation: ActivationName = "leaky_relu"
    leaky_slope: float = Field(default=0.2, ge=0)
    lr: PositiveFloat = 2e-4
    betas: Betas = [0.5, 0.999]



@MODELS.register("mlp_gan")
class MLPGAN(GenerativeModel):
    """Generator: latent -> hidden -> pixels (tanh). Discriminator: pixels -> hidden -> 1 logit."""

    config_class = MLPGANConfig
    description = "MLP GAN, non-saturating BCE loss, Adam (study defaults: lr 2e-4, betas 0.5/0.999)"
    loss_names = ("discriminator", "generator")
    config: MLPGANConfig

    def build_networks(self) -> dict[str, torch.nn.Module]:
        c = self.config
        generator = mlp([c.latent_dim, *c.generator_hidden, self.num_pixels], c.activation, c.leaky_slope)
        generator.append(torch.nn.Tanh())
        discriminator = mlp([self.num_pixels, *c.discriminator_hidden, 1], c.activation, c.leaky_slope)
        return {"generator": generator, "discriminator": discriminator}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {
            name: torch.optim.Adam(self.networks[name].parameters(), lr=c.lr, betas=c.betas)
            for name in ("generator", "discriminator")
        }

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def latent_distribution(self) -> LatentDistribution:
        return self.config.latent_distribution

    def _latents(self, noise: ShardedNoise) -> torch.Tensor:
        if self.latent_distribution == "uniform":
            return noise.uniform(-1.0, 1.0, self.latent_dim)
        return noise.normal(self.latent_dim)

    def train_step(self, images: torch.Tensor, noise: ShardedNoise, backward: Backward) -> dict[str, torch.Tensor]:
        generator, discriminator = self.networks["generator"], self.networks["discriminator"]
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        real = images * 2 - 1  # the generator's tanh range
        n = real.shape[0]

        # Discriminator update: the generator runs without a graph, so no gradient reaches it.
        # Real and fake go through one forward pass (one DDP all-reduce per update).
        with torch.no_grad():
            fake = generator(self._latents(noise))
        logits = discriminator(torch.cat([real, fake.to(real.dtype)])).squeeze(1)
        targets = torch.cat([torch.ones(n, device=logits.device), torch.zeros(n, device=logits.device)])
        # Sum of the real and the fake mean losses, as in the standard recipe.
        loss_d = 2 * F.binary_cross_entropy_with_logits(logits.float(), targets)
        opt_d.zero_grad(set_to_none=True)
        backward(loss_d)
        opt_d.step()

        # Generator update: the discriminator is frozen (requires_grad off) and called unwrapped,
        # so its weights get no gradient and DDP expects no reduction for it.
        frozen_discriminator = self.net("discriminator")
        frozen_discriminator.requires_grad_(False)
        try:
            logits_fake = frozen_discriminator(generator(self._latents(noise))).squeeze(1)
            loss_g = F.binary_cross_entropy_with_logits(logits_fake.float(), torch.ones_like(logits_fake, dtype=torch.float32))
            opt_g.zero_grad(set_to_none=True)
            backward(loss_g)
            opt_g.step()
        finally:
            frozen_discriminator.requires_grad_(True)
        return {"discriminator": loss_d.detach(), "generator": loss_g.detach()}

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_images((self.net("generator")(z) + 1) / 2)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.net("generator").parameters()).device
        if self.latent_distribution == "uniform":
            z = torch.rand(n, self.latent_dim, generator=generator) * 2 - 1
        else:
            z = torch.randn(n, self.latent_dim, generator=generator)
        return self.decode(z.to(device)).clamp(0, 1)
