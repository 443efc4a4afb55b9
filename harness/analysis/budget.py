"""The budget view of a random search (Lucic et al. 2018, "Are GANs Created Equal?", Fig. 4):
for each family (a [[run]] with a search), the best score reached after trying k of its
configurations, k = 1..N, over random orders of the trials: the middle of those orders with a
90 % band, and the mean, which is exact (every order enumerated) for up to EXACT_UP_TO trials.

A family's trial score is its configuration's mean over the seeds every trial of the family
completed: with `select`, the search's seed alone, so the chosen trial's later seeds do not give
it an advantage (or a disadvantage) the other trials did not have. Reading: where two
families' curves meet at large k, the extra budget, not the objective, made the difference.
"""

import itertools

import numpy as np
import pandas as pd

from harness.core.columns import NOT_APPLICABLE
from harness.metrics.columns import column
from harness.store import STATUS_COMPLETED

EXACT_UP_TO = 8  # 8! = 40,320 orders
BOOTSTRAP_ORDERS = 2_000
BAND = (5, 95)  # percentiles of the best-so-far over orders


def trial_scores(runs: pd.DataFrame, metric: str) -> dict[str, np.ndarray]:
    """{family: each trial's score (mean over the seeds all its trials completed), in trial order} for searched runs."""
    if "trial" not in runs or metric not in runs:
        return {}
    searched = runs[runs["trial"].notna() & (runs["status"] == STATUS_COMPLETED)]
    values = pd.to_numeric(searched[metric].where(searched[metric] != NOT_APPLICABLE), errors="coerce")
    searched = searched.assign(value=values).dropna(subset=["value"])
    scores = {}
    for family, group in searched.groupby("name", sort=True):
        common = set.intersection(*(set(seeds) for _, seeds in group.groupby("configuration")["seed"]))
        group = group[group["seed"].isin(common)]
        means = group.groupby("configuration").agg(trial=("trial", "first"), value=("value", "mean"))
        scores[str(family)] = means.sort_values("trial")["value"].to_numpy(dtype=float)
    return scores


def best_so_far(scores: np.ndarray, lower_is_better: bool, seed: int = 0) -> pd.DataFrame:
    """Per budget k = 1..N: mean, median and band of the best score among the first k trials over
    orders of the trials (all orders when N <= EXACT_UP_TO, else BOOTSTRAP_ORDERS seeded ones),
    and the best in the order the trials were run."""
    n = len(scores)
    if n <= EXACT_UP_TO:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(seed)
        orders = np.array([rng.permutation(n) for _ in range(BOOTSTRAP_ORDERS)])
    accumulate = np.minimum.accumulate if lower_is_better else np.maximum.accumulate
    curves = accumulate(scores[orders], axis=1)  # (orders, n)
    return pd.DataFrame({
        "budget": np.arange(1, n + 1),
        "mean": curves.mean(axis=0),
        "median": np.median(curves, axis=0),
        "low": np.percentile(curves, BAND[0], axis=0),
        "high": np.percentile(curves, BAND[1], axis=0),
        "in_trial_order": accumulate(scores),
    })


def budget_table(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Every searched family's best-so-far curve of `metric`, one row per (family, budget)."""
    lower = column(metric).better == "lower"
    frames = [best_so_far(scores, lower).assign(family=family)
              for family, scores in trial_scores(runs, metric).items() if len(scores)]
    if not frames:
        return pd.DataFrame(columns=["family", "budget", "mean", "median", "low", "high", "in_trial_order"])
    return pd.concat(frames, ignore_index=True)[["family", "budget", "mean", "median", "low", "high", "in_trial_order"]]


def budget_metric(runs: pd.DataFrame) -> str | None:
    """The metric the budget view ranks by: the primary score where measured (FID), else the first
    scored leaderboard column."""
    from harness.metrics.columns import leaderboard_columns, primary_column

    primary = primary_column(runs.columns)
    candidates = [*([primary] if primary else []),
                  *[m for m in leaderboard_columns() if column(m).better and m != "train_seconds"]]
    return next((m for m in candidates if trial_scores(runs, m)), None)
