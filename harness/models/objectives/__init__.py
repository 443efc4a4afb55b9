"""GAN objectives: the losses of the discriminator and generator updates, for any architecture.

A new objective is one module here, named as the objective, that registers a `GANObjective`
subclass under that name; nothing else changes (suites accept `objective = "<module name>"`).
"""

import importlib
import pkgutil
from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from harness.core.registry import Registry


class GANObjective(ABC):
    """Losses from discriminator logits, shape (n,); real and fake come from one forward pass.

    The class attributes are the update schedule the objective's paper trains with; a run's
    `critic_steps` and `gradient_penalty` options override them.
    """

    critic_steps: ClassVar[int] = 1  # discriminator updates per generator update
    gradient_penalty: ClassVar[float] = 0.0  # weight of the gradient penalty (harness/models/gan.py)

    @abstractmethod
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor: ...


OBJECTIVES: Registry[type[GANObjective]] = Registry("GAN objective")

# Every module here is an objective registered under its module name (models/options.py lists the
# names from the files, without importing torch): importing them all registers them.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
