"""Reader for the IDX format used by MNIST-style datasets (gzipped or raw).

Hand-written because the format is 20 lines of struct parsing and the only library
that reads it (torchvision) cannot be installed next to this torch; see DEVELOPERS.md.
"""

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from harness.errors import DataError

# The third byte of the magic number names the element type; MNIST-style files use uint8.
_UBYTE = 0x08


def read_idx(path: Path, expected_shape: tuple[int, ...]) -> torch.Tensor:
    """Read an IDX file into a uint8 tensor and check it has exactly `expected_shape`."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: file is truncated ({len(raw)} bytes); delete it and fetch it again")
    zero1, zero2, dtype_code, ndim = struct.unpack(">BBBB", raw[:4])
    if zero1 != 0 or zero2 != 0 or dtype_code != _UBYTE or ndim != len(expected_shape):
        raise DataError(
            f"{path}: not an IDX file of {len(expected_shape)}-d unsigned bytes "
            f"(magic {raw[:4].hex()}); delete it and fetch the original file again"
        )
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise DataError(f"{path}: header is truncated; delete it and fetch it again")
    shape = struct.unpack(f">{ndim}I", raw[4:header_end])
    if tuple(shape) != tuple(expected_shape):
        raise DataError(f"{path}: header says shape {tuple(shape)}, expected {tuple(expected_shape)}")
    expected_bytes = int(np.prod(shape))
    body = raw[header_end:]
    if len(body) != expected_bytes:
        raise DataError(
            f"{path}: holds {len(body)} data bytes, expected {expected_bytes} for shape {shape}; "
            "the file is truncated or padded: delete it and fetch it again"
        )
    array = np.frombuffer(body, dtype=np.uint8).reshape(shape)
    return torch.from_numpy(array.copy())


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":  # not gzip: raw IDX
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: gzip data is corrupt ({err}); delete it and fetch it again") from None


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write a uint8 array as IDX (used by tests and tools that make small datasets)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, _UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
