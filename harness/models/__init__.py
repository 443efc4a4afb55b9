"""Model registry: a new family is one new module that registers a GenerativeModel subclass."""

from harness.registry import Registry

MODELS: Registry[type] = Registry("model")

# Built-in families register themselves on import.
from harness.models import mlp_gan, mlp_vae  # noqa: E402,F401
