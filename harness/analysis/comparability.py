"""Which settings make two numbers incomparable, and which configurations were scored differently.

One table of settings serves the leaderboard (a configuration scored under another value than
the suite's most common one is marked and not ranked) and `compare` (every setting that differs
between results folders is flagged).
"""

from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis.aggregate import PLUGIN_PREFIX
from harness.core.columns import NOT_APPLICABLE
from harness.metrics.columns import column, meaning_settings
from harness.store import STATUS_COMPLETED


@dataclass(frozen=True)
class Setting:
    label: str  # as `compare` names it
    short: str  # as the leaderboard's mark names it
    changes_meaning: bool  # True: a score under another value is another number (not ranked together)


# How a number was made, beside what the metrics declare (their own recorded settings, e.g. the
# sample count, come from Column.changes_meaning): the evaluators, the configuration itself, and
# the precision, device and versions it was computed with. Keys are columns of the runs table
# (harness.analysis.aggregate.load_runs).
EVALUATION_SETTINGS = {
    "evaluator_sha256": Setting("evaluator (sha256)", "evaluator", True),
    "autoencoder_sha256": Setting("autoencoder (sha256)", "autoencoder", True),
    "setup": Setting("configuration", "configuration", False),
    "mixed_precision": Setting("mixed precision", "mixed precision", False),
    "device": Setting("device", "device", False),
    "torch": Setting("torch version", "torch", False),
    "harness": Setting("harness version", "harness", False),
}


def settings(*runs: pd.DataFrame) -> dict[str, Setting]:
    """Every setting `compare` checks: the registered metrics' own (in their order), the rest, and
    the code of every plugin module the `runs` trained with (a run without that plugin has no
    value there, so built-in models trained beside a plugin's are never flagged by it)."""
    declared = {name: Setting(column(name).label, short, True) for name, short in meaning_settings().items()}
    modules = sorted({c for frame in runs for c in frame.columns if str(c).startswith(PLUGIN_PREFIX)})
    plugins = {c: Setting(f"{c} code (sha256)", f"{c} code", True) for c in modules}
    return {**declared, **EVALUATION_SETTINGS, **plugins}


def scoring_settings(*runs: pd.DataFrame) -> dict[str, str]:
    """{setting: short name} of those that change what a number means: a configuration scored under
    another value than the suite's most common one is marked in its status and not ranked (no
    "best") against the rest. Another plugin source is such a setting: the model is other code."""
    return {name: setting.short for name, setting in settings(*runs).items() if setting.changes_meaning}


MARK_COLUMN = "scored_differently"


def mark_mixed_settings(agg: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """`agg` with a MARK_COLUMN: '' or e.g. 'scored with samples 1000 (others: 5000)'."""
    completed = runs[runs["status"] == STATUS_COMPLETED]
    marks: dict[str, list[str]] = {}
    for setting, label in scoring_settings(runs).items():
        if setting not in completed:
            continue
        values = completed[setting].dropna()
        values = values[values != NOT_APPLICABLE].map(setting_text)
        if values.nunique() <= 1:
            continue
        counts = values.value_counts()
        # The most common value is the reference; with a tie there is none and every side is marked.
        common = {counts.index[0]} if counts.iloc[0] > counts.iloc[1] else set()
        for configuration, group in values.groupby(completed.loc[values.index, "configuration"]):
            own = sorted(set(group) - common)
            if own:
                others = ", ".join(sorted(set(values) - set(group))) or ", ".join(sorted(common))
                marks.setdefault(str(configuration), []).append(f"{label} {', '.join(own)} (others: {others})")
    return agg.assign(**{MARK_COLUMN: [("scored with " + "; ".join(marks[c])) if c in marks else ""
                                       for c in agg["configuration"]]})


def setting_text(value: Any) -> str:
    """A setting's value as shown: whole floats as integers, a sha256 as its first 8 hex digits."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text[:8] if len(text) == 64 else text  # a sha256: its first 8 hex digits


def comparability_notes(runs: pd.DataFrame) -> list[str]:
    """Warnings for numbers that sit side by side but were measured differently."""
    notes = []
    if "fid_samples" in runs:
        sizes = sorted({int(n) for n in runs["fid_samples"].dropna() if isinstance(n, (int, float))})
        if len(sizes) > 1:
            notes.append(f"FID and KID were computed at different sample sizes (N = {', '.join(map(str, sizes))}): "
                         "numbers at different N are not comparable; FID∞ is. Re-evaluate with one "
                         "`harness evaluate --num-samples N`.")
    if "likelihood_model" in runs:
        models = sorted({m for m in runs["likelihood_model"].dropna() if m != NOT_APPLICABLE})
        if len(models) > 1:
            notes.append(f"ELBO/IWAE come from different likelihood models ({', '.join(models)}): their nats are "
                         "densities of different data and not comparable; AIS log-likelihoods are.")
    return notes
