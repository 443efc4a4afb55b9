"""What a GAN objective is (losses from discriminator logits) and the registry objectives join.

Torch-free at import, so that validating a suite (`objective = "..."`) looks the name up here
without loading torch: objective modules import torch inside their methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from harness.core.registry import Registry

if TYPE_CHECKING:
    import torch


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
