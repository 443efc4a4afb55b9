"""The experiment trackers a suite may log to (`[suite] log_with`, `--log-with`): names only.

Torch-free, so a suite's `log_with` is checked by `validate`; harness/training/tracking.py opens
them (through accelerate's tracker classes) while runs train.
"""

from dataclasses import dataclass

from harness.core.registry import Registry


@dataclass(frozen=True)
class TrackerKind:
    description: str
    package: str  # what must be importable
    extra: str  # pip install -e ".[<extra>]"

    def install_hint(self) -> str:
        return f'pip install -e ".[{self.extra}]" (or pip install {self.package})'


TRACKERS: Registry[TrackerKind] = Registry("tracker")
TRACKERS.register("tensorboard")(TrackerKind(
    "TensorBoard event files in each run folder (<run>/tensorboard/); `tensorboard --logdir RESULTS_DIR`",
    "tensorboard", "tensorboard"))
TRACKERS.register("wandb")(TrackerKind(
    "Weights & Biases: offline run folders in RESULTS_DIR/wandb/ unless you are logged in (`wandb login`) or set "
    "WANDB_MODE; `wandb sync` uploads them later", "wandb", "wandb"))
TRACKERS.register("mlflow")(TrackerKind(
    "MLflow: a local file store RESULTS_DIR/mlruns/ unless MLFLOW_TRACKING_URI names another; "
    "`mlflow ui --backend-store-uri RESULTS_DIR/mlruns`", "mlflow", "mlflow"))
