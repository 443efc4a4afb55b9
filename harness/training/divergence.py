"""The divergence guard: a run stops, with where and what was last finite, when its losses or
weights stop being numbers or its losses explode."""

import math

import torch

from harness.models.base import GenerativeModel


class Diverged(Exception):
    """A loss or a weight stopped being a number, or a loss exploded; says where and what was last finite."""

    def __init__(self, why: str, epoch: int, step: int, last_finite: dict[str, float] | None) -> None:
        self.epoch, self.step, self.last_finite = epoch + 1, step + 1, last_finite
        super().__init__(f"{why} at epoch {epoch + 1}, step {step + 1}"
                         + (f"; last finite losses {_loss_text(last_finite)}" if last_finite else ""))


class DivergenceGuard:
    """Stops a run whose losses or weights are no longer numbers, or whose losses exploded.

    A loss explodes when its magnitude exceeds `factor` times its magnitude at the run's first
    step (at least 1, so a loss that starts near 0 may still grow to `factor`). The first step
    is measured before any update, so even a learning rate that blows up within a few steps
    is caught. The scale is saved in checkpoints, so a resumed run judges by the same bound.
    """

    def __init__(self, factor: float | None, scale: dict[str, float] | None) -> None:
        self.factor = factor
        self.scale = scale
        self.last_finite: dict[str, float] | None = None

    def calibrate(self, losses: dict[str, float]) -> None:
        self.check(losses, 0, 0)
        self.scale = {name: max(abs(value), 1.0) for name, value in losses.items()}

    def check(self, losses: dict[str, float], epoch: int, step: int) -> None:
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if bad:
            raise Diverged(f"loss became non-finite ({_loss_text(bad)})", epoch, step, self.last_finite)
        if self.factor is not None and self.scale is not None:
            exploded = {k: v for k, v in losses.items() if abs(v) > self.factor * self.scale.get(k, 1.0)}
            if exploded:
                bound = ", ".join(f"{k} bound {self.factor * self.scale.get(k, 1.0):.4g}" for k in exploded)
                raise Diverged(f"loss exploded ({_loss_text(exploded)}; {bound}: divergence_factor "
                               f"{self.factor:g} x its first-step magnitude)", epoch, step, self.last_finite)
        self.last_finite = dict(losses)

    def check_weights(self, model: GenerativeModel, epoch: int, step: int) -> None:
        for name in model.networks:
            if not all(bool(torch.isfinite(p).all()) for p in model.net(name).parameters()):
                raise Diverged(f"weights of the {name} became non-finite", epoch, step, self.last_finite)


def _loss_text(losses: dict[str, float] | None) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in (losses or {}).items())
