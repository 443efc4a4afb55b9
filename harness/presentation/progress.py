"""What a person watching a suite sees: a rich progress display on the main process only.

Other processes get a display that only passes their progress on to the strategy (which puts
it in their claim for the main process to show), so training code can call it freely.
"""

import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Column
from rich.text import Text

from harness.store import STATUS_COMPLETED, STATUS_RUNNING, STATUS_SKIPPED
from harness.presentation.terminal import Field, Grid

if TYPE_CHECKING:
    from harness.execution.strategy import Strategy
    from harness.training.outcome import RunOutcome
    from harness.store import RunLock

LOOK_AT_OTHERS_SECONDS = 2.0  # how often the main process reads the other processes' claims



class TrainingProgress:
    """The suite's progress by expected cost (so its ETA weighs a 45-minute run as such), this
    process's run, and in a run-parallel launch one line per other process (from their claims)."""

    def __init__(self, enabled: bool, costs: dict[str, float], console: Console | None = None,
                 on_update: Callable[[int, int, str], None] | None = None,
                 others: Callable[[], list["RunLock"]] | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self.costs = costs  # expected cost of every run this launch trains
        self.fraction_done: dict[str, float] = {}
        self.on_update = on_update or (lambda steps, total, detail: None)
        self.others = others or (lambda: [])
        self.last_look = 0.0
        # In a log file (no terminal) a bar is useless; print one line per epoch instead.
        self.epoch_lines = enabled and not self.console.is_terminal
        bars = enabled and self.console.is_terminal
        self.progress = _TwoLineProgress(
            # Every task's name column is as wide as the longest run id (and "p1 " for another process's
            # run), so bars line up and no id is cut; it leaves the bar, steps and ETA their ~48
            # columns, and a longer name folds onto a second line.
            TextColumn("[bold]{task.description}", table_column=Column(
                no_wrap=False, overflow="fold",
                width=min(max([len("suite"), *(len(run) + 4 for run in costs)]), max(12, self.console.width - 48)))),
            BarColumn(bar_width=12),
            TextColumn("{task.fields[count]}", table_column=Column(no_wrap=True)),
            EtaColumn(),
            console=self.console,
            disable=not bars,
        )
        self.suite_task = self.progress.add_task("suite", total=max(sum(costs.values()), 1.0), count=self._count(),
                                                 status="", whole_launch=True)
        self.run_task: TaskID | None = None
        self.run_id: str | None = None
        self.total_steps = 0
        self.other_tasks: dict[int, TaskID] = {}

    def __enter__(self) -> "TrainingProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def add_runs(self, costs: dict[str, float]) -> None:
        """Runs this launch trains too (a search's best trial with the other seeds): the suite's total grows."""
        self.costs = {**self.costs, **costs}
        self.progress.update(self.suite_task, total=max(sum(self.costs.values()), 1.0), count=self._count())

    def _count(self) -> str:
        done = sum(1 for fraction in self.fraction_done.values() if fraction >= 1)
        return f"{done}/{len(self.costs)} runs"

    def _advance_suite(self, run_id: str, fraction: float) -> None:
        if run_id in self.costs:
            self.fraction_done[run_id] = fraction
        completed = sum(self.costs[run] * f for run, f in self.fraction_done.items())
        self.progress.update(self.suite_task, completed=completed, count=self._count())

    def start_run(self, run_id: str, total_steps: int, done: int = 0) -> None:
        """A run starts (or resumes with `done` of its steps behind it)."""
        if self.run_task is not None:
            self.progress.remove_task(self.run_task)
        self.run_id, self.total_steps = run_id, total_steps
        status = f"resumed at step {done}" if done else "starting"
        self.run_task = self.progress.add_task(run_id, total=total_steps, completed=done,
                                               count=_steps(done, total_steps), status=status)
        if done:
            self.print(f"{run_id}: resuming from its checkpoint at step {done}/{total_steps}")
        self.on_update(done, total_steps, status)

    def update(self, steps_done: int, epoch: int, epochs: int, losses: dict[str, float], images_per_second: float) -> None:
        loss_text = " ".join(f"{k} {v:.3g}" for k, v in losses.items())
        status = f"epoch {epoch + 1}/{epochs} | {images_per_second:,.0f} img/s | {loss_text}"
        self.on_update(steps_done, self.total_steps, status)
        if not self.enabled or self.run_task is None:
            return
        self.progress.update(self.run_task, completed=steps_done, count=_steps(steps_done, self.total_steps),
                             status=status)
        self._advance_suite(self.run_id or "", steps_done / max(self.total_steps, 1))
        if time.monotonic() - self.last_look > LOOK_AT_OTHERS_SECONDS:
            self.show_others(self.others())

    def show_others(self, claims: list["RunLock"]) -> None:
        """One line per other process of the launch: its run and how far it is."""
        self.last_look = time.monotonic()
        if not self.enabled:
            return
        for claim in claims:
            fraction = 1.0 if claim.status != STATUS_RUNNING else claim.steps_done / max(claim.total_steps, 1)
            self._advance_suite(claim.run, fraction)
            if claim.run == self.run_id:
                continue
            task = self.other_tasks.get(claim.process)
            if claim.status != STATUS_RUNNING:
                if task is not None:
                    self.progress.update(task, visible=False)
                continue
            if task is None:
                task = self.other_tasks[claim.process] = self.progress.add_task("", total=1, count="", status="")
            self.progress.update(task, description=f"p{claim.process} {claim.run}", visible=True,
                                 total=max(claim.total_steps, 1), completed=claim.steps_done,
                                 count=_steps(claim.steps_done, claim.total_steps), status=claim.detail)

    def epoch_done(self, run_id: str, epoch: int, epochs: int, losses: dict[str, float], images_per_second: float) -> None:
        if self.epoch_lines:
            loss_text = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
            self.console.print(f"{run_id}: epoch {epoch + 1}/{epochs} {loss_text} ({images_per_second:,.0f} img/s)")

    def finish_run(self, outcome: "RunOutcome") -> None:
        if not self.enabled:
            return
        self._advance_suite(outcome.spec.id, 1.0)
        self.console.print(run_line(outcome))

    def evaluating(self, run_id: str, metric: str, index: int, total: int) -> None:
        """Run `run_id`'s evaluation reached `metric` (index of total); "figures" comes last. The run
        is the one just trained, or one trained earlier whose evaluation was never finished."""
        status = f"evaluating: {metric} ({index + 1}/{total})" if index < total else "evaluating: drawing figures"
        self.on_update(self.total_steps, self.total_steps, status)
        if self.epoch_lines:
            self.console.print(f"{run_id}: {status}")
        if self.enabled and self.run_task is not None:
            self.progress.update(self.run_task, status=status)

    def evaluated(self, outcome: "RunOutcome") -> None:
        self.print(evaluation_line(outcome))

    def sampled(self, run_id: str, epoch: int, images: object, rows: int) -> None:
        """Progress grids are files in the run folder (and the report's strip); nothing to show here."""

    def print(self, *objects: object) -> None:
        if self.enabled:
            self.console.print(*objects)


def launch_line(suite: str, to_train: int, complete: int, strategy: "Strategy", devices_here: int) -> str:
    """What this launch does, before its first step: the runs, the strategy over how many processes
    (per machine when there are several), the device, the precision and the threads, each with
    what decided it. `devices_here`: the GPUs this machine has (0 on a CPU), to say when the launch
    leaves some unused."""
    facts = strategy.describe()
    world, local = strategy.world_size, strategy.local_processes
    machines = max(1, world // max(local, 1))
    processes = (f"{world} processes on {machines} machines ({local} each)" if machines > 1
                 else f"{world} process{'es' if world > 1 else ''}")
    line = (f"{suite}: {to_train} run(s) to train, {complete} complete; {strategy.name}, {processes} on "
            f"{strategy.device.type}; precision {facts['mixed_precision']} ({strategy.mixed_precision_source}); "
            f"{strategy.threads} thread(s) per process ({strategy.threads_source})")
    if devices_here > local:
        line += (f"\nnote: this machine has {devices_here} GPUs and the launch uses {local}: "
                 f"accelerate launch --config_file launch/gpus.yaml (num_processes: {devices_here}) uses them all")
    return line


def _steps(done: int, total: int) -> str:
    width = len(str(total))
    return f"step {done:>{width}}/{total}"


class EtaColumn(ProgressColumn):
    """`ETA 0:01:23` while running (from the recent speed; `ETA ?` before there is one), `took 0:44:00`
    when finished: never a bare time that could be read as either."""

    def render(self, task: Task) -> Text:
        if task.finished:
            return Text(f"took {_clock(task.finished_time or task.elapsed or 0)}", style="progress.elapsed")
        remaining = task.time_remaining
        if task.fields.get("whole_launch"):  # the suite: evaluation and waiting count too, not just recent steps
            fraction = task.completed / task.total if task.total else 0
            remaining = task.elapsed * (1 - fraction) / fraction if fraction > 0 and task.elapsed else None
        return Text(f"ETA {_clock(remaining) if remaining is not None else '?'}", style="progress.remaining")


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


class _TwoLineProgress(Progress):
    """rich's Progress with each task's status on a line of its own under its bar."""

    def get_renderables(self) -> Iterable[RenderableType]:
        for task in self.tasks:
            if not task.visible:
                continue
            yield self.make_tasks_table([task])
            if task.fields.get("status"):
                yield Text("    " + task.fields["status"], style="dim", overflow="fold")


def run_line(outcome: "RunOutcome") -> str:
    record = outcome.record
    if record.status != STATUS_COMPLETED:
        return f"[red]{record.status}[/] {record.id}: {record.error or ''}"
    losses = " ".join(f"{k} {v:.4g}" for k, v in record.final_losses.items())
    return (f"[green]done[/] {record.id}: {record.epochs_completed} epochs in {record.train_seconds:.1f}s "
            f"({record.images_per_second:,.0f} img/s), {losses}")


def metric_text(values: dict[str, Any]) -> str:
    """The scores a metric declared worth a summary (Column.summary), in the order they were written."""
    from harness.metrics.columns import summary_columns

    shown = set(summary_columns())
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in values.items() if k in shown)


def evaluation_line(outcome: "RunOutcome") -> str:
    row = outcome.metrics.values if outcome.metrics else {}
    seconds = row.get("evaluation_seconds") or 0.0
    failed = (f" [red]failed metrics: {', '.join(outcome.failed_metrics)}[/] (see {outcome.folder.metrics_file})"
              if outcome.failed_metrics else "")
    earlier = " (trained earlier)" if outcome.status == STATUS_SKIPPED else ""
    return f"  evaluated {outcome.spec.id}{earlier} in {seconds:.1f}s: {metric_text(row)}{failed}"


def summary_table(outcomes: list["RunOutcome"]) -> Grid:
    """The closing table of `harness run`: one row per run."""
    fields = [Field("run"), Field("status"), Field("epochs", "right"), Field("final losses", wraps=True),
              Field("img/s", "right"), Field("train time", "right"), Field("parameters", "right")]
    rows = []
    for outcome in outcomes:
        record = outcome.record
        style = {"completed": "green", "skipped": "dim", "running elsewhere": "yellow"}.get(outcome.status, "red")
        losses = " ".join(f"{k} {v:.4g}" for k, v in record.final_losses.items())
        rows.append([
            escape(record.id),
            f"[{style}]{outcome.status}[/]",
            f"{record.epochs_completed}/{record.epochs}",
            losses,
            f"{record.images_per_second:,.0f}" if record.images_per_second else "",
            f"{record.train_seconds:.1f}s" if record.train_seconds is not None else "",
            f"{record.parameters['total']:,}" if record.parameters else "",
        ])
    return Grid("runs", fields, rows)
