"""Deterministic sharding of batches, noise and evaluation work, with no DataLoader and no per-sample work.

Every process draws the same per-epoch permutation and the same *global* noise from
generators seeded by (run seed, epoch), then keeps only its own slice. So N processes
with b images each train on exactly the global batches (and latents) of one process
with N*b images, and an epoch can be replayed from its number alone (resume-friendly).
These are pure functions of (rank, world size); the strategy decides the rank and does the
collective calls.
"""

import torch

from harness.core.seeds import derived_seed


class ShardedBatches:
    """Index slices of a seeded per-epoch permutation, split across processes.

    The incomplete last global batch is dropped so every process takes equal, disjoint shares.
    """

    def __init__(self, num_images: int, global_batch: int, rank: int, world_size: int, seed: int) -> None:
        if global_batch % world_size:
            raise ValueError(f"batch_size {global_batch} is not divisible by {world_size} processes")
        if global_batch > num_images:
            raise ValueError(f"batch_size {global_batch} is larger than the {num_images} training images")
        self.num_images = num_images
        self.global_batch = global_batch
        self.local_batch = global_batch // world_size
        self.rank = rank
        self.seed = seed
        self.steps_per_epoch = num_images // global_batch

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        """This process's image indices for `epoch`, shape (steps_per_epoch, local_batch)."""
        generator = torch.Generator().manual_seed(derived_seed(self.seed, "permutation", epoch))
        permutation = torch.randperm(self.num_images, generator=generator)
        used = permutation[: self.steps_per_epoch * self.global_batch]
        per_step = used.view(self.steps_per_epoch, self.global_batch)
        start = self.rank * self.local_batch
        return per_step[:, start : start + self.local_batch]


class ShardedNoise:
    """Random draws for training steps: the same global draw on every process, sliced per rank.

    Models see only `normal` and `uniform` (the `Noise` protocol of harness.models.base).
    """

    def __init__(self, seed: int, epoch: int, global_batch: int, rank: int, world_size: int, device: torch.device) -> None:
        self.generator = torch.Generator(device="cpu").manual_seed(derived_seed(seed, "noise", epoch))
        self.global_batch = global_batch
        self.local_batch = global_batch // world_size
        self.start = rank * self.local_batch
        self.device = device

    def _slice(self, draw: torch.Tensor) -> torch.Tensor:
        return draw[self.start : self.start + self.local_batch].to(self.device, non_blocking=True)

    def normal(self, *shape: int) -> torch.Tensor:
        return self._slice(torch.randn(self.global_batch, *shape, generator=self.generator))

    def uniform(self, low: float, high: float, *shape: int) -> torch.Tensor:
        draw = torch.rand(self.global_batch, *shape, generator=self.generator)
        return self._slice(draw * (high - low) + low)


def chunk_ranges(num_items: int, chunk_size: int) -> list[tuple[int, int, int]]:
    """(chunk index, start, stop) of fixed-size chunks; chunk i is always the same items."""
    return [(i, start, min(start + chunk_size, num_items)) for i, start in enumerate(range(0, num_items, chunk_size))]
