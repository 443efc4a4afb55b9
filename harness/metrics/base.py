"""What a metric is: a name, the capabilities it needs, the columns it fills, and `compute`.

A metric asks for capabilities (`Decodes`, `Encodes`, `BoundsLikelihood`), never for a model
class; a model without them gets `n/a` in every column of that metric, with the reason.
"""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from harness.columns import NOT_APPLICABLE  # noqa: F401  (re-exported for metric modules)
from harness.models.base import GenerativeModel

if TYPE_CHECKING:
    from harness.evaluation.session import EvaluationSession


class Metric(ABC):
    name: ClassVar[str]
    requires: ClassVar[tuple[type, ...]] = ()
    columns: ClassVar[tuple[str, ...]]

    def missing_capability(self, model: GenerativeModel) -> str | None:
        """Why `model` cannot be scored by this metric, or None if it can."""
        missing = [cap.__name__ for cap in self.requires if not isinstance(model, cap)]
        if missing:
            return f"{type(model).__name__} lacks {', '.join(missing)}"
        return None

    @abstractmethod
    def settings(self, session: "EvaluationSession") -> dict[str, Any]:
        """The settings that determine this metric's numbers (recorded next to them)."""

    @abstractmethod
    def compute(self, model: GenerativeModel, session: "EvaluationSession") -> dict[str, float]:
        """Values for every name in `columns`."""
