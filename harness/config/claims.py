"""The `[[claim]]` tables of a suite: a metric, the configuration expected to be better, the one it
should beat. What a claim says is configuration; how it is judged is harness.analysis.claims."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.metrics.columns import scored_columns


class Claim(BaseModel):
    """One `[[claim]]` table of a suite."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    text: str = Field(min_length=1, description="the claim in words")
    metric: str = Field(description="a result column, e.g. fid or reconstruction_mse")
    better: str = Field(description="configuration expected to be better (a run name, plus matrix values if any)")
    than: str = Field(description="configuration it should beat")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        scored = sorted(scored_columns())
        if value not in scored:
            raise ValueError(f"unknown metric {value!r}; expected one of: {', '.join(scored)}")
        return value
