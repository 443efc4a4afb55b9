"""What a result column means: label, better direction, unit, display precision.

Metrics declare their own columns (harness/metrics/*.py); this module adds the columns every
run has (training time, throughput, parameters) and gives the leaderboard, the charts and the
claims one view of all of them. A column nobody declared (e.g. a metric's wall time) is still
shown and aggregated, with its name as label and no direction: nothing is dropped.
"""

from dataclasses import dataclass
from typing import Literal

NOT_APPLICABLE = "n/a"  # a metric the model lacks the capability for: never 0, never blank
CONFIDENCE = 0.95
INTERVAL_KIND = "95% Student-t CI of the mean over seeds"


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    better: Literal["lower", "higher"] | None  # None: not a score (e.g. parameters)
    unit: str = ""
    digits: int = 3  # significant digits when displayed
    leaderboard: bool = False  # shown by default in the leaderboard
    chart: bool = False  # gets a chart of its own in the report
    numeric: bool = True  # False: a label such as the reconstruction method, never averaged

    @property
    def arrow(self) -> str:
        return {"lower": "↓", "higher": "↑", None: ""}[self.better]

    @property
    def direction(self) -> str:
        return {"lower": "lower is better", "higher": "higher is better", None: ""}[self.better]

    @property
    def title(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.label}{unit}"


# Columns every run has, from its run record.
RUN_COLUMNS = (
    Column("train_seconds", "training time", "lower", "s", digits=3, leaderboard=True),
    Column("images_per_second", "throughput", "higher", "img/s", digits=3),
    Column("parameters", "parameters", None, digits=3, leaderboard=True),
)


def all_columns() -> dict[str, Column]:
    """Every declared column: the registered metrics' (in registration order), then the run columns."""
    from harness.metrics import METRICS

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
