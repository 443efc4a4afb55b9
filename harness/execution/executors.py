"""Past one machine: submit a suite's pending runs to a cluster as a job array (submitit).

Each array task is an ordinary `harness run SUITE --only RUN_ID --results RESULTS` process on
its node, so a task writes exactly what a local run writes, claims its run like any other
process (harness/execution/scheduling.py) and can be rerun by hand. The submitting command records the
job ids in the results folder; running it again submits only the runs that are neither
complete, nor running, nor still queued. `harness status RESULTS_DIR` shows where each run is.

submitit is an optional extra (`pip install -e ".[cluster]"`); its local backend runs the same
tasks as subprocesses on this machine, which is how the tests exercise this module.
"""

import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.plugins import cli_plugins
from harness.core.registry import Registry
from harness.execution.scheduling import process_alive
from harness.store import STATUS_RUNNING, SuiteFolder, now
from harness.config.suite import RunSpec, Suite

ACTIVE_SLURM_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED"}


@dataclass
class ClusterOptions:
    partition: str | None = None
    gpus_per_run: int = 0
    cpus_per_run: int = 2
    time_minutes: int = 240
    max_parallel: int | None = None  # Slurm's array throttle (%N)
    data_dir: Path | None = None
    log_with: list[str] | None = None  # `--log-with`, passed on to every task


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
    command = [sys.executable, "-m", "harness", "run", str(suite_file(suite, results)), "--results", str(results.resolve()),
               "--only", run.id, "--mixed-precision", suite.mixed_precision]
    if options.data_dir is not None:
        command += ["--data-dir", str(Path(options.data_dir).resolve())]
    if options.log_with is not None:
        command += ["--log-with", *options.log_with]
    for plugin in cli_plugins():  # the task imports what this command was given ([suite] plugins load themselves)
        command += ["--plugin", plugin]
    return command + (["--force"] if force else [])


def suite_file(suite: Suite, results: Path) -> Path:
    """The suite file a task reads: the user's, or (a suite built from a dict) its results folder's copy."""
    return suite.path.resolve() if suite.text is None else (results / suite.name / "suite.toml").resolve()


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


class Executor(ABC):
    """A way to send a suite's pending runs somewhere else to train: one `harness run --only RUN`
    per run (task_command), wherever the executor puts it. Register one in EXECUTORS; `--executor
    NAME` then submits through it."""

    description: str
    always_waits: bool = False  # the submitting command waits for the jobs (e.g. they are its children)

    @abstractmethod
    def submit(self, suite: Suite, runs: list[RunSpec], folder: SuiteFolder, results: Path, options: ClusterOptions,
               force: bool = False) -> Submission:
        """Submit one task per run of `runs` that is not already running or queued; record the jobs."""

    def wait(self, submission: Submission, on_poll: Callable[[], None], poll_seconds: float = 2.0) -> None:
        """Block until every submitted job has ended."""
        while not all(job.done() for job in submission.jobs):
            on_poll()
            time.sleep(poll_seconds)
        on_poll()


EXECUTORS: Registry[Executor] = Registry("executor")


@dataclass
class SubmititExecutor(Executor):
    """A submitit backend: a Slurm job array, or the same tasks as subprocesses of this machine."""

    cluster: str  # submitit's name for the backend
    description: str = ""
    always_waits: bool = False

    def submit(self, suite: Suite, runs: list[RunSpec], folder: SuiteFolder, results: Path, options: ClusterOptions,
               force: bool = False) -> Submission:
        submitit = _submitit()
        jobs = folder.read_jobs()
        submission = Submission(folder)
        pending = []
        for run in runs:
            reason = why_not_submit(folder, run, jobs, self.cluster)
            if reason:
                submission.already[run.id] = reason
            else:
                pending.append(run)
        if not pending:
            return submission
        cluster = submitit.AutoExecutor(folder=folder.jobs_dir / "%j", cluster=self.cluster)
        parameters: dict[str, Any] = {"timeout_min": options.time_minutes, "cpus_per_task": options.cpus_per_run,
                                      "name": f"harness-{suite.name}"}
        if options.gpus_per_run:
            parameters["gpus_per_node"] = options.gpus_per_run
        if self.cluster == "slurm":
            parameters.update({k: v for k, v in (("slurm_partition", options.partition),
                                                  ("slurm_array_parallelism", options.max_parallel)) if v})
        cluster.update_parameters(**parameters)
        with cluster.batch():
            for run in pending:
                submission.jobs.append(cluster.submit(submitit.helpers.CommandFunction(
                    task_command(suite, results, run, options, force), verbose=False)))
        for run, job in zip(pending, submission.jobs):
            submission.submitted[run.id] = job.job_id
            jobs[run.id] = {"job": job.job_id, "executor": self.cluster, "submitted_at": now()}
        folder.write_jobs(jobs)
        return submission


EXECUTORS.register("slurm")(SubmititExecutor("slurm", "a Slurm job array (submitit), one task per pending run"))
EXECUTORS.register("local")(SubmititExecutor(
    "local", "the same tasks as subprocesses of this machine (submitit's local backend); waits for them",
    always_waits=True))
