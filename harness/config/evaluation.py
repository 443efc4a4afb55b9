"""The `[evaluation]` table of a suite: which metrics run, the samples they share, and each
metric's own settings.

The table stays one flat TOML table (`num_samples = 10000`, `ais_steps = 300`), but it is owned in
two parts: the keys every metric shares are fields here; every other key belongs to the metric
that declares it in its `Settings` (harness/metrics/base.py), and is validated there when the
suite is validated. A metric registered from a user's file brings its keys with it.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from harness.core.errors import choices_hint
from harness.core.registry import registered_in
from harness.metrics import METRICS
from harness.metrics.features import FEATURES


def _all_metrics() -> list[str]:
    return list(METRICS)


def metric_settings_owner() -> dict[str, str]:
    """{[evaluation] key: the registered metric that declares it} for every metric's own keys."""
    owners: dict[str, str] = {}
    for name in METRICS:
        for key in METRICS.get(name).Settings.model_fields:
            if key in EvaluationConfig.model_fields or key in owners:
                raise ValueError(f"metric {name!r} declares the [evaluation] key {key!r}, which "
                                 f"{owners.get(key, 'the shared settings')} already has; rename it")
            owners[key] = name
    return owners


class EvaluationConfig(BaseModel):
    """Defaults are the full-study sizes; quick suites shrink them. Attributes: the shared keys
    below, and every registered metric's own keys (e.g. `config.ais_steps`)."""

    # extra="allow" only stores the metrics' keys, each validated by its metric's Settings first;
    # a key no metric declares is refused in _metric_settings.
    model_config = ConfigDict(extra="allow", frozen=True, strict=True, allow_inf_nan=False)

    enabled: bool = Field(True, description="score every run after training (false: train only; `harness evaluate` later)")
    metrics: list[str] = Field(default_factory=_all_metrics, min_length=1,
                               description="registered metrics to compute (default: all)")
    features: Annotated[str, registered_in(FEATURES)] = Field(
        default="evaluator", description="feature space for FID/KID/precision/recall: evaluator (the dataset's pinned "
        "CNNs), inception (Inception-v3), or a plugin's registered space (harness list)")
    inception_weights: str | None = Field(default=None, description="local Inception-v3 weights (features = 'inception')")
    num_samples: PositiveInt = Field(default=10_000, description="generated samples, and test images, for FID/KID/PR")

    @model_validator(mode="before")
    @classmethod
    def _metric_settings(cls, data: Any) -> Any:
        """Each metric's keys validated by its own Settings (defaults filled in); unknown keys refused."""
        if not isinstance(data, dict):
            return data
        owners = metric_settings_owner()
        shared = {key: value for key, value in data.items() if key in cls.model_fields}
        errors: list[InitErrorDetails] = [
            {"type": "extra_forbidden", "loc": (key,), "input": value}
            for key, value in data.items() if key not in cls.model_fields and key not in owners]
        settings: dict[str, Any] = {}
        for name in METRICS:
            own = METRICS.get(name).Settings
            try:
                settings.update(own.model_validate({k: v for k, v in data.items() if k in own.model_fields}).model_dump())
            except ValidationError as err:
                errors += [InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {}))
                           for e in err.errors()]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return {**shared, **settings}

    @classmethod
    def known_keys(cls) -> list[str]:
        """Every key the table may hold: the shared ones and each registered metric's own."""
        return [*cls.model_fields, *metric_settings_owner()]

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in METRICS]
        if unknown:
            raise ValueError("; ".join(f"unknown metric {name!r}{choices_hint(name, METRICS.names())}" for name in unknown))
        if len(set(value)) != len(value):
            raise ValueError("metrics must not repeat")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "EvaluationConfig":
        if self.features == "inception" and not self.inception_weights:
            raise ValueError("features = 'inception' needs inception_weights = '<path to local weights>' "
                             "(they are never downloaded)")
        for name in self.metrics:  # the settings of metrics that do not run cannot be wrong
            problem = METRICS.get(name).configured(self).problem(self.num_samples)
            if problem:
                raise ValueError(problem)
        return self

    def test_image_counts(self) -> dict[str, int]:
        """{key: test images it draws} for the shared samples and the image counts of the metrics that run."""
        counts = {"num_samples": self.num_samples}
        for name in self.metrics:
            own = METRICS.get(name)
            counts.update({key: getattr(self, key) for key in own.test_image_settings})
        return counts
