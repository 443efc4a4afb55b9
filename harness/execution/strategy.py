"""The strategy owns the processes: it creates the Accelerator, decides which process does what,
and holds every collective call and every "who writes this file" decision.

The trainer, the evaluation and the models never ask for a rank. They ask the strategy for
their share of the batches and noise, to average a number over processes, to split chunks of
evaluation work and gather them, and whether this process writes results. Two strategies:

- `DataParallel`: every process trains every run on a slice of each batch (DDP); the suite's
  runs go one after another. What a big model needs; slower for small ones.
- `RunParallel`: every process trains whole runs on its own device, claimed one at a time,
  longest first (harness/scheduling.py); no process group is wrapped around a model. What a
  suite of many small runs needs.
"""

import contextlib
import functools
import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import accelerate.optimizer
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import gather_object

from harness.execution.cpu_share import CPUShare
from harness.core.errors import HarnessError
from harness.execution.sharding import ShardedBatches, ShardedNoise, chunk_ranges
from harness.store import SuiteFolder, now

if TYPE_CHECKING:
    from harness.models.base import GenerativeModel
    from harness.execution.scheduling import RunLocks
    from harness.store import RunLock
    from harness.config.suite import RunSpec

# accelerate's AcceleratedOptimizer.step asks importlib whether `lomo_optim` is installed on every
# call (two find_spec lookups, ~0.15 ms): about 7 % of a VAE step on a CPU (docs/benchmarks.md).
# Installed packages do not change during a run, so the answer is computed once.
accelerate.optimizer.is_lomo_available = functools.cache(accelerate.optimizer.is_lomo_available)

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
    """How the processes of one launch share a suite's work."""

    name: str
    threads: int  # intra-op CPU threads of this process
    threads_source: str  # what decided them (resolve_threads)
    cpu_share: CPUShare  # lowers the default count while other processes need the cores

    def set_threads(self, threads: int | None, threads_source: str, processes_on_machine: int) -> None:
        """The CPU threads this process computes with (resolve_threads says which). A count the
        user chose is kept; the default one gives way to other processes while they need the
        cores (harness/cpu_share.py)."""
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

    locks: "RunLocks | None" = None  # the run locks this process takes (harness/scheduling.py)

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

    @property
    @abstractmethod
    def device(self) -> torch.device: ...

    @property
    @abstractmethod
    def writes_results(self) -> bool:
        """Whether this process writes the files of the runs it trains (the suite's own files: `is_main`)."""

    @abstractmethod
    def check_run(self, run: "RunSpec") -> str | None:
        """Why `run` cannot train under this strategy (e.g. an indivisible batch), or None."""

    @abstractmethod
    def prepare(self, model: "GenerativeModel") -> None:
        """Put the model's networks and optimizers on the device, in the run's precision (wrapped as needed)."""

    @abstractmethod
    def backward(self, loss: torch.Tensor) -> None: ...

    @abstractmethod
    def batches(self, num_images: int, global_batch: int, seed: int) -> ShardedBatches:
        """This process's share of each epoch's batches."""

    @abstractmethod
    def noise(self, seed: int, epoch: int, global_batch: int) -> ShardedNoise:
        """This process's share of each step's random draws."""

    @abstractmethod
    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise mean of `values` over the processes that train together."""

    @abstractmethod
    def check_split(self, indices: torch.Tensor) -> tuple[list[int], int]:
        """Images per process and how many images two processes both trained on this epoch."""

    @abstractmethod
    def replicas_identical(self, model: "GenerativeModel") -> bool: ...

    @abstractmethod
    def grad_scaler_state(self) -> dict[str, Any] | None:
        """The fp16 loss scaler's state (part of a checkpoint), None without one."""

    @abstractmethod
    def load_grad_scaler_state(self, state: dict[str, Any] | None) -> None: ...

    @abstractmethod
    def any_process(self, flag: bool) -> bool:
        """Whether `flag` is true on any process that trains together with this one (a collective
        call where there are several: every one of them must call it at the same point)."""

    @abstractmethod
    def map_chunks(self, num_items: int, chunk_size: int,
                   compute: Callable[[int, int, int], torch.Tensor]) -> torch.Tensor:
        """Concatenate compute(chunk index, start, stop) over all chunks, in order, whoever computed them."""

    @abstractmethod
    def wait(self) -> None:
        """Barrier: every process of the group has reached this point."""

    @abstractmethod
    def end_run(self) -> None:
        """Release what was prepared for the run that just ended."""

    @property
    @abstractmethod
    def failure_stops_everyone(self) -> bool:
        """Whether a run that fails on one process must stop the others (they cannot go on alone)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What goes into every run record: device, processes, strategy, precision."""


class DataParallel(Strategy):
    """Every process trains every run on its slice of each global batch (DDP through accelerate).

    One process alone is the degenerate case: the same code, no collectives needed.
    """

    name = "data_parallel"

    def __init__(self, mixed_precision: str, mixed_precision_source: str, threads: int | None = None,
                 threads_source: str = "--threads") -> None:
        self.accelerator = _accelerator(mixed_precision, mixed_precision_source)
        self.mixed_precision_source = mixed_precision_source
        self.set_threads(threads, threads_source, launch_position()[3])

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def computes_reference(self) -> bool:
        return True  # every process computes its share; the main one writes

    def start_launch(self, folder: SuiteFolder, log: Callable[[str], None] = lambda text: None) -> str:
        from accelerate.utils import broadcast_object_list

        from harness.execution.scheduling import RunLocks

        launch = [_write_launch(folder, self.name, self.num_processes) if self.is_main else None]
        if self.num_processes > 1:
            broadcast_object_list(launch)
            _check_sees_launch(folder, launch[0], self.accelerator.process_index)
        # The main process holds the launch's run locks; the others follow its decisions.
        self.locks = RunLocks(folder, launch[0], 0, log) if self.is_main else None
        return launch[0]

    def assign(self, runs: list["RunSpec"], folder: SuiteFolder, costs: dict[str, float]) -> Iterator["RunSpec"]:
        for run in runs:
            won = self.locks is not None and self.locks.claim(run, costs[run.id])
            if self.any_process(won):
                yield run

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def writes_results(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def num_processes(self) -> int:
        return self.accelerator.num_processes

    def check_run(self, run: "RunSpec") -> str | None:
        if run.training.batch_size % self.num_processes:
            return (f"batch_size {run.training.batch_size} is not divisible by {self.num_processes} processes; "
                    "batch_size is the global batch, split across processes")
        return None

    def prepare(self, model: "GenerativeModel") -> None:
        net_names, opt_names = list(model.networks), list(model.optimizers)
        prepared = self.accelerator.prepare(*model.networks.values(), *model.optimizers.values())
        prepared = prepared if isinstance(prepared, tuple) else (prepared,)
        model.networks = dict(zip(net_names, prepared[: len(net_names)]))
        model.optimizers = dict(zip(opt_names, prepared[len(net_names) :]))

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(loss)

    def batches(self, num_images: int, global_batch: int, seed: int) -> ShardedBatches:
        try:
            return ShardedBatches(num_images, global_batch, self.accelerator.process_index, self.num_processes, seed)
        except ValueError as err:
            raise HarnessError(f"{err}; change batch_size or the number of processes") from None

    def noise(self, seed: int, epoch: int, global_batch: int) -> ShardedNoise:
        return ShardedNoise(seed, epoch, global_batch, self.accelerator.process_index, self.num_processes, self.device)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        return self.accelerator.reduce(values, reduction="mean")

    def check_split(self, indices: torch.Tensor) -> tuple[list[int], int]:
        all_indices = self.accelerator.gather(indices.flatten().contiguous())
        overlap = int(all_indices.numel() - torch.unique(all_indices).numel())
        return [int(indices.numel())] * self.num_processes, overlap

    def replicas_identical(self, model: "GenerativeModel") -> bool:
        """Whether every process ended with the same weights (DDP's promise, checked, not assumed)."""
        fingerprint = torch.stack([p.detach().double().sum() for n in model.networks for p in model.net(n).parameters()])
        gathered = self.accelerator.gather(fingerprint[None].to(self.device))
        return bool((gathered == gathered[0]).all())

    def grad_scaler_state(self) -> dict[str, Any] | None:
        scaler = self.accelerator.scaler
        return scaler.state_dict() if scaler is not None else None

    def load_grad_scaler_state(self, state: dict[str, Any] | None) -> None:
        if state is not None and self.accelerator.scaler is not None:
            self.accelerator.scaler.load_state_dict(state)

    def any_process(self, flag: bool) -> bool:
        if self.num_processes == 1:
            return flag
        return bool(self.accelerator.reduce(torch.tensor([float(flag)], device=self.device), reduction="sum").item())

    def map_chunks(self, num_items: int, chunk_size: int,
                   compute: Callable[[int, int, int], torch.Tensor]) -> torch.Tensor:
        # Each process does every N-th chunk; chunk i uses its own seeded generator, so 2 processes
        # produce exactly the numbers of 1.
        chunks = chunk_ranges(num_items, chunk_size)
        mine = chunks[self.accelerator.process_index :: self.num_processes]
        results = [(i, compute(i, start, stop).cpu()) for i, start, stop in mine]
        if self.num_processes > 1:
            results = gather_object(results)
        return torch.cat([tensor for _, tensor in sorted(results, key=lambda item: item[0])])

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()

    def end_run(self) -> None:
        self.accelerator.free_memory()

    @property
    def failure_stops_everyone(self) -> bool:
        return self.num_processes > 1

    def describe(self) -> dict[str, Any]:
        return {
            "device": str(self.device),
            "num_processes": self.num_processes,
            "distributed_type": str(self.accelerator.distributed_type.value),
            "strategy": self.name,
            "mixed_precision": self.accelerator.mixed_precision,
            "mixed_precision_source": self.mixed_precision_source,
            "threads": self.threads,
            "threads_source": self.threads_source,
            "host": socket.gethostname(),
            "numerics": {k: os.environ.get(k, "") for k in NUMERICS_VARIABLES},
        }


class RunParallel(DataParallel):
    """Every process of the launch trains whole runs alone, on its own device.

    The process-local part is DataParallel with one process (same precision handling, same
    numbers as a sequential run); what differs is who trains what: runs are claimed one at a
    time, longest expected first (harness/scheduling.py), so N processes finish the suite
    about N times sooner when the runs are many and small. The launch's processes never talk
    during training; they agree on a launch id once, through the launcher's key-value store.
    """

    name = "run_parallel"

    def __init__(self, mixed_precision: str, mixed_precision_source: str, threads: int | None = None,
                 threads_source: str = "--threads") -> None:
        self.rank, self.world_size, self.local_rank, self.local_processes = launch_position()
        with _process_local_environment(self.local_rank):
            self.accelerator = _accelerator(mixed_precision, mixed_precision_source)
        self.mixed_precision_source = mixed_precision_source
        self.set_threads(threads, threads_source, self.local_processes)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def computes_reference(self) -> bool:
        return self.is_main  # alone: the processes do not compute together

    def start_launch(self, folder: SuiteFolder, log: Callable[[str], None] = lambda text: None) -> str:
        from harness.execution.scheduling import RunLocks

        launch = _write_launch(folder, self.name, self.world_size) if self.is_main else None
        if self.world_size > 1:
            launch = _exchange_through_launcher_store("harness/launch", launch)
            _check_sees_launch(folder, launch, self.rank)
        self.locks = RunLocks(folder, launch, self.rank, log)
        return launch

    def assign(self, runs: list["RunSpec"], folder: SuiteFolder, costs: dict[str, float]) -> Iterator["RunSpec"]:
        assert self.locks is not None, "start_launch first"
        yield from self.locks.claim_each(runs, costs)

    def others(self) -> list["RunLock"]:
        return self.locks.launch_locks() if self.locks is not None else []

    def wait_for_others(self, runs: list["RunSpec"], on_poll: Callable[[list["RunLock"]], None]) -> None:
        if self.locks is not None and self.world_size > 1:
            self.locks.wait_until_done([run.id for run in runs], on_poll)

    @property
    def failure_stops_everyone(self) -> bool:
        return False

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "num_processes": 1, "strategy": self.name,
                "launch_processes": self.world_size, "process_index": self.rank}


def _accelerator(mixed_precision: str, source: str) -> Accelerator:
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision", mixed_precision) != mixed_precision:
        # accelerate keeps one precision per process and refuses another; a notebook or test
        # that runs an fp32 suite and then a bf16 one resets it (the process group is kept).
        AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(mixed_precision=mixed_precision)
    if mixed_precision == "fp16" and accelerator.device.type == "cpu":
        # accelerate does not autocast to fp16 on a CPU: the run would train in fp32, recorded as fp16.
        raise HarnessError(f"mixed precision fp16 (from {source}) needs a CUDA GPU; this process runs on the CPU, "
                           "where it would silently train in fp32. Use bf16 (fast only where the CPU has AMX or "
                           "AVX512-BF16) or no: --mixed-precision bf16|no, or mixed_precision in [suite]",
                           exit_code=2)
    return accelerator


_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE",
                     "MV2_COMM_WORLD_SIZE")


@contextlib.contextmanager
def _process_local_environment(local_rank: int) -> Iterator[None]:
    """Hide the launcher's variables while accelerate sets up, so it sees a single process (no
    process group, no DDP) on this process's own GPU (the local rank's, as data parallelism would)."""
    saved = {k: os.environ.pop(k) for k in _LAUNCH_VARIABLES if k in os.environ}
    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "false").lower() in ("1", "true", "yes")
    device = None if use_cpu or not torch.cuda.is_available() else f"cuda:{local_rank % torch.cuda.device_count()}"
    if device:
        os.environ["ACCELERATE_TORCH_DEVICE"] = device
    try:
        yield
    finally:
        os.environ.update(saved)
        if device:
            os.environ.pop("ACCELERATE_TORCH_DEVICE", None)


def _write_launch(folder: SuiteFolder, strategy: str, processes: int) -> str:
    launch = uuid.uuid4().hex[:12]
    folder.write_launch({"launch": launch, "strategy": strategy, "processes": processes,
                         "host": socket.gethostname(), "started_at": now()})
    return launch


def _exchange_through_launcher_store(key: str, value: str | None) -> str:
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


def _check_sees_launch(folder: SuiteFolder, launch: str, process: int) -> None:
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
