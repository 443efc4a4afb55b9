"""The latent prior, written once: training draws (through the strategy's noise), evaluation
samples (from a seeded generator), and the projection that keeps inverted latents in its support."""

import torch

from harness.models.base import Noise
from harness.models.options import LatentDistribution


class Prior:
    """Uniform on [-1, 1]^d or standard normal N(0, I_d)."""

    def __init__(self, distribution: LatentDistribution, dim: int) -> None:
        self.distribution = distribution
        self.dim = dim

    def draw(self, noise: Noise) -> torch.Tensor:
        """Latents for one training step (local batch, dim)."""
        if self.distribution == "uniform":
            return noise.uniform(-1.0, 1.0, self.dim)
        return noise.normal(self.dim)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` latents on the CPU from `generator`."""
        if self.distribution == "uniform":
            return torch.rand(n, self.dim, generator=generator) * 2 - 1
        return torch.randn(n, self.dim, generator=generator)

    @torch.no_grad()
    def project_(self, z: torch.Tensor) -> None:
        """Move optimised latents back into the prior's support (in place)."""
        if self.distribution == "uniform":
            z.clamp_(-1, 1)
