"""Past one machine: submit a suite's pending runs to a cluster as a job array (submitit).

Each array task is an ordinary `harness run SUITE --only RUN_ID --results RESULTS` process on
its node, so a task writes exactly what a local run writes, claims its run like any other
process (harness/scheduling.py) and can be rerun by hand. The submitting command records the
job ids in the results folder; running it again submits only the runs that are neither
complete, nor running, nor still queued. `harness status RESULTS_DIR` shows where each run is.

submitit is an optional extra (`pip install -e ".[cluster]"`); its local backend runs the same
tasks as subprocesses on this machine, which is how the tests exercise this module.
"""

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.execution.scheduling import process_alive
from harness.store import STATUS_RUNNING, SuiteFolder, now
from harness.config.suite import RunSpec, Suite

EXECUTORS = ("slurm", "local")
ACTIVE_SLURM_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED"}


@dataclass
class ClusterOptions:
    partition: str | None = None
    gpus_per_run: int = 0
    cpus_per_run: int = 2
    time_minutes: int = 240
    max_parallel: int | None = None  # Slurm's array throttle (%N)
    data_dir: Path | None = None


@dataclass
class Submission:
    folder: SuiteFolder
    submitted: dict[str, str] = field(default_factory=dict)  # run id -> job id
    already: dict[str, str] = field(default_factory=dict)  # run id -> why it was not submitted
    jobs: list[Any] = field(default_factory=list)


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise HarnessError("--executor needs submitit: pip install -e \".[cluster]\" (or pip install submitit)",
                           exit_code=2) from None
    return submitit


def task_command(suite: Suite, results: Path, run: RunSpec, options: ClusterOptions, force: bool) -> list[str]:
    """The command one array task runs: a plain single-run `harness run`."""
    command = [sys.executable, "-m", "harness", "run", str(suite.path.resolve()), "--results", str(results.resolve()),
               "--only", run.id, "--mixed-precision", suite.mixed_precision]
    if options.data_dir is not None:
        command += ["--data-dir", str(Path(options.data_dir).resolve())]
    return command + (["--force"] if force else [])


def why_not_submit(folder: SuiteFolder, run: RunSpec, jobs: dict[str, Any], executor: str) -> str | None:
    """Why `run` (not complete) needs no new job: it is running somewhere, or its job is still queued."""
    claim = folder.read_lock(run.id)
    if claim is not None and claim.status == STATUS_RUNNING and process_alive(claim):
        return f"running (claimed by {claim.host} pid {claim.pid})"
    job = jobs.get(run.id)
    if job is not None and job.get("executor") == "slurm" == executor:
        state = _slurm_state(folder, job["job"])
        if state in ACTIVE_SLURM_STATES:
            return f"job {job['job']} is {state.lower()}"
    return None


def _slurm_state(folder: SuiteFolder, job_id: str) -> str:
    submitit = _submitit()
    return submitit.SlurmJob(folder.jobs_dir, job_id).state.split(" ")[0]


def submit(suite: Suite, runs: list[RunSpec], folder: SuiteFolder, results: Path, executor: str,
           options: ClusterOptions, force: bool = False) -> Submission:
    """Submit one array task per run of `runs` that is not already running or queued."""
    submitit = _submitit()
    jobs = folder.read_jobs()
    submission = Submission(folder)
    pending = []
    for run in runs:
        reason = why_not_submit(folder, run, jobs, executor)
        if reason:
            submission.already[run.id] = reason
        else:
            pending.append(run)
    if not pending:
        return submission
    cluster = submitit.AutoExecutor(folder=folder.jobs_dir / "%j", cluster=executor)
    parameters: dict[str, Any] = {"timeout_min": options.time_minutes, "cpus_per_task": options.cpus_per_run,
                                  "name": f"harness-{suite.name}"}
    if options.gpus_per_run:
        parameters["gpus_per_node"] = options.gpus_per_run
    if executor == "slurm":
        parameters.update({k: v for k, v in (("slurm_partition", options.partition),
                                              ("slurm_array_parallelism", options.max_parallel)) if v})
    cluster.update_parameters(**parameters)
    with cluster.batch():
        for run in pending:
            submission.jobs.append(cluster.submit(submitit.helpers.CommandFunction(
                task_command(suite, results, run, options, force), verbose=False)))
    for run, job in zip(pending, submission.jobs):
        submission.submitted[run.id] = job.job_id
        jobs[run.id] = {"job": job.job_id, "executor": executor, "submitted_at": now()}
    folder.write_jobs(jobs)
    return submission


def wait(submission: Submission, on_poll: Callable[[], None], poll_seconds: float = 2.0) -> None:
    """Block until every submitted job has ended (the local backend's jobs are this process's children)."""
    while not all(job.done() for job in submission.jobs):
        on_poll()
        time.sleep(poll_seconds)
    on_poll()
