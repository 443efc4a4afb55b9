"""Scoring samples made elsewhere under exactly the protocol of trained runs.

The samples take the place of a model's in the evaluation session (the same seeded test
reference, evaluators, sample count and floor), so every sample-based metric computes what it
computes for a trained run; the metrics that need an encoder, a decoder or a likelihood find
none and are recorded as n/a, as for a GAN without an encoder.
"""

from collections.abc import Callable
from typing import Any

import torch

from harness.core.seeds import subset_indices, subset_record
from harness.datasets.samples import ExternalSamples
from harness.evaluation.runner import score_model
from harness.evaluation.session import EvaluationSession
from harness.store import EXTERNAL_MODEL, STATUS_COMPLETED, MetricsRow, RunConfig, RunFolder, RunRecord, now

GRID_ROWS = 8


class SamplesFromElsewhere:
    """Stands in for a model: it has nothing but the samples already in the session, so metrics
    that ask for a capability (Encodes, Decodes, BoundsLikelihood) find it missing."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise RuntimeError("samples made elsewhere cannot draw new samples")


def score_external(samples: ExternalSamples, name: str, suite_name: str, dataset: str, folder: RunFolder,
                   session: EvaluationSession,
                   on_metric: Callable[[str, int, int], None] = lambda name, index, total: None,
                   ) -> tuple[MetricsRow, list[str]]:
    """Write `samples` as the external entry `name` in `folder` and score them; the row and the failed metrics.

    With more images than the protocol's sample count, a seeded subset of them is scored (and
    recorded), never "the first N": files are often ordered by class or by generation batch."""
    count = session.config.num_samples
    chosen = subset_indices(len(samples.images), count, "external")
    images = torch.from_numpy(samples.images)[chosen].float().div(255)
    entry: dict[str, Any] = {**samples.record(), "scored": subset_record(len(samples.images), count, "external")}
    config = RunConfig(id=name, name=name, suite=suite_name, config_hash=samples.sha256[:16], dataset=dataset,
                       model=EXTERNAL_MODEL, seed=0, mixed_precision="no", training={}, model_options=entry)
    record = RunRecord(id=name, name=name, suite=suite_name, config_hash=config.config_hash, status=STATUS_COMPLETED,
                       started_at=now(), finished_at=now(), epochs=0, device=str(session.device),
                       error=None)
    folder.start_fresh()
    folder.write_config(config)
    folder.write_record(record)
    folder.write_samples(images[: GRID_ROWS**2], rows=GRID_ROWS)
    session.start_run(samples=images)
    return score_model(SamplesFromElsewhere(), config, folder, session, on_metric, samples.sha256)
