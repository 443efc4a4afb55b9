"""Read a suite's results into pandas and aggregate them over seeds.

One row per run (configuration, status, timings, metrics); then one row per configuration
(everything but the seed) with, per metric, the mean, the standard deviation, a 95 %
Student-t confidence interval of the mean over seeds, and the number of seeds that gave a
value. Failed or diverged runs are counted, never silently dropped; a configuration with one
seed gets no interval rather than a fake one; a metric that does not apply stays "n/a".
"""

import json
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from harness.core.columns import CONFIDENCE, NOT_APPLICABLE
from harness.metrics.columns import column
from harness.store import STATUS_COMPLETED, STATUS_UNREADABLE, ResultsFileError, RunFolder, SuiteFolder
from harness.config.suite import configuration_of

# Columns that say which run a row is; every other column of a runs table is a result.
EVALUATOR_COLUMNS = ["evaluator", "evaluator_sha256", "autoencoder", "autoencoder_sha256"]  # the feature spaces
# How a run was trained, from its configuration and record: what `compare` checks across results folders.
TRAINING_SETTINGS = ["setup", "mixed_precision", "device", "torch", "harness"]
PLUGIN_PREFIX = "plugin "  # a column per plugin module a run trained with: the sha256 of its source
IDENTITY_COLUMNS = ["id", "configuration", "name", "trial", "model", "seed", "status", "error", "epochs",
                    *EVALUATOR_COLUMNS,
                    *TRAINING_SETTINGS]
_ROW_IDENTITY = {"id", "name", "suite", "model", "seed", "config_hash", "features", "inception_weights",
                 *EVALUATOR_COLUMNS}


def load_runs(suite: SuiteFolder) -> pd.DataFrame:
    """Every run folder of `suite` as one row (a run without metrics keeps empty metric cells).

    Every metric column a run's metrics row holds is kept, declared or not. A run whose
    configuration, record or metrics row cannot be read shows status "unreadable" with the
    file named in `error`, and carries no numbers; the other runs are read as usual.
    """
    rows: list[dict[str, Any]] = []
    for run_folder in suite.runs():
        try:
            config = run_folder.read_config()
        except ResultsFileError as err:
            rows.append({"id": run_folder.id, "configuration": configuration_of(run_folder.id), "name": None,
                         "model": None, "seed": None, "status": STATUS_UNREADABLE, "error": str(err)})
            continue
        status, error, record, metrics = STATUS_UNREADABLE, None, None, {}
        try:
            record = run_folder.read_record()
            status, error = record.status, record.error
            metrics = run_folder.read_metrics_row().values if run_folder.is_evaluated() else {}
        except ResultsFileError as err:
            status, error, metrics = STATUS_UNREADABLE, str(err), {}
        rows.append({
            "id": config.id,
            "configuration": configuration_of(config.id),
            "name": config.name,
            "trial": config.trial,
            "model": config.model,
            "seed": config.seed,
            "status": status,
            "error": error,
            "epochs": config.training.get("epochs"),
            "train_seconds": record.train_seconds if record else None,
            "images_per_second": record.images_per_second if record else None,
            "parameters": record.parameters.get("total") if record else None,
            "setup": json.dumps({"dataset": config.dataset, "model": config.model, **config.training,
                                 **config.model_options}, sort_keys=True),  # the configuration minus the seed
            "mixed_precision": record.mixed_precision if record else None,
            "device": record.device if record else None,
            "torch": record.versions.get("torch") if record else None,
            "harness": record.versions.get("harness") if record else None,
            **{f"{PLUGIN_PREFIX}{module}": sha256 for module, sha256 in (record.plugins if record else {}).items()},
            **{f"matrix.{k}": v for k, v in config.matrix.items()},
            **{k: v for k, v in metrics.items() if k not in _ROW_IDENTITY and k not in config.matrix},
            **{key: metrics.get(key) for key in EVALUATOR_COLUMNS},
        })
    if not rows:
        raise ResultsFileError(suite.dir, "no run folders here", "run the suite first")
    return pd.DataFrame(rows)


def unreadable_runs(runs: pd.DataFrame) -> list[str]:
    """'run id: file: problem' for every run whose files could not be read."""
    bad = runs[runs["status"] == STATUS_UNREADABLE]
    return [f"{row['id']}: {row['error']}" for _, row in bad.iterrows()]


T = TypeVar("T")


def first_readable(suite: SuiteFolder, runs: pd.DataFrame, read: Callable[[RunFolder], T | None],
                   unreadable: Callable[[str], None]) -> list[tuple[str, T]]:
    """("<configuration> (seed <s>)", what `read` returns) for the lowest completed seed of each
    configuration that has the file; a file that cannot be read is reported and the next seed tried."""
    found = []
    completed = runs[runs["status"] == STATUS_COMPLETED].sort_values("seed")
    for configuration, group in completed.groupby("configuration", sort=False):
        for run_id, seed in zip(group["id"], group["seed"]):
            try:
                value = read(suite.run(run_id))
            except ResultsFileError as err:
                unreadable(str(err))
                continue
            if value is not None:
                found.append((f"{configuration} (seed {seed})", value))
                break
    return found


def result_columns(runs: pd.DataFrame) -> list[str]:
    """The columns of a runs table that hold numbers to aggregate (metrics, timings, sizes)."""
    return [name for name in runs.columns
            if name not in IDENTITY_COLUMNS and not name.startswith(("matrix.", PLUGIN_PREFIX)) and column(name).numeric]


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
    half_width = float(t_quantile(0.5 + CONFIDENCE / 2, n - 1) * std / np.sqrt(n))
    return {"mean": mean, "std": std, "ci": half_width, "n": n}


def aggregate(runs: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per configuration; columns `<metric>` (mean), `<metric>_std`, `<metric>_ci`, `<metric>_n`."""
    metrics = metrics or result_columns(runs)
    out = []
    for configuration, group in runs.groupby("configuration", sort=False):
        completed = group["status"] == STATUS_COMPLETED
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


def t_quantile(probability: float, dof: float) -> float:
    """Student-t quantile (scipy.special's, not scipy.stats': that import alone takes ~1 s)."""
    from scipy.special import stdtrit

    return float(stdtrit(dof, probability))
