"""Claims a suite makes about its configurations, judged against the measured numbers.

A claim names a metric, the configuration expected to be better and the one it should beat.
Per metric column, the two sides' seed means are compared with Welch's t-test; the verdict
must survive three things a statistician would ask about:

- **Several claims at once.** The suite's claims are one family: their p-values are corrected
  with Holm's step-down method (Holm 1979; controls the family-wise error at 5 %), and the
  verdict uses the adjusted p-value.
- **Too few seeds or no spread.** A verdict needs at least MIN_SEEDS completed seeds per side
  (a t-test on 2 seeds has 1 degree of freedom and almost no power). When neither side varies
  over its seeds there is nothing to measure a difference against: no verdict.
- **One feature space.** A claim about a metric measured in several feature spaces (FID in the
  classifier's and the autoencoder's) is judged in each; it is "supported" only when it holds
  in all (an intersection-union test: its p-value is the largest of the spaces'), and likewise
  "contradicted". Each space's own verdict is shown beside it.
"""

import math
from typing import TYPE_CHECKING, Any

from harness.core.columns import CONFIDENCE, NOT_APPLICABLE
from harness.config.claims import Claim
from harness.metrics.columns import column, feature_space_variants
from harness.store import STATUS_COMPLETED

if TYPE_CHECKING:
    import pandas as pd

SUPPORTED, CONTRADICTED, NOT_SIGNIFICANT, NO_DATA = "supported", "contradicted", "not significant", "no data"


MIN_SEEDS = 3
ALPHA = 1 - CONFIDENCE


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _values(runs: "pd.DataFrame", configuration: str, metric: str) -> tuple["pd.Series", bool]:
    """Numeric values of completed runs, and whether the metric does not apply to this configuration."""
    import pandas as pd

    group = runs[(runs["configuration"] == configuration) & (runs["status"] == STATUS_COMPLETED)]
    if metric not in group:
        return pd.Series(dtype=float), False
    column = group[metric].dropna()
    not_applicable = len(column) > 0 and (column == NOT_APPLICABLE).all()
    return pd.to_numeric(column[column != NOT_APPLICABLE], errors="coerce").dropna().astype(float), not_applicable


def compare(claim: Claim, metric: str, runs: "pd.DataFrame") -> dict[str, Any]:
    """Welch's test of one metric column: both sides, the advantage in the claim's favour, its 95 % interval,
    and the one-sided p-values for "the claim's side is better" and "the other side is better"."""
    from scipy.special import stdtr

    better, better_na = _values(runs, claim.better, metric)
    than, than_na = _values(runs, claim.than, metric)
    out: dict[str, Any] = {"metric": metric, "better_mean": None, "than_mean": None, "better_n": len(better),
                           "than_n": len(than), "advantage": None, "advantage_ci": None,
                           "p_favour": None, "p_against": None}
    if better_na or than_na:
        side = claim.better if better_na else claim.than
        return {**out, "verdict": NO_DATA, "reason": f"{metric} does not apply to {side} (n/a)"}
    if better.empty or than.empty:
        side = claim.better if better.empty else claim.than
        return {**out, "verdict": NO_DATA, "reason": f"no completed run of {side} has {metric}"}
    sign = -1.0 if column(metric).better == "lower" else 1.0
    advantage = sign * (better.mean() - than.mean())  # > 0 means the claim's direction
    out.update(better_mean=float(better.mean()), than_mean=float(than.mean()), advantage=float(advantage))
    if len(better) < MIN_SEEDS or len(than) < MIN_SEEDS:
        return {**out, "verdict": NOT_SIGNIFICANT,
                "reason": f"fewer than {MIN_SEEDS} seeds on a side: no verdict either way (the sign alone is not evidence)"}
    test = welch(better, than)
    if test is None:
        return {**out, "verdict": NOT_SIGNIFICANT,
                "reason": "no spread over seeds on either side: nothing to measure the difference against"}
    difference, half_width, t, dof = test
    t *= sign
    out.update(advantage_ci=half_width, p_favour=float(stdtr(dof, -t)), p_against=float(stdtr(dof, t)))
    return {**out, "verdict": None, "reason": None}


def welch(a: "pd.Series", b: "pd.Series") -> tuple[float, float, float, float] | None:
    """Welch's comparison of two samples' means: (mean(a) - mean(b), its 95 % interval half-width,
    t, degrees of freedom); None when a side has under 2 values or neither side varies."""
    from harness.analysis.aggregate import t_quantile

    if len(a) < 2 or len(b) < 2:
        return None
    var_a, var_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(var_a + var_b)
    if se == 0:
        return None
    dof = (var_a + var_b) ** 2 / ((var_a**2 / (len(a) - 1) if var_a else 0) + (var_b**2 / (len(b) - 1) if var_b else 0))
    difference = float(a.mean() - b.mean())
    return difference, float(t_quantile(0.5 + CONFIDENCE / 2, dof) * se), difference / se, dof


def _verdict(p_favour: float, p_against: float) -> tuple[str, str]:
    """Two-sided test at ALPHA from one-sided p-values (already adjusted)."""
    if 2 * p_favour < ALPHA:
        return SUPPORTED, "the difference favours the claim"
    if 2 * p_against < ALPHA:
        return CONTRADICTED, "the difference favours the other side"
    return NOT_SIGNIFICANT, "the difference is not significant"


def judge_all(claims: list[Claim], runs: "pd.DataFrame") -> list[dict[str, Any]]:
    """Every claim judged in every feature space of its metric, with Holm's correction over the claims."""
    judged = []
    for claim in claims:
        # results evaluated before a feature space existed are judged in the spaces they have
        metrics = [m for m in feature_space_variants(claim.metric)
                   if m == claim.metric or (m in runs and runs[m].notna().any())]
        spaces = [compare(claim, metric, runs) for metric in metrics]
        tested = all(space["p_favour"] is not None for space in spaces)
        judged.append({"text": claim.text, "metric": claim.metric, "better": claim.better, "than": claim.than,
                       **{k: v for k, v in spaces[0].items() if k not in ("metric", "verdict", "reason")},
                       "spaces": spaces, "tested": tested,
                       # intersection-union: the claim holds in all spaces only if it holds in the weakest
                       "p_favour": max(s["p_favour"] for s in spaces) if tested else None,
                       "p_against": max(s["p_against"] for s in spaces) if tested else None})
    family = [c for c in judged if c["tested"]]
    adjusted = holm([2 * min(c["p_favour"], c["p_against"]) for c in family])
    for judgement, p in zip(family, adjusted):
        factor = p / (2 * min(judgement["p_favour"], judgement["p_against"])) if min(judgement["p_favour"], judgement["p_against"]) else 1
        judgement["p_adjusted"] = p
        for space in judgement["spaces"]:
            space["verdict"], space["reason"] = _verdict(min(1.0, space["p_favour"] * factor),
                                                         min(1.0, space["p_against"] * factor))
        verdict, reason = _verdict(min(1.0, judgement["p_favour"] * factor), min(1.0, judgement["p_against"] * factor))
        if verdict == NOT_SIGNIFICANT and len({s["verdict"] for s in judgement["spaces"]}) > 1:
            reason = "the feature spaces disagree: " + ", ".join(f"{s['metric']} {s['verdict']}" for s in judgement["spaces"])
        elif len(judgement["spaces"]) > 1 and verdict != NOT_SIGNIFICANT:
            reason += " in every feature space"
        judgement["verdict"], judgement["reason"] = verdict, f"{reason} (Holm-adjusted p = {p:.2g})"
    for judgement in judged:
        if not judgement["tested"]:
            first = next(s for s in judgement["spaces"] if s["verdict"] is not None)
            judgement["verdict"], judgement["reason"], judgement["p_adjusted"] = first["verdict"], first["reason"], None
    return judged
