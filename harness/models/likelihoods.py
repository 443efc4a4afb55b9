"""Observation models p(x | z) of the VAE family: log-likelihood from decoder outputs, and the mean image.

A new likelihood is one class registered here (the science issue adds proper densities).
"""

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F

from harness.registry import Registry


class Likelihood(ABC):
    @abstractmethod
    def log_prob(self, outputs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over pixels, from flattened decoder outputs and images (..., pixels)."""

    @abstractmethod
    def batch_nll(self, outputs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) summed over pixels and averaged over the batch (training; no per-image tensors)."""

    @abstractmethod
    def mean(self, outputs: torch.Tensor) -> torch.Tensor:
        """The expected image, in [0, 1]."""


LIKELIHOODS: Registry[type[Likelihood]] = Registry("likelihood")


@LIKELIHOODS.register("bernoulli")
class Bernoulli(Likelihood):
    """Bernoulli on pixel intensities in [0, 1]; decoder outputs are logits."""

    def log_prob(self, outputs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(outputs, images, reduction="none").sum(-1)

    def batch_nll(self, outputs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(outputs, images, reduction="sum") / images.shape[0]

    def mean(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(outputs)
