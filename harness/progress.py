"""What a person watching a suite sees: a rich progress display on the main process only.

Other processes get a display whose methods do nothing, so training code can call it freely.
"""

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from harness.store import STATUS_COMPLETED, STATUS_SKIPPED

if TYPE_CHECKING:
    from harness.pipeline import RunOutcome

# The metrics shown in one-line summaries (when a run has them).
SHOWN_METRICS = ("fid", "kid_mean", "precision", "recall", "classes_covered", "reconstruction_mse", "elbo", "iwae")


class TrainingProgress:
    def __init__(self, enabled: bool, total_runs: int, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        # In a log file (no terminal) a bar is useless; print one line per epoch instead.
        self.epoch_lines = enabled and not self.console.is_terminal
        bars = enabled and self.console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not bars,
        )
        self.suite_task = self.progress.add_task("runs", total=total_runs, status="")
        self.run_task = None

    def __enter__(self) -> "TrainingProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def start_run(self, run_id: str, total_steps: int) -> None:
        if self.run_task is not None:
            self.progress.remove_task(self.run_task)
        self.run_task = self.progress.add_task(run_id, total=total_steps, status="starting")

    def update(self, steps_done: int, epoch: int, epochs: int, losses: dict[str, float], images_per_second: float) -> None:
        if not self.enabled or self.run_task is None:
            return
        loss_text = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
        status = f"epoch {epoch + 1}/{epochs} | {loss_text} | {images_per_second:,.0f} img/s"
        self.progress.update(self.run_task, completed=steps_done, status=status)

    def epoch_done(self, run_id: str, epoch: int, epochs: int, losses: dict[str, float], images_per_second: float) -> None:
        if self.epoch_lines:
            loss_text = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
            self.console.print(f"{run_id}: epoch {epoch + 1}/{epochs} {loss_text} ({images_per_second:,.0f} img/s)")

    def finish_run(self, outcome: "RunOutcome") -> None:
        if not self.enabled:
            return
        self.progress.advance(self.suite_task)
        self.console.print(run_line(outcome))

    def evaluated(self, outcome: "RunOutcome") -> None:
        self.print(evaluation_line(outcome))

    def print(self, *objects: object) -> None:
        if self.enabled:
            self.console.print(*objects)


def run_line(outcome: "RunOutcome") -> str:
    record = outcome.record
    if record.status != STATUS_COMPLETED:
        return f"[red]{record.status}[/] {record.id}: {record.error or ''}"
    losses = " ".join(f"{k} {v:.4g}" for k, v in record.final_losses.items())
    return (f"[green]done[/] {record.id}: {record.epochs_completed} epochs in {record.train_seconds:.1f}s "
            f"({record.images_per_second:,.0f} img/s), {losses}")


def metric_text(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in values.items() if k in SHOWN_METRICS)


def evaluation_line(outcome: "RunOutcome") -> str:
    row = outcome.metrics.values if outcome.metrics else {}
    seconds = row.get("evaluation_seconds") or 0.0
    failed = (f" [red]failed metrics: {', '.join(outcome.failed_metrics)}[/] (see {outcome.folder.metrics_file})"
              if outcome.failed_metrics else "")
    earlier = " (trained earlier)" if outcome.status == STATUS_SKIPPED else ""
    return f"  evaluated {outcome.spec.id}{earlier} in {seconds:.1f}s: {metric_text(row)}{failed}"


def summary_table(outcomes: list["RunOutcome"]) -> Table:
    """The closing table of `harness run`: one row per run."""
    table = Table(title="runs", title_justify="left")
    for column in ("run", "status", "epochs", "final losses", "img/s", "train time", "parameters"):
        table.add_column(column, justify="right" if column in ("epochs", "img/s", "train time", "parameters") else "left")
    for outcome in outcomes:
        record = outcome.record
        style = {"completed": "green", "skipped": "dim"}.get(outcome.status, "red")
        losses = " ".join(f"{k} {v:.4g}" for k, v in record.final_losses.items())
        table.add_row(
            record.id,
            f"[{style}]{outcome.status}[/]",
            f"{record.epochs_completed}/{record.epochs}",
            losses,
            f"{record.images_per_second:,.0f}" if record.images_per_second else "",
            f"{record.train_seconds:.1f}s" if record.train_seconds is not None else "",
            f"{record.parameters['total']:,}" if record.parameters else "",
        )
    return table
