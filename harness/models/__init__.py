"""Models: a family (GAN, VAE) is written once; an architecture module registers models built on it.

See harness/models/registry.py for what a registered model is and harness/models/mlp.py for the
pattern. Architecture modules are imported by `validate`, so they import torch inside their
build functions only.
"""

from harness.models.build import build_model
from harness.models.registry import FAMILIES, MODELS, ModelEntry, register_model

# Built-in architectures register themselves on import.
from harness.models import conv, mlp  # noqa: E402,F401,I001

__all__ = ["FAMILIES", "MODELS", "ModelEntry", "build_model", "register_model"]
