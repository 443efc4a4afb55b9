"""Following runs in the trackers researchers already watch: TensorBoard, Weights & Biases, MLflow.

Each run is one tracked run, named by its id, with its resolved configuration as
hyperparameters; while it trains its step losses and images/s (every few steps), its epoch
losses and sample grids (`sample_every`); once it is scored, its final metrics and the suite's
real-data floor. The trackers are accelerate's own classes (`accelerate.tracking`): we open one
set per run rather than through `Accelerator.init_trackers`, which opens one set per Accelerator,
and a launch trains many runs with one Accelerator.

Offline by default: TensorBoard writes event files into the run folder; W&B runs offline unless
the user is logged in (or set WANDB_MODE); MLflow writes a local file store in the suite's results
folder unless MLFLOW_TRACKING_URI names another. Under run_parallel every process tracks the
runs it trains; under data_parallel only the main process does (the one that writes results).
"""

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.config.suite import RunSpec
from harness.core.errors import HarnessError
from harness.core.trackers import TRACKERS
from harness.store import RunFolder, SuiteFolder
from harness.training.observer import TrainingObserver


def check_trackers(names: list[str]) -> None:
    """Every tracker's package imports, or one line with its install command (before anything trains)."""
    import importlib

    for name in names:
        kind = TRACKERS.require(name, "log_with")
        try:
            importlib.import_module(kind.package)
        except ImportError as err:
            raise HarnessError(f"log_with: {name} needs the {kind.package} package ({err}): {kind.install_hint()}",
                               exit_code=2) from None


class RunTracking:
    """One run's tracked runs, one per tracker; closed by `finish` (also after a failure)."""

    def __init__(self, names: list[str], spec: RunSpec, suite: SuiteFolder, folder: RunFolder) -> None:
        self.names, self.spec, self.suite, self.folder = names, spec, suite, folder
        self.trackers: list[Any] = []
        self.step = 0  # the run's latest global step: epoch and final values are logged at it

    def start(self) -> None:
        """Open the tracked runs once the trainer has prepared the run folder (a fresh start empties it)."""
        if self.trackers:
            return
        for name in self.names:
            tracker = _open(name, self.spec, self.suite, self.folder)
            tracker.main_process_only = False  # the strategy decided who tracks (writes_results)
            tracker.start()
            tracker.store_init_configuration(hyperparameters(self.spec, self.suite.dir.name))
            self.trackers.append(tracker)

    def log(self, values: dict[str, Any], step: int | None = None) -> None:
        numbers = {key: float(value) for key, value in values.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
        if numbers:
            for tracker in self.trackers:
                tracker.log(numbers, step=self.step if step is None else step)

    def images(self, name: str, grid: np.ndarray, step: int) -> None:
        """A (H, W) or (H, W, 3) uint8 picture, e.g. a sample grid."""
        for tracker in self.trackers:
            if tracker.name == "mlflow":
                import mlflow

                mlflow.log_image(grid, artifact_file=f"{name}/step-{step:08d}.png")
            elif tracker.name == "tensorboard":
                pictures = (grid[..., None] if grid.ndim == 2 else grid)[None]  # a batch of one, channels last
                tracker.log_images({name: pictures}, step=step, dataformats="NHWC")
            else:
                tracker.log_images({name: grid}, step=step)

    def scored(self, metrics: dict[str, Any], floor: dict[str, Any] | None) -> None:
        """The run's final metrics and the real-data floor they are read against."""
        self.log({f"metrics/{key}": value for key, value in metrics.items()})
        if floor:
            self.log({f"floor/{key}": value for key, value in floor.items()})

    def observing(self, inner: TrainingObserver) -> "TrackedObserver":
        """An observer that shows training as `inner` does and logs it here."""
        return TrackedObserver(inner, self)

    def finish(self) -> None:
        for tracker in self.trackers:
            try:
                tracker.finish()
            except Exception:  # noqa: BLE001 - a tracker failing to close must not cost the run's results
                pass
        self.trackers = []


class TrackedObserver:
    """A TrainingObserver that forwards to `inner` (the terminal display) and logs to `tracking`."""

    def __init__(self, inner: TrainingObserver, tracking: RunTracking) -> None:
        self.inner, self.tracking = inner, tracking

    def start_run(self, run_id: str, total_steps: int, done: int = 0) -> None:
        self.tracking.start()
        self.tracking.step = done
        self.inner.start_run(run_id, total_steps, done)

    def update(self, steps_done: int, epoch: int, epochs: int, losses: dict[str, float], images_per_second: float) -> None:
        self.tracking.step = steps_done
        self.tracking.log({**{f"loss/{k}": v for k, v in losses.items()}, "images_per_second": images_per_second})
        self.inner.update(steps_done, epoch, epochs, losses, images_per_second)

    def epoch_done(self, run_id: str, epoch: int, epochs: int, losses: dict[str, float], images_per_second: float) -> None:
        self.tracking.log({**{f"epoch_loss/{k}": v for k, v in losses.items()},
                           "epoch_images_per_second": images_per_second, "epoch": epoch + 1})  # 1-based, as shown
        self.inner.epoch_done(run_id, epoch, epochs, losses, images_per_second)

    def sampled(self, run_id: str, epoch: int, images: torch.Tensor, rows: int) -> None:
        from harness.store.images import image_grid

        self.tracking.images("samples", image_grid(images, rows), self.tracking.step)
        self.inner.sampled(run_id, epoch, images, rows)

    def print(self, *objects: object) -> None:
        self.inner.print(*objects)


def hyperparameters(spec: RunSpec, suite_name: str) -> dict[str, Any]:
    """The run's resolved configuration, flattened to `training.epochs`-style keys (lists as JSON)."""
    flat: dict[str, Any] = {"suite": suite_name, "run_id": spec.id, "configuration": spec.configuration,
                            "config_hash": spec.config_hash}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}.{key}" if prefix else key, inner)
        else:
            flat[prefix] = json.dumps(value) if isinstance(value, list) or value is None else value

    add("", spec.resolved_config())
    return flat


def _open(name: str, spec: RunSpec, suite: SuiteFolder, folder: RunFolder) -> Any:
    from accelerate import tracking

    if name == "tensorboard":
        return tracking.TensorBoardTracker("tensorboard", folder.dir)
    if name == "wandb":
        options: dict[str, Any] = {"name": spec.id, "group": spec.configuration, "dir": str(suite.dir),
                                   "job_type": "train", "settings": {"quiet": True}}  # the terminal shows progress
        if "WANDB_MODE" not in os.environ and not _wandb_logged_in():
            options["mode"] = "offline"
        return tracking.WandBTracker(suite.dir.name, **options)
    if name == "mlflow":
        import mlflow

        if not os.environ.get("MLFLOW_TRACKING_URI"):
            # mlflow 3 refuses its file store unless asked for it; a local folder is what "offline" means here
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            mlflow.set_tracking_uri((suite.dir / "mlruns").resolve().as_uri())
        _mlflow_experiment(suite.dir.name)
        return tracking.MLflowTracker(experiment_name=suite.dir.name, run_name=spec.id,
                                      tags={"suite": suite.dir.name, "configuration": spec.configuration})
    raise HarnessError(f"log_with: tracker {name!r} is registered but cannot be opened here", exit_code=2)


def _wandb_logged_in() -> bool:
    """An API key in the environment or in ~/.netrc (what `wandb login` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def _mlflow_experiment(name: str) -> None:
    """Create the suite's experiment unless it exists; two processes of a launch may race for it."""
    import mlflow

    if mlflow.get_experiment_by_name(name) is None:
        try:
            mlflow.create_experiment(name)
        except mlflow.exceptions.MlflowException:
            if mlflow.get_experiment_by_name(name) is None:
                raise
