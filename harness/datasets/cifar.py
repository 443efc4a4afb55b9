"""CIFAR-10 (Krizhevsky 2009): 32x32 colour images, 50,000 train + 10,000 test, 10 classes,
read from the official "python version" archive without unpacking it.

The archive holds six pickled batches (cifar-10-batches-py/data_batch_1..5, test_batch), each a
dict with b"data" (10,000 x 3,072 uint8: the red, green and blue 32x32 planes of each image)
and b"labels". The archive's MD5 is checked before anything in it is read, and the batches are
unpickled with an allow-list (numpy arrays and plain containers only), so a corrupt or
substituted file is refused rather than executed. Hand-written because torchvision, which
reads this format, cannot be installed next to this torch (DEVELOPERS.md).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.datasets.base import DATASETS, DatasetSpec
from harness.datasets.fetch import RemoteFile, locate
from harness.core.errors import DataError

if TYPE_CHECKING:
    import torch

BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
MEMBER_FOLDER = "cifar-10-batches-py"


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a batch's dict of numpy arrays, lists and bytes; refuses every other class."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "list"), ("builtins", "dict"),
               ("_codecs", "encode")}  # how a Python 3 pickle (protocol 2) spells an array's bytes

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a CIFAR batch")
        return super().find_class(module, name)


@dataclass(frozen=True)
class CIFARArchive:
    """A dataset stored as the CIFAR "python version" tar.gz archive, fetched from mirrors."""

    archive: RemoteFile
    mirrors: list[str] = field(default_factory=list)

    def read(self, spec: DatasetSpec, folder: Path, download: bool) -> "dict[str, tuple[torch.Tensor, torch.Tensor]]":
        import numpy as np
        import torch

        path = locate(folder, self.archive, self.mirrors, download=download)  # checksum verified
        try:
            with tarfile.open(path, "r:gz") as tar:
                splits = {}
                for split, names in BATCHES.items():
                    batches = [self._batch(tar, name, path) for name in names]
                    images = np.concatenate([b[0] for b in batches]).reshape(-1, *spec.image_shape)
                    labels = np.concatenate([b[1] for b in batches])
                    splits[split] = (torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(f"{path}: not a readable CIFAR archive ({err}); delete it and run again to "
                            "re-download it") from None
        return splits

    @staticmethod
    def _batch(tar: tarfile.TarFile, name: str, path: Path) -> tuple[Any, Any]:
        import numpy as np

        member = f"{MEMBER_FOLDER}/{name}"
        try:
            raw = tar.extractfile(member)
        except KeyError:
            raw = None
        if raw is None:
            raise DataError(f"{path}: has no {member}; it is not the CIFAR-10 python archive")
        try:
            batch = _BatchUnpickler(io.BytesIO(raw.read()), encoding="bytes").load()
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[b"labels"])
        except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as err:
            raise DataError(f"{path}: {member} is not a CIFAR batch ({err})") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
            raise DataError(f"{path}: {member} holds {data.shape} images and {labels.shape} labels, "
                            "expected (n, 3072) and (n,)")
        return data, labels


DATASETS.register("cifar10")(
    DatasetSpec(
        name="cifar10",
        description="colour photographs of 10 object classes (Krizhevsky 2009)",
        image_shape=(3, 32, 32),
        num_classes=10,
        split_sizes={"train": 50_000, "test": 10_000},
        reader=CIFARArchive(
            archive=RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", None),
            mirrors=["https://www.cs.toronto.edu/~kriz/"],
        ),
        # No pinned evaluators yet: the data is not available where this harness was built, and an
        # evaluator is pinned only with its measured test score. Train and pin them with
        #   python -m harness evaluator train --dataset cifar10 --output harness/assets/evaluator-cifar10-v1.safetensors
        #   python -m harness evaluator train --dataset cifar10 --kind autoencoder \
        #       --output harness/assets/autoencoder-cifar10-v1.safetensors
        # or score with [evaluation] features = "inception" (the published CIFAR-10 FIDs' space).
    )
)
