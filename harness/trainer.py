"""Train one expanded run and leave its results in the store.

The strategy (one per launch, reused for every run) owns the processes: it prepares the
networks and optimizers, hands this process its share of batches and noise, averages losses
over processes and says who writes. This module reads top to bottom: build the model, put the
training split on the device, loop over epochs of steps, record each epoch, save the outputs.
"""

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch
from accelerate.utils import set_seed

from harness.datasets import Dataset
from harness.models import build_model
from harness.models.base import GenerativeModel
from harness.progress import TrainingProgress
from harness.provenance import git_commit, library_versions
from harness.sharding import ShardedBatches
from harness.store import (STATUS_COMPLETED, STATUS_DIVERGED, STATUS_FAILED, STATUS_RUNNING, RunConfig, RunFolder,
                           RunRecord, now)
from harness.strategy import Strategy
from harness.suite import RunSpec

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


def train_run(spec: RunSpec, suite_name: str, dataset: Dataset, strategy: Strategy, run: RunFolder,
              progress: TrainingProgress) -> RunRecord:
    """Train `spec` to completion (or failure) and return its run record."""
    record = RunRecord(
        id=spec.id, name=spec.name, suite=suite_name, config_hash=spec.config_hash, status=STATUS_RUNNING,
        started_at=now(), epochs=spec.training.epochs, **strategy.describe(),
        versions=library_versions(), git_commit=git_commit(),
    )
    if strategy.writes_results:
        run.start_fresh()  # nothing stale from an earlier attempt may mix in
        run.write_config(RunConfig(id=spec.id, name=spec.name, suite=suite_name, config_hash=spec.config_hash,
                                   matrix=spec.matrix, **spec.resolved_config()))
        run.write_record(record)
    strategy.wait()

    started = time.perf_counter()
    try:
        model = _train(spec, dataset, strategy, run, progress, record)
        record.status = STATUS_COMPLETED
        if strategy.writes_results:
            run.write_weights(model.state_dict())
            generator = torch.Generator().manual_seed(SAMPLE_GRID_SEED)
            run.write_samples(model.sample(SAMPLE_GRID_SIZE**2, generator=generator), rows=SAMPLE_GRID_SIZE)
    except Diverged as err:
        record.status = STATUS_DIVERGED
        record.error = str(err)
    except (Exception, KeyboardInterrupt) as err:
        record.status = STATUS_FAILED
        record.error = f"{type(err).__name__}: {err}" if not isinstance(err, KeyboardInterrupt) else "interrupted"
        if strategy.writes_results:
            run.write_error_log(traceback.format_exc())
        if isinstance(err, KeyboardInterrupt) or strategy.failure_stops_everyone:
            # An interrupt means stop everything, and processes that train together cannot go on alone;
            # any other failure is this run's alone: recorded, and the suite goes on.
            _finish_record(record, started, strategy, run)
            raise
    finally:
        strategy.end_run()  # drop this run's prepared objects before the next run
    _finish_record(record, started, strategy, run)
    strategy.wait()  # the weights are on disk before anyone evaluates them
    return record


def _finish_record(record: RunRecord, started: float, strategy: Strategy, run: RunFolder) -> None:
    record.finished_at = now()
    record.total_seconds = round(time.perf_counter() - started, 3)
    if strategy.writes_results:
        run.write_record(record)


def _train(spec: RunSpec, dataset: Dataset, strategy: Strategy, run: RunFolder, progress: TrainingProgress,
           record: RunRecord) -> GenerativeModel:
    set_seed(spec.seed)  # identical initial weights on every process and every rerun
    model = build_model(spec.model, spec.model_config, dataset.spec.image_shape)
    counts = model.parameter_counts()
    record.parameters = {**counts, "total": sum(counts.values())}
    strategy.prepare(model)

    images = dataset.train_images
    if spec.training.train_subset is not None:
        images = images[: spec.training.train_subset]
    # The whole split lives on the training device as uint8 (N, C, H, W); batches are index slices.
    train_images = images.to(strategy.device)
    batches = strategy.batches(len(train_images), spec.training.batch_size, spec.seed)

    epochs = spec.training.epochs
    progress.start_run(spec.id, epochs * batches.steps_per_epoch)
    train_seconds = 0.0
    for epoch in range(epochs):
        stats = _train_epoch(model, spec, epoch, train_images, batches, strategy, progress, record)
        train_seconds += stats.seconds
        _save_checkpoint(strategy, run, epoch, (epoch + 1) * batches.steps_per_epoch)
        record.epochs_completed = epoch + 1
        record.steps = (epoch + 1) * batches.steps_per_epoch
        record.train_seconds = round(train_seconds, 3)
        record.images_per_second = round(batches.global_batch * batches.steps_per_epoch * (epoch + 1) / train_seconds, 1)
        record.final_losses = stats.losses
        if strategy.writes_results:
            run.append_history({
                "epoch": epoch + 1,
                **stats.losses,
                "images_per_second": round(stats.images_per_second, 1),
                "epoch_seconds": round(stats.seconds, 3),
                "train_seconds": round(train_seconds, 3),
                "images_per_process": stats.images_per_process,
                "overlapping_images": stats.overlapping_images,
            })
            run.write_record(record)
        progress.epoch_done(spec.id, epoch, epochs, stats.losses, stats.images_per_second)
        if stats.overlapping_images:
            raise RuntimeError(f"processes trained on {stats.overlapping_images} shared images in epoch {epoch + 1}")
    record.replicas_identical = strategy.replicas_identical(model)
    return model


def _train_epoch(model: GenerativeModel, spec: RunSpec, epoch: int, train_images: torch.Tensor,
                 batches: ShardedBatches, strategy: Strategy, progress: TrainingProgress,
                 record: RunRecord) -> EpochStats:
    indices = batches.epoch_indices(epoch).to(strategy.device)
    noise = strategy.noise(spec.seed, epoch, batches.global_batch)
    sums: dict[str, torch.Tensor] = {}
    steps_before = epoch * batches.steps_per_epoch
    remove_hooks = _observe_forward_dtypes(model, record) if epoch == 0 else None
    started = time.perf_counter()
    for step in range(batches.steps_per_epoch):
        x = train_images[indices[step]].float().div_(255)
        losses = model.train_step(x, noise, strategy.backward)
        if remove_hooks is not None:  # the hooks saw the first step
            remove_hooks()
            remove_hooks = None
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
    epoch_losses = dict(zip(names, strategy.mean(stacked).tolist()))
    _check_finite(epoch_losses, epoch, batches.steps_per_epoch - 1)
    # Verify the strategy really split the data: every process's indices, compared.
    per_process, overlap = strategy.check_split(indices)
    images_per_second = batches.global_batch * batches.steps_per_epoch / seconds
    return EpochStats(epoch_losses, images_per_second, seconds, per_process, overlap)


def _observe_forward_dtypes(model: GenerativeModel, record: RunRecord) -> Callable[[], None]:
    """Record the dtype each network's first weighted layer computed in during the first step (the
    precision that really ran, not the one asked for; accelerate casts a network's *outputs* back
    to fp32, so the network's own output would not tell). Returns a callable that removes the hooks."""
    observed: dict[str, str] = {}

    def hook(name: str):
        def seen(module: torch.nn.Module, args: object, output: object) -> None:
            if isinstance(output, torch.Tensor):
                observed.setdefault(name, str(output.dtype).removeprefix("torch."))
        return seen

    def first_layer(network: torch.nn.Module) -> torch.nn.Module:
        weighted = [m for m in network.modules() if any(True for _ in m.parameters(recurse=False))]
        return weighted[0] if weighted else network

    handles = [first_layer(network).register_forward_hook(hook(name)) for name, network in model.networks.items()]

    def remove() -> None:
        for handle in handles:
            handle.remove()
        record.forward_dtypes = observed

    return remove


def _check_finite(losses: dict[str, float], epoch: int, step: int) -> None:
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad:
        raise Diverged(f"loss became non-finite at epoch {epoch + 1}, step {step + 1}: {bad}")


def _save_checkpoint(strategy: Strategy, run: RunFolder, epoch: int, step: int) -> None:
    """Complete end-of-epoch state (models, optimizers, RNG states, epoch), swapped in atomically."""
    if strategy.writes_results:
        run.clear_checkpoint_staging()
    strategy.wait()
    strategy.save_checkpoint(run.checkpoint_staging)
    strategy.wait()
    if strategy.writes_results:
        run.commit_checkpoint(epochs_completed=epoch + 1, global_step=step)
    strategy.wait()
