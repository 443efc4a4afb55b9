"""What a result column means: label, better direction, unit, display precision.

Metrics declare their own columns (harness/metrics/*.py); `harness.metrics.columns` adds the
columns every run has and gives the leaderboard, the charts and the claims one view of all of them.
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
    primary: bool = False  # the headline score: the leaderboard's default sort, the budget view, the cost chart
    summary: bool = False  # shown in the one-line summary of a scored run
    # A setting recorded beside the scores (e.g. the sample count): a configuration scored under
    # another value is marked and not ranked with the rest; this is its short name in that mark.
    changes_meaning: str | None = None

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
