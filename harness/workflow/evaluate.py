"""Scoring runs: right after training (AfterTraining), or a whole results folder again from the
saved weights (`harness evaluate`)."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.analysis.trials import with_chosen_trials
from harness.config.suite import RunSpec, Suite
from harness.config.expansion import load_suite
from harness.core.errors import HarnessError
from harness.core.statuses import STATUS_ELSEWHERE
from harness.store import STATUS_COMPLETED, STATUS_UNREADABLE, ResultsFileError, SuiteFolder
from harness.training.outcome import RunOutcome
from harness.workflow.plan import original_folder, recorded_data_root

if TYPE_CHECKING:
    from harness.datasets import Dataset
    from harness.evaluation.session import EvaluationSession
    from harness.execution.strategy import Strategy
    from harness.presentation.progress import TrainingProgress
    from harness.store import ReferenceRecord


class AfterTraining:
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
        score_run(outcome, self._session(), lambda name, index, total: progress.evaluating(spec.id, name, index, total))
        progress.evaluated(outcome)


def score_run(outcome: RunOutcome, session: "EvaluationSession",
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
    suite = with_chosen_trials(load_suite(folder.suite_toml, plugin_base=original_folder(folder)), folder)
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
    from harness.execution.data_parallel import DataParallel

    strategy = DataParallel("no", "evaluation runs in fp32")
    data_dir = data_dir or recorded_data_root([record for _, record in finished])
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
                score_run(outcome, session,  # the callback runs while this run is scored
                          (lambda name, index, total: on_metric(spec.id, name, index, total))  # noqa: B023
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
