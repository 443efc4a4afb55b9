"""Dataset registry: a name maps to a DatasetSpec (shape, classes, reader, pinned evaluator);
`load_dataset` returns verified tensors.

A new dataset is one new module that registers a DatasetSpec with a reader for its files
(the built-in ones read IDX files). Nothing else in the harness knows a dataset's name or shape:
models, the evaluator and the charts are built from `image_shape` and `num_classes`.
"""

from harness.datasets.base import DATASETS, Dataset, DatasetSpec, PinnedEvaluator, Reader, load_dataset, read_dataset

# Register the built-in datasets (import for side effect).
from harness.datasets import cifar, mnist  # noqa: E402,F401,I001

__all__ = ["DATASETS", "Dataset", "DatasetSpec", "PinnedEvaluator", "Reader", "load_dataset", "read_dataset"]
