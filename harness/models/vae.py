"""The VAE family (Kingma & Welling 2014): an encoder and a decoder from an architecture, a
likelihood from harness/models/likelihoods, and the ELBO / IWAE maths written once.

The encoder maps images to 2 x latent_dim numbers (posterior mean and log-variance); the decoder
maps latents to the likelihood's parameters, image-shaped. Loss = -ELBO per image, batch mean.
"""

import math

import torch
from torch import nn

from harness.models.base import Backward, GenerativeModel, Noise, adam
from harness.models.latents import Prior
from harness.models.likelihoods import LIKELIHOODS, Likelihood
from harness.models.options import ImageShape, VAEOptions
from harness.models.registry import FAMILIES

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class VAE(GenerativeModel):
    loss_names = ("loss", "reconstruction", "kl")
    network_names = ("encoder", "decoder")
    options: VAEOptions

    def __init__(self, options: VAEOptions, networks: dict[str, nn.Module], image_shape: ImageShape,
                 likelihood: Likelihood) -> None:
        super().__init__(options, networks, image_shape)
        self.likelihood = likelihood
        self.latent_dim = options.latent_dim
        self.prior = Prior("normal", options.latent_dim)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": adam([p for net in self.networks.values() for p in net.parameters()], self.options)}

    def _posterior(self, encoder: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = encoder(images).float().chunk(2, dim=1)
        return mean, logvar

    def negative_elbo_terms(self, observed: torch.Tensor, eps: torch.Tensor, encoder: nn.Module, decoder: nn.Module,
                            per_image: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction NLL (nats) and KL(q(z|x) || N(0, I)) per image, shape (b,) each,
        or (per_image=False) their batch means, computed without per-image intermediates (training).
        `observed`: images as the likelihood sees them (binarized or dequantized: `observe`)."""
        mean, logvar = self._posterior(encoder, observed)
        z = mean + torch.exp(0.5 * logvar) * eps
        outputs = decoder(z).float().flatten(1)
        target = observed.float().flatten(1)
        kl_terms = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)
        if not per_image:
            return self.likelihood.batch_nll(outputs, target), kl_terms.sum() / observed.shape[0]
        return -self.likelihood.log_prob(outputs, target), kl_terms.sum(1)

    def train_step(self, images: torch.Tensor, noise: Noise, backward: Backward) -> dict[str, torch.Tensor]:
        """One update on -ELBO with the KL term weighted by beta (beta-VAE), or with train_samples
        k > 1 on the IWAE bound (-log mean_k w_k); `reconstruction` and `kl` are the ELBO's two terms
        either way (averaged over the k samples), so histories stay comparable."""
        k = self.options.train_samples
        eps = noise.normal(self.latent_dim) if k == 1 else noise.normal(k, self.latent_dim)
        uniform = noise.uniform(0.0, 1.0, *images.shape[1:]) if self.likelihood.dequantizes else None
        observed = self.likelihood.observe(images, uniform)
        if k == 1:
            reconstruction, kl = self.negative_elbo_terms(observed, eps, self.networks["encoder"],
                                                          self.networks["decoder"], per_image=False)
            loss = reconstruction + self.options.beta * kl
        else:
            mean, logvar = self._posterior(self.networks["encoder"], observed)
            log_px_z, log_pz, log_qz_x = self._log_weight_terms(observed, mean, logvar, eps, self.networks["decoder"])
            loss = -(torch.logsumexp(log_px_z + log_pz - log_qz_x, dim=1) - math.log(k)).mean()
            reconstruction, kl = -log_px_z.mean(), (log_qz_x - log_pz).mean()
        optimizer = self.optimizers["vae"]
        optimizer.zero_grad(set_to_none=True)
        backward(loss)
        optimizer.step()
        return {"loss": loss.detach(), "reconstruction": reconstruction.detach(), "kl": kl.detach()}

    def _log_weight_terms(self, observed: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor,
                          decoder: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """log p(x|z), log p(z) and log q(z|x) for z = mean + std * eps, each (n, k), eps (n, k, d)."""
        n, k, d = eps.shape
        z = mean[:, None, :] + torch.exp(0.5 * logvar)[:, None, :] * eps
        outputs = decoder(z.reshape(n * k, d)).float().reshape(n, k, -1)
        flat = observed.float().flatten(1)
        log_px_z = self.likelihood.log_prob(outputs, flat[:, None, :].expand(n, k, flat.shape[1]))
        log_pz = (-0.5 * z.pow(2) - HALF_LOG_2PI).sum(-1)
        log_qz_x = (-0.5 * eps.pow(2) - HALF_LOG_2PI - 0.5 * logvar[:, None, :]).sum(-1)
        return log_px_z, log_pz, log_qz_x

    # -- capabilities: Encodes, Decodes, BoundsLikelihood ----------------------------------

    def observe(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Images in [0, 1] as the likelihood observes them (binarized, dequantized with `generator`, or as is)."""
        uniform = torch.rand(images.shape, generator=generator).to(images.device) if self.likelihood.dequantizes else None
        return self.likelihood.observe(images.float(), uniform)

    def conditional_log_prob(self, observed: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per row, for observed data (n, C, H, W) and latents (n, latent_dim)."""
        return self.likelihood.log_prob(self.net("decoder")(z).float().flatten(1), observed.flatten(1))

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._posterior(self.net("encoder"), images)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.net("decoder")(z).float())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(self.prior.sample(n, generator).to(self.device()))

    @torch.no_grad()
    def elbo(self, observed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        observed = observed.float()
        eps = torch.randn((observed.shape[0], self.latent_dim), generator=generator).to(observed.device)
        reconstruction, kl = self.negative_elbo_terms(observed, eps, self.net("encoder"), self.net("decoder"))
        return -(reconstruction + kl)

    @torch.no_grad()
    def log_importance_weights(self, observed: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        images = observed.float()
        mean, logvar = self.encode(images)
        eps = torch.randn((mean.shape[0], num_samples, mean.shape[1]), generator=generator).to(mean.device)
        log_px_z, log_pz, log_qz_x = self._log_weight_terms(images, mean, logvar, eps, self.net("decoder"))
        return log_px_z + log_pz - log_qz_x


@FAMILIES.register("vae")
def build_vae(options: VAEOptions, networks: dict[str, nn.Module], image_shape: ImageShape) -> VAE:
    return VAE(options, networks, image_shape, LIKELIHOODS.get(options.likelihood).from_options(options))
