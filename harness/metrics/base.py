"""What a metric is: a name, the capabilities it needs, the columns it fills (with their meaning),
and `compute`.

A metric asks for capabilities (`Decodes`, `Encodes`, `BoundsLikelihood`), never for a model
class; a model without them gets `n/a` in every column of that metric, with the reason.
A metric that only looks at samples (`sample_based = True`) also scores the real-data floor:
the evaluation puts training images where a model's samples would be.
"""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from harness.core.columns import NOT_APPLICABLE, Column  # noqa: F401  (re-exported for metric modules)

if TYPE_CHECKING:
    import torch

    from harness.models.base import GenerativeModel


class EvaluationSession(Protocol):
    """What a metric may ask of the evaluation it runs in (harness.evaluation.session implements it).

    Declared here, where metrics live, so that metrics depend on this protocol and not on the
    evaluation package that calls them.
    """

    config: Any  # the suite's [evaluation] settings
    dataset: Any  # harness.datasets.Dataset
    strategy: Any  # harness.execution.strategy.Strategy: map_chunks spreads work over processes
    device: "torch.device"
    run: Any  # this run's caches; metrics leave tensors for its files in run.artifacts
    test_images: "torch.Tensor"
    reference_labels: "torch.Tensor"

    def feature_spaces(self) -> list[str]: ...
    def reference_subset(self) -> dict[str, Any]: ...
    def test_indices(self, size: int) -> "torch.Tensor": ...
    def test_subset(self, size: int) -> dict[str, Any]: ...
    def evaluator_info(self) -> dict[str, Any]: ...
    def shared(self, key: str, build: Any) -> Any: ...
    def details(self, metric: str) -> dict[str, Any]: ...
    def reference_features(self, space: str) -> "torch.Tensor": ...
    def samples(self, model: "GenerativeModel | None") -> "torch.Tensor": ...
    def sample_features(self, model: "GenerativeModel | None", space: str) -> "torch.Tensor": ...
    def sample_logits(self, model: "GenerativeModel | None") -> "torch.Tensor": ...


class MetricSettings(BaseModel):
    """A metric's own keys of the `[evaluation]` table (harness/config/evaluation.py merges every
    registered metric's): pydantic fields with defaults and descriptions, like any config."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    def problem(self, num_samples: int) -> str | None:
        """What is wrong with these settings beside the shared sample count, if anything."""
        return None


class Metric(ABC):
    """A metric declares what it means: its columns (each saying whether it is the primary score,
    shown in summaries, or a setting that makes scores incomparable), its own settings, and
    which of them count test images."""

    name: ClassVar[str]
    Settings: ClassVar[type[MetricSettings]] = MetricSettings  # its own [evaluation] keys (none by default)
    test_image_settings: ClassVar[tuple[str, ...]] = ()  # its settings that draw that many test images
    requires: ClassVar[tuple[type, ...]] = ()
    columns: ClassVar[tuple[Column, ...]]
    sample_based: ClassVar[bool] = False  # reads only session.samples/sample_features/sample_logits
    needs_evaluator: ClassVar[bool] = False  # uses the dataset's pinned evaluator network
    # Leaves tensors for the run's files (session.run.artifacts) besides its values: an interrupted
    # evaluation recomputes it instead of reusing its values from metrics.partial.json.
    saves_artifacts: ClassVar[bool] = False

    @classmethod
    def configured(cls, config: Any) -> Any:
        """This metric's own settings (a `Settings` instance) from a suite's [evaluation] config."""
        return cls.Settings.model_validate({key: getattr(config, key) for key in cls.Settings.model_fields})

    @classmethod
    def column_names(cls) -> list[str]:
        return [c.name for c in cls.columns]

    def missing_capability(self, model: "GenerativeModel") -> str | None:
        """Why `model` cannot be scored by this metric, or None if it can."""
        missing = [cap.__name__ for cap in self.requires if not isinstance(model, cap)]
        if missing:
            return f"{type(model).__name__} lacks {', '.join(missing)}"
        return None

    @abstractmethod
    def settings(self, session: "EvaluationSession") -> dict[str, Any]:
        """The settings that determine this metric's numbers (recorded next to them)."""

    @abstractmethod
    def compute(self, model: "GenerativeModel", session: "EvaluationSession") -> dict[str, Any]:
        """Values for every name in `columns`."""
