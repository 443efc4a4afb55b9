"""The `[evaluation]` table of a suite: which metrics run and how large they are."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

MetricName = Literal["sample_quality", "precision_recall", "mode_coverage", "reconstruction", "likelihood"]
ALL_METRICS: list[str] = ["sample_quality", "precision_recall", "mode_coverage", "reconstruction", "likelihood"]


class EvaluationConfig(BaseModel):
    """Defaults are the full-study sizes; quick suites shrink them."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    enabled: bool = True
    metrics: list[MetricName] = Field(default=ALL_METRICS, min_length=1)
    features: Literal["evaluator", "inception"] = Field(
        default="evaluator", description="feature space for FID/KID/precision/recall: the pinned CNN or Inception-v3")
    inception_weights: str | None = Field(default=None, description="local Inception-v3 weights (features = 'inception')")
    num_samples: PositiveInt = Field(default=10_000, description="generated samples, and test images, for FID/KID/PR")
    kid_subsets: PositiveInt = 100
    kid_subset_size: PositiveInt = 1000
    precision_recall_k: PositiveInt = 3
    density_coverage_k: PositiveInt = 5
    reconstruction_images: PositiveInt = Field(default=1000, description="first N test images, same for every run")
    inversion_steps: PositiveInt = 500
    inversion_restarts: PositiveInt = 4
    inversion_lr: PositiveFloat = 0.05
    likelihood_images: PositiveInt = Field(default=1000, description="first N test images for the IWAE bound")
    iwae_samples: PositiveInt = Field(default=1000, description="k of the importance-weighted bound")

    @model_validator(mode="after")
    def _consistent(self) -> "EvaluationConfig":
        if self.kid_subset_size > self.num_samples:
            raise ValueError(f"kid_subset_size ({self.kid_subset_size}) must not exceed num_samples ({self.num_samples})")
        if self.features == "inception" and not self.inception_weights:
            raise ValueError("features = 'inception' needs inception_weights = '<path to local weights>' "
                             "(they are never downloaded)")
        if self.precision_recall_k >= self.num_samples or self.density_coverage_k >= self.num_samples:
            raise ValueError("precision_recall_k and density_coverage_k must be smaller than num_samples")
        return self
