"""Seeds derived from a run seed and labels, so every random draw has a name and can be replayed."""

import hashlib


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed derived from a run seed and labels, stable across Python runs."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & ((1 << 63) - 1)
