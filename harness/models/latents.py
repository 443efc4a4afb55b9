"""The latent prior, written once: training draws (through the strategy's noise), evaluation
samples (from a seeded generator), and the projection that keeps inverted latents in its support."""

import math

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

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) per row (inside the support, for the uniform prior; see `reflect_`)."""
        if self.distribution == "uniform":
            return z.sum(1) * 0 - self.dim * math.log(2)  # constant, but keeps z's graph
        return -0.5 * z.pow(2).sum(1) - 0.5 * self.dim * math.log(2 * math.pi)

    @torch.no_grad()
    def reflect_(self, z: torch.Tensor, momentum: torch.Tensor) -> None:
        """Reflect an HMC trajectory at the support's walls (in place): the box [-1, 1]^d of the uniform prior."""
        if self.distribution != "uniform":
            return
        while True:
            above, below = z > 1, z < -1
            outside = above | below
            if not outside.any():
                return
            z.copy_(torch.where(above, 2 - z, torch.where(below, -2 - z, z)))
            momentum.copy_(torch.where(outside, -momentum, momentum))
