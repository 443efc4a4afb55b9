"""Test-set ELBO and the importance-weighted bound (Burda et al. 2016), in nats per image.

Both are lower bounds on log p(x) under the training likelihood (Bernoulli on intensities in
[0, 1]); IWAE with k samples is at least the ELBO in expectation and tightens as k grows.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from harness.metrics import METRICS
from harness.metrics.base import Column, Metric
from harness.models.capabilities import BoundsLikelihood
from harness.seeds import derived_seed

if TYPE_CHECKING:
    import torch

ELBO_CHUNK = 1000
# Images per IWAE chunk: k samples x images x pixels must fit in memory (about 100 MB at k = 1000 and 800 pixels).
IWAE_PIXEL_BUDGET = 25_000_000


def iwae_bound(model: BoundsLikelihood, images: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Per-image log (1/k) sum_i p(x, z_i) / q(z_i | x)."""
    import torch

    log_weights = model.log_importance_weights(images, k, generator)
    return torch.logsumexp(log_weights.double(), dim=1) - math.log(k)


@METRICS.register("likelihood")
class Likelihood(Metric):
    name = "likelihood"
    requires = (BoundsLikelihood,)
    columns = (
        Column("elbo", "ELBO", "higher", "nats", digits=4, leaderboard=True, chart=True),
        Column("iwae", "IWAE bound", "higher", "nats", digits=4, leaderboard=True, chart=True),
    )

    def settings(self, session) -> dict[str, Any]:
        c = session.config
        return {"elbo_images": "all test images", "iwae_images": f"first {c.likelihood_images} test images",
                "iwae_samples": c.iwae_samples, "unit": "nats per image (higher is better)",
                "likelihood": "Bernoulli on intensities in [0, 1]"}

    def compute(self, model, session) -> dict[str, float]:
        import torch

        c = session.config
        images = session.test_images

        def elbo(chunk: int, start: int, stop: int) -> torch.Tensor:
            generator = torch.Generator().manual_seed(derived_seed(0, "elbo", chunk))
            return model.elbo(images[start:stop].to(session.device), generator).double()

        subset = images[: c.likelihood_images]
        per_chunk = max(1, IWAE_PIXEL_BUDGET // (c.iwae_samples * subset[0].numel()))

        def iwae(chunk: int, start: int, stop: int) -> torch.Tensor:
            generator = torch.Generator().manual_seed(derived_seed(0, "iwae", chunk))
            return iwae_bound(model, subset[start:stop].to(session.device), c.iwae_samples, generator)

        return {
            "elbo": float(session.strategy.map_chunks(len(images), ELBO_CHUNK, elbo).mean()),
            "iwae": float(session.strategy.map_chunks(len(subset), per_chunk, iwae).mean()),
        }
