"""Reconstruction error on a fixed test subset, for every model that can decode.

A model that encodes (VAE) reconstructs by decoding the encoder's mean. A model that only
decodes (GAN) reconstructs by latent inversion: z is optimised per image with Adam, all
images and restarts in one batch, kept inside the latent's support, best restart per image.
The time spent is recorded: inversion is the price a GAN pays to reconstruct.
"""

import time
from typing import Any

import torch

from harness.batches import derived_seed
from harness.evaluation.sharding import map_chunks
from harness.metrics import METRICS
from harness.metrics.base import Metric
from harness.models.base import Decodes, Encodes, GenerativeModel

INVERSION_CHUNK = 1000  # images inverted together (per process)


def prior_sample(model: Decodes, n: int, generator: torch.Generator) -> torch.Tensor:
    if model.latent_distribution == "uniform":
        return torch.rand(n, model.latent_dim, generator=generator) * 2 - 1
    return torch.randn(n, model.latent_dim, generator=generator)


def invert(model: Decodes, images: torch.Tensor, steps: int, restarts: int, lr: float,
           generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Best latent per image and its per-image MSE, optimising restarts x images latents at once."""
    device = images.device
    n = len(images)
    z = prior_sample(model, restarts * n, generator).to(device).requires_grad_(True)
    target = images.repeat(restarts, 1, 1, 1)
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        per_latent = (model.decode(z).float() - target).pow(2).flatten(1).mean(1)
        optimizer.zero_grad(set_to_none=True)
        per_latent.sum().backward()
        optimizer.step()
        if model.latent_distribution == "uniform":
            with torch.no_grad():
                z.clamp_(-1, 1)  # projected gradient: stay in the prior's support
    with torch.no_grad():
        errors = (model.decode(z).float() - target).pow(2).flatten(1).mean(1).reshape(restarts, n)
        best = errors.argmin(0)
        chosen = z.detach().reshape(restarts, n, -1)[best, torch.arange(n)]
        return chosen, errors[best, torch.arange(n)]


@METRICS.register("reconstruction")
class Reconstruction(Metric):
    name = "reconstruction"
    requires = (Decodes,)
    columns = ("reconstruction_mse", "reconstruction_method", "reconstruction_seconds")

    def settings(self, session) -> dict[str, Any]:
        c = session.config
        return {"images": f"first {c.reconstruction_images} test images", "inversion_steps": c.inversion_steps,
                "inversion_restarts": c.inversion_restarts, "inversion_lr": c.inversion_lr,
                "pixel_range": "[0, 1]"}

    def compute(self, model: GenerativeModel, session) -> dict[str, Any]:
        c = session.config
        images = session.test_images[: c.reconstruction_images]
        started = time.perf_counter()
        if isinstance(model, Encodes):
            method = "encoder mean"

            def reconstruct(chunk: int, start: int, stop: int) -> torch.Tensor:
                with torch.no_grad():
                    batch = images[start:stop].to(session.device)
                    mean, _ = model.encode(batch)
                    return (model.decode(mean).float() - batch).pow(2).flatten(1).mean(1)
        else:
            method = "latent inversion"

            def reconstruct(chunk: int, start: int, stop: int) -> torch.Tensor:
                generator = torch.Generator().manual_seed(derived_seed(0, "inversion", chunk))
                _, errors = invert(model, images[start:stop].to(session.device), c.inversion_steps,
                                   c.inversion_restarts, c.inversion_lr, generator)
                return errors

        frozen = [p for name in model.networks for p in model.net(name).parameters()]
        flags = [p.requires_grad for p in frozen]
        for p in frozen:
            p.requires_grad_(False)  # only latents are optimised
        try:
            errors = map_chunks(len(images), INVERSION_CHUNK, reconstruct, session.accelerator)
        finally:
            for p, flag in zip(frozen, flags):
                p.requires_grad_(flag)
        return {"reconstruction_mse": float(errors.double().mean()), "reconstruction_method": method,
                "reconstruction_seconds": round(time.perf_counter() - started, 3)}
