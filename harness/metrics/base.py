"""What a metric is: a name, the capabilities it needs, the columns it fills (with their meaning),
and `compute`.

A metric asks for capabilities (`Decodes`, `Encodes`, `BoundsLikelihood`), never for a model
class; a model without them gets `n/a` in every column of that metric, with the reason.
A metric that only looks at samples (`sample_based = True`) also scores the real-data floor:
the evaluation puts training images where a model's samples would be.
"""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from harness.core.columns import NOT_APPLICABLE, Column  # noqa: F401  (re-exported for metric modules)

if TYPE_CHECKING:
    from harness.evaluation.session import EvaluationSession
    from harness.models.base import GenerativeModel


class Metric(ABC):
    name: ClassVar[str]
    requires: ClassVar[tuple[type, ...]] = ()
    columns: ClassVar[tuple[Column, ...]]
    sample_based: ClassVar[bool] = False  # reads only session.samples/sample_features/sample_logits
    needs_evaluator: ClassVar[bool] = False  # uses the dataset's pinned evaluator network
    # Leaves tensors for the run's files (session.run.artifacts) besides its values: an interrupted
    # evaluation recomputes it instead of reusing its values from metrics.partial.json.
    saves_artifacts: ClassVar[bool] = False

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
