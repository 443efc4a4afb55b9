"""Read a suite's results into pandas and aggregate them over seeds.

One row per run (configuration, status, timings, metrics); then one row per configuration
(everything but the seed) with, per metric, the mean, the standard deviation, a 95 %
Student-t confidence interval of the mean over seeds, and the number of seeds that gave a
value. Failed or diverged runs are counted, never silently dropped; a configuration with one
seed gets no interval rather than a fake one; a metric that does not apply stays "n/a".
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness import results
from harness.columns import COLUMNS, CONFIDENCE, NOT_APPLICABLE
from harness.suite import configuration_of


def load_runs(suite_dir: Path) -> pd.DataFrame:
    """Every run folder under `suite_dir` as one row (a run without metrics keeps empty metric cells)."""
    rows: list[dict[str, Any]] = []
    for run_dir in sorted(p for p in Path(suite_dir).iterdir() if (p / "config.json").is_file()):
        config = results.read_json(run_dir / "config.json")
        record = _read_optional(run_dir / "run.json")
        metrics = _read_optional(run_dir / "metrics_row.json")
        rows.append({
            "id": config["id"],
            "configuration": configuration_of(config["id"]),
            "name": config["name"],
            "model": config["model"],
            "seed": config["seed"],
            "status": record.get("status", "unknown"),
            "error": record.get("error"),
            "epochs": config["training"]["epochs"],
            "train_seconds": record.get("train_seconds"),
            "images_per_second": record.get("images_per_second"),
            "parameters": (record.get("parameters") or {}).get("total"),
            **{f"matrix.{k}": v for k, v in config.get("matrix", {}).items()},
            **{k: v for k, v in metrics.items() if k in COLUMNS},
            "evaluator_sha256": metrics.get("evaluator_sha256"),
        })
    if not rows:
        raise ValueError(f"{suite_dir}: no run folders (with config.json) found")
    return pd.DataFrame(rows)


def _read_optional(path: Path) -> dict[str, Any]:
    try:
        return results.read_json(path)
    except (OSError, ValueError):
        return {}


def summarize(values: pd.Series) -> dict[str, Any]:
    """mean, std, CI half-width and n of one metric in one configuration (n/a when it never applies)."""
    present = values.dropna()
    if len(present) and (present == NOT_APPLICABLE).all():
        return {"mean": NOT_APPLICABLE, "std": NOT_APPLICABLE, "ci": NOT_APPLICABLE, "n": 0}
    numbers = pd.to_numeric(present[present != NOT_APPLICABLE], errors="coerce").dropna().astype(float)
    n = len(numbers)
    if n == 0:
        return {"mean": np.nan, "std": np.nan, "ci": np.nan, "n": 0}
    mean = float(numbers.mean())
    if n == 1:
        return {"mean": mean, "std": np.nan, "ci": np.nan, "n": 1}
    std = float(numbers.std(ddof=1))
    half_width = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * std / np.sqrt(n))
    return {"mean": mean, "std": std, "ci": half_width, "n": n}


def aggregate(runs: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per configuration; columns `<metric>` (mean), `<metric>_std`, `<metric>_ci`, `<metric>_n`."""
    metrics = metrics or [m for m in COLUMNS if m in runs.columns]
    out = []
    for configuration, group in runs.groupby("configuration", sort=False):
        completed = group["status"] == results.STATUS_COMPLETED
        row: dict[str, Any] = {
            "configuration": configuration,
            "model": group["model"].iloc[0],
            "seeds": int(len(group)),
            "completed": int(completed.sum()),
            "failed": int((~completed).sum()),
            "statuses": ", ".join(f"{s}: {n}" for s, n in group["status"].value_counts().items()),
        }
        for metric in metrics:
            # Only completed runs carry numbers; failed ones are counted above, not averaged in.
            summary = summarize(group.loc[completed, metric]) if metric in group else summarize(pd.Series(dtype=object))
            row[metric] = summary["mean"]
            row[f"{metric}_std"] = summary["std"]
            row[f"{metric}_ci"] = summary["ci"]
            row[f"{metric}_n"] = summary["n"]
        out.append(row)
    return pd.DataFrame(out)
