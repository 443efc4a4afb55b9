"""Observation models p(x | z) of the VAE family, selected per run with `likelihood = "..."`.

Each says what data it is a density of, so that its nats mean what they say:

- `bernoulli`: binarized images (pixel >= 128 is 1, a fixed threshold, as the binarized-MNIST
  literature); a probability of discrete data, so nats are comparable with published numbers
  for binarized MNIST (which mostly uses stochastic binarization: close, not identical).
- `continuous_bernoulli` (Loaiza-Ganem & Cunningham 2019) and `gaussian` (learned per-pixel
  standard deviation) / `gaussian_fixed` (standard deviation `observation_std`): densities of
  **dequantized** intensities x = (pixel + u) / 256, u ~ U(0, 1). For such a density,
  log P(pixels) >= log p(x) - D log 256, so bits per dimension are a proper code length.
- `bernoulli_intensities`: the study's (and PyTorch's VAE example's) binary cross-entropy on grey
  levels. It is **not** a density of the data (it does not normalise over [0, 1]), so its
  "nats" are a training loss, not a likelihood; kept so the study can be reproduced.

A new likelihood is one class registered here.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from harness.core.registry import Registry

if TYPE_CHECKING:
    import torch

LOG_256 = math.log(256)
MIN_STD = 1e-3  # a learned Gaussian's standard deviation never goes below this (its density would blow up)


def dequantize(images: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """(pixel + u) / 256 for images stored as pixel / 255 and u ~ U(0, 1) of the same shape."""
    import torch

    return (torch.round(images * 255) + uniform) / 256


class Likelihood(ABC):
    """p(x | z) from the decoder's outputs: `outputs_per_pixel` numbers per pixel, channel-major."""

    outputs_per_pixel: ClassVar[int] = 1
    dequantizes: ClassVar[bool] = False  # a density of dequantized intensities
    proper: ClassVar[bool] = True  # a normalised density/probability of the data it is applied to
    data: ClassVar[str]  # what it is a density of, in words (recorded with the numbers)

    @classmethod
    def from_options(cls, options: Any) -> "Likelihood":  # a VAEOptions (models/options.py imports this module)
        return cls()

    def observe(self, images: torch.Tensor, uniform: torch.Tensor | None) -> torch.Tensor:
        """The data this likelihood is a density of, from images in [0, 1] (and U(0, 1) noise if it dequantizes)."""
        if self.dequantizes:
            return dequantize(images, uniform)
        return images

    @abstractmethod
    def log_prob(self, outputs: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over pixels, from flattened decoder outputs (..., k * pixels) and data (..., pixels)."""

    def batch_nll(self, outputs: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) summed over pixels and averaged over the batch (the training loss)."""
        return -self.log_prob(outputs, observed).sum() / observed.shape[0]

    @abstractmethod
    def mean(self, outputs: torch.Tensor) -> torch.Tensor:
        """The expected image in [0, 1], from image-shaped outputs (n, k * C, H, W)."""

    def bits_per_dim(self, log_likelihood: torch.Tensor | float, dims: int) -> float | None:
        """Code length of the (discrete) data per pixel, or None where the likelihood is not a density."""
        if not self.proper:
            return None
        nats = -float(log_likelihood) + (dims * LOG_256 if self.dequantizes else 0.0)
        return nats / (dims * math.log(2))


LIKELIHOODS: Registry[type[Likelihood]] = Registry("likelihood")


@LIKELIHOODS.register("bernoulli_intensities")
class BernoulliIntensities(Likelihood):
    """Binary cross-entropy on grey levels in [0, 1]; decoder outputs are logits. Not a density."""

    proper = False
    data = "grey levels in [0, 1] under a Bernoulli cross-entropy (not a normalised density)"

    def log_prob(self, outputs: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return -F.binary_cross_entropy_with_logits(outputs, observed, reduction="none").sum(-1)

    def batch_nll(self, outputs: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(outputs, observed, reduction="sum") / observed.shape[0]

    def mean(self, outputs: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.sigmoid(outputs)


@LIKELIHOODS.register("bernoulli")
class Bernoulli(BernoulliIntensities):
    """Bernoulli on binarized pixels (pixel >= 128); a probability of the binarized image."""

    proper = True
    data = "binarized pixels (pixel >= 128 is 1)"

    def observe(self, images: torch.Tensor, uniform: torch.Tensor | None) -> torch.Tensor:
        return (images > 0.5).to(images.dtype)  # 128/255 > 0.5 > 127/255


@LIKELIHOODS.register("continuous_bernoulli")
class ContinuousBernoulli(Likelihood):
    """The continuous Bernoulli, a normalised density on [0, 1]; decoder outputs are logits."""

    dequantizes = True
    data = "dequantized intensities (pixel + u) / 256"

    def log_prob(self, outputs: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.distributions.ContinuousBernoulli(logits=outputs).log_prob(observed).sum(-1)

    def mean(self, outputs: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.distributions.ContinuousBernoulli(logits=outputs).mean


@LIKELIHOODS.register("gaussian")
class Gaussian(Likelihood):
    """N(sigmoid(a), s²) per pixel with s = MIN_STD + softplus(b): the decoder outputs (a, b) per pixel."""

    outputs_per_pixel = 2
    dequantizes = True
    data = "dequantized intensities (pixel + u) / 256"

    def __init__(self, observation_std: float = 0.1) -> None:
        self.observation_std = observation_std

    @classmethod
    def from_options(cls, options: Any) -> "Likelihood":  # a VAEOptions (models/options.py imports this module)
        return cls(options.observation_std)

    def parameters(self, outputs: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch
        import torch.nn.functional as F

        mean, raw_std = outputs.chunk(2, dim=dim)
        return torch.sigmoid(mean), MIN_STD + F.softplus(raw_std)

    def log_prob(self, outputs: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        import torch

        mean, std = self.parameters(outputs, -1)
        return torch.distributions.Normal(mean, std).log_prob(observed).sum(-1)

    def mean(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.parameters(outputs, 1)[0]


@LIKELIHOODS.register("gaussian_fixed")
class GaussianFixed(Gaussian):
    """N(sigmoid(a), observation_std²) per pixel: one output per pixel, the standard deviation an option."""

    outputs_per_pixel = 1

    def parameters(self, outputs: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        mean = torch.sigmoid(outputs)
        return mean, torch.full_like(mean, self.observation_std)
