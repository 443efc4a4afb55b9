"""Optional capabilities that metrics ask for with isinstance, never a class name.

Plain runtime-checkable protocols (attribute checks only), so metric modules can import them
without torch.
"""

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

    from harness.models.latents import Prior
    from harness.models.likelihoods import Likelihood


@runtime_checkable
class Decodes(Protocol):
    """Maps latents to images; GAN inversion and VAE decoding both use it."""

    latent_dim: int
    prior: "Prior"

    def decode(self, z: "torch.Tensor") -> "torch.Tensor":
        """Images in [0, 1], shape (n, C, H, W), from latents of shape (n, latent_dim); differentiable
        in `z` (no `torch.no_grad`): the reconstruction metric inverts a generator by gradient descent."""
        ...


@runtime_checkable
class Encodes(Protocol):
    """Maps images to a posterior over latents (the VAE family)."""

    def encode(self, images: "torch.Tensor") -> "tuple[torch.Tensor, torch.Tensor]":
        """Posterior mean and log-variance for images in [0, 1] of shape (n, C, H, W)."""
        ...


@runtime_checkable
class BoundsLikelihood(Protocol):
    """Gives lower bounds on log p(x) under its own likelihood: the ELBO and importance weights for
    the IWAE bound, on the data as that likelihood observes it (`observe`: binarized, dequantized)."""

    likelihood: "Likelihood"

    def observe(self, images: "torch.Tensor", generator: "torch.Generator") -> "torch.Tensor":
        """Images in [0, 1] turned into the data the likelihood is a density of."""
        ...

    def conditional_log_prob(self, observed: "torch.Tensor", z: "torch.Tensor") -> "torch.Tensor":
        """log p(x | z) per row, shape (n,)."""
        ...

    def elbo(self, observed: "torch.Tensor", generator: "torch.Generator") -> "torch.Tensor":
        """Per-image ELBO in nats (analytic KL, one posterior sample), shape (n,)."""
        ...

    def log_importance_weights(self, observed: "torch.Tensor", num_samples: int,
                               generator: "torch.Generator") -> "torch.Tensor":
        """log p(x, z_i) - log q(z_i | x) for z_i ~ q(z | x), shape (n, num_samples)."""
        ...
