"""The ELBO and the importance-weighted bound (Burda et al. 2016), in nats per image, on the
same seeded random test subset, under the run's own likelihood (harness/models/likelihoods.py).

Both are lower bounds on log p(x); IWAE with k samples is at least the ELBO in expectation and
tightens as k grows. What the nats are nats *of* depends on the likelihood, and the row says
it (`likelihood_model`): binarized pixels (`bernoulli`, comparable with binarized-MNIST papers),
dequantized intensities (`continuous_bernoulli`, `gaussian*`: also given in bits per dimension),
or, for `bernoulli_intensities`, a training loss that is not a density (bits/dim n/a). Numbers of
different likelihood models must not be compared; AIS (harness/metrics/ais.py) puts every
decoder-based model on one scale.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import Field, PositiveInt

from harness.metrics.registry import METRICS
from harness.metrics.base import NOT_APPLICABLE, Column, Metric, MetricSettings
from harness.models.capabilities import BoundsLikelihood
from harness.core.seeds import derived_seed

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


class LikelihoodSettings(MetricSettings):
    likelihood_images: PositiveInt = Field(default=1000, description="seeded random test images for ELBO and IWAE")
    iwae_samples: PositiveInt = Field(default=1000, description="k of the importance-weighted bound")


@METRICS.register("likelihood")
class Likelihood(Metric):
    name = "likelihood"
    Settings = LikelihoodSettings
    test_image_settings = ("likelihood_images",)
    requires = (BoundsLikelihood,)
    columns = (
        Column("elbo", "ELBO", "higher", "nats/image", digits=4, chart=True, summary=True),
        Column("iwae", "IWAE bound", "higher", "nats/image", digits=4, leaderboard=True, chart=True, summary=True),
        Column("iwae_bits_per_dim", "IWAE bound", "lower", "bits/dim", digits=4),
        Column("likelihood_model", "likelihood model", None, numeric=False, changes_meaning="likelihood model"),
    )

    def settings(self, session) -> dict[str, Any]:
        c = self.configured(session.config)
        return {"images": session.test_subset(c.likelihood_images), "same_images_for_elbo_and_iwae": True,
                "iwae_samples": c.iwae_samples, "unit": "nats per image (higher is better)"}

    def compute(self, model, session) -> dict[str, Any]:
        import torch

        c = self.configured(session.config)
        images = session.test_images[session.test_indices(c.likelihood_images)]
        observed = model.observe(images, torch.Generator().manual_seed(derived_seed(0, "dequantize")))

        def elbo(chunk: int, start: int, stop: int) -> torch.Tensor:
            generator = torch.Generator().manual_seed(derived_seed(0, "elbo", chunk))
            return model.elbo(observed[start:stop].to(session.device), generator).double()

        per_chunk = max(1, IWAE_PIXEL_BUDGET // (c.iwae_samples * images[0].numel()))

        def iwae(chunk: int, start: int, stop: int) -> torch.Tensor:
            generator = torch.Generator().manual_seed(derived_seed(0, "iwae", chunk))
            return iwae_bound(model, observed[start:stop].to(session.device), c.iwae_samples, generator)

        iwae_value = float(session.strategy.map_chunks(len(images), per_chunk, iwae).mean())
        bits = model.likelihood.bits_per_dim(iwae_value, images[0].numel())
        session.details(self.name)["likelihood_data"] = model.likelihood.data
        return {
            "elbo": float(session.strategy.map_chunks(len(images), ELBO_CHUNK, elbo).mean()),
            "iwae": iwae_value,
            "iwae_bits_per_dim": NOT_APPLICABLE if bits is None else bits,
            "likelihood_model": model.options.likelihood,
        }
