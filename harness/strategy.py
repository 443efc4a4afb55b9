"""The strategy owns the processes: it creates the Accelerator, decides which process does what,
and holds every collective call and every "who writes this file" decision.

The trainer, the evaluation and the models never ask for a rank. They ask the strategy for
their share of the batches and noise, to average a number over processes, to split chunks of
evaluation work and gather them, and whether this process writes results. Today there is
one strategy, data parallelism (`DataParallel`); another (e.g. whole runs per process) is one
more subclass registered in STRATEGIES.
"""

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import accelerate.optimizer
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import gather_object

from harness.errors import HarnessError
from harness.registry import Registry
from harness.sharding import ShardedBatches, ShardedNoise, chunk_ranges

if TYPE_CHECKING:
    from harness.models.base import GenerativeModel
    from harness.suite import RunSpec

# accelerate's AcceleratedOptimizer.step asks importlib whether `lomo_optim` is installed on every
# call (two find_spec lookups, ~0.15 ms): about 7 % of a VAE step on a CPU (docs/benchmarks.md).
# Installed packages do not change during a run, so the answer is computed once.
accelerate.optimizer.is_lomo_available = functools.cache(accelerate.optimizer.is_lomo_available)


class Strategy(ABC):
    """How the processes of one launch share a suite's work."""

    name: str

    @property
    @abstractmethod
    def device(self) -> torch.device: ...

    @property
    @abstractmethod
    def writes_results(self) -> bool:
        """Whether this process writes result files and talks to the user."""

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
    def save_checkpoint(self, staging: Path) -> None:
        """Write the complete training state (networks, optimizers, RNG states) into `staging`."""

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

    def __init__(self, mixed_precision: str, mixed_precision_source: str) -> None:
        state = AcceleratorState._shared_state
        if state and state.get("_mixed_precision", mixed_precision) != mixed_precision:
            # accelerate keeps one precision per process and refuses another; a notebook or test
            # that runs an fp32 suite and then a bf16 one resets it (the process group is kept).
            AcceleratorState._reset_state(reset_partial_state=False)
        self.accelerator = Accelerator(mixed_precision=mixed_precision)
        self.mixed_precision_source = mixed_precision_source

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

    def save_checkpoint(self, staging: Path) -> None:
        self.accelerator.save_state(str(staging))

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
        }


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")
STRATEGIES.register(DataParallel.name)(DataParallel)
