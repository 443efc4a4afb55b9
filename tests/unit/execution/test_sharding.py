"""Sharded batches and noise: N processes with b images reproduce one process with N*b."""

import torch

from harness.execution.sharding import ShardedBatches, ShardedNoise


def test_shards_are_disjoint_and_union_is_the_global_batch():
    single = ShardedBatches(1000, 64, rank=0, world_size=1, seed=3).epoch_indices(epoch=2)
    shards = [ShardedBatches(1000, 64, rank=r, world_size=4, seed=3).epoch_indices(epoch=2) for r in range(4)]
    assert single.shape == (1000 // 64, 64)
    assert all(s.shape == (1000 // 64, 16) for s in shards)
    assert torch.equal(torch.cat(shards, dim=1), single)  # same global batches, in order
    flat = torch.cat([s.flatten() for s in shards])
    assert flat.unique().numel() == flat.numel()  # disjoint


def test_epochs_differ_and_are_reproducible():
    batches = ShardedBatches(500, 50, rank=0, world_size=1, seed=0)
    assert torch.equal(batches.epoch_indices(1), batches.epoch_indices(1))
    assert not torch.equal(batches.epoch_indices(0), batches.epoch_indices(1))
    other_seed = ShardedBatches(500, 50, rank=0, world_size=1, seed=1)
    assert not torch.equal(batches.epoch_indices(0), other_seed.epoch_indices(0))


def test_noise_slices_the_same_global_draw():
    cpu = torch.device("cpu")
    whole = ShardedNoise(7, 0, 8, rank=0, world_size=1, device=cpu)
    halves = [ShardedNoise(7, 0, 8, rank=r, world_size=2, device=cpu) for r in range(2)]
    for _ in range(3):  # successive draws stay aligned
        z = whole.uniform(-1, 1, 5)
        assert torch.equal(torch.cat([h.uniform(-1, 1, 5) for h in halves]), z)
        assert z.min() >= -1 and z.max() <= 1
        assert torch.equal(torch.cat([h.normal(3) for h in halves]), whole.normal(3))


def test_indivisible_batch_is_refused():
    import pytest

    with pytest.raises(ValueError, match="not divisible by 3 processes"):
        ShardedBatches(100, 64, rank=0, world_size=3, seed=0)
