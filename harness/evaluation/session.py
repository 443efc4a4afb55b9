"""Everything the metrics of one evaluation share: the feature spaces, the test-set reference and
per-run caches of generated samples and their features.

One session serves every run of a suite, so the test set's features are computed once. The
evaluators are loaded when a metric first needs them, so a dataset without one can still be
scored by the metrics that do not.

Every comparison with data uses a **seeded random subset** (or the whole split), never "the first
N": MNIST's test set is ordered by writer group, and its first 5,000 images are the cleaner half
(FID 20 instead of 5 against training images). The subsets are prefixes of one permutation per
split, seeded with harness.core.seeds.REFERENCE_SEED, so they are the same for every run of every suite and nested
(the first 1,000 of the 5,000-image subset are the 1,000-image subset).
"""

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from harness.datasets import Dataset
from harness.core.errors import HarnessError
from harness.config.evaluation import EvaluationConfig
from harness.evaluation.evaluator import EvaluatorNet, load_evaluator
from harness.metrics.features import FEATURES, PINNED
from harness.models.base import GenerativeModel
from harness.core.seeds import derived_seed, subset_indices, subset_record
from harness.execution.strategy import Strategy

SAMPLE_CHUNK = 500  # generated images per chunk (one seeded generator each)
FEATURE_BATCH = 1000
EVAL_SEED = 1234  # fixed: every run is evaluated on the same latents


@dataclass
class RunCache:
    """Samples and features of the run being evaluated, computed at most once."""

    samples: torch.Tensor | None = None
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # by feature space
    logits: torch.Tensor | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)  # e.g. feature statistics to save


class EvaluationSession:
    def __init__(self, config: EvaluationConfig, dataset: Dataset, strategy: Strategy) -> None:
        for key, count in config.test_image_counts().items():
            if count > len(dataset.test_images):
                raise HarnessError(f"evaluation.{key} {count} exceeds the {len(dataset.test_images)} "
                                   f"test images of {dataset.spec.name}; lower it (at most the whole test split)")
        self.config = config
        self.dataset = dataset
        self.strategy = strategy
        self.device = strategy.device
        self.test_images = dataset.test_images.float().div(255)  # (n, C, H, W) in [0, 1]
        reference = self.test_indices(config.num_samples)
        self.reference_images = self.test_images[reference]
        self.reference_labels = dataset.test_labels[reference]
        self._nets: dict[str, nn.Module] = {}
        self._reference_features: dict[str, torch.Tensor] = {}
        self._shared: dict[str, Any] = {}  # long-lived objects metrics keep between runs
        self.run = RunCache()

    def net(self, space: str) -> nn.Module:
        """The network of a feature space (a pinned evaluator's, "classifier" or "autoencoder", or a
        registered feature space's such as "inception"), loaded once."""
        if space not in self._nets:
            if space in self.dataset.spec.evaluators or space == "classifier":
                self._nets[space] = load_evaluator(self.dataset.spec, self.device, space)[0]
            else:
                self._nets[space] = FEATURES.get(space).build(self).to(self.device).eval()
        return self._nets[space]

    @property
    def evaluator(self) -> EvaluatorNet:
        """The pinned classifier (class predictions for mode coverage and per-class FID)."""
        return self.net("classifier")

    @property
    def feature_spaces(self) -> list[str]:
        """The spaces the feature metrics are computed in: both pinned evaluators, or one registered
        space alone (Inception-v3, a plugin's network)."""
        if self.config.features != PINNED:
            return [self.config.features]
        return list(self.dataset.spec.evaluators) or ["classifier"]  # an unpinned classifier fails with its fix

    def reference_subset(self) -> dict[str, Any]:
        return subset_record(len(self.test_images), self.config.num_samples, "test")

    def test_indices(self, size: int) -> torch.Tensor:
        """The seeded test subset of `size` images (the reference's first `size`, or the whole split)."""
        return subset_indices(len(self.test_images), size, "test")

    def test_subset(self, size: int) -> dict[str, Any]:
        return subset_record(len(self.test_images), size, "test")

    # -- identity of the feature spaces, recorded in every metric row ---------------------

    @property
    def evaluator_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"features": self.config.features}
        for kind, pinned in self.dataset.spec.evaluators.items():
            prefix = "evaluator" if kind == "classifier" else kind
            info[prefix] = pinned.name
            info[f"{prefix}_sha256"] = pinned.sha256
        if self.config.features != PINNED:
            info.update(FEATURES.get(self.config.features).identity(self))
        return info

    def shared(self, key: str, build: Any) -> Any:
        """A long-lived object (e.g. a torchmetrics metric holding the test set), built once."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]

    def details(self, metric: str) -> dict[str, Any]:
        """Per-metric details beyond the row's numbers (e.g. each class's FID), saved in metrics.json."""
        return self.run.artifacts.setdefault("details", {}).setdefault(metric, {})

    def start_run(self, samples: torch.Tensor | None = None) -> None:
        """Forget the previous run's caches; `samples` stand in for a model's (the real-data floor)."""
        self.run = RunCache(samples=samples)

    # -- features ---------------------------------------------------------------------------

    @torch.no_grad()
    def features(self, images: torch.Tensor, space: str) -> torch.Tensor:
        """Features in one feature space, computed in batches, on the CPU."""
        net = self.net(space)
        return torch.cat([
            net(images[i : i + FEATURE_BATCH].to(self.device)).float().cpu()
            for i in range(0, len(images), FEATURE_BATCH)
        ])

    @torch.no_grad()
    def class_logits(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.evaluator.logits(images[i : i + FEATURE_BATCH].to(self.device)).float().cpu()
            for i in range(0, len(images), FEATURE_BATCH)
        ])

    def reference_features(self, space: str) -> torch.Tensor:
        if space not in self._reference_features:
            self._reference_features[space] = self.features(self.reference_images, space)
        return self._reference_features[space]

    # -- the run's samples ------------------------------------------------------------------

    def samples(self, model: GenerativeModel | None) -> torch.Tensor:
        """num_samples generated images in [0, 1], the same latents for every run, split over processes."""
        if self.run.samples is None:
            def draw(chunk: int, start: int, stop: int) -> torch.Tensor:
                generator = torch.Generator().manual_seed(derived_seed(EVAL_SEED, "samples", chunk))
                return model.sample(stop - start, generator=generator).float()

            self.run.samples = self.strategy.map_chunks(self.config.num_samples, SAMPLE_CHUNK, draw)
        return self.run.samples

    def sample_features(self, model: GenerativeModel | None, space: str) -> torch.Tensor:
        if space not in self.run.features:
            self.run.features[space] = self.features(self.samples(model), space)
        return self.run.features[space]

    def sample_logits(self, model: GenerativeModel | None) -> torch.Tensor:
        if self.run.logits is None:
            self.run.logits = self.class_logits(self.samples(model))
        return self.run.logits
