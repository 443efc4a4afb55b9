"""CIFAR-10 from its official archive format: a small archive written here in that format
(pickled batches of 3,072-byte rows in a tar.gz), read back pixel for pixel, checksum and
content checks, a download from a mirror, and convolutional models trained on it end to end."""

import dataclasses
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.datasets import DATASETS, DatasetSpec, read_dataset
from harness.datasets.cifar import BATCHES, CIFARArchive
from harness.datasets.fetch import RemoteFile
from harness.core.errors import DataError, HarnessError
from tests.unit.datasets.test_datasets import _Server

ARCHIVE = "cifar-10-python.tar.gz"
PER_BATCH = 4  # images per batch file: 20 train, 4 test


def pixel(index: int, channel: int, row: int, column: int) -> int:
    """A value that tells image, channel, row and column apart (mod 256)."""
    return (index * 7 + channel * 85 + row * 3 + column) % 256


def write_archive(folder: Path, batches: dict[str, object] | None = None) -> DatasetSpec:
    """A CIFAR-10 "python version" archive with PER_BATCH images per batch; the spec with its md5."""
    folder.mkdir(parents=True, exist_ok=True)
    index = 0
    contents = {}
    for name in [*BATCHES["train"], *BATCHES["test"]]:
        images = np.array([[[[pixel(index + i, c, r, k) for k in range(32)] for r in range(32)] for c in range(3)]
                           for i in range(PER_BATCH)], dtype=np.uint8)
        # The official rows: 1,024 red, then green, then blue values, each plane row by row.
        contents[name] = {b"batch_label": b"test", b"labels": [(index + i) % 10 for i in range(PER_BATCH)],
                          b"data": images.reshape(PER_BATCH, 3072), b"filenames": [b"x.png"] * PER_BATCH}
        index += PER_BATCH
    contents.update(batches or {})
    with tarfile.open(folder / ARCHIVE, "w:gz") as tar:
        for name, batch in contents.items():
            data = batch if isinstance(batch, bytes) else pickle.dumps(batch, protocol=2)
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    md5 = hashlib.md5((folder / ARCHIVE).read_bytes()).hexdigest()
    return dataclasses.replace(DATASETS.get("cifar10"), split_sizes={"train": 5 * PER_BATCH, "test": PER_BATCH},
                               reader=CIFARArchive(RemoteFile(ARCHIVE, md5, None)))


def test_the_archive_is_read_pixel_for_pixel(tmp_path):
    spec = write_archive(tmp_path / "cifar10")
    data = read_dataset(spec, tmp_path / "cifar10", download=False)
    assert data.train_images.shape == (20, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (4, 3, 32, 32)
    for images, offset in ((data.train_images, 0), (data.test_images, 20)):
        for i, c, r, k in ((0, 0, 0, 0), (3, 2, 31, 5), (len(images) - 1, 1, 7, 30)):
            assert images[i, c, r, k].item() == pixel(offset + i, c, r, k), (i, c, r, k)
    assert data.train_labels.tolist() == [i % 10 for i in range(20)]
    assert data.test_labels.tolist() == [(20 + i) % 10 for i in range(4)]


def test_the_registered_dataset_is_the_official_archive():
    spec = DATASETS.get("cifar10")
    assert spec.image_shape == (3, 32, 32) and spec.split_sizes == {"train": 50_000, "test": 10_000}
    assert spec.reader.archive == RemoteFile(ARCHIVE, "c58f30108f718f92721af3b95e74349a", None)
    assert spec.evaluators == {}  # none pinned: the metrics that need one say how to train it


def test_a_changed_archive_is_refused_before_it_is_read(tmp_path):
    spec = write_archive(tmp_path / "cifar10")
    path = tmp_path / "cifar10" / ARCHIVE
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DataError, match=f"{path}: checksum mismatch.*delete it and run again"):
        read_dataset(spec, tmp_path / "cifar10", download=False)


@pytest.mark.parametrize("batch, message", [
    (b"cos\nsystem\n(S'echo unsafe'\ntR.", "os.system is not part of a CIFAR batch"),
    ({b"labels": [0]}, "data_batch_1 is not a CIFAR batch"),
    ({b"data": np.zeros((4, 100), dtype=np.uint8), b"labels": [0] * 4}, "expected (n, 3072) and (n,)"),
])
def test_a_batch_that_is_not_cifar_is_refused_with_its_name(tmp_path, batch, message):
    """Even with a matching checksum (a substituted archive), nothing but arrays is unpickled."""
    spec = write_archive(tmp_path / "cifar10", {"data_batch_1": batch})
    with pytest.raises(DataError) as info:
        read_dataset(spec, tmp_path / "cifar10", download=False)
    assert message in str(info.value) and str(tmp_path / "cifar10" / ARCHIVE) in str(info.value)


def test_a_missing_archive_is_downloaded_from_a_mirror_and_verified(tmp_path):
    spec = write_archive(tmp_path / "mirror")
    server = _Server(tmp_path / "mirror")
    try:
        spec = dataclasses.replace(spec, reader=dataclasses.replace(spec.reader, mirrors=[server.url]))
        data = read_dataset(spec, tmp_path / "cache" / "cifar10")
    finally:
        server.close()
    assert data.train_images.shape == (20, 3, 32, 32)
    assert (tmp_path / "cache" / "cifar10" / ARCHIVE).read_bytes() == (tmp_path / "mirror" / ARCHIVE).read_bytes()


SUITE = """
[suite]
name = "cifar"
dataset = "cifar10"
seeds = [0]
mixed_precision = "no"

[defaults]
epochs = 2
batch_size = 4

[[run]]
name = "dcgan"
model = "dcgan"
base_channels = 8
objective = "wasserstein_gp"
critic_steps = 2

[[run]]
name = "conv-vae"
model = "conv_vae"
base_channels = 8
latent_dim = 8
likelihood = "gaussian"

[evaluation]
metrics = ["reconstruction", "likelihood"]
num_samples = 4
kid_subset_size = 2
precision_recall_k = 1
density_coverage_k = 1
reconstruction_images = 4
inversion_steps = 5
inversion_restarts = 1
likelihood_images = 4
iwae_samples = 4
ais_images = 2
bdmc_images = 1
"""


def test_convolutional_models_train_and_are_scored_on_cifar_shaped_data(tmp_path):
    from harness import pipeline

    spec = write_archive(tmp_path / "data" / "cifar10")
    data = read_dataset(spec, tmp_path / "data" / "cifar10", download=False)
    (tmp_path / "cifar.toml").write_text(SUITE)
    outcome = pipeline.run_suite(tmp_path / "cifar.toml", tmp_path / "results", dataset=data)
    assert [o.status for o in outcome.outcomes] == ["completed", "completed"]
    rows = {o.spec.name: o.metrics.values for o in outcome.outcomes}
    assert all(np.isfinite(rows[name]["reconstruction_mse"]) for name in rows)
    assert np.isfinite(rows["conv-vae"]["elbo"])
    samples = outcome.outcomes[0].folder  # the samples saved with the run are colour images
    assert samples.dir.is_dir()

    # A metric that needs the (unpinned) CIFAR-10 evaluator names the command that trains one.
    (tmp_path / "fid.toml").write_text(SUITE.replace('metrics = ["reconstruction", "likelihood"]',
                                                     'metrics = ["sample_quality"]').replace('"cifar"', '"cifar-fid"'))
    with pytest.raises(HarnessError, match="sample_quality need.* train one with `python -m harness evaluator "
                                           "train --dataset cifar10`"):
        pipeline.run_suite(tmp_path / "fid.toml", tmp_path / "results", dataset=data)
    assert not (tmp_path / "results" / "cifar-fid").exists()  # refused before anything was written


def test_evaluators_trained_on_cifar_shaped_data_score_samples_once_pinned(tmp_path):
    """What `python -m harness evaluator train --dataset cifar10` does, on the small archive: both
    kinds train on 3x32x32 images, and once pinned in the spec the feature metrics run."""
    from harness import pipeline
    from harness.datasets import PinnedEvaluator
    from harness.evaluation.evaluator import train_evaluator

    spec = write_archive(tmp_path / "data" / "cifar10")
    data = read_dataset(spec, tmp_path / "data" / "cifar10", download=False)
    pinned = {}
    for kind in ("classifier", "autoencoder"):
        output = tmp_path / f"{kind}-cifar10.safetensors"
        score, sha256 = train_evaluator(data, output, epochs=1, batch_size=4, kind=kind, log=lambda line: None)
        pinned[kind] = PinnedEvaluator(str(output), sha256, score)
    data = dataclasses.replace(data, spec=dataclasses.replace(spec, evaluator=pinned["classifier"],
                                                              autoencoder=pinned["autoencoder"]))
    (tmp_path / "fid.toml").write_text(SUITE.replace('metrics = ["reconstruction", "likelihood"]',
                                                     'metrics = ["sample_quality"]'))
    outcome = pipeline.run_suite(tmp_path / "fid.toml", tmp_path / "results", dataset=data, only=["conv-vae"])
    row = outcome.outcomes[0].metrics.values
    assert np.isfinite(row["fid"]) and np.isfinite(row["fid_ae"]) and row["evaluator"] == "classifier-cifar10"
