"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is two files, written by the results store into a staging folder and swapped in
complete (RunFolder.write_checkpoint):

    state.pt        tensors: every network's weights, every optimizer's state, the grad scaler,
                    the RNG states and, mid-epoch, the epoch's loss sums and noise generator.
                    Saved with torch.save and loaded with `weights_only=True`: tensors and plain
                    containers only, so a checkpoint can never execute code when it is read.
    position.json   where training stands (`Position`): epoch, step within it, the history rows
                    of complete epochs, the training seconds so far, the divergence guard's scale.

Batches and noise are functions of (seed, epoch) (harness/execution/sharding.py), so with the weights,
the optimizers and the position restored the rest of the run draws exactly what an
uninterrupted run would have drawn, and ends with bit-identical weights (fp32, same machine).
"""

import random
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from harness.models.base import GenerativeModel
    from harness.execution.strategy import Strategy


@dataclass
class Position:
    """Where a run's training stands; `step` > 0 means in the middle of `epoch` (0-based)."""

    config_hash: str
    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per complete epoch
    train_seconds: float = 0.0  # training time of the complete epochs
    epoch_seconds: float = 0.0  # training time spent in `epoch` so far
    loss_scale: dict[str, float] | None = None  # the divergence guard's reference magnitudes
    forward_dtypes: dict[str, str] | None = None

    def global_step(self, steps_per_epoch: int) -> int:
        return self.epoch * steps_per_epoch + self.step

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Position":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class EpochState:
    """The part of an epoch in progress that is not in the weights: what a mid-epoch stop saves."""

    loss_sums: dict[str, torch.Tensor]
    noise_state: torch.Tensor  # the epoch's noise generator (torch.Generator.get_state())


def capture(model: "GenerativeModel", strategy: "Strategy", epoch_state: EpochState | None) -> dict[str, Any]:
    """The tensors of a checkpoint (see the module docstring)."""
    state: dict[str, Any] = {
        "networks": {name: model.net(name).state_dict() for name in model.networks},
        "optimizers": {name: optimizer.state_dict() for name, optimizer in model.optimizers.items()},
        "grad_scaler": strategy.grad_scaler_state(),
        "rng": _rng_states(),
    }
    if epoch_state is not None:
        state["epoch"] = {"loss_sums": {k: v.detach().cpu() for k, v in epoch_state.loss_sums.items()},
                          "noise_state": epoch_state.noise_state}
    return state


def restore(model: "GenerativeModel", strategy: "Strategy", state: dict[str, Any]) -> EpochState | None:
    """Load `capture`'s tensors into a freshly built and prepared model; the epoch in progress, if any."""
    for name in model.networks:
        model.net(name).load_state_dict(state["networks"][name])
    for name, optimizer in model.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    strategy.load_grad_scaler_state(state.get("grad_scaler"))
    _set_rng_states(state["rng"])
    epoch = state.get("epoch")
    if epoch is None:
        return None
    device = strategy.device
    return EpochState({k: v.to(device) for k, v in epoch["loss_sums"].items()}, epoch["noise_state"])


def _rng_states() -> dict[str, Any]:
    # numpy's state is a tuple holding an array: stored as a tensor so `weights_only` loads it.
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
    }


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    random.setstate(_as_tuples(states["python"]))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


def _as_tuples(value: Any) -> Any:
    """random.setstate wants the nested tuples it gave; a save/load may hand back lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
