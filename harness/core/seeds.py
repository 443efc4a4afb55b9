"""Seeds derived from a run seed and labels, so every random draw has a name and can be replayed;
and the seeded data subsets every comparison with data uses (never "the first N": MNIST's test
set is ordered by writer group)."""

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

REFERENCE_SEED = 20260101  # fixed: the permutations that pick the data subsets (recorded with every number)


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed derived from a run seed and labels, stable across Python runs."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & ((1 << 63) - 1)


def subset_indices(total: int, size: int, split: str) -> "torch.Tensor":
    """The first `size` indices of the split's seeded permutation (all of them, in order, when size == total)."""
    import torch

    if size >= total:
        return torch.arange(total)
    generator = torch.Generator().manual_seed(derived_seed(REFERENCE_SEED, split))
    return torch.randperm(total, generator=generator)[:size]


def subset_record(total: int, size: int, split: str) -> dict[str, Any]:
    """How a subset was chosen, for the settings recorded next to a number."""
    if size >= total:
        return {"split": split, "images": f"all {total}"}
    return {"split": split, "images": size, "of": total, "chosen": "seeded random subset", "seed": REFERENCE_SEED}
