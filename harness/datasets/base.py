"""What a dataset is (DatasetSpec, its reader and pinned evaluators), the registry, and reading one
with its splits checked against the spec."""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.datasets.fetch import existing_data_root
from harness.core.errors import DataError
from harness.core.registry import Registry

if TYPE_CHECKING:
    import torch

SPLITS = ("train", "test")


class Reader(Protocol):
    """Reads (or fetches) a dataset's files from its folder."""

    def read(self, spec: "DatasetSpec", folder: Path, download: bool) -> "dict[str, tuple[torch.Tensor, torch.Tensor]]":
        """{split: (uint8 images (n, C, H, W), integer labels (n,))} for "train" and "test";
        raises DataError saying which file is wrong and how to get the right one."""
        ...


@dataclass(frozen=True)
class PinnedEvaluator:
    """A committed evaluator network for a dataset: its weights file, sha256 and measured test score
    (accuracy for a classifier, reconstruction MSE for an autoencoder).

    `file` is a name in harness/assets/ or an absolute path (for datasets registered outside the package).
    """

    file: str
    sha256: str
    test_score: float

    @property
    def name(self) -> str:
        return Path(self.file).name.removesuffix(".safetensors")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    image_shape: tuple[int, int, int]  # (channels, height, width)
    num_classes: int
    split_sizes: dict[str, int]
    reader: Reader
    evaluator: PinnedEvaluator | None = None  # the classifier: features, classes; None: those metrics cannot run
    autoencoder: PinnedEvaluator | None = None  # the second feature space (harness/evaluation/evaluator.py)

    @property
    def evaluators(self) -> dict[str, PinnedEvaluator]:
        """The pinned evaluators by kind (the feature spaces this dataset can be scored in)."""
        pinned = {"classifier": self.evaluator, "autoencoder": self.autoencoder}
        return {kind: evaluator for kind, evaluator in pinned.items() if evaluator is not None}

    def train_evaluator_command(self, kind: str = "classifier") -> str:
        return f"python -m harness evaluator train --dataset {self.name}" + ("" if kind == "classifier" else
                                                                             f" --kind {kind}")

    def missing_evaluator(self, kind: str = "classifier") -> str | None:
        """Why the feature-space metrics cannot run here and how to fix it; None when `kind` is pinned."""
        if kind in self.evaluators:
            return None
        return (f"dataset {self.name!r} has no pinned {kind} evaluator, which the feature-space metrics need; "
                f"train one with `{self.train_evaluator_command(kind)}` and pin it in its DatasetSpec, score with "
                "[evaluation] features = \"inception\", or leave those metrics out of [evaluation] metrics")


@dataclass(frozen=True)
class Dataset:
    """A whole dataset held in memory as uint8 images (N, C, H, W) and int64 labels (N,)."""

    spec: DatasetSpec
    train_images: "torch.Tensor"
    train_labels: "torch.Tensor"
    test_images: "torch.Tensor"
    test_labels: "torch.Tensor"
    folder: Path | None = None  # where the files were read from (recorded in each run, so later commands find them)


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def load_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = True) -> Dataset:
    """The registered dataset `name`, from <data root>/<name>/ (downloaded there if missing)."""
    spec = DATASETS.get(name)
    return read_dataset(spec, existing_data_root(data_dir) / spec.name, download=download)


def read_dataset(spec: DatasetSpec, folder: Path, *, download: bool = True) -> Dataset:
    """Read `spec`'s splits with its reader and check they are what the spec declares."""
    import torch

    splits = spec.reader.read(spec, folder, download)
    for split in SPLITS:
        images, labels = splits[split]
        expected = (spec.split_sizes[split], *spec.image_shape)
        if tuple(images.shape) != expected or images.dtype != torch.uint8:
            raise DataError(f"{folder}: the {split} images are {tuple(images.shape)} {images.dtype}, "
                            f"expected {expected} uint8 for {spec.name}")
        if labels.shape != (expected[0],) or (len(labels) and (labels.min() < 0 or labels.max() >= spec.num_classes)):
            raise DataError(f"{folder}: the {split} labels are not {expected[0]} class numbers in "
                            f"[0, {spec.num_classes}) for {spec.name}")
    return Dataset(spec=spec, train_images=splits["train"][0], train_labels=splits["train"][1].long(),
                   test_images=splits["test"][0], test_labels=splits["test"][1].long(), folder=folder.resolve())
