"""`harness compare A B [...]`: the same configurations in several results folders side by side.

Before/after a change, this machine against a GPU, two library versions: for every
configuration present in the first folder and another, each metric's mean in both, the
difference with its 95 % Welch interval, and a verdict that says whether the interval excludes
zero. Settings that change what a number means or how it was made (sample counts, evaluator
and autoencoder hashes, likelihood model, the configuration itself, precision, device, library
versions) are compared too, and every one that differs is flagged.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.analysis.aggregate import load_runs, summarize
from harness.analysis.claims import welch
from harness.core.columns import NOT_APPLICABLE
from harness.metrics.columns import column, leaderboard_columns
from harness.core.errors import HarnessError
from harness.analysis.comparability import setting_text, settings
from harness.store import STATUS_COMPLETED, SuiteFolder

@dataclass
class Comparison:
    folders: list[Path]
    table: pd.DataFrame  # one row per (other folder, configuration, metric)
    differing: list[tuple[str, list[str]]] = field(default_factory=list)  # setting, its values per folder
    unmatched: list[str] = field(default_factory=list)  # configurations not in every folder


def compare_results(folders: list[Path], metrics: list[str] | None = None) -> Comparison:
    """Compare every folder with the first one (the baseline)."""
    if len(folders) < 2:
        raise HarnessError("compare needs at least two results folders", exit_code=2)
    runs = [load_runs(SuiteFolder(Path(folder)).require()) for folder in folders]
    completed = [r[r["status"] == STATUS_COMPLETED] for r in runs]
    configurations = [list(dict.fromkeys(r["configuration"])) for r in runs]
    shared = [c for c in configurations[0] if all(c in other for other in configurations[1:])]
    if not shared:
        raise HarnessError(f"no configuration is in every folder ({'; '.join(', '.join(c) for c in configurations)}): "
                           "compare results of the same suite", exit_code=2)
    chosen = metrics or [m for m in leaderboard_columns() if m != "parameters"]
    chosen = [m for m in chosen if all(m in r for r in runs)]
    rows = []
    for index in range(1, len(folders)):
        for configuration in shared:
            for metric in chosen:
                rows.append(_row(str(folders[index]), configuration, metric,
                                 _numbers(completed[0], configuration, metric),
                                 _numbers(completed[index], configuration, metric)))
    unmatched = sorted({c for names in configurations for c in names} - set(shared))
    return Comparison(list(map(Path, folders)), pd.DataFrame(rows), _differing(completed, shared), unmatched)


def _numbers(runs: pd.DataFrame, configuration: str, metric: str) -> pd.Series:
    return runs.loc[runs["configuration"] == configuration, metric].dropna()


def _row(folder: str, configuration: str, metric: str, base: pd.Series, other: pd.Series) -> dict:
    a, b = summarize(base), summarize(other)
    row = {"folder": folder, "configuration": configuration, "metric": metric, "base_mean": a["mean"],
           "base_ci": a["ci"], "base_n": a["n"], "mean": b["mean"], "ci": b["ci"], "n": b["n"],
           "difference": None, "difference_ci": None, "verdict": ""}
    if NOT_APPLICABLE in (a["mean"], b["mean"]):
        return {**row, "verdict": "n/a"}
    numbers = [pd.to_numeric(s[s != NOT_APPLICABLE], errors="coerce").dropna().astype(float) for s in (other, base)]
    if numbers[0].empty or numbers[1].empty:
        return {**row, "verdict": "no data"}
    row["difference"] = float(numbers[0].mean() - numbers[1].mean())
    test = welch(*numbers)
    if test is None:
        return {**row, "verdict": "no interval (needs 2+ seeds with spread on each side)"}
    row["difference_ci"] = test[1]
    if abs(row["difference"]) <= test[1]:
        return {**row, "verdict": "same within the interval"}
    better = column(metric).better
    if better is None:
        return {**row, "verdict": "differs"}
    improved = (row["difference"] < 0) == (better == "lower")
    return {**row, "verdict": "better" if improved else "worse"}


def _differing(completed: list[pd.DataFrame], shared: list[str]) -> list[tuple[str, list[str]]]:
    """Every setting whose values (over the shared configurations' runs) differ between folders."""
    differing = []
    for setting, described in settings(*completed).items():
        label = described.label
        if setting == "setup":  # the configuration itself: name each key whose value differs
            for configuration in shared:
                setups = [_setup(r[r["configuration"] == configuration]) for r in completed]
                for key in sorted({k for setup in setups for k in setup}):
                    values = [setup.get(key, "not set") for setup in setups]
                    if len(set(values)) > 1:
                        differing.append((f"{configuration}: {key}", values))
            continue
        values = [_values(r[r["configuration"].isin(shared)], setting) for r in completed]
        if len(set(values)) > 1:
            differing.append((label, values))
    return differing


def _setup(runs: pd.DataFrame) -> dict[str, str]:
    """A configuration's resolved keys (the first completed seed's; seeds share them)."""
    if "setup" not in runs or runs["setup"].dropna().empty:
        return {}
    return {key: json.dumps(value) for key, value in json.loads(runs["setup"].dropna().iloc[0]).items()}


def _values(runs: pd.DataFrame, setting: str) -> str:
    if setting not in runs:
        return "not recorded"
    return ", ".join(sorted({setting_text(v) for v in runs[setting].dropna() if v != NOT_APPLICABLE})) or "not recorded"
