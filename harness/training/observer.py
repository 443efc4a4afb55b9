"""What training tells whoever watches it: the trainer calls these, the terminal display
(harness.presentation.progress) implements them, and the trainer never imports the display."""

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


class TrainingObserver(Protocol):
    def start_run(self, run_id: str, total_steps: int, done: int = 0) -> None:
        """A run starts (or resumes with `done` of its steps already trained)."""

    def update(self, steps_done: int, epoch: int, epochs: int, losses: dict[str, float], images_per_second: float) -> None:
        """Every few steps: how far the run got, its current losses and speed."""

    def epoch_done(self, run_id: str, epoch: int, epochs: int, losses: dict[str, float], images_per_second: float) -> None:
        """An epoch finished: its mean losses and images/s."""

    def sampled(self, run_id: str, epoch: int, images: "torch.Tensor", rows: int) -> None:
        """A progress grid of the fixed latent batch was drawn (`sample_every`): images in [0, 1]."""

    def print(self, *objects: object) -> None:
        """A message for the person watching (e.g. a checkpoint that could not be read)."""
