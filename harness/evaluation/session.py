"""Everything the metrics of one evaluation share: the evaluator, the test-set reference and
per-run caches of generated samples and their features.

One session serves every run of a suite, so the test set's features are computed once. The
evaluator is loaded when a metric first needs it, so a dataset without one can still be
scored by the metrics that do not.
"""

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from harness.datasets import Dataset
from harness.errors import HarnessError
from harness.evaluation.config import EvaluationConfig
from harness.evaluation.evaluator import EvaluatorNet, load_evaluator
from harness.models.base import GenerativeModel
from harness.seeds import derived_seed
from harness.strategy import Strategy

SAMPLE_CHUNK = 500  # generated images per chunk (one seeded generator each)
FEATURE_BATCH = 1000
EVAL_SEED = 1234  # fixed: every run is evaluated on the same latents and test subsets


@dataclass
class RunCache:
    """Samples and features of the run being evaluated, computed at most once."""

    samples: torch.Tensor | None = None
    features: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)  # e.g. feature statistics to save


class InceptionFeatures(nn.Module):
    """Inception-v3 pool features (2048-d) from local weights, for images in [0, 1] (grey is repeated to RGB)."""

    num_features = 2048

    def __init__(self, weights_path: str) -> None:
        super().__init__()
        from pathlib import Path

        if not Path(weights_path).is_file():
            raise HarnessError(f"inception_weights: {weights_path} does not exist; point it at local "
                               "Inception-v3 (torch-fidelity FID) weights; nothing is downloaded")
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3

            self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                          feature_extractor_weights_path=weights_path)
        except ModuleNotFoundError as err:
            raise HarnessError(f"features = 'inception' needs torch-fidelity ({err}); "
                               "install it with `pip install torch-fidelity`") from None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        rgb = (images.float().clamp(0, 1) * 255).to(torch.uint8)
        if rgb.shape[1] == 1:
            rgb = rgb.expand(-1, 3, -1, -1)
        return self.net(rgb).reshape(images.shape[0], -1)


class EvaluationSession:
    def __init__(self, config: EvaluationConfig, dataset: Dataset, strategy: Strategy) -> None:
        if config.num_samples > len(dataset.test_images):
            raise HarnessError(f"evaluation.num_samples {config.num_samples} exceeds the "
                               f"{len(dataset.test_images)} test images of {dataset.spec.name}")
        self.config = config
        self.dataset = dataset
        self.strategy = strategy
        self.device = strategy.device
        self.test_images = dataset.test_images.float().div(255)  # (n, C, H, W) in [0, 1]
        self.reference_images = self.test_images[: config.num_samples]
        self._evaluator: EvaluatorNet | None = None
        self._feature_net: nn.Module | None = None
        self._reference_features: torch.Tensor | None = None
        self._shared: dict[str, Any] = {}  # long-lived objects metrics keep between runs
        self.run = RunCache()

    @property
    def evaluator(self) -> EvaluatorNet:
        if self._evaluator is None:
            self._evaluator, _ = load_evaluator(self.dataset.spec, self.device)
        return self._evaluator

    @property
    def feature_net(self) -> nn.Module:
        if self._feature_net is None:
            self._feature_net = (self.evaluator if self.config.features == "evaluator"
                                 else InceptionFeatures(self.config.inception_weights).to(self.device))
        return self._feature_net

    # -- identity of the feature space, recorded in every metric row ----------------------

    @property
    def evaluator_info(self) -> dict[str, Any]:
        pinned = self.dataset.spec.evaluator
        info = {"evaluator": pinned.name if pinned else None, "evaluator_sha256": pinned.sha256 if pinned else None,
                "features": self.config.features}
        if self.config.features == "inception":
            info["inception_weights"] = self.config.inception_weights
        return info

    def shared(self, key: str, build: Any) -> Any:
        """A long-lived object (e.g. a torchmetrics metric holding the test set), built once."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]

    def start_run(self, samples: torch.Tensor | None = None) -> None:
        """Forget the previous run's caches; `samples` stand in for a model's (the real-data floor)."""
        self.run = RunCache(samples=samples)

    # -- features ---------------------------------------------------------------------------

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Features in the session's feature space, computed in batches, on the CPU."""
        return torch.cat([
            self.feature_net(images[i : i + FEATURE_BATCH].to(self.device)).float().cpu()
            for i in range(0, len(images), FEATURE_BATCH)
        ])

    @torch.no_grad()
    def class_logits(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.evaluator.logits(images[i : i + FEATURE_BATCH].to(self.device)).float().cpu()
            for i in range(0, len(images), FEATURE_BATCH)
        ])

    @property
    def reference_features(self) -> torch.Tensor:
        if self._reference_features is None:
            self._reference_features = self.features(self.reference_images)
        return self._reference_features

    # -- the run's samples ------------------------------------------------------------------

    def samples(self, model: GenerativeModel | None) -> torch.Tensor:
        """num_samples generated images in [0, 1], the same latents for every run, split over processes."""
        if self.run.samples is None:
            def draw(chunk: int, start: int, stop: int) -> torch.Tensor:
                generator = torch.Generator().manual_seed(derived_seed(EVAL_SEED, "samples", chunk))
                return model.sample(stop - start, generator=generator).float()

            self.run.samples = self.strategy.map_chunks(self.config.num_samples, SAMPLE_CHUNK, draw)
        return self.run.samples

    def sample_features(self, model: GenerativeModel | None) -> torch.Tensor:
        if self.run.features is None:
            self.run.features = self.features(self.samples(model))
        return self.run.features

    def sample_logits(self, model: GenerativeModel | None) -> torch.Tensor:
        if self.run.logits is None:
            self.run.logits = self.class_logits(self.samples(model))
        return self.run.logits
