"""A search's chosen trial: the best by its metric once every trial is trained and scored; its
later seeds then join the suite (`select` in a [search] table)."""

from dataclasses import replace as replaced

from harness.config.suite import RunSpec, Suite
from harness.store import (STATUS_COMPLETED, STATUS_DIVERGED, STATUS_FAILED, ResultsFileError, RunEntry, RunFolder,
                           SuiteFolder, SuiteRecord)


def chosen_trials(suite: Suite | SuiteRecord, folder: SuiteFolder) -> dict[str, int]:
    """{search group: its best trial} for each search (with `select`) whose trials are all done,
    by the search's metric (harness/config/search.py). Trials still to train or to score leave their
    search undecided; a failed trial is never the best."""
    from harness.config.search import best_trial
    from harness.metrics.columns import column

    best = {}
    groups: dict[str, list[RunSpec]] | dict[str, list[RunEntry]] = suite.search_groups()
    for group, trials in groups.items():
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


def _trial_score(folder: RunFolder, run: RunSpec | RunEntry) -> "float | None | object":
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
        value = folder.read_metrics_row().values.get(run.selected_by or "")  # a trial always has a metric
    except ResultsFileError:
        return _UNDECIDED
    return float(value) if isinstance(value, (int, float)) else None
