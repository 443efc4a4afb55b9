"""Every result column in one view: the registered metrics' columns, then the columns every run has.

The run columns (training time, throughput, parameters) come from the run record. A column
nobody declared (e.g. a metric's wall time) is still shown and aggregated, with its name as
label and no direction: nothing is dropped.
"""

from collections.abc import Iterable

from harness.core.columns import Column
from harness.metrics.registry import METRICS

# Columns every run has, from its run record.
RUN_COLUMNS = (
    Column("train_seconds", "training time", "lower", "s", digits=3, leaderboard=True),
    Column("images_per_second", "throughput", "higher", "img/s", digits=3),
    Column("parameters", "parameters", None, digits=3, leaderboard=True),
)


def all_columns() -> dict[str, Column]:
    """Every declared column: the registered metrics' (in registration order), then the run columns."""
    columns = [c for name in METRICS for c in METRICS.get(name).columns]
    return {c.name: c for c in [*columns, *RUN_COLUMNS]}


def column(name: str) -> Column:
    """The declared column `name`, or a plain one (its name as label, no direction) for any other."""
    return all_columns().get(name) or Column(name, name.replace("_", " "), None)


def leaderboard_columns() -> list[str]:
    return [c.name for c in all_columns().values() if c.leaderboard]


def chart_columns() -> list[str]:
    return [c.name for c in all_columns().values() if c.chart]


def scored_columns() -> list[str]:
    """Columns with a better direction: what claims and sorting may use."""
    return [c.name for c in all_columns().values() if c.better]


def feature_space_variants(name: str) -> list[str]:
    """The same metric in every feature space: `fid` -> [`fid`, `fid_ae`]; a metric in one space -> [name]."""
    columns = all_columns()
    return [name, f"{name}_ae"] if f"{name}_ae" in columns else [name]


def primary_column(available: Iterable[str]) -> str | None:
    """The headline score among `available` columns (the first declared primary one; FID for the
    built-in metrics): what the leaderboard sorts by and the budget view and cost chart plot."""
    present = set(available)
    return next((c.name for c in all_columns().values() if c.primary and c.name in present), None)


def summary_columns() -> list[str]:
    """Columns shown in a scored run's one-line summary, in the metrics' order."""
    return [c.name for c in all_columns().values() if c.summary]


def meaning_settings() -> dict[str, str]:
    """{column: short name} of the recorded settings under which scores are other numbers."""
    return {c.name: c.changes_meaning for c in all_columns().values() if c.changes_meaning}
