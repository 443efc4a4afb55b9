"""How the processes that train together talk: the Accelerator and every collective call.

A strategy (harness/execution/strategy.py) owns one `Processes`: data_parallel's spans every
process of the launch (DDP through accelerate), run_parallel's is this process alone (the
launcher's variables hidden while accelerate sets up, so it wraps nothing). The trainer and the
evaluation reach these calls through the strategy.
"""

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import accelerate.optimizer
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import gather_object

from harness.core.errors import HarnessError
from harness.execution.sharding import ShardedBatches, ShardedNoise, chunk_ranges

if TYPE_CHECKING:
    from harness.config.suite import RunSpec
    from harness.models.base import GenerativeModel

# accelerate's AcceleratedOptimizer.step asks importlib whether `lomo_optim` is installed on every
# call (two find_spec lookups, ~0.15 ms): about 7 % of a VAE step on a CPU (docs/benchmarks.md).
# Installed packages do not change during a run, so the answer is computed once.
accelerate.optimizer.is_lomo_available = functools.cache(accelerate.optimizer.is_lomo_available)


class Processes:
    """The processes that compute one run together (one, or every process of a DDP launch)."""

    def __init__(self, mixed_precision: str, mixed_precision_source: str, alone: bool, local_rank: int = 0) -> None:
        with _process_local_environment(local_rank) if alone else contextlib.nullcontext():
            self.accelerator = _accelerator(mixed_precision, mixed_precision_source)

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def num_processes(self) -> int:
        return self.accelerator.num_processes

    @property
    def index(self) -> int:
        return self.accelerator.process_index

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

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
            return ShardedBatches(num_images, global_batch, self.index, self.num_processes, seed)
        except ValueError as err:
            raise HarnessError(f"{err}; change batch_size or the number of processes") from None

    def noise(self, seed: int, epoch: int, global_batch: int) -> ShardedNoise:
        return ShardedNoise(seed, epoch, global_batch, self.index, self.num_processes, self.device)

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
        mine = chunks[self.index :: self.num_processes]
        results = [(i, compute(i, start, stop).cpu()) for i, start, stop in mine]
        if self.num_processes > 1:
            results = gather_object(results)
        return torch.cat([tensor for _, tensor in sorted(results, key=lambda item: item[0])])

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()

    def end_run(self) -> None:
        self.accelerator.free_memory()

    def describe(self) -> dict[str, Any]:
        return {"device": str(self.device), "num_processes": self.num_processes,
                "distributed_type": str(self.accelerator.distributed_type.value),
                "mixed_precision": self.accelerator.mixed_precision}


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
