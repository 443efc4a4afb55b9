"""The strategy owns the processes: it creates the Accelerator, decides which process does what,
and holds every collective call and every "who writes this file" decision.

The trainer, the evaluation and the models never ask for a rank. They ask the strategy for
their share of the batches and noise, to average a number over processes, to split chunks of
evaluation work and gather them, and whether this process writes results. Two strategies, each its own module:

- `DataParallel` (data_parallel.py): every process trains every run on a slice of each batch (DDP); the suite's
  runs go one after another. What a big model needs; slower for small ones.
- `RunParallel` (run_parallel.py): every process trains whole runs on its own device, claimed one at a time,
  longest first (harness/execution/scheduling.py); no process group is wrapped around a model. What a
  suite of many small runs needs.
"""

import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from harness.core.errors import HarnessError
from harness.execution.cpu_share import CPUShare
from harness.execution.processes import Processes
from harness.execution.sharding import ShardedBatches, ShardedNoise
from harness.store import SuiteFolder, now

if TYPE_CHECKING:
    from harness.config.suite import RunSpec
    from harness.execution.scheduling import RunLocks
    from harness.models.base import GenerativeModel
    from harness.store import RunLock

# The variables that change how this process computes (harness/__init__.py), kept in each run record.
NUMERICS_VARIABLES = ("MKL_CBWR", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def launch_position() -> tuple[int, int, int, int]:
    """(rank, world size, local rank, processes on this machine) from the launcher's environment
    (torchrun, hence `accelerate launch`, sets them; a plain `python -m harness` is 0, 1, 0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")),
            int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_threads(processes_on_machine: int) -> int:
    """The cores of this machine shared out among its processes (at least one each).

    Measured (docs/benchmarks.md, "Threads"): N processes with more threads than cores slow each
    other down.
    """
    return max(1, usable_cores() // max(1, processes_on_machine))


def under_launcher(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether `accelerate launch` or torchrun started this process (both set OMP_NUM_THREADS themselves)."""
    return "ACCELERATE_DYNAMO_BACKEND" in environ or "TORCHELASTIC_RUN_ID" in environ


def resolve_threads(requested: int | None, requested_by: str, processes_on_machine: int,
                    environ: Mapping[str, str] = os.environ) -> tuple[int, str]:
    """(intra-op threads of this process, what decided): `--threads` or `[suite] threads`
    (`requested`), then OMP_NUM_THREADS, then the machine's cores shared out among its processes.

    `accelerate launch` always sets OMP_NUM_THREADS, to 1 when it was not told a number (and torchrun
    does the same for several processes), so under a launcher a 1 there cannot be told from the
    launcher's own default: it is not followed (pass --threads 1 for one thread). Any other value
    reached the launcher from the user (their OMP_NUM_THREADS or --num_cpu_threads_per_process).
    """
    if requested:
        return requested, requested_by
    raw = environ.get("OMP_NUM_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0 and not (raw == "1" and under_launcher(environ)):
        return int(raw), "OMP_NUM_THREADS"
    cores = usable_cores()
    return default_threads(processes_on_machine), f"{cores} cores / {processes_on_machine} process(es) on this machine"


class Strategy(ABC):
    """How the processes of one launch share a suite's work: how they talk (a `Processes`, the
    same machinery for every strategy) and which runs each one trains (what a strategy says)."""

    name: str
    trains_alone: ClassVar[bool]  # True: each process computes its runs alone (its own Processes of one)

    def __init__(self, mixed_precision: str, mixed_precision_source: str, threads: int | None = None,
                 threads_source: str = "--threads") -> None:
        self.rank, self.world_size, self.local_rank, self.local_processes = launch_position()
        self.processes = Processes(mixed_precision, mixed_precision_source, self.trains_alone, self.local_rank)
        self.mixed_precision_source = mixed_precision_source
        self.set_threads(threads, threads_source, self.local_processes)
    threads: int  # intra-op CPU threads of this process
    threads_source: str  # what decided them (resolve_threads)
    cpu_share: CPUShare  # lowers the default count while other processes need the cores

    def set_threads(self, threads: int | None, threads_source: str, processes_on_machine: int) -> None:
        """The CPU threads this process computes with (resolve_threads says which). A count the
        user chose is kept; the default one gives way to other processes while they need the
        cores (harness/execution/cpu_share.py)."""
        self.threads, self.threads_source = resolve_threads(threads, threads_source, processes_on_machine)
        torch.set_num_threads(self.threads)
        chosen_by_user = bool(threads) or self.threads_source == "OMP_NUM_THREADS"
        self.cpu_share = CPUShare(self.threads, usable_cores(), governed=not chosen_by_user)

    @property
    @abstractmethod
    def is_main(self) -> bool:
        """Whether this process writes the suite's shared files (suite.json, the reference floor)
        and shows the display; exactly one process of a launch is."""

    @property
    @abstractmethod
    def computes_reference(self) -> bool:
        """Whether this process takes part in computing the suite's real-data floor."""

    locks: "RunLocks | None" = None  # the run locks this process takes (harness/execution/scheduling.py)

    @abstractmethod
    def start_launch(self, folder: SuiteFolder, log: Callable[[str], None] = lambda text: None) -> str:
        """Agree on an id for this launch and check that every process sees the same `folder`."""

    @abstractmethod
    def assign(self, runs: list["RunSpec"], folder: SuiteFolder, costs: dict[str, float]) -> Iterator["RunSpec"]:
        """The runs this process trains, in order, each locked (claimed) for this launch while it trains."""

    def run_finished(self, run: "RunSpec", status: str) -> None:
        """This process is done with `run` (trained and evaluated, or failed): its lock is released."""
        if self.locks is not None:
            self.locks.release(status)

    def report_progress(self, steps_done: int, total_steps: int, detail: str) -> None:
        """How far this process's current run is (in its claim, for `status` and a run-parallel display)."""
        if self.locks is not None:
            self.locks.progress(steps_done, total_steps, detail)

    def others(self) -> list["RunLock"]:
        """What the launch's other processes are doing (claims), for the main process's display."""
        return []

    def wait_for_others(self, runs: list["RunSpec"], on_poll: Callable[[list["RunLock"]], None]) -> None:  # noqa: B027
        """Main process: block until the launch's other processes are done with their share of `runs`."""

    # -- how the processes talk: every collective, through this strategy's Processes --------------

    @property
    def device(self) -> torch.device:
        return self.processes.device

    @property
    def num_processes(self) -> int:
        """Processes that compute each run together (1 for run_parallel)."""
        return self.processes.num_processes

    @property
    def writes_results(self) -> bool:
        """Whether this process writes the files of the runs it trains (the suite's own files: `is_main`)."""
        return self.processes.is_main

    def check_run(self, run: "RunSpec") -> str | None:
        """Why `run` cannot train under this strategy (e.g. an indivisible batch), or None."""
        return self.processes.check_run(run)

    def prepare(self, model: "GenerativeModel") -> None:
        """Put the model's networks and optimizers on the device, in the run's precision (wrapped as needed)."""
        self.processes.prepare(model)

    def backward(self, loss: torch.Tensor) -> None:
        self.processes.backward(loss)

    def batches(self, num_images: int, global_batch: int, seed: int) -> ShardedBatches:
        """This process's share of each epoch's batches."""
        return self.processes.batches(num_images, global_batch, seed)

    def noise(self, seed: int, epoch: int, global_batch: int) -> ShardedNoise:
        """This process's share of each step's random draws."""
        return self.processes.noise(seed, epoch, global_batch)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise mean of `values` over the processes that train together."""
        return self.processes.mean(values)

    def check_split(self, indices: torch.Tensor) -> tuple[list[int], int]:
        """Images per process and how many images two processes both trained on this epoch."""
        return self.processes.check_split(indices)

    def replicas_identical(self, model: "GenerativeModel") -> bool:
        return self.processes.replicas_identical(model)

    def grad_scaler_state(self) -> dict[str, Any] | None:
        """The fp16 loss scaler's state (part of a checkpoint), None without one."""
        return self.processes.grad_scaler_state()

    def load_grad_scaler_state(self, state: dict[str, Any] | None) -> None:
        self.processes.load_grad_scaler_state(state)

    def any_process(self, flag: bool) -> bool:
        """Whether `flag` is true on any process that trains together with this one (a collective
        call where there are several: every one of them must call it at the same point)."""
        return self.processes.any_process(flag)

    def map_chunks(self, num_items: int, chunk_size: int,
                   compute: Callable[[int, int, int], torch.Tensor]) -> torch.Tensor:
        """Concatenate compute(chunk index, start, stop) over all chunks, in order, whoever computed them."""
        return self.processes.map_chunks(num_items, chunk_size, compute)

    def wait(self) -> None:
        """Barrier: every process of the group has reached this point."""
        self.processes.wait()

    def end_run(self) -> None:
        """Release what was prepared for the run that just ended."""
        self.processes.end_run()

    @property
    @abstractmethod
    def failure_stops_everyone(self) -> bool:
        """Whether a run that fails on one process must stop the others (they cannot go on alone)."""

    def describe(self) -> dict[str, Any]:
        """What goes into every run record: device, processes, strategy, precision, threads."""
        return {
            **self.processes.describe(),
            "strategy": self.name,
            "mixed_precision_source": self.mixed_precision_source,
            "threads": self.threads,
            "threads_source": self.threads_source,
            "host": socket.gethostname(),
            "numerics": {k: os.environ.get(k, "") for k in NUMERICS_VARIABLES},
        }


def write_launch(folder: SuiteFolder, strategy: str, processes: int) -> str:
    launch = uuid.uuid4().hex[:12]
    folder.write_launch({"launch": launch, "strategy": strategy, "processes": processes,
                         "host": socket.gethostname(), "started_at": now()})
    return launch


def exchange_through_launcher_store(key: str, value: str | None) -> str:
    """Rank 0 publishes `value`; every process returns it. Uses the key-value store that
    torchrun (`accelerate launch`) already runs at MASTER_ADDR:MASTER_PORT for its workers,
    so no process group is created and no port of our own is opened."""
    from datetime import timedelta

    from torch.distributed import TCPStore

    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
    rank = launch_position()[0]
    store = TCPStore(host, port, is_master=rank == 0 and not agent_store, timeout=timedelta(minutes=10),
                     wait_for_workers=False)
    if value is not None:
        store.set(key, value)
    return store.get(key).decode()


def check_sees_launch(folder: SuiteFolder, launch: str, process: int) -> None:
    """Every machine must read and write one results folder; a machine that has its own (no
    shared filesystem) would train runs whose results the main machine never sees. (Single-process
    launches skip this: independent launches on one folder each rewrite launch.json.)"""
    seen = folder.read_launch() or {}
    if seen.get("launch") != launch:
        raise HarnessError(
            f"process {process} on {socket.gethostname()} does not see the results folder the main process "
            f"writes ({folder.launch_file.resolve()} is missing or from another launch). Every machine of a "
            "launch needs the same results folder: put it on a shared filesystem (e.g. NFS) and pass it with "
            "--results on every machine; without one, run each machine's share as its own suite or use "
            "--executor slurm", exit_code=2, every_process=True)
