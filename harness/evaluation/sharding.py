"""Split evaluation work across processes in fixed chunks, and gather the results in order.

Chunk i is always computed the same way (its own seeded generator), whichever process runs
it, so a 2-process evaluation produces exactly the numbers of a 1-process one.
"""

from collections.abc import Callable

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object


def map_chunks(
    num_items: int, chunk_size: int, compute: Callable[[int, int, int], torch.Tensor], accelerator: Accelerator
) -> torch.Tensor:
    """Concatenate compute(chunk_index, start, stop) over all chunks, each process doing every N-th chunk."""
    chunks = [(i, start, min(start + chunk_size, num_items)) for i, start in enumerate(range(0, num_items, chunk_size))]
    mine = chunks[accelerator.process_index :: accelerator.num_processes]
    results = [(i, compute(i, start, stop).cpu()) for i, start, stop in mine]
    if accelerator.num_processes > 1:
        results = gather_object(results)
    return torch.cat([tensor for _, tensor in sorted(results, key=lambda item: item[0])])
