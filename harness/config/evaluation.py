"""The `[evaluation]` table of a suite: which metrics run and how large they are."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from harness.metrics import METRICS


def _all_metrics() -> list[str]:
    return list(METRICS)


class EvaluationConfig(BaseModel):
    """Defaults are the full-study sizes; quick suites shrink them."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    enabled: bool = Field(True, description="score every run after training (false: train only; `harness evaluate` later)")
    metrics: list[str] = Field(default_factory=_all_metrics, min_length=1,
                               description="registered metrics to compute (default: all)")
    features: Literal["evaluator", "inception"] = Field(
        default="evaluator", description="feature space for FID/KID/precision/recall: the pinned CNN or Inception-v3")
    inception_weights: str | None = Field(default=None, description="local Inception-v3 weights (features = 'inception')")
    num_samples: PositiveInt = Field(default=10_000, description="generated samples, and test images, for FID/KID/PR")
    kid_subsets: PositiveInt = Field(default=100, description="KID: number of random subsets")
    kid_subset_size: PositiveInt = Field(default=1000, description="KID: images per subset")
    precision_recall_k: PositiveInt = Field(default=3, description="k-th neighbour radius for precision/recall")
    density_coverage_k: PositiveInt = Field(default=5, description="k-th neighbour radius for density/coverage")
    reconstruction_images: PositiveInt = Field(default=1000, description="seeded random test images, same for every run")
    inversion_steps: PositiveInt = Field(default=500, description="GAN reconstruction: Adam steps per latent")
    inversion_restarts: PositiveInt = Field(default=4, description="GAN reconstruction: random starts per image")
    inversion_lr: PositiveFloat = Field(default=0.05, description="GAN reconstruction: Adam learning rate")
    likelihood_images: PositiveInt = Field(default=1000, description="seeded random test images for ELBO and IWAE")
    iwae_samples: PositiveInt = Field(default=1000, description="k of the importance-weighted bound")
    ais_images: PositiveInt = Field(default=50, description="AIS: seeded random test images")
    ais_chains: PositiveInt = Field(default=8, description="AIS: independent chains per image")
    ais_steps: int = Field(default=300, ge=2, description="AIS: temperatures from prior to posterior")
    ais_leapfrog: PositiveInt = Field(default=5, description="AIS: leapfrog steps per HMC move")
    bdmc_images: PositiveInt = Field(default=8, description="AIS: simulated images for the BDMC error bound")

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(map(repr, unknown))}; known: {', '.join(METRICS.names())}")
        if len(set(value)) != len(value):
            raise ValueError("metrics must not repeat")
        return value

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
