"""Train one expanded run and leave its results in the store.

The strategy (one per launch, reused for every run) owns the processes: it prepares the
networks and optimizers, hands this process its share of batches and noise, averages losses
over processes and says who writes. This module reads top to bottom: build the model, put the
training split on the device, loop over epochs of steps, record each epoch, save the outputs.
"""

import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch
from accelerate.utils import set_seed

from harness.training.checkpoint import EpochState, Position, capture, restore
from harness.datasets import Dataset
from harness.core.errors import storage_problem
from harness.models import build_model
from harness.models.base import GenerativeModel
from harness.training.divergence import DivergenceGuard, Diverged
from harness.training.observer import TrainingObserver
from harness.core.plugins import plugin_hashes
from harness.training.provenance import git_commit, library_versions
from harness.execution.sharding import ShardedBatches
from harness.execution.stops import STOPS, StopRequests, Stopped
from harness.store import (HISTORY_BOOKKEEPING, STATUS_COMPLETED, STATUS_DIVERGED, STATUS_FAILED, STATUS_INTERRUPTED,
                           STATUS_RUNNING, ResultsFileError, RunConfig, RunFolder, RunRecord, now)
from harness.execution.strategy import Strategy
from harness.config.suite import RunSpec

SAMPLE_GRID_SEED = 0  # every run draws its sample grid from the same latent batch
SAMPLE_GRID_SIZE = 8
PROGRESS_GRID_SIZE = 4  # per-epoch grids (`sample_every`): the first 16 latents of the same batch
UPDATE_EVERY_STEPS = 25  # progress and divergence checks (each needs a host sync)


@dataclass
class RunContext:
    """What every epoch of one run works with: the run, its model on this process's device, the
    launch's strategy, the split on the device and its batches, the record and position it
    keeps up to date, the divergence guard, who watches and who may stop it."""

    spec: RunSpec
    model: GenerativeModel
    strategy: Strategy
    folder: RunFolder
    record: RunRecord
    position: Position
    train_images: torch.Tensor
    batches: ShardedBatches
    guard: DivergenceGuard
    observer: TrainingObserver
    stops: StopRequests


@dataclass
class EpochStats:
    losses: dict[str, float]
    images_per_second: float
    seconds: float
    images_per_process: list[int]
    overlapping_images: int


def train_run(spec: RunSpec, suite_name: str, dataset: Dataset, strategy: Strategy, folder: RunFolder,
              observer: TrainingObserver, stops: StopRequests = STOPS) -> RunRecord:
    """Train `spec` to completion (or failure) and return its run record.

    A complete checkpoint of the same configuration in `run` is resumed, not retrained; a
    signal stops training cleanly with a checkpoint (harness/execution/stops.py) and raises `Stopped`.
    """
    record = RunRecord(
        id=spec.id, name=spec.name, suite=suite_name, config_hash=spec.config_hash, status=STATUS_RUNNING,
        started_at=now(), epochs=spec.training.epochs, **strategy.describe(),
        versions=library_versions(), git_commit=git_commit(), plugins=plugin_hashes(),
        data_folder=str(dataset.folder) if dataset.folder else None,
    )
    checkpoint = _readable_checkpoint(spec, folder, strategy, observer)
    strategy.wait()  # every process has read the checkpoint before the folder changes
    if strategy.writes_results:
        if checkpoint is None:
            folder.start_fresh()  # nothing stale from an earlier attempt may mix in
            folder.write_config(RunConfig(id=spec.id, name=spec.name, suite=suite_name, config_hash=spec.config_hash,
                                       matrix=spec.matrix, trial=spec.trial, **spec.resolved_config()))
        else:
            folder.remove_partial_files()
            _carry_over(folder, record)
        folder.write_record(record)
    strategy.wait()

    started = time.perf_counter()
    strategy.cpu_share.start_run()
    try:
        with stops.deferred():
            model = _train(spec, dataset, strategy, folder, observer, record, checkpoint, stops)
        record.status = STATUS_COMPLETED
        if strategy.writes_results:
            folder.write_weights(model.state_dict())
            generator = torch.Generator().manual_seed(SAMPLE_GRID_SEED)
            folder.write_samples(model.sample(SAMPLE_GRID_SIZE**2, generator=generator), rows=SAMPLE_GRID_SIZE)
    except Diverged as err:
        record.status, record.error = STATUS_DIVERGED, str(err)
        record.stopped_at, record.last_finite_losses = {"epoch": err.epoch, "step": err.step}, err.last_finite
    except Stopped as err:
        record.status = STATUS_INTERRUPTED
        where = record.stopped_at or {"epoch": record.epochs_completed + 1, "step": 0}
        record.error = (f"stopped by {signal.Signals(err.signum).name} at epoch {where['epoch']}, step "
                        f"{where['step']}; rerun the same command to resume from its checkpoint")
        _finish_record(record, started, strategy, folder)
        raise
    except (Exception, KeyboardInterrupt) as err:
        record.status = STATUS_FAILED
        record.error = (storage_problem(err, folder.dir) if isinstance(err, OSError)
                        else "interrupted" if isinstance(err, KeyboardInterrupt) else f"{type(err).__name__}: {err}")
        if strategy.writes_results:
            _write_quietly(folder.remove_partial_files)
            _write_quietly(lambda: folder.write_error_log(traceback.format_exc()))
        if isinstance(err, KeyboardInterrupt) or strategy.failure_stops_everyone:
            # An interrupt means stop everything, and processes that train together cannot go on alone;
            # any other failure is this run's alone: recorded, and the suite goes on.
            _finish_record(record, started, strategy, folder)
            raise
    finally:
        strategy.cpu_share.restore()  # evaluation computes with the process's own threads
        strategy.end_run()  # drop this run's prepared objects before the next run
    _finish_record(record, started, strategy, folder)
    strategy.wait()  # the weights are on disk before anyone evaluates them
    return record


def _readable_checkpoint(spec: RunSpec, folder: RunFolder, strategy: Strategy,
                         observer: TrainingObserver) -> tuple[dict, Position] | None:
    """The run's last checkpoint if every process can read it and it is of this configuration."""
    try:
        found = folder.read_checkpoint()
        if found is not None and found[1].get("config_hash") != spec.config_hash:
            found = None  # from another configuration (an edited suite): start over
    except ResultsFileError as err:
        observer.print(f"{spec.id}: {err}")
        found = None
    if strategy.any_process(found is None):
        return None
    assert found is not None
    return found[0], Position.from_json(found[1])


def _carry_over(folder: RunFolder, record: RunRecord) -> None:
    """A resumed run keeps its first start and the list of its earlier resumes."""
    try:
        previous = folder.read_record()
    except ResultsFileError:
        return
    record.started_at = previous.started_at or record.started_at
    record.resumed = previous.resumed


def _write_quietly(write: Callable[[], None]) -> None:
    """A diagnostic write that must not hide the error being recorded (e.g. on a full disk)."""
    try:
        write()
    except OSError:
        pass


def _finish_record(record: RunRecord, started: float, strategy: Strategy, folder: RunFolder) -> None:
    record.finished_at = now()
    record.total_seconds = round(time.perf_counter() - started, 3)
    share = strategy.cpu_share
    if share.steps_with_fewer_threads:  # other processes needed the cores: not bit-identical to a quiet run
        record.steps_with_fewer_threads, record.fewest_threads = share.steps_with_fewer_threads, share.fewest_threads
    if strategy.writes_results:
        folder.write_record(record)


def _train(spec: RunSpec, dataset: Dataset, strategy: Strategy, folder: RunFolder, observer: TrainingObserver,
           record: RunRecord, checkpoint: tuple[dict, Position] | None, stops: StopRequests) -> GenerativeModel:
    set_seed(spec.seed)  # identical initial weights on every process and every rerun
    model = build_model(spec.model, spec.model_config, dataset.spec.image_shape)
    counts = model.parameter_counts()
    record.parameters = {**counts, "total": sum(counts.values())}
    strategy.prepare(model)
    position, epoch_state = Position(spec.config_hash), None
    if checkpoint is not None:
        state, position = checkpoint
        epoch_state = restore(model, strategy, state)
        record.resumed = [*record.resumed, {"at": now(), "epoch": position.epoch + 1, "step": position.step}]
        record.forward_dtypes = position.forward_dtypes

    images = dataset.train_images
    if spec.training.train_subset is not None:
        images = images[: spec.training.train_subset]
    # The whole split lives on the training device as uint8 (N, C, H, W); batches are index slices.
    train_images = images.to(strategy.device)
    batches = strategy.batches(len(train_images), spec.training.batch_size, spec.seed)
    if strategy.writes_results:
        folder.write_history(position.history)  # rows written after the checkpoint are replayed
    _record_position(record, position, batches.steps_per_epoch, batches.global_batch)

    epochs = spec.training.epochs
    observer.start_run(spec.id, epochs * batches.steps_per_epoch, done=position.global_step(batches.steps_per_epoch))
    guard = DivergenceGuard(spec.training.divergence_factor, position.loss_scale)
    context = RunContext(spec, model, strategy, folder, record, position, train_images, batches, guard, observer, stops)
    for epoch in range(position.epoch, epochs):
        stats = _train_epoch(context, epoch, epoch_state)
        epoch_state = None
        position.train_seconds = round(position.train_seconds + stats.seconds, 3)
        position.history.append({
            "epoch": epoch + 1,
            **stats.losses,
            "images_per_second": round(stats.images_per_second, 1),
            "epoch_seconds": round(stats.seconds, 3),
            "train_seconds": position.train_seconds,
            "images_per_process": stats.images_per_process,
            "overlapping_images": stats.overlapping_images,
        })
        position.epoch, position.step, position.epoch_seconds = epoch + 1, 0, 0.0
        position.loss_scale, position.forward_dtypes = guard.scale, record.forward_dtypes
        _save_checkpoint(strategy, folder, model, position, None)
        _record_position(record, position, batches.steps_per_epoch, batches.global_batch)
        if strategy.writes_results:
            folder.write_history(position.history)
            folder.write_record(record)
        observer.epoch_done(spec.id, epoch, epochs, stats.losses, stats.images_per_second)
        _save_progress_samples(spec, epoch + 1, model, strategy, folder, observer)
        if stats.overlapping_images:
            raise RuntimeError(f"processes trained on {stats.overlapping_images} shared images in epoch {epoch + 1}")
        if epoch + 1 < epochs and strategy.any_process(stops.requested):  # stopped at an epoch's end
            record.stopped_at = {"epoch": epoch + 1, "step": batches.steps_per_epoch}
            raise Stopped(stops.signum or signal.SIGTERM, f"in run {spec.id} at the end of epoch {epoch + 1}")
    record.replicas_identical = strategy.replicas_identical(model)
    return model


def _save_progress_samples(spec: RunSpec, epoch: int, model: GenerativeModel, strategy: Strategy,
                           folder: RunFolder, observer: TrainingObserver) -> None:
    """Every `sample_every` epochs and at the last, a 4x4 grid from the fixed latent batch. Every
    process samples (a wrapped network's forward may be a collective); its own generator leaves
    the training's random streams untouched, so the trained numbers do not depend on it."""
    every = spec.training.sample_every
    if every is None or (epoch % every and epoch != spec.training.epochs):
        return
    images = model.sample(PROGRESS_GRID_SIZE**2, generator=torch.Generator().manual_seed(SAMPLE_GRID_SEED))
    if strategy.writes_results:
        folder.write_progress_samples(epoch, images, rows=PROGRESS_GRID_SIZE)
        observer.sampled(spec.id, epoch, images, PROGRESS_GRID_SIZE)


def _record_position(record: RunRecord, position: Position, steps_per_epoch: int, global_batch: int) -> None:
    record.epochs_completed = position.epoch
    record.steps = position.epoch * steps_per_epoch
    record.train_seconds = position.train_seconds
    if position.train_seconds > 0:
        record.images_per_second = round(global_batch * steps_per_epoch * position.epoch / position.train_seconds, 1)
    if position.history:
        record.final_losses = {k: v for k, v in position.history[-1].items() if k not in HISTORY_BOOKKEEPING}


def _train_epoch(context: RunContext, epoch: int, epoch_state: EpochState | None) -> EpochStats:
    """One epoch of steps (from the middle when `epoch_state` resumes it); its mean losses and speed."""
    c = context
    model, spec, strategy, batches, position, guard = c.model, c.spec, c.strategy, c.batches, c.position, c.guard
    train_images, observer, record, folder, stops = c.train_images, c.observer, c.record, c.folder, c.stops
    indices = batches.epoch_indices(epoch).to(strategy.device)
    noise = strategy.noise(spec.seed, epoch, batches.global_batch)
    sums: dict[str, torch.Tensor] = {}
    first_step = 0
    if epoch_state is not None:  # resuming in the middle of this epoch
        sums, first_step = epoch_state.loss_sums, position.step
        noise.generator.set_state(epoch_state.noise_state)
    steps_before = epoch * batches.steps_per_epoch
    remove_hooks = _observe_forward_dtypes(model, record) if epoch == 0 and first_step == 0 else None
    # Several processes that train together must stop at the same step: they agree every few
    # steps (a collective call); a process alone looks at its flag after every step.
    check_stop_every = UPDATE_EVERY_STEPS if strategy.failure_stops_everyone else 1
    started = time.perf_counter() - position.epoch_seconds
    for step in range(first_step, batches.steps_per_epoch):
        strategy.cpu_share.poll()
        x = train_images[indices[step]].float().div_(255)
        losses = model.train_step(x, noise, strategy.backward)
        if remove_hooks is not None:  # the hooks saw the first step
            remove_hooks()
            remove_hooks = None
        for name, value in losses.items():
            sums[name] = sums[name] + value if name in sums else value.clone()
        if guard.scale is None:  # the run's first step: what "exploded" is measured against
            first = strategy.mean(torch.stack([value.float() for value in losses.values()]))
            guard.calibrate(dict(zip(losses, first.tolist())))
        if (step + 1) % UPDATE_EVERY_STEPS == 0:
            current = {name: value.item() for name, value in losses.items()}
            if not strategy.failure_stops_everyone:  # processes that train together judge the epoch's mean
                guard.check(current, epoch, step)
            elapsed = time.perf_counter() - started
            observer.update(steps_before + step + 1, epoch, spec.training.epochs, current,
                            (step + 1 - first_step) * batches.global_batch / max(elapsed - position.epoch_seconds, 1e-9))
        if (step + 1) % check_stop_every == 0 and step + 1 < batches.steps_per_epoch \
                and strategy.any_process(stops.requested):
            position.step, position.epoch_seconds = step + 1, time.perf_counter() - started
            position.loss_scale, position.forward_dtypes = guard.scale, record.forward_dtypes
            record.stopped_at = {"epoch": epoch + 1, "step": step + 1}
            _save_checkpoint(strategy, folder, model, position, EpochState(sums, noise.generator.get_state()))
            raise Stopped(stops.signum or signal.SIGTERM, f"in run {spec.id} at epoch {epoch + 1}, step {step + 1}")
    seconds = time.perf_counter() - started

    # Mean losses over the epoch and over processes.
    names = list(sums)
    stacked = torch.stack([sums[n].float() for n in names]) / batches.steps_per_epoch
    epoch_losses = dict(zip(names, strategy.mean(stacked).tolist()))
    guard.check(epoch_losses, epoch, batches.steps_per_epoch - 1)
    guard.check_weights(model, epoch, batches.steps_per_epoch - 1)
    # Verify the strategy really split the data: every process's indices, compared.
    per_process, overlap = strategy.check_split(indices)
    images_per_second = batches.global_batch * (batches.steps_per_epoch - first_step) / max(
        seconds - position.epoch_seconds, 1e-9)
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


def _save_checkpoint(strategy: Strategy, folder: RunFolder, model: GenerativeModel, position: Position,
                     epoch_state: EpochState | None) -> None:
    """A complete checkpoint (harness/training/checkpoint.py), written by the writing process, swapped in atomically."""
    strategy.wait()
    if strategy.writes_results:
        folder.write_checkpoint(capture(model, strategy, epoch_state), position.to_json())
    strategy.wait()
