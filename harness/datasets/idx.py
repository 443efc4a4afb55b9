"""Reader for the IDX format used by MNIST-style datasets (gzipped or raw).

Hand-written because the format is 20 lines of struct parsing and the only library
that reads it (torchvision) cannot be installed next to this torch; see DEVELOPERS.md.
numpy and torch are imported when a file is read: dataset modules are imported by `validate`.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.datasets.fetch import RemoteFile, locate
from harness.core.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(frozen=True)
class IDXFiles:
    """A dataset stored as four IDX files ("<split>-images", "<split>-labels"), fetched from mirrors."""

    files: dict[str, RemoteFile]
    mirrors: list[str] = field(default_factory=list)

    def read(self, spec, folder: Path, download: bool) -> "dict[str, tuple[torch.Tensor, torch.Tensor]]":
        tensors = {}
        for key, remote in self.files.items():
            split, kind = key.split("-")
            count = spec.split_sizes[split]
            shape = (count, *spec.image_shape[1:]) if kind == "images" else (count,)
            try:
                path = locate(folder, remote, self.mirrors, download=download)
            except DataError as err:
                expected = ", ".join(f.name for f in self.files.values())
                raise DataError(
                    f"{err}\n{spec.name} needs these files in {folder}/: {expected} "
                    "(gzipped or not). Get them from the dataset's publisher or a machine with "
                    "network access, or pass --data-dir DIR / set HARNESS_DATA_DIR to a folder "
                    f"holding {spec.name}/<file>"
                ) from None
            tensors[key] = read_idx(path, shape)
        return {split: (tensors[f"{split}-images"].reshape(-1, *spec.image_shape), tensors[f"{split}-labels"])
                for split in ("train", "test")}

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
    expected_bytes = 1
    for size in shape:
        expected_bytes *= size
    body = raw[header_end:]
    if len(body) != expected_bytes:
        raise DataError(
            f"{path}: holds {len(body)} data bytes, expected {expected_bytes} for shape {shape}; "
            "the file is truncated or padded: delete it and fetch it again"
        )
    import numpy as np
    import torch

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


def write_idx(path: Path, array: "np.ndarray", compress: bool = False) -> None:
    """Write a uint8 array as IDX (used by tests and tools that make small datasets)."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, _UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
