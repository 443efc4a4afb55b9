"""The model registries: architectures (`model = "..."` in a suite) and the families that turn an
architecture's networks into a trainable model.

A registered model is a name, its options class and a function that builds its networks for an
image shape. The family (named by the options class: `GANOptions.family == "gan"`) supplies the
update step, the prior, the objective or likelihood and the sampling. Torch-free: suites
validate against these registries without loading torch.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.core.registry import Registry
from harness.models.options import ImageShape, ModelOptions

if TYPE_CHECKING:
    from torch import nn

    from harness.models.base import GenerativeModel

NetworkBuilder = Callable[[Any, ImageShape], "dict[str, nn.Module]"]
# options, networks, image shape -> the family's model around those networks
FamilyBuilder = Callable[[Any, "dict[str, nn.Module]", ImageShape], "GenerativeModel"]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    options: type[ModelOptions]
    networks: NetworkBuilder
    description: str


MODELS: Registry[ModelEntry] = Registry("model")
FAMILIES: Registry[FamilyBuilder] = Registry("model family")


def register_model(name: str, options: type[ModelOptions], description: str) -> Callable[[NetworkBuilder], NetworkBuilder]:
    """Decorator for an architecture's network builder: `model = "<name>"` in a suite then builds it."""

    def register(networks: NetworkBuilder) -> NetworkBuilder:
        MODELS.register(name)(ModelEntry(name, options, networks, description))
        return networks

    return register
