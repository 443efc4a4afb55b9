"""Models: a family (GAN, VAE) is written once; an architecture module registers models built on it.

A registered model is a name (what a suite's `model = "..."` says), its options class and a
function that builds its networks for an image shape. The family (picked by the options'
base class: `GANOptions` or `VAEOptions`) supplies the update step, the prior, the objective or
likelihood and the sampling; see harness/models/mlp.py for the pattern. Architecture modules
are imported by `validate`, so they import torch inside their build functions only.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.models.options import ImageShape, ModelOptions
from harness.core.registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from harness.models.base import GenerativeModel

NetworkBuilder = Callable[[Any, ImageShape], "dict[str, nn.Module]"]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    options: type[ModelOptions]
    networks: NetworkBuilder
    description: str

    def build(self, options: ModelOptions, image_shape: ImageShape) -> "GenerativeModel":
        """The family's model around freshly initialised networks for `image_shape`."""
        return options.build_model(self.networks(options, tuple(image_shape)), tuple(image_shape))


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, options: type[ModelOptions], description: str) -> Callable[[NetworkBuilder], NetworkBuilder]:
    """Decorator for an architecture's network builder: `model = "<name>"` in a suite then builds it."""

    def register(networks: NetworkBuilder) -> NetworkBuilder:
        MODELS.register(name)(ModelEntry(name, options, networks, description))
        return networks

    return register


def build_model(name: str, options: ModelOptions | dict[str, Any], image_shape: ImageShape) -> "GenerativeModel":
    """A registered model from its options (an options object, or a dict as saved with a run)."""
    entry = MODELS.get(name)
    if isinstance(options, dict):
        options = entry.options(**options)
    return entry.build(options, image_shape)


# Built-in architectures register themselves on import.
from harness.models import conv, mlp  # noqa: E402,F401
