"""Claims a suite makes about its configurations, judged against the measured numbers.

A claim names a metric, the configuration expected to be better and the one it should beat.
The verdict compares the seed means with a Welch t-interval of their difference (95 %):
supported when the whole interval favours the claim, contradicted when it wholly favours the
other side, otherwise not significant. With a single seed on either side there is no
interval, and the verdict says so instead of guessing.
"""

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.columns import CONFIDENCE, NOT_APPLICABLE, column, scored_columns
from harness.store import STATUS_COMPLETED

if TYPE_CHECKING:
    import pandas as pd

SUPPORTED, CONTRADICTED, NOT_SIGNIFICANT, NO_DATA = "supported", "contradicted", "not significant", "no data"


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


def _values(runs: "pd.DataFrame", configuration: str, metric: str) -> tuple["pd.Series", bool]:
    """Numeric values of completed runs, and whether the metric does not apply to this configuration."""
    import pandas as pd

    group = runs[(runs["configuration"] == configuration) & (runs["status"] == STATUS_COMPLETED)]
    if metric not in group:
        return pd.Series(dtype=float), False
    column = group[metric].dropna()
    not_applicable = len(column) > 0 and (column == NOT_APPLICABLE).all()
    return pd.to_numeric(column[column != NOT_APPLICABLE], errors="coerce").dropna().astype(float), not_applicable


def judge(claim: Claim, runs: "pd.DataFrame") -> dict[str, Any]:
    """Both sides' numbers, the difference in the claim's favour with its interval, and the verdict."""
    from harness.aggregate import t_quantile

    better, better_na = _values(runs, claim.better, claim.metric)
    than, than_na = _values(runs, claim.than, claim.metric)
    out: dict[str, Any] = {"text": claim.text, "metric": claim.metric, "better": claim.better, "than": claim.than,
                           "better_mean": None, "than_mean": None, "better_n": len(better), "than_n": len(than),
                           "advantage": None, "advantage_ci": None}
    if better_na or than_na:
        side = claim.better if better_na else claim.than
        return {**out, "verdict": NO_DATA, "reason": f"{claim.metric} does not apply to {side} (n/a)"}
    if better.empty or than.empty:
        side = claim.better if better.empty else claim.than
        return {**out, "verdict": NO_DATA, "reason": f"no completed run of {side} has {claim.metric}"}
    sign = -1.0 if column(claim.metric).better == "lower" else 1.0
    advantage = sign * (better.mean() - than.mean())  # > 0 means the claim's direction
    out.update(better_mean=float(better.mean()), than_mean=float(than.mean()), advantage=float(advantage))
    if len(better) < 2 or len(than) < 2:
        return {**out, "verdict": NOT_SIGNIFICANT,
                "reason": "one seed on a side: no interval, so no verdict either way (the sign alone is not evidence)"}
    var_a, var_b = better.var(ddof=1) / len(better), than.var(ddof=1) / len(than)
    se = math.sqrt(var_a + var_b)
    if se == 0:
        half_width = 0.0
    else:
        dof = (var_a + var_b) ** 2 / (var_a**2 / (len(better) - 1) + var_b**2 / (len(than) - 1))
        half_width = float(t_quantile(0.5 + CONFIDENCE / 2, dof) * se)
    out["advantage_ci"] = half_width
    if advantage - half_width > 0:
        verdict, reason = SUPPORTED, "the whole interval of the difference favours the claim"
    elif advantage + half_width < 0:
        verdict, reason = CONTRADICTED, "the whole interval of the difference favours the other side"
    else:
        verdict, reason = NOT_SIGNIFICANT, "the interval of the difference includes zero"
    return {**out, "verdict": verdict, "reason": reason}
