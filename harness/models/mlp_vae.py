"""MLP VAE (Kingma & Welling 2014) with a Bernoulli likelihood on pixel intensities in [0, 1]."""

import math

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveFloat, PositiveInt

from harness.batches import ShardedNoise
from harness.models import MODELS
from harness.models.base import Backward, Betas, GenerativeModel, LatentDistribution, ModelConfig
from harness.models.layers import ActivationName, mlp


class MLPVAEConfig(ModelConfig):
    latent_dim: PositiveInt = 64
    encoder_hidden: list[PositiveInt] = Field(default=[256], min_length=1)
    decoder_hidden: list[PositiveInt] = Field(default=[256], min_length=1)
    activation: ActivationName = "relu"
    leaky_slope: float = Field(default=0.2, ge=0)
    lr: PositiveFloat = 1e-3
    betas: Betas = [0.9, 0.999]


@MODELS.register("mlp_vae")
class MLPVAE(GenerativeModel):
    """Encoder: pixels -> hidden -> (mean, log-variance). Decoder: latent -> hidden -> pixel logits."""

    config_class = MLPVAEConfig
    description = "MLP VAE, Bernoulli decoder, loss = summed BCE + KL per image, Adam (default lr 1e-3)"
    loss_names = ("loss", "reconstruction", "kl")
    latent_distribution: LatentDistribution = "normal"
    config: MLPVAEConfig

    def build_networks(self) -> dict[str, torch.nn.Module]:
        c = self.config
        return {
            "encoder": mlp([self.num_pixels, *c.encoder_hidden, 2 * c.latent_dim], c.activation, c.leaky_slope),
            "decoder": mlp([c.latent_dim, *c.decoder_hidden, self.num_pixels], c.activation, c.leaky_slope),
        }

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        params = [p for net in self.networks.values() for p in net.parameters()]
        return {"vae": torch.optim.Adam(params, lr=self.config.lr, betas=self.config.betas)}

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def negative_elbo_terms(
        self, images: torch.Tensor, eps: torch.Tensor, encoder: torch.nn.Module, decoder: torch.nn.Module,
        per_image: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction NLL (summed BCE, nats) and KL(q(z|x) || N(0, I)) per image, shape (b,) each,
        or (per_image=False) their batch means, computed without per-image intermediates (training)."""
        mean, logvar = encoder(images).float().chunk(2, dim=1)
        z = mean + torch.exp(0.5 * logvar) * eps
        logits = decoder(z).float()
        kl_terms = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)
        if not per_image:
            n = images.shape[0]
            return F.binary_cross_entropy_with_logits(logits, images.float(), reduction="sum") / n, kl_terms.sum() / n
        reconstruction = F.binary_cross_entropy_with_logits(logits, images.float(), reduction="none").sum(1)
        return reconstruction, kl_terms.sum(1)

    def train_step(self, images: torch.Tensor, noise: ShardedNoise, backward: Backward) -> dict[str, torch.Tensor]:
        eps = noise.normal(self.latent_dim)
        reconstruction, kl = self.negative_elbo_terms(
            images, eps, self.networks["encoder"], self.networks["decoder"], per_image=False
        )
        loss = reconstruction + kl
        optimizer = self.optimizers["vae"]
        optimizer.zero_grad(set_to_none=True)
        backward(loss)
        optimizer.step()
        return {"loss": loss.detach(), "reconstruction": reconstruction.detach(), "kl": kl.detach()}

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.net("encoder")(images.reshape(images.shape[0], -1)).float().chunk(2, dim=1)
        return mean, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_images(torch.sigmoid(self.net("decoder")(z).float()))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.net("decoder").parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.decode(z)



    # -- likelihood bounds (BoundsLikelihood) ------------------------------------------------

    def _posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        flat = images.reshape(images.shape[0], -1).float()
        mean, logvar = self.net("encoder")(flat).float().chunk(2, dim=1)
        return flat, mean, logvar

    def _draw(self, shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randn(shape, generator=generator).to(device)

    @torch.no_grad()
    def elbo(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        flat = images.reshape(images.shape[0], -1).float()
        eps = self._draw((flat.shape[0], self.latent_dim), generator, flat.device)
        reconstruction, kl = self.negative_elbo_terms(flat, eps, self.net("encoder"), self.net("decoder"))
        return -(reconstruction + kl)

    @torch.no_grad()
    def log_importance_weights(self, images: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        flat, mean, logvar = self._posterior(images)
        n, d = mean.shape
        eps = self._draw((n, num_samples, d), generator, mean.device)
        std = torch.exp(0.5 * logvar)[:, None, :]
        z = mean[:, None, :] + std * eps
        logits = self.net("decoder")(z.reshape(n * num_samples, d)).float().reshape(n, num_samples, -1)
        log_px_z = -F.binary_cross_entropy_with_logits(
            logits, flat[:, None, :].expand_as(logits), reduction="none"
        ).sum(-1)
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        log_pz = (-0.5 * z.pow(2) - half_log_2pi).sum(-1)
        log_qz_x = (-0.5 * eps.pow(2) - half_log_2pi - 0.5 * logvar[:, None, :]).sum(-1)
        return log_px_z + log_pz - log_qz_x
