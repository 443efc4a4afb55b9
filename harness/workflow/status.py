"""Where each run of a results folder stands, from its record, its lock and its cluster job."""

from dataclasses import dataclass
from pathlib import Path

from harness.analysis.suite_record import suite_record
from harness.analysis.trials import chosen_trials
from harness.workflow.plan import recorded_plugins
from harness.store import EXTERNAL_MODEL, STATUS_COMPLETED, STATUS_RUNNING, ResultsFileError, RunFolder, SuiteFolder, SuiteRecord


@dataclass
class RunState:
    id: str
    state: str  # done | failed | diverged | running | interrupted | submitted | pending | unreadable
    detail: str = ""


def status(results_dir: str | Path) -> tuple[SuiteRecord, list[RunState]]:
    """Where each run of a suite's results folder stands, from its record, lock and job; the suite
    is the one its launch recorded (suite.json), with the later seeds its searches have decided."""
    from harness.execution.scheduling import process_alive

    folder = SuiteFolder(Path(results_dir)).require()
    recorded_plugins(folder)
    suite = suite_record(folder)
    listed = {run_folder.id for run_folder in suite.runs}
    runs = [*suite.runs, *(run_folder for run_folder in suite.later_seeds(chosen_trials(suite, folder)) if run_folder.id not in listed)]
    jobs = folder.read_jobs()
    states = []
    for spec in runs:
        run_folder, lock = folder.run(spec.id), folder.read_lock(spec.id)
        try:
            if not run_folder.has_record() and run_folder.dir.is_dir() and any(run_folder.dir.iterdir()):
                run_folder.read_record()  # files but no record: name what is missing
            record = run_folder.read_record() if run_folder.has_record() else None
        except ResultsFileError as err:
            states.append(RunState(spec.id, "unreadable", f"{err}; rerun the suite to retrain it"))
            continue
        if lock is not None and lock.status == STATUS_RUNNING:
            if process_alive(lock):
                progress = f"{lock.steps_done}/{lock.total_steps} steps" if lock.total_steps else "starting"
                states.append(RunState(spec.id, "running", f"{lock.host} process {lock.process}: {progress} "
                                                           f"{lock.detail}".strip()))
            else:
                states.append(RunState(spec.id, "interrupted", f"its process ({lock.host} pid {lock.pid}) is gone; "
                                                               f"{_how_to_continue(run_folder)}"))
        elif record is not None and record.status == STATUS_COMPLETED:
            evaluated = "evaluated" if run_folder.is_evaluated() else "not evaluated"
            states.append(RunState(spec.id, "done", f"{record.train_seconds or 0:.0f}s training, {evaluated}"))
        elif record is not None and record.status != STATUS_RUNNING:
            states.append(RunState(spec.id, record.status, record.error or ""))
        elif record is not None:
            states.append(RunState(spec.id, "interrupted", f"started but never finished; {_how_to_continue(run_folder)}"))
        elif spec.id in jobs:
            job = jobs[spec.id]
            states.append(RunState(spec.id, "submitted", f"{job['executor']} job {job['job']} ({job['submitted_at']})"))
        else:
            states.append(RunState(spec.id, "pending"))
    return suite, states + _external_entries(folder, {state.id for state in states})


def _external_entries(folder: SuiteFolder, listed: set[str]) -> list[RunState]:
    """Samples made elsewhere and scored into the folder (`harness score`): done, with what they were."""
    entries = []
    for run_folder in folder.runs():
        if run_folder.id in listed or not run_folder.config_file.exists():
            continue
        try:
            config = run_folder.read_config()
        except ResultsFileError:
            continue
        if config.model == EXTERNAL_MODEL:
            read = config.model_options
            evaluated = "evaluated" if run_folder.is_evaluated() else "not evaluated"
            entries.append(RunState(run_folder.id, "done", f"external samples: {read.get('images')} images from "
                                                           f"{read.get('samples')}, {evaluated}"))
    return entries


def _how_to_continue(run_folder: RunFolder) -> str:
    position = run_folder.checkpoint_position()
    if position is None:
        return "rerun the suite to train it from the start (no checkpoint yet)"
    return f"rerun the suite to resume it from its checkpoint (epoch {position['epoch'] + 1}, step {position['step']})"
