"""What a launch says about one run: its spec, its folder and record, and how it ended (trained,
skipped, running elsewhere, failed, evaluated); the display and the summary table read it."""

from dataclasses import dataclass, field

from harness.config.suite import RunSpec
from harness.store import MetricsRow, RunFolder, RunRecord


@dataclass
class RunOutcome:
    spec: RunSpec
    folder: RunFolder
    record: RunRecord
    status: str  # the record's status, "skipped", or "evaluation failed"
    metrics: MetricsRow | None = None
    failed_metrics: list[str] = field(default_factory=list)
