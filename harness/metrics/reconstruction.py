"""Reconstruction error on the seeded random test subset, for every model that can decode.

Two procedures, so that the families can be compared both ways:
- `reconstruction_mse`, the model's own way: a model that encodes (VAE) decodes the encoder's
  mean (amortized); a model that only decodes (GAN) inverts.
- `inversion_mse`, the same procedure for every decoder: latent inversion, z optimised per
  image with Adam, all images and restarts in one batch, kept inside the prior's support, best
  restart per image. For a VAE this says how much of its advantage is the encoder and how much
  the decoder's range.
The time spent is recorded: inversion is the price a GAN pays to reconstruct.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import Field, PositiveFloat, PositiveInt

from harness.metrics.registry import METRICS
from harness.metrics.base import Column, Metric, MetricSettings
from harness.models.capabilities import Decodes, Encodes
from harness.core.seeds import derived_seed

if TYPE_CHECKING:
    import torch

    from harness.models.base import GenerativeModel

INVERSION_CHUNK = 1000  # images inverted together (per process)


def invert(model: Decodes, images: torch.Tensor, steps: int, restarts: int, lr: float,
           generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Best latent per image and its per-image MSE, optimising restarts x images latents at once."""
    import torch

    device = images.device
    n = len(images)
    z = model.prior.sample(restarts * n, generator).to(device).requires_grad_(True)
    target = images.repeat(restarts, 1, 1, 1)
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        per_latent = (model.decode(z).float() - target).pow(2).flatten(1).mean(1)
        optimizer.zero_grad(set_to_none=True)
        per_latent.sum().backward()
        optimizer.step()
        model.prior.project_(z)  # projected gradient: stay in the prior's support
    with torch.no_grad():
        errors = (model.decode(z).float() - target).pow(2).flatten(1).mean(1).reshape(restarts, n)
        best = errors.argmin(0)
        chosen = z.detach().reshape(restarts, n, -1)[best, torch.arange(n)]
        return chosen, errors[best, torch.arange(n)]


@contextmanager
def frozen(model: GenerativeModel) -> Iterator[None]:
    """No gradients for the model's weights (only latents are optimised), restored afterwards."""
    parameters = [p for name in model.networks for p in model.net(name).parameters()]
    flags = [p.requires_grad for p in parameters]
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(parameters, flags):
            p.requires_grad_(flag)


def reconstruct(model: GenerativeModel, images: torch.Tensor, steps: int, restarts: int, lr: float,
                generator: torch.Generator) -> torch.Tensor:
    """The model's reconstruction of `images`: decoded encoder mean, or the decoded best inverted latent."""
    import torch

    with torch.no_grad():
        if isinstance(model, Encodes):
            return model.decode(model.encode(images)[0]).float()
    latents, _ = invert(model, images, steps, restarts, lr, generator)
    with torch.no_grad():
        return model.decode(latents).float()


class ReconstructionSettings(MetricSettings):
    reconstruction_images: PositiveInt = Field(default=1000, description="seeded random test images, same for every run")
    inversion_steps: PositiveInt = Field(default=500, description="GAN reconstruction: Adam steps per latent")
    inversion_restarts: PositiveInt = Field(default=4, description="GAN reconstruction: random starts per image")
    inversion_lr: PositiveFloat = Field(default=0.05, description="GAN reconstruction: Adam learning rate")


@METRICS.register("reconstruction")
class Reconstruction(Metric):
    name = "reconstruction"
    Settings = ReconstructionSettings
    test_image_settings = ("reconstruction_images",)
    requires = (Decodes,)
    columns = (
        Column("reconstruction_mse", "reconstruction MSE", "lower", digits=3, leaderboard=True, chart=True,
               summary=True),
        Column("inversion_mse", "inversion MSE", "lower", digits=3, chart=True),
        Column("reconstruction_method", "reconstruction method", None, numeric=False),
        Column("reconstruction_seconds", "reconstruction time", "lower", "s"),
    )

    def settings(self, session) -> dict[str, Any]:
        c = self.configured(session.config)
        return {"images": session.test_subset(c.reconstruction_images), "inversion_steps": c.inversion_steps,
                "inversion_restarts": c.inversion_restarts, "inversion_lr": c.inversion_lr,
                "pixel_range": "[0, 1]"}

    def compute(self, model, session) -> dict[str, Any]:
        import torch

        c = self.configured(session.config)
        images = session.test_images[session.test_indices(c.reconstruction_images)]
        started = time.perf_counter()

        def inversion_errors(chunk: int, start: int, stop: int) -> torch.Tensor:
            # The inversion's own per-image errors: decoding the chosen latents again in a smaller
            # batch could round differently.
            generator = torch.Generator().manual_seed(derived_seed(0, "inversion", chunk))
            batch = images[start:stop].to(session.device)
            return invert(model, batch, c.inversion_steps, c.inversion_restarts, c.inversion_lr, generator)[1]

        with frozen(model):
            inversion = float(session.strategy.map_chunks(len(images), INVERSION_CHUNK, inversion_errors).double().mean())
        values = {"reconstruction_mse": inversion, "inversion_mse": inversion, "reconstruction_method": "latent inversion"}
        if isinstance(model, Encodes):
            with torch.no_grad():
                rebuilt = torch.cat([model.decode(model.encode(images[i : i + INVERSION_CHUNK].to(session.device))[0])
                                     .float().cpu() for i in range(0, len(images), INVERSION_CHUNK)])
            values.update(reconstruction_mse=float((rebuilt - images).pow(2).flatten(1).mean(1).double().mean()),
                          reconstruction_method="encoder mean")
        return {**values, "reconstruction_seconds": round(time.perf_counter() - started, 3)}
