"""Feature spaces FID, KID, precision/recall and their kin are computed in: `[evaluation] features`.

"evaluator" (the default) is the dataset's pinned evaluators: the classifier's space (columns
fid, kid, ...) and the autoencoder's (fid_ae, ...). Any other registered name is one space of its
own, whose numbers take the main columns: "inception" (Inception-v3 pool features from local
weights, the space of published FIDs), or a user's network registered from a plugin:

    FEATURES.register("dino")(FeatureSpace(
        "DINO ViT-S/16 CLS features", build=lambda session: MyDino(), identity=lambda session: {"dino": "v1"}))

`build(session)` returns a torch module mapping images in [0, 1], (n, C, H, W), to (n, d)
features; `identity(session)` what identifies it (weights, hash), recorded in every metric row,
metrics.json and the floor's record. Torch is imported inside the builders: this module is read by `validate`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.core.registry import Registry

PINNED = "evaluator"  # the dataset's pinned evaluators (classifier and autoencoder spaces)


@dataclass(frozen=True)
class FeatureSpace:
    description: str
    build: Callable[[Any], Any] | None = None  # session -> nn.Module; None for the pinned evaluators
    identity: Callable[[Any], dict[str, Any]] = field(default=lambda session: {})


FEATURES: Registry[FeatureSpace] = Registry("feature space")
FEATURES.register(PINNED)(FeatureSpace("the dataset's pinned evaluators: classifier (fid, kid, ...) and autoencoder "
                                       "(fid_ae, ...) spaces"))


def _inception(session: Any) -> Any:
    from harness.metrics.inception import InceptionFeatures

    return InceptionFeatures(session.config.inception_weights)


FEATURES.register("inception")(FeatureSpace(
    "Inception-v3 pool features (2048-d) from local weights (inception_weights): the space of published FIDs",
    build=_inception, identity=lambda session: {"inception_weights": session.config.inception_weights}))
