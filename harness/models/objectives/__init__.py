"""GAN objectives: the losses of the discriminator and generator updates, for any architecture.

A new objective is one module that registers a `GANObjective` subclass in `OBJECTIVES`
(harness/models/objectives/base.py); a built-in one lives here and is imported below, a user's
from their own file. Suites accept `objective = "<name>"` for every registered name.
"""

import importlib
import pkgutil

from harness.models.objectives.base import OBJECTIVES, GANObjective

# Every module here but base is a built-in objective: importing them registers them.
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["OBJECTIVES", "GANObjective"]
