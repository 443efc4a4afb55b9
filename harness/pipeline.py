"""The library entry point: what the CLI, notebooks, tests and benchmarks call.

    suite = load("suites/quickstart.toml")              # validate and expand (no torch)
    outcome = run_suite("suites/quickstart.toml", "results", data_dir="../shared/data")
    board = leaderboard("results/quickstart")           # seed-aggregated table
    write_report("results/quickstart")                  # report.md, report.html, charts/

Data flow: suite -> plan (what to train, what is done) -> strategy (who does what) ->
trainer -> results store -> evaluation -> aggregate -> leaderboard / report. Each call here
wires those modules together; none of them prints except through the progress display it is
given. Heavy modules (torch, accelerate) are imported inside the calls that train or evaluate.
"""

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from dataclasses import replace as replaced
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from harness.core.errors import HarnessError, SuiteError
from harness.store import (STATUS_COMPLETED, STATUS_DIVERGED, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_RUNNING,
                           STATUS_SKIPPED, STATUS_UNREADABLE, ResultsFileError, RunFolder, RunRecord, SuiteFolder)
from harness.config.suite import RunSpec, Suite, load_suite

if TYPE_CHECKING:
    import pandas as pd

    from harness.presentation.terminal import Grid

    from harness.datasets import Dataset
    from harness.evaluation.session import EvaluationSession
    from harness.execution.executors import ClusterOptions, Submission
    from harness.presentation.progress import TrainingProgress
    from harness.store import MetricsRow, ReferenceRecord
    from harness.execution.strategy import Strategy


def load(suite_path: str | Path, mixed_precision: str | None = None) -> Suite:
    """A validated, expanded suite ready to train on this machine: `mixed_precision` overrides the
    suite's, else the suite's own, else "auto": what this device computes natively. However it
    is launched (one process, `accelerate launch` with or without launch/*.yaml), a suite gives
    the same configurations."""
    from harness.execution.hardware import auto_precision

    return load_suite(suite_path, mixed_precision, auto_precision)


def ignored_launcher_precision(suite: Suite) -> str | None:
    """A note when `accelerate launch --mixed_precision` asked for another precision than the runs
    train in: the harness does not follow it (resolve_mixed_precision says why). accelerate's own
    default, "no", is not worth a note: it is passed whether or not anyone asked for it."""
    asked = os.environ.get("ACCELERATE_MIXED_PRECISION")
    if not asked or asked == "no" or asked == suite.mixed_precision:
        return None
    return (f"note: accelerate launch's mixed precision {asked!r} is not used; the runs train in "
            f"{suite.mixed_precision!r} ({suite.mixed_precision_source}). To train in {asked}, pass "
            f"--mixed-precision {asked} after `harness run`, or set mixed_precision in [suite]")


def validate(paths: list[str | Path]) -> list[tuple[Path, Suite | SuiteError]]:
    """Each suite file with its expanded suite, or the error listing every problem it has."""
    checked: list[tuple[Path, Suite | SuiteError]] = []
    for path in paths:
        try:
            checked.append((Path(path), load_suite(path)))
        except SuiteError as err:
            checked.append((Path(path), err))
    return checked


# -- plan ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What a launch will do: the selected runs, split into those to train and those already complete.

    `replace` holds the runs to train that already have completed results (--force, --rerun):
    they train in a staging folder that replaces the old results only once the new run completed.
    """

    suite: Suite
    folder: SuiteFolder
    only: list[str] | None = None
    force: bool = False
    rerun: list[str] | None = None
    runs: list[RunSpec] = field(default_factory=list)
    to_train: list[RunSpec] = field(default_factory=list)
    complete: list[tuple[RunSpec, RunRecord]] = field(default_factory=list)
    replace: set[str] = field(default_factory=set)

    def training_folder(self, run: RunSpec) -> RunFolder:
        return self.folder.staging(run.id) if run.id in self.replace else self.folder.run(run.id)

    def add(self, suite: Suite) -> list[RunSpec]:
        """Plan the selected runs of `suite` not planned yet; returns those to train.

        Refuses (exit 2) to overwrite a run trained with another configuration.
        """
        self.suite = suite
        planned = {run.id for run in self.runs}
        new = [run for run in suite.select(self.only) if run.id not in planned]
        forced = {run.id for run in (new if self.force else suite.select(self.rerun) if self.rerun else [])}
        to_train, conflicts = [], []
        for run in new:
            self.folder.finish_replacement(run.id)  # a launch killed while swapping in a retrained run
            stored = self.folder.run(run.id)
            try:
                record = stored.read_record() if stored.has_record() else None
            except ResultsFileError:
                record = None  # unreadable record: the run never finished
            if record is None:
                to_train.append(run)
            elif run.id in forced:
                to_train.append(run)
                if record.status == STATUS_COMPLETED:
                    self.replace.add(run.id)
            elif record.config_hash != run.config_hash:
                conflicts.append(f"{stored.dir}: trained with another configuration "
                                 f"(hash {record.config_hash}, suite now gives {run.config_hash})")
            elif record.status == STATUS_COMPLETED:
                self.complete.append((run, record))
            else:
                to_train.append(run)
        if conflicts:
            raise HarnessError("\n".join(conflicts) + "\nuse --force (or --rerun NAME) to retrain them, or --results "
                               "DIR to keep both", exit_code=2)
        self.runs += new
        self.to_train += to_train
        return to_train


def plan_suite(suite: Suite, results: str | Path, only: list[str] | None = None, force: bool = False,
               rerun: list[str] | None = None) -> Plan:
    """Which selected runs to train (with the later seeds of every search already decided).

    `force` retrains every selected run, `rerun` (glob patterns) the matching ones.
    """
    folder = SuiteFolder(Path(results) / suite.name)
    plan = Plan(suite, folder, only, force, rerun)
    plan.add(with_chosen_trials(suite, folder))
    return plan


def chosen_trials(suite: Suite, folder: SuiteFolder) -> dict[str, int]:
    """{search group: its best trial} for each search (with `select`) whose trials are all done,
    by the search's metric (harness/search.py). Trials still to train or to score leave their
    search undecided; a failed trial is never the best."""
    from harness.metrics.columns import column
    from harness.config.search import best_trial

    best = {}
    for group, trials in suite.search_groups().items():
        scores = {run.trial: _trial_score(folder.run(run.id), run) for run in trials}
        if all(score is not _UNDECIDED for score in scores.values()):
            chosen = best_trial(scores, column(trials[0].selected_by).better == "lower")  # type: ignore[arg-type]
            if chosen is not None:
                best[group] = chosen
    return best


def with_chosen_trials(suite: Suite, folder: SuiteFolder) -> Suite:
    """`suite` with the later seeds of each decided search's best trial (`chosen_trials`)."""
    planned = {run.id for run in suite.runs}
    later = [run for run in suite.later_seeds(chosen_trials(suite, folder)) if run.id not in planned]
    return replaced(suite, runs=[*suite.runs, *later]) if later else suite


_UNDECIDED = object()  # a trial not trained or not scored yet


def _trial_score(folder: RunFolder, run: RunSpec) -> "float | None | object":
    """The trial's score by its search's metric; None when it finished without one (failed,
    diverged, metric n/a); _UNDECIDED while it is not trained and scored."""
    try:
        record = folder.read_record() if folder.has_record() else None
        if record is None:  # (a record of another configuration is refused when the run is planned)
            return _UNDECIDED
        if record.status in (STATUS_FAILED, STATUS_DIVERGED):
            return None
        if record.status != STATUS_COMPLETED or not folder.is_evaluated():
            return _UNDECIDED
        value = folder.read_metrics_row().values.get(run.selected_by)
    except ResultsFileError:
        return _UNDECIDED
    return float(value) if isinstance(value, (int, float)) else None


# -- run -------------------------------------------------------------------------------------


STATUS_ELSEWHERE = "running elsewhere"  # claimed by another launch on the same results folder


@dataclass
class RunOutcome:
    spec: RunSpec
    folder: RunFolder
    record: RunRecord
    status: str  # the record's status, "skipped", or "evaluation failed"
    metrics: "MetricsRow | None" = None
    failed_metrics: list[str] = field(default_factory=list)


@dataclass
class SuiteOutcome:
    folder: SuiteFolder
    outcomes: list[RunOutcome]
    writes_results: bool  # True on the launch's main process only: the others print nothing
    evaluated: bool

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status not in (STATUS_COMPLETED, STATUS_SKIPPED, STATUS_ELSEWHERE)]

    @property
    def exit_code(self) -> int:
        # Only the main process reports failures through its exit status: under torchrun a process
        # that exits non-zero gets the others killed, and they may still be training.
        return 1 if self.failed and self.writes_results else 0


DEFAULT_STRATEGY = "run_parallel"


def make_strategy(suite: Suite, name: str | None = None, threads: int | None = None) -> "Strategy":
    """The strategy `name` (else the suite's, else run_parallel) in the suite's precision."""
    from harness.execution.strategy import STRATEGIES

    name = name or suite.info.strategy or DEFAULT_STRATEGY
    threads_source = "--threads" if threads else "[suite] threads"
    return STRATEGIES.get(name)(suite.mixed_precision, suite.mixed_precision_source, threads or suite.info.threads,
                                threads_source)


def run_suite(suite: Suite | str | Path, results: str | Path = "results", *, data_dir: str | Path | None = None,
              only: list[str] | None = None, force: bool = False, rerun: list[str] | None = None,
              console: Console | None = None, dataset: "Dataset | None" = None,
              on_run: Callable[[RunOutcome], None] | None = None, strategy: str | None = None,
              threads: int | None = None) -> SuiteOutcome:
    """Train (and evaluate) every selected run of `suite` that is not complete yet.

    Under `accelerate launch` with several processes, `strategy` decides who trains what:
    run_parallel (default) gives whole runs to processes, data_parallel splits every run over
    all of them. An interrupted run resumes from its checkpoint; `force` (every selected run)
    and `rerun` (runs matching the patterns) retrain completed runs without losing them if the
    retrain fails. `dataset` skips loading it again (notebooks, benchmarks); `on_run` is called
    on the main process after each run with its outcome.
    """
    from harness.datasets import load_dataset
    from harness.presentation.progress import TrainingProgress
    from harness.execution.scheduling import expected_cost

    suite = suite if isinstance(suite, Suite) else load(suite)
    plan = plan_suite(suite, results, only, force, rerun)
    console = console or Console(stderr=True, highlight=False)
    if _nothing_to_do(plan):
        return _already_complete(plan, console, on_run)
    dataset = dataset or load_dataset(suite.info.dataset, data_dir or _recorded_data_root(_records(plan.folder)))
    chosen = make_strategy(suite, strategy, threads)
    problems = [f"run {run.id}: {why}" for run in plan.to_train if (why := chosen.check_run(run))]
    problems += _missing_evaluators(suite, dataset)
    if problems:
        raise HarnessError("\n".join(f"{suite.path}: {p}" for p in problems), exit_code=2)
    if chosen.is_main:
        _write_suite_files(suite, plan.folder)
    chosen.start_launch(plan.folder, log=console.print)

    image_shape, train_images = dataset.spec.image_shape, len(dataset.train_images)
    costs = {run.id: expected_cost(run, image_shape, train_images) for run in plan.to_train}
    evaluation = _Evaluation(suite, dataset, chosen, plan.folder)
    outcomes: list[RunOutcome] = []
    report = on_run if chosen.is_main and on_run else (lambda outcome: None)
    with TrainingProgress(chosen.is_main, costs, console, on_update=chosen.report_progress,
                          others=chosen.others) as progress:
        if plan.complete:
            progress.print(f"{len(plan.complete)} run(s) already complete with the same configuration: "
                           "skipped (--force or --rerun NAME retrains)")
        if chosen.is_main:
            for spec, record in plan.complete:
                outcome = RunOutcome(spec, plan.folder.run(spec.id), record, STATUS_SKIPPED)
                if suite.evaluation.enabled and not plan.folder.run(spec.id).is_evaluated():
                    evaluation.evaluate(spec, outcome, progress)  # trained earlier but never scored
                outcomes.append(outcome)
                report(outcome)
        pending = list(plan.to_train)
        while True:  # a search with `select` adds its best trial's later seeds once its trials are scored
            outcomes += _train_and_evaluate(pending, plan, chosen, dataset, evaluation, costs, progress, report)
            pending = _later_seeds_decided(plan, chosen, dataset, costs, progress)
            if not pending:
                break
        if chosen.is_main:
            chosen.wait_for_others(plan.to_train, progress.show_others)
            if suite.evaluation.enabled and plan.runs and plan.folder.read_reference() is None:
                evaluation.reference()  # the floor, also when this process evaluated no run itself
            for outcome in _trained_by_others(plan, outcomes):
                progress.finish_run(outcome)
                if outcome.metrics is not None:
                    progress.evaluated(outcome)
                outcomes.append(outcome)
                report(outcome)
    return SuiteOutcome(plan.folder, _in_suite_order(plan, outcomes), chosen.is_main, suite.evaluation.enabled)


def _train_and_evaluate(runs: list[RunSpec], plan: Plan, chosen: "Strategy", dataset: "Dataset",
                        evaluation: "_Evaluation", costs: dict[str, float], progress: "TrainingProgress",
                        report: Callable[[RunOutcome], None]) -> list[RunOutcome]:
    """Train (and evaluate) the runs of `runs` the strategy gives this process; their outcomes."""
    from harness.execution.stops import STOPS, Stopped
    from harness.training.trainer import train_run

    suite, outcomes = plan.suite, []
    for spec in chosen.assign(runs, plan.folder, costs):
        try:
            record = train_run(spec, suite.name, dataset, chosen, plan.training_folder(spec), progress)
            if spec.id in plan.replace:
                _replace_if_completed(plan, spec, record, chosen, progress)
            STOPS.raise_if_requested(f"after run {spec.id}")
            outcome = RunOutcome(spec, plan.folder.run(spec.id), record, record.status)
            progress.finish_run(outcome)
            if record.status == STATUS_COMPLETED and suite.evaluation.enabled:
                chosen.report_progress(progress.total_steps, progress.total_steps, "evaluating")
                evaluation.evaluate(spec, outcome, progress)
        except Stopped as err:
            err.where = err.where or f"while evaluating {spec.id} (it is trained; the next launch evaluates it)"
            chosen.run_finished(spec, STATUS_INTERRUPTED)
            raise
        chosen.run_finished(spec, outcome.status)
        outcomes.append(outcome)
        report(outcome)
    return outcomes


def _later_seeds_decided(plan: Plan, chosen: "Strategy", dataset: "Dataset", costs: dict[str, float],
                         progress: "TrainingProgress") -> list[RunSpec]:
    """After a round of training: the later seeds of the searches decided since (their best trials), to train next.

    A process that finished its share looks at once (a run-parallel process then trains the
    searches already decided while the others finish theirs; the run locks keep two processes
    from training one run), and only when nothing new is decided waits for the others' runs and
    looks again. Processes that train together pass a barrier first, so they read the same results.
    """
    from harness.execution.scheduling import expected_cost

    if not plan.suite.later:
        return []
    chosen.wait()
    new = plan.add(with_chosen_trials(plan.suite, plan.folder))
    if not new:
        chosen.wait_for_others(plan.to_train, progress.show_others)
        new = plan.add(with_chosen_trials(plan.suite, plan.folder))
    if new:
        image_shape, train_images = dataset.spec.image_shape, len(dataset.train_images)
        added = {run.id: expected_cost(run, image_shape, train_images) for run in new}
        costs.update(added)
        progress.add_runs(added)
        groups = sorted({run.search_group for run in new})
        progress.print(f"search done: the best trial of {', '.join(groups)} trains with the other seeds "
                       f"({len(new)} run(s))")
    return new


def _missing_evaluators(suite: Suite, dataset: "Dataset") -> list[str]:
    """The metrics that need a pinned evaluator the dataset does not have: refused before anything
    trains, with the message loading the evaluator would give after training."""
    from harness.metrics import METRICS

    missing = dataset.spec.missing_evaluator()
    if not suite.evaluation.enabled or suite.evaluation.features != "evaluator" or missing is None:
        return []
    needing = [name for name in suite.evaluation.metrics if METRICS.get(name).needs_evaluator]
    return [f"evaluation.metrics: {', '.join(needing)} need(s) an evaluator: {missing}"] if needing else []


def _nothing_to_do(plan: Plan) -> bool:
    """Every selected run is complete and scored: the launch must not write a single file
    (so a complete suite reruns fine from a read-only results folder)."""
    if plan.to_train:
        return False
    if not plan.suite.evaluation.enabled:
        return True
    try:
        reference = plan.folder.read_reference()
    except ResultsFileError:
        return False
    return reference is not None and all(plan.folder.run(spec.id).is_evaluated() for spec, _ in plan.complete)


def _already_complete(plan: Plan, console: Console, on_run: Callable[[RunOutcome], None] | None) -> SuiteOutcome:
    from harness.execution.strategy import launch_position

    is_main = launch_position()[0] == 0
    outcomes = [RunOutcome(spec, plan.folder.run(spec.id), record, STATUS_SKIPPED) for spec, record in plan.complete]
    if is_main:
        console.print(f"all {len(outcomes)} selected run(s) of {plan.suite.name} are complete and evaluated: "
                      "nothing to do (--force or --rerun NAME retrains)")
        for outcome in outcomes:
            if on_run:
                on_run(outcome)
    return SuiteOutcome(plan.folder, outcomes, is_main, plan.suite.evaluation.enabled)


def _replace_if_completed(plan: Plan, spec: RunSpec, record: RunRecord, strategy: "Strategy",
                          progress: "TrainingProgress") -> None:
    """A retrain of a completed run (trained in staging) replaces it only once it completed."""
    if strategy.writes_results:
        if record.status == STATUS_COMPLETED:
            plan.folder.promote(spec.id)
        else:
            plan.folder.discard_staging(spec.id)
            record.error = f"{record.error}; the earlier results in {plan.folder.run(spec.id).dir} are kept"
            progress.print(f"{spec.id}: the retrain {record.status}; its earlier results are kept")
    strategy.wait()  # the new results are in place before any process evaluates them


def _write_suite_files(suite: Suite, folder: SuiteFolder) -> None:
    """The suite's copy and settings (rewritten only when they changed)."""
    folder.write_suite(suite.path.read_text(encoding="utf-8"), {
        "suite": suite.info.model_dump(), "source": str(suite.path),
        "mixed_precision": suite.mixed_precision, "mixed_precision_source": suite.mixed_precision_source,
        "runs": [{"id": r.id, "name": r.name, "config_hash": r.config_hash} for r in suite.runs],
    })


def _trained_by_others(plan: Plan, mine: list[RunOutcome]) -> list[RunOutcome]:
    """The outcomes of the runs another process of the launch (or another launch) trained,
    read back from the store; a run whose record is missing or unfinished shows as failed."""
    from harness.execution.scheduling import process_alive

    done = {outcome.spec.id for outcome in mine}
    outcomes = []
    for spec in plan.to_train:
        if spec.id in done:
            continue
        folder, claim = plan.folder.run(spec.id), plan.folder.read_lock(spec.id)
        if claim is not None and claim.status == STATUS_RUNNING and process_alive(claim):
            record = RunRecord(id=spec.id, name=spec.name, suite=plan.suite.name, config_hash=spec.config_hash,
                               status=STATUS_ELSEWHERE, epochs=spec.training.epochs,
                               error=f"another launch trains it ({claim.host} pid {claim.pid})")
            outcomes.append(RunOutcome(spec, folder, record, STATUS_ELSEWHERE))
            continue
        try:
            record = folder.read_record()
        except ResultsFileError as err:
            record = RunRecord(id=spec.id, name=spec.name, suite=plan.suite.name, config_hash=spec.config_hash,
                               status=STATUS_FAILED, epochs=spec.training.epochs, error=f"no result: {err}")
        if record.status == STATUS_RUNNING:
            record.status, record.error = STATUS_FAILED, "the process training it stopped before it finished"
        outcome = RunOutcome(spec, folder, record, record.status)
        if record.status == STATUS_COMPLETED and folder.is_evaluated():
            try:
                outcome.metrics = folder.read_metrics_row()
            except ResultsFileError:
                pass
        outcomes.append(outcome)
    return outcomes


def _in_suite_order(plan: Plan, outcomes: list[RunOutcome]) -> list[RunOutcome]:
    order = {run.id: index for index, run in enumerate(plan.runs)}
    return sorted(outcomes, key=lambda outcome: order.get(outcome.spec.id, len(order)))


class _Evaluation:
    """Evaluates runs right after training; the session (evaluator, test features) is built on first use."""

    def __init__(self, suite: Suite, dataset: "Dataset", strategy: "Strategy", folder: SuiteFolder) -> None:
        self.suite, self.dataset, self.strategy, self.folder = suite, dataset, strategy, folder
        self.session: "EvaluationSession | None" = None
        self.reference_done = False

    def _session(self) -> "EvaluationSession":
        from harness.evaluation.session import EvaluationSession

        if self.session is None:
            self.session = EvaluationSession(self.suite.evaluation, self.dataset, self.strategy)
        return self.session

    def reference(self) -> None:
        """The real-data floor, once per launch, by the processes the strategy says compute it."""
        from harness.evaluation.runner import evaluate_reference

        if not self.reference_done and self.strategy.computes_reference:
            evaluate_reference(self.folder, self._session())
        self.reference_done = True

    def evaluate(self, spec: RunSpec, outcome: RunOutcome, progress: "TrainingProgress") -> None:
        self.reference()
        _score(outcome, self._session(), lambda name, index, total: progress.evaluating(spec.id, name, index, total))
        progress.evaluated(outcome)


def _score(outcome: RunOutcome, session: "EvaluationSession",
           on_metric: Callable[[str, int, int], None] | None = None) -> None:
    """Evaluate one run into its outcome; a run whose files cannot be read is marked, and the others go on."""
    from harness.evaluation.runner import evaluate_run

    try:
        outcome.metrics, outcome.failed_metrics = evaluate_run(outcome.folder, session,
                                                               on_metric or (lambda name, index, total: None))
    except ResultsFileError as err:
        outcome.status, outcome.failed_metrics = STATUS_UNREADABLE, ["all: " + str(err)]
        return
    if outcome.failed_metrics:
        outcome.status = "evaluation failed"


# -- clusters and status ----------------------------------------------------------------------


def submit_suite(suite: Suite | str | Path, results: str | Path = "results", *, executor: str = "slurm",
                 options: "ClusterOptions | None" = None, only: list[str] | None = None, force: bool = False,
                 wait: bool = False, on_poll: Callable[[], None] | None = None) -> "Submission":
    """Submit the suite's pending runs as cluster jobs, one `harness run --only RUN` per task
    (harness/executors.py); with `wait` (always for the local backend), return when they ended."""
    from harness.execution import executors

    suite = suite if isinstance(suite, Suite) else load(suite)
    plan = plan_suite(suite, results, only, force)
    _write_suite_files(suite, plan.folder)
    submission = executors.submit(suite, plan.to_train, plan.folder, Path(results), executor,
                                  options or executors.ClusterOptions(), force)
    if wait or executor == "local":
        executors.wait(submission, on_poll or (lambda: None))
    return submission


@dataclass
class RunState:
    id: str
    state: str  # done | failed | diverged | running | interrupted | submitted | pending | unreadable
    detail: str = ""


def status(results_dir: str | Path) -> tuple[Suite, list[RunState]]:
    """Where each run of a suite's results folder stands, from its record, claim and job."""
    from harness.execution.scheduling import process_alive

    folder = SuiteFolder(Path(results_dir)).require()
    suite = with_chosen_trials(load_suite(folder.suite_toml), folder)
    jobs = folder.read_jobs()
    states = []
    for spec in suite.runs:
        run, claim = folder.run(spec.id), folder.read_lock(spec.id)
        try:
            if not run.has_record() and run.dir.is_dir() and any(run.dir.iterdir()):
                run.read_record()  # files but no record: name what is missing
            record = run.read_record() if run.has_record() else None
        except ResultsFileError as err:
            states.append(RunState(spec.id, "unreadable", f"{err}; rerun the suite to retrain it"))
            continue
        if claim is not None and claim.status == STATUS_RUNNING:
            if process_alive(claim):
                progress = f"{claim.steps_done}/{claim.total_steps} steps" if claim.total_steps else "starting"
                states.append(RunState(spec.id, "running", f"{claim.host} process {claim.process}: {progress} "
                                                           f"{claim.detail}".strip()))
            else:
                states.append(RunState(spec.id, "interrupted", f"its process ({claim.host} pid {claim.pid}) is gone; "
                                                               f"{_how_to_continue(run)}"))
        elif record is not None and record.status == STATUS_COMPLETED:
            evaluated = "evaluated" if run.is_evaluated() else "not evaluated"
            states.append(RunState(spec.id, "done", f"{record.train_seconds or 0:.0f}s training, {evaluated}"))
        elif record is not None and record.status != STATUS_RUNNING:
            states.append(RunState(spec.id, record.status, record.error or ""))
        elif record is not None:
            states.append(RunState(spec.id, "interrupted", f"started but never finished; {_how_to_continue(run)}"))
        elif spec.id in jobs:
            job = jobs[spec.id]
            states.append(RunState(spec.id, "submitted", f"{job['executor']} job {job['job']} ({job['submitted_at']})"))
        else:
            states.append(RunState(spec.id, "pending"))
    return suite, states


def _how_to_continue(run: RunFolder) -> str:
    position = run.checkpoint_position()
    if position is None:
        return "rerun the suite to train it from the start (no checkpoint yet)"
    return f"rerun the suite to resume it from its checkpoint (epoch {position['epoch'] + 1}, step {position['step']})"


# -- evaluate a results folder ----------------------------------------------------------------


@dataclass
class EvaluationOutcome:
    reference: "ReferenceRecord | None"
    runs: list[RunOutcome]
    writes_results: bool

    @property
    def exit_code(self) -> int:
        return 1 if any(o.failed_metrics for o in self.runs) else 0


def evaluate_results(results_dir: str | Path, *, data_dir: str | Path | None = None, only: list[str] | None = None,
                     num_samples: int | None = None, metrics: list[str] | None = None,
                     on_run: Callable[[RunOutcome], None] | None = None,
                     on_metric: Callable[[str, str, int, int], None] | None = None) -> EvaluationOutcome:
    """(Re-)score the completed runs of a suite's results folder from their saved weights;
    `on_metric(run id, metric, index, total)` as each metric of each run starts (main process)."""
    folder = SuiteFolder(Path(results_dir)).require()
    suite = with_chosen_trials(load_suite(folder.suite_toml), folder)
    metrics = metric_families(metrics) if metrics else None
    overrides = {k: v for k, v in (("num_samples", num_samples), ("metrics", metrics)) if v is not None}
    try:
        config = suite.evaluation.model_validate({**suite.evaluation.model_dump(), **overrides, "enabled": True})
    except ValueError as err:
        raise HarnessError(f"evaluation options: {err}", exit_code=2) from None
    finished = []
    for spec in suite.select(only):
        try:
            record = folder.run(spec.id).read_record()
        except ResultsFileError:
            continue  # never trained, or its record is unreadable: nothing to score
        if record.status == STATUS_COMPLETED:
            finished.append((spec, record))
    missing = [spec.id for spec, _ in finished if not folder.run(spec.id).has_weights()]
    if missing:
        raise HarnessError(f"{folder.dir}: no saved weights for {', '.join(missing)} (reference results are "
                           "committed without weights); retrain them with `harness run` to re-evaluate", exit_code=2)
    if not finished:
        raise HarnessError(f"{folder.dir}: no completed runs to evaluate", exit_code=2)

    from harness.datasets import load_dataset
    from harness.evaluation.runner import evaluate_reference
    from harness.evaluation.session import EvaluationSession
    from harness.execution.scheduling import RunLocks
    from harness.execution.strategy import DataParallel

    strategy = DataParallel("no", "evaluation runs in fp32")
    data_dir = data_dir or _recorded_data_root([record for _, record in finished])
    session = EvaluationSession(config, load_dataset(suite.info.dataset, data_dir), strategy)
    reference = evaluate_reference(folder, session)
    # Each run is locked while it is scored, like training: a run that another process trains
    # (e.g. a --rerun swapping in new weights) or scores right now is left to it.
    locks = RunLocks(folder, f"evaluate-{uuid.uuid4().hex[:8]}", 0) if strategy.is_main else None
    outcomes = []
    for spec, record in finished:
        outcome = RunOutcome(spec, folder.run(spec.id), record, STATUS_COMPLETED)
        if not strategy.any_process(locks is not None and locks.take(spec)):  # the main process decides
            holder = folder.read_lock(spec.id)
            outcome.status = STATUS_ELSEWHERE
            outcome.failed_metrics = [f"skipped: {spec.id} is locked by {holder.host} pid {holder.pid}"
                                      if holder else f"skipped: {spec.id} is locked by another process"]
        else:
            try:
                _score(outcome, session, (lambda name, index, total: on_metric(spec.id, name, index, total))
                       if on_metric and strategy.writes_results else None)
            finally:
                if locks is not None:
                    locks.release(STATUS_COMPLETED)
        outcomes.append(outcome)
        if on_run and strategy.writes_results:
            on_run(outcome)
    return EvaluationOutcome(reference, outcomes, strategy.writes_results)


def metric_columns(names: list[str]) -> list[str]:
    """Result columns from names that are columns (fid) or metrics (sample_quality: every column it
    writes), so `leaderboard`, `compare` and `evaluate` take the same words."""
    from harness.metrics import METRICS

    columns: list[str] = []
    for name in names:
        columns += METRICS.get(name).column_names() if name in METRICS else [name]
    return list(dict.fromkeys(columns))


def metric_families(names: list[str]) -> list[str]:
    """The metrics that compute `names` (metrics themselves, or columns such as fid)."""
    from harness.metrics import METRICS

    families = []
    for name in names:
        family = name if name in METRICS else next((m for m in METRICS if name in METRICS.get(m).column_names()), None)
        if family is None:
            columns = sorted(c for m in METRICS for c in METRICS.get(m).column_names())
            raise HarnessError(f"--metrics: unknown metric {name!r}; give a metric ({', '.join(METRICS.names())}) "
                               f"or one of its columns ({', '.join(columns)})", exit_code=2)
        families.append(family)
    return list(dict.fromkeys(families))


def _records(folder: SuiteFolder) -> Iterator[RunRecord]:
    """The readable run records of a suite folder (none for a new suite), read one at a time: the
    data-root lookup stops at the first, so a launch does not read every record of a large suite."""
    for run in folder.runs():
        try:
            yield run.read_record()
        except ResultsFileError:
            continue


def _recorded_data_root(records: Iterable[RunRecord]) -> Path | None:
    """The data root the runs trained from, if it is still there: `evaluate` after `run`, or `run`
    again to finish a suite, needs no --data-dir and never downloads a second copy (None: the
    usual lookup, see datasets/fetch.py)."""
    for record in records:
        if record.data_folder and Path(record.data_folder).is_dir():
            return Path(record.data_folder).parent
    return None


# -- aggregate, leaderboard, report -------------------------------------------------------------


def load_results(results_dir: str | Path) -> "pd.DataFrame":
    """One row per run of a suite's results folder: configuration, status, timings, every metric."""
    from harness.analysis.aggregate import load_runs

    return load_runs(SuiteFolder(Path(results_dir)).require())


@dataclass
class Leaderboard:
    title: str
    table: "pd.DataFrame"  # one row per configuration: mean, std, CI and n per metric
    metrics: list[str]
    notes: list[str] = field(default_factory=list)  # what makes some numbers not comparable
    unreadable: list[str] = field(default_factory=list)  # runs whose files could not be read, and why

    def export(self, fmt: str) -> str:
        from harness.presentation.leaderboard import export

        return export(self.table, self.metrics, fmt)

    def grid(self) -> "Grid":
        from harness.presentation.leaderboard import grid

        return grid(self.table, self.metrics, self.title)


def leaderboard(results_dir: str | Path, metrics: list[str] | None = None, sort: str | None = None) -> Leaderboard:
    """The suite's configurations aggregated over seeds, best first by `sort` (default: FID when present)."""
    from harness.analysis.aggregate import aggregate, result_columns, unreadable_runs
    from harness.metrics.columns import all_columns, leaderboard_columns
    from harness.presentation.leaderboard import sort_frame
    from harness.analysis.comparability import comparability_notes
    from harness.analysis.comparability import mark_mixed_settings

    runs = load_results(results_dir)
    metrics = metric_columns(metrics) if metrics else None
    available = result_columns(runs)
    unknown = [m for m in (metrics or []) + ([sort] if sort else []) if m not in available and m not in all_columns()]
    if unknown:
        raise HarnessError(f"unknown metric(s) {', '.join(unknown)}; in these results: {', '.join(available)}",
                           exit_code=2)
    chosen = [m for m in (metrics or leaderboard_columns()) if m in runs]
    table = mark_mixed_settings(aggregate(runs, chosen), runs)
    sort = sort or ("fid" if "fid" in chosen else None)
    table = sort_frame(table, sort if sort in table else None)
    return Leaderboard(f"{Path(results_dir).name}: {len(runs)} runs, {len(table)} configurations", table, chosen,
                       comparability_notes(runs), unreadable_runs(runs))


def write_report(results_dir: str | Path, log: Callable[[str], None] = print, output: str | Path | None = None) -> Path:
    """report.md, a self-contained report.html and charts/*.png from the results store alone,
    written into the results folder or `output`."""
    from harness.presentation.report import build_report

    return build_report(SuiteFolder(Path(results_dir)).require(), log=log,
                        output=Path(output) if output is not None else None)
