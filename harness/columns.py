"""What every result column means, in one place: label, better direction, unit, precision.

The leaderboard, the charts and the claims all read this table, so a metric's direction
(lower or higher is better) is never decided in two places.
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

    @property
    def arrow(self) -> str:
        return {"lower": "↓", "higher": "↑", None: ""}[self.better]

    @property
    def title(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.label}{unit}"


COLUMNS: dict[str, Column] = {c.name: c for c in [
    Column("fid", "FID", "lower", digits=4),
    Column("kid_mean", "KID", "lower", digits=3),
    Column("precision", "precision", "higher"),
    Column("recall", "recall", "higher"),
    Column("density", "density", "higher"),
    Column("coverage", "coverage", "higher"),
    Column("classes_covered", "classes covered", "higher", digits=2),
    Column("class_kl", "class KL", "lower", "nats"),
    Column("classifier_score", "classifier score", "higher"),
    Column("reconstruction_mse", "reconstruction MSE", "lower", digits=3),
    Column("reconstruction_seconds", "reconstruction time", "lower", "s"),
    Column("elbo", "ELBO", "higher", "nats", digits=4),
    Column("iwae", "IWAE bound", "higher", "nats", digits=4),
    Column("train_seconds", "training time", "lower", "s", digits=3),
    Column("images_per_second", "throughput", "higher", "img/s", digits=3),
    Column("parameters", "parameters", None, digits=3),
]}

# The leaderboard's default columns, in order.
KEY_METRICS = ["fid", "kid_mean", "precision", "recall", "reconstruction_mse", "elbo", "iwae", "train_seconds", "parameters"]
