"""Train one expanded run through accelerate and leave its results on disk.

One Accelerator per process is created by the caller and reused for every run of a suite;
this module prepares the run's networks and optimizers, loops over epochs of sharded batches,
and writes history, checkpoints, weights, a sample grid and the run record (main process only).
"""

import functools
import math
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import accelerate.optimizer
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors.torch import save_file

from harness.batches import ShardedBatches, ShardedNoise
from harness.datasets import Dataset
from harness.errors import HarnessError
from harness.images import save_grid
from harness.models import MODELS
from harness.models.base import GenerativeModel
from harness.progress import TrainingProgress
from harness import results
from harness.results import RunPaths
from harness.suite import RunSpec

# accelerate's AcceleratedOptimizer.step asks importlib whether `lomo_optim` is installed on every
# call (two find_spec lookups, ~0.15 ms): about 7 % of a VAE step on a CPU (docs/benchmarks.md).
# Installed packages do not change during a run, so the answer is computed once.
accelerate.optimizer.is_lomo_available = functools.cache(accelerate.optimizer.is_lomo_available)

SAMPLE_GRID_SEED = 0  # every run draws its sample grid from the same latent batch
SAMPLE_GRID_SIZE = 8
UPDATE_EVERY_STEPS = 25  # progress and divergence checks (each needs a host sync)


class Diverged(Exception):
    """A loss became NaN or infinite."""


@dataclass
class EpochStats:
    losses: dict[str, float]
    images_per_second: float
    seconds: float
    images_per_process: list[int]
    overlapping_images: int


def build_model(spec: RunSpec, dataset: Dataset) -> GenerativeModel:
    return MODELS.get(spec.model)(spec.model_config, dataset.spec.image_shape)


def train_run(
    spec: RunSpec, suite_name: str, dataset: Dataset, accelerator: Accelerator, suite_dir: Path, progress: TrainingProgress
) -> dict[str, Any]:
    """Train `spec` to completion (or failure) and return its run record."""
    paths = RunPaths(suite_dir, spec.id)
    record: dict[str, Any] = {
        "id": spec.id,
        "name": spec.name,
        "suite": suite_name,
        "config_hash": spec.config_hash,
        "status": results.STATUS_RUNNING,
        "started_at": results.now(),
        "finished_at": None,
        "epochs": spec.training.epochs,
        "epochs_completed": 0,
        "device": str(accelerator.device),
        "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type.value),
        "mixed_precision": accelerator.mixed_precision,
        "versions": results.library_versions(),
        "git_commit": results.git_commit(),
    }
    if accelerator.is_main_process:
        if paths.dir.exists():  # a fresh start (or --force): nothing stale may mix in
            shutil.rmtree(paths.dir)
        paths.dir.mkdir(parents=True)
        results.write_json(paths.config, {"id": spec.id, "name": spec.name, "suite": suite_name,
                                          "config_hash": spec.config_hash, "matrix": spec.matrix,
                                          **spec.resolved_config()})
        results.write_json(paths.record, record)
    accelerator.wait_for_everyone()

    started = time.perf_counter()
    try:
        model = _train(spec, dataset, accelerator, paths, progress, record)
        record["status"] = results.STATUS_COMPLETED
        if accelerator.is_main_process:
            _save_outputs(model, paths)
    except Diverged as err:
        record["status"] = results.STATUS_DIVERGED
        record["error"] = str(err)
    except (Exception, KeyboardInterrupt) as err:
        record["status"] = results.STATUS_FAILED
        record["error"] = f"{type(err).__name__}: {err}" if not isinstance(err, KeyboardInterrupt) else "interrupted"
        if accelerator.is_main_process:
            results.write_text(paths.dir / "error.log", traceback.format_exc())
        if isinstance(err, (KeyboardInterrupt, HarnessError)) or accelerator.num_processes > 1:
            # Other processes cannot go on alone, and an interrupt means stop everything.
            _finish_record(record, started, accelerator, paths)
            raise
    finally:
        accelerator.free_memory()  # drop this run's prepared objects before the next run
    _finish_record(record, started, accelerator, paths)
    accelerator.wait_for_everyone()  # the main process's weights are on disk before anyone evaluates them
    return record


def _finish_record(record: dict[str, Any], started: float, accelerator: Accelerator, paths: RunPaths) -> None:
    record["finished_at"] = results.now()
    record["total_seconds"] = round(time.perf_counter() - started, 3)
    if accelerator.is_main_process:
        results.write_json(paths.record, record)


def _train(
    spec: RunSpec, dataset: Dataset, accelerator: Accelerator, paths: RunPaths, progress: TrainingProgress,
    record: dict[str, Any],
) -> GenerativeModel:
    set_seed(spec.seed)  # identical initial weights on every process and every rerun
    model = build_model(spec, dataset)
    counts = model.parameter_counts()
    record["parameters"] = {**counts, "total": sum(counts.values())}
    _prepare(model, accelerator)

    images = dataset.train_images
    if spec.training.train_subset is not None:
        images = images[: spec.training.train_subset]
    # The whole split lives on the training device as uint8; batches are index slices.
    train_images = images.reshape(images.shape[0], -1).to(accelerator.device)
    try:
        batches = ShardedBatches(
            len(train_images), spec.training.batch_size, accelerator.process_index, accelerator.num_processes, spec.seed
        )
    except ValueError as err:
        raise HarnessError(f"run {spec.id}: {err}; change batch_size or the number of processes") from None

    epochs = spec.training.epochs
    progress.start_run(spec.id, epochs * batches.steps_per_epoch)
    train_seconds = 0.0
    for epoch in range(epochs):
        stats = _train_epoch(model, spec, epoch, train_images, batches, accelerator, progress)
        train_seconds += stats.seconds
        _save_checkpoint(accelerator, paths, epoch, (epoch + 1) * batches.steps_per_epoch)
        record.update(
            epochs_completed=epoch + 1,
            steps=(epoch + 1) * batches.steps_per_epoch,
            train_seconds=round(train_seconds, 3),
            images_per_second=round(batches.global_batch * batches.steps_per_epoch * (epoch + 1) / train_seconds, 1),
            final_losses=stats.losses,
        )
        if accelerator.is_main_process:
            results.append_jsonl(paths.history, {
                "epoch": epoch + 1,
                **stats.losses,
                "images_per_second": round(stats.images_per_second, 1),
                "epoch_seconds": round(stats.seconds, 3),
                "train_seconds": round(train_seconds, 3),
                "images_per_process": stats.images_per_process,
                "overlapping_images": stats.overlapping_images,
            })
            results.write_json(paths.record, record)
        progress.epoch_done(spec.id, epoch, epochs, stats.losses, stats.images_per_second)
        if stats.overlapping_images:
            raise RuntimeError(f"processes trained on {stats.overlapping_images} shared images in epoch {epoch + 1}")
    record["replicas_identical"] = _replicas_identical(model, accelerator)
    return model


def _replicas_identical(model: GenerativeModel, accelerator: Accelerator) -> bool:
    """Whether every process ended with the same weights (DDP's promise, checked, not assumed)."""
    fingerprint = torch.stack([p.detach().double().sum() for n in model.networks for p in model.net(n).parameters()])
    gathered = accelerator.gather(fingerprint[None].to(accelerator.device))
    return bool((gathered == gathered[0]).all())


def _prepare(model: GenerativeModel, accelerator: Accelerator) -> None:
    """Pass every network and optimizer through accelerator.prepare (DDP, devices, precision)."""
    net_names, opt_names = list(model.networks), list(model.optimizers)
    prepared = accelerator.prepare(*model.networks.values(), *model.optimizers.values())
    prepared = prepared if isinstance(prepared, tuple) else (prepared,)
    model.networks = dict(zip(net_names, prepared[: len(net_names)]))
    model.optimizers = dict(zip(opt_names, prepared[len(net_names) :]))


def _train_epoch(
    model: GenerativeModel,
    spec: RunSpec,
    epoch: int,
    train_images: torch.Tensor,
    batches: ShardedBatches,
    accelerator: Accelerator,
    progress: TrainingProgress,
) -> EpochStats:
    device = accelerator.device
    indices = batches.epoch_indices(epoch).to(device)
    noise = ShardedNoise(spec.seed, epoch, batches.global_batch, accelerator.process_index, accelerator.num_processes, device)
    sums: dict[str, torch.Tensor] = {}
    steps_before = epoch * batches.steps_per_epoch
    started = time.perf_counter()
    for step in range(batches.steps_per_epoch):
        x = train_images[indices[step]].float().div_(255)
        losses = model.train_step(x, noise, accelerator.backward)
        for name, value in losses.items():
            sums[name] = sums[name] + value if name in sums else value.clone()
        if (step + 1) % UPDATE_EVERY_STEPS == 0:
            current = {name: value.item() for name, value in losses.items()}
            _check_finite(current, epoch, step)
            elapsed = time.perf_counter() - started
            progress.update(steps_before + step + 1, epoch, spec.training.epochs, current,
                            (step + 1) * batches.global_batch / elapsed)
    seconds = time.perf_counter() - started

    # Mean losses over the epoch and over processes.
    names = list(sums)
    stacked = torch.stack([sums[n].float() for n in names]) / batches.steps_per_epoch
    means = accelerator.reduce(stacked, reduction="mean").tolist()
    epoch_losses = dict(zip(names, means))
    _check_finite(epoch_losses, epoch, batches.steps_per_epoch - 1)
    # Verify data parallelism really split the data: gather every process's indices.
    all_indices = accelerator.gather(indices.flatten().contiguous())
    per_process = [int(indices.numel())] * accelerator.num_processes
    overlap = int(all_indices.numel() - torch.unique(all_indices).numel())
    images_per_second = batches.global_batch * batches.steps_per_epoch / seconds
    return EpochStats(epoch_losses, images_per_second, seconds, per_process, overlap)


def _check_finite(losses: dict[str, float], epoch: int, step: int) -> None:
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad:
        raise Diverged(f"loss became non-finite at epoch {epoch + 1}, step {step + 1}: {bad}")


def _save_checkpoint(accelerator: Accelerator, paths: RunPaths, epoch: int, step: int) -> None:
    """Complete end-of-epoch state (models, optimizers, RNG states, epoch), swapped in atomically."""
    staging = paths.dir / "checkpoint.tmp"
    if accelerator.is_main_process and staging.exists():
        shutil.rmtree(staging)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        results.write_json(staging / "trainer_state.json", {"epochs_completed": epoch + 1, "global_step": step})
        previous = paths.dir / "checkpoint.old"
        if paths.checkpoint.exists():
            paths.checkpoint.rename(previous)
        staging.rename(paths.checkpoint)
        shutil.rmtree(previous, ignore_errors=True)
    accelerator.wait_for_everyone()


def _save_outputs(model: GenerativeModel, paths: RunPaths) -> None:
    results.atomic_write(paths.weights, lambda tmp: save_file(model.state_dict(), str(tmp)))
    generator = torch.Generator().manual_seed(SAMPLE_GRID_SEED)
    save_grid(model.sample(SAMPLE_GRID_SIZE**2, generator=generator), paths.samples, rows=SAMPLE_GRID_SIZE)
