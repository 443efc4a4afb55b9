"""Training a suite: plan, strategy, train and evaluate each run this process is given, the later
seeds of decided searches, and the outcomes of the runs others trained; or submit it to a cluster."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from harness.analysis.trials import with_chosen_trials
from harness.config.suite import RunSpec, Suite
from harness.core.errors import HarnessError
from harness.core.statuses import STATUS_ELSEWHERE
from harness.execution.strategies import DEFAULT_STRATEGY, STRATEGIES
from harness.store import (STATUS_COMPLETED, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_RUNNING, STATUS_SKIPPED,
                           ResultsFileError, RunRecord, SuiteFolder)
from harness.training.outcome import RunOutcome
from harness.workflow.evaluate import AfterTraining
from harness.workflow.plan import Plan, load, plan_suite, readable_records, recorded_data_root, write_suite_files

if TYPE_CHECKING:
    from harness.datasets import Dataset
    from harness.execution.executors import ClusterOptions, Submission
    from harness.execution.strategy import Strategy
    from harness.presentation.progress import TrainingProgress
    from harness.training.tracking import RunTracking


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


def make_strategy(suite: Suite, name: str | None = None, threads: int | None = None) -> "Strategy":
    """The strategy `name` (else the suite's, else run_parallel) in the suite's precision."""

    entry = STRATEGIES.require(name, "--strategy") if name else STRATEGIES.get(suite.info.strategy or DEFAULT_STRATEGY)
    threads_source = "--threads" if threads else "[suite] threads"
    return entry.load()(suite.mixed_precision, suite.mixed_precision_source, threads or suite.info.threads,
                                threads_source)


def run_suite(suite: Suite | str | Path | dict, results: str | Path = "results", *, data_dir: str | Path | None = None,
              only: list[str] | None = None, force: bool = False, rerun: list[str] | None = None,
              console: Console | None = None, dataset: "Dataset | None" = None,
              on_run: Callable[[RunOutcome], None] | None = None, strategy: str | None = None,
              threads: int | None = None, log_with: list[str] | None = None) -> SuiteOutcome:
    """Train (and evaluate) every selected run of `suite` that is not complete yet.

    Under `accelerate launch` with several processes, `strategy` decides who trains what:
    run_parallel (default) gives whole runs to processes, data_parallel splits every run over
    all of them. An interrupted run resumes from its checkpoint; `force` (every selected run)
    and `rerun` (runs matching the patterns) retrain completed runs without losing them if the
    retrain fails. `dataset` skips loading it again (notebooks, benchmarks); `on_run` is called
    on the main process after each run with its outcome. `log_with` (else the suite's) names the
    trackers each run logs to (harness/training/tracking.py).
    """
    from harness.datasets import load_dataset
    from harness.presentation.progress import TrainingProgress, launch_line

    suite = suite if isinstance(suite, Suite) else load(suite)
    plan = plan_suite(suite, results, only, force, rerun)
    console = console or Console(stderr=True, highlight=False)
    if _nothing_to_do(plan):
        return _already_complete(plan, console, on_run)
    dataset = dataset or load_dataset(suite.info.dataset, data_dir or recorded_data_root(readable_records(plan.folder)))
    chosen = make_strategy(suite, strategy, threads)
    problems = [f"run {run.id}: {why}" for run in plan.to_train if (why := chosen.check_run(run))]
    problems += _missing_evaluators(suite, dataset)
    trackers = suite.info.log_with if log_with is None else log_with
    if trackers:
        from harness.training.tracking import check_trackers

        check_trackers(trackers)
    if problems:
        raise HarnessError("\n".join(f"{suite.path}: {p}" for p in problems), exit_code=2)
    if chosen.is_main:
        write_suite_files(suite, plan.folder)
    chosen.start_launch(plan.folder, log=console.print)
    if chosen.is_main:
        console.print(launch_line(suite.name, len(plan.to_train), len(plan.complete), chosen, _gpus_here(chosen)))

    image_shape, train_images = dataset.spec.image_shape, len(dataset.train_images)
    costs = {run.id: _expected_cost(suite, run, image_shape, train_images) for run in plan.to_train}
    evaluation = AfterTraining(suite, dataset, chosen, plan.folder)
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
            outcomes += _train_and_evaluate(pending, plan, chosen, dataset, evaluation, costs, progress, report,
                                            trackers)
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


def _gpus_here(strategy: "Strategy") -> int:
    """The GPUs of this machine when the launch trains on GPUs, else 0."""
    import torch

    return torch.cuda.device_count() if strategy.device.type == "cuda" else 0


def _train_and_evaluate(runs: list[RunSpec], plan: Plan, chosen: "Strategy", dataset: "Dataset",
                        evaluation: "AfterTraining", costs: dict[str, float], progress: "TrainingProgress",
                        report: Callable[[RunOutcome], None], trackers: list[str]) -> list[RunOutcome]:
    """Train (and evaluate) the runs of `runs` the strategy gives this process; their outcomes.
    Each run is tracked by `trackers` on the processes that write results."""
    from harness.execution.stops import STOPS, Stopped
    from harness.training.trainer import train_run

    suite, outcomes = plan.suite, []
    for spec in chosen.assign(runs, plan.folder, costs):
        tracking = _tracking(trackers, spec, plan, chosen)
        observer = progress if tracking is None else tracking.observing(progress)
        try:
            record = train_run(spec, suite.name, dataset, chosen, plan.training_folder(spec), observer)
            if spec.id in plan.replace:
                _replace_if_completed(plan, spec, record, chosen, progress)
            STOPS.raise_if_requested(f"after run {spec.id}")
            outcome = RunOutcome(spec, plan.folder.run(spec.id), record, record.status)
            progress.finish_run(outcome)
            if record.status == STATUS_COMPLETED and suite.evaluation.enabled:
                chosen.report_progress(progress.total_steps, progress.total_steps, "evaluating")
                evaluation.evaluate(spec, outcome, progress)
                if tracking is not None and outcome.metrics is not None:
                    reference = plan.folder.read_reference()
                    tracking.scored(outcome.metrics.values, reference.values if reference else None)
        except Stopped as err:
            err.where = err.where or f"while evaluating {spec.id} (it is trained; the next launch evaluates it)"
            chosen.run_finished(spec, STATUS_INTERRUPTED)
            raise
        finally:
            if tracking is not None:
                tracking.finish()
        chosen.run_finished(spec, outcome.status)
        outcomes.append(outcome)
        report(outcome)
    return outcomes


def _tracking(trackers: list[str], spec: RunSpec, plan: Plan, chosen: "Strategy") -> "RunTracking | None":
    """The run's tracked runs, on the processes that write its results (all of a run-parallel
    launch, the main one of a data-parallel one); None without trackers."""
    if not trackers or not chosen.writes_results:
        return None
    from harness.training.tracking import RunTracking

    return RunTracking(trackers, spec, plan.folder, plan.training_folder(spec))


def _later_seeds_decided(plan: Plan, chosen: "Strategy", dataset: "Dataset", costs: dict[str, float],
                         progress: "TrainingProgress") -> list[RunSpec]:
    """After a round of training: the later seeds of the searches decided since (their best trials), to train next.

    A process that finished its share looks at once (a run-parallel process then trains the
    searches already decided while the others finish theirs; the run locks keep two processes
    from training one run), and only when nothing new is decided waits for the others' runs and
    looks again. Processes that train together pass a barrier first, so they read the same results.
    """
    if not plan.suite.later:
        return []
    chosen.wait()
    new = plan.add(with_chosen_trials(plan.suite, plan.folder))
    if not new:
        chosen.wait_for_others(plan.to_train, progress.show_others)
        new = plan.add(with_chosen_trials(plan.suite, plan.folder))
    if new:
        image_shape, train_images = dataset.spec.image_shape, len(dataset.train_images)
        added = {run.id: _expected_cost(plan.suite, run, image_shape, train_images) for run in new}
        costs.update(added)
        progress.add_runs(added)
        groups = sorted({run.search_group for run in new})
        progress.print(f"search done: the best trial of {', '.join(groups)} trains with the other seeds "
                       f"({len(new)} run(s))")
    return new


def _expected_cost(suite: Suite, run: RunSpec, image_shape: tuple[int, int, int], train_images: int) -> float:
    """A run's expected cost, which builds its model (on the meta device): a model that cannot be
    built (a plugin's bug) stops the launch before anything trains, naming the run and its code."""
    from harness.core.plugins import failure
    from harness.execution.scheduling import expected_cost

    try:
        return expected_cost(run, image_shape, train_images)
    except Exception as err:
        raise HarnessError(failure(f"{suite.path}: run {run.id}: model {run.model!r} cannot be built", err),
                           exit_code=2) from err


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
        # A suite edited since (e.g. a [[claim]] added) updates the record the report reads; an
        # unchanged one writes nothing, so a complete suite still reruns from a read-only folder.
        try:
            write_suite_files(plan.suite, plan.folder)
        except OSError as err:
            console.print(f"note: {plan.folder.suite_json} not updated ({err.strerror}): the report keeps the "
                          "suite as it was recorded when its runs trained")
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


def submit_suite(suite: Suite | str | Path | dict, results: str | Path = "results", *, executor: str = "slurm",
                 options: "ClusterOptions | None" = None, only: list[str] | None = None, force: bool = False,
                 wait: bool = False, on_poll: Callable[[], None] | None = None) -> "Submission":
    """Submit the suite's pending runs as cluster jobs, one `harness run --only RUN` per task
    (harness/execution/executors.py); with `wait` (always for the local backend), return when they ended."""
    from harness.execution import executors

    suite = suite if isinstance(suite, Suite) else load(suite)
    chosen = executors.EXECUTORS.require(executor, "--executor")
    plan = plan_suite(suite, results, only, force)
    write_suite_files(suite, plan.folder)
    submission = chosen.submit(suite, plan.to_train, plan.folder, Path(results), options or executors.ClusterOptions(),
                               force)
    if wait or chosen.always_waits:
        chosen.wait(submission, on_poll or (lambda: None))
    return submission
