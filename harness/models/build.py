"""A registered model built from its options: the architecture's networks inside its family."""

from typing import TYPE_CHECKING, Any

from harness.models.options import ImageShape, ModelOptions
from harness.models.registry import FAMILIES, MODELS

if TYPE_CHECKING:
    from harness.models.base import GenerativeModel


def build_model(name: str, options: ModelOptions | dict[str, Any], image_shape: ImageShape) -> "GenerativeModel":
    """A registered model from its options (an options object, or a dict as saved with a run),
    around freshly initialised networks for `image_shape`."""
    # The built-in families register themselves on import; they need torch, so they are imported
    # here, when a model is built, not when a suite is validated.
    from harness.models import gan, vae  # noqa: F401

    entry = MODELS.get(name)
    if isinstance(options, dict):
        options = entry.options(**options)
    shape = tuple(image_shape)
    return FAMILIES.get(type(options).family)(options, entry.networks(options, shape), shape)
