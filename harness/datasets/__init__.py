"""Dataset registry: a name maps to a DatasetSpec; `load_dataset` returns verified tensors.

A new dataset is one new module that registers a DatasetSpec (see mnist.py).
"""

from dataclasses import dataclass, field
from pathlib import Path

import torch

from harness.datasets.fetch import RemoteFile, data_root, locate
from harness.datasets.idx import read_idx
from harness.errors import DataError
from harness.registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    image_shape: tuple[int, int, int]  # (channels, height, width)
    num_classes: int
    split_sizes: dict[str, int]
    files: dict[str, RemoteFile]  # keys: "<split>-images", "<split>-labels"
    mirrors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Dataset:
    """A whole dataset held in memory as uint8 images (N, C, H, W) and int64 labels (N,)."""

    spec: DatasetSpec
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def load_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = True) -> Dataset:
    """The registered dataset `name`, from <data root>/<name>/ (downloaded there if missing)."""
    spec = DATASETS.get(name)
    return read_dataset(spec, data_root(data_dir) / spec.name, download=download)


def read_dataset(spec: DatasetSpec, folder: Path, *, download: bool = True) -> Dataset:
    """Verify (or fetch) every file of `spec` in `folder` and read it into tensors."""
    tensors: dict[str, torch.Tensor] = {}
    for key, remote in spec.files.items():
        split, kind = key.split("-")
        count = spec.split_sizes[split]
        shape = (count, *spec.image_shape[1:]) if kind == "images" else (count,)
        try:
            path = locate(folder, remote, spec.mirrors, download=download)
        except DataError as err:
            expected = ", ".join(f.name for f in spec.files.values())
            raise DataError(
                f"{err}\n{spec.name} needs these files in {folder}/: {expected} "
                "(gzipped or not). Get them from the dataset's publisher or a machine with "
                "network access, or pass --data-dir DIR / set HARNESS_DATA_DIR to a folder "
                f"holding {spec.name}/<file>"
            ) from None
        tensors[key] = read_idx(path, shape)
    channels = spec.image_shape[0]
    return Dataset(
        spec=spec,
        train_images=tensors["train-images"].reshape(-1, channels, *spec.image_shape[1:]),
        train_labels=tensors["train-labels"].long(),
        test_images=tensors["test-images"].reshape(-1, channels, *spec.image_shape[1:]),
        test_labels=tensors["test-labels"].long(),
    )


# Register the built-in datasets (import for side effect).
from harness.datasets import mnist  # noqa: E402,F401
