"""IDX reading, checksum checks, downloads from mirrors, and the real MNIST files."""

import dataclasses
import functools
import gzip
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.datasets import DATASETS, DatasetSpec, load_dataset, read_dataset
from harness.datasets.idx import IDXFiles
from harness.datasets.fetch import RemoteFile
from harness.datasets.idx import read_idx, write_idx
from harness.core.errors import DataError
from tests.conftest import SUITES, run_cli


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def make_small_dataset(folder: Path, n_train: int = 6, n_test: int = 4) -> DatasetSpec:
    """A 4-file IDX dataset of random 28x28 images, and the spec with its true checksums."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", n_train), ("test", n_test)):
        for kind, array in (("images", rng.integers(0, 256, (n, 28, 28))), ("labels", rng.integers(0, 10, n))):
            name = f"{split}-{kind}.gz"
            write_idx(folder / name, array, compress=True)
            raw = gzip.decompress((folder / name).read_bytes())
            files[f"{split}-{kind}"] = RemoteFile(name, md5((folder / name).read_bytes()), md5(raw))
    return DatasetSpec("small", "test data", (1, 28, 28), 10, {"train": n_train, "test": n_test}, IDXFiles(files))


def test_idx_round_trip_gz_and_raw(tmp_path):
    array = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    for compress in (False, True):
        path = tmp_path / f"a{compress}.idx"
        write_idx(path, array, compress=compress)
        assert torch.equal(read_idx(path, (3, 4, 5)), torch.from_numpy(array))


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda b: b[:-7], "truncated or padded"),
        (lambda b: b + b"\0", "truncated or padded"),
        (lambda b: b"\x00\x00\x0d\x03" + b[4:], "not an IDX file"),  # float magic
        (lambda b: b[:2], "truncated"),
        (lambda b: b"\x1f\x8b garbage that is not gzip", "gzip data is corrupt"),
    ],
)
def test_idx_damage_is_named(tmp_path, damage, message):
    path = tmp_path / "x.idx"
    write_idx(path, np.zeros((2, 3, 3), np.uint8))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message) as info:
        read_idx(path, (2, 3, 3))
    assert str(path) in str(info.value)


def test_idx_wrong_shape(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(DataError, match=r"header says shape \(2, 3, 3\), expected \(5, 3, 3\)"):
        read_idx(path, (5, 3, 3))


def test_small_dataset_reads_gz_and_raw(tmp_path):
    spec = make_small_dataset(tmp_path / "small")
    data = read_dataset(spec, tmp_path / "small", download=False)
    assert data.train_images.shape == (6, 1, 28, 28) and data.test_labels.shape == (4,)
    # Raw (un-gzipped) files are accepted and verified against the raw checksum.
    for f in spec.reader.files.values():
        path = tmp_path / "small" / f.name
        (tmp_path / "small" / f.raw_name).write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    again = read_dataset(spec, tmp_path / "small", download=False)
    assert torch.equal(again.train_images, data.train_images)


def test_checksum_mismatch_names_file_and_fix(tmp_path):
    spec = make_small_dataset(tmp_path / "small")
    target = tmp_path / "small" / "test-labels.gz"
    good = target.read_bytes()
    target.write_bytes(gzip.compress(gzip.decompress(good)[:-1] + b"\x09"))  # valid gzip, wrong content
    with pytest.raises(DataError) as info:
        read_dataset(spec, tmp_path / "small", download=False)
    assert f"{target}: checksum mismatch" in str(info.value)
    assert "delete it" in str(info.value)


class _Server:
    """A real HTTP server on loopback serving one folder (a dataset mirror)."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_missing_files_are_downloaded_from_the_first_good_mirror(tmp_path):
    spec = make_small_dataset(tmp_path / "good")
    bad_mirror = tmp_path / "bad"
    shutil.copytree(tmp_path / "good", bad_mirror)
    (bad_mirror / "train-images.gz").write_bytes(b"\x1f\x8bnot the right file")
    good, bad = _Server(tmp_path / "good"), _Server(bad_mirror)
    try:
        spec = dataclasses.replace(spec, reader=IDXFiles(spec.reader.files, ["http://127.0.0.1:9/", bad.url, good.url]))
        data = read_dataset(spec, tmp_path / "cache" / "small")
    finally:
        good.close()
        bad.close()
    assert data.train_images.shape == (6, 1, 28, 28)
    assert sorted(p.name for p in (tmp_path / "cache" / "small").iterdir()) == sorted(f.name for f in spec.reader.files.values())


def test_offline_message_lists_files_and_where_to_put_them(tmp_path):
    spec = make_small_dataset(tmp_path / "unused")
    spec = dataclasses.replace(spec, reader=IDXFiles(spec.reader.files, ["http://127.0.0.1:9/"]))
    with pytest.raises(DataError) as info:
        read_dataset(spec, tmp_path / "empty" / "small")
    message = str(info.value)
    assert "could not download train-images.gz" in message
    assert f"{tmp_path / 'empty' / 'small'}/" in message
    for f in spec.reader.files.values():
        assert f.name in message
    assert "--data-dir" in message and "HARNESS_DATA_DIR" in message


def test_real_mnist_files(mnist):
    assert mnist.train_images.shape == (60_000, 1, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.test_images.shape == (10_000, 1, 28, 28)
    assert mnist.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test labels
    assert torch.bincount(mnist.train_labels).tolist()[:3] == [5923, 6742, 5958]
    assert mnist.train_images.max() == 255 and mnist.train_images.min() == 0


def test_every_registered_dataset_reads(data_dir):
    present = [name for name in DATASETS if (data_dir / name).is_dir()]  # CIFAR-10: tests/unit/datasets/test_cifar.py
    assert {"mnist", "fashion-mnist"} <= set(present)
    for name in present:
        data = load_dataset(name, data_dir, download=False)
        assert data.train_images.shape[0] == data.spec.split_sizes["train"]


def test_cli_reports_corrupt_real_file(tmp_path, data_dir):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for f in (data_dir / "mnist").glob("*.gz"):
        (folder / f.name).symlink_to(f)
    broken = folder / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(broken.read_bytes())
    broken.unlink()
    content[100] ^= 0xFF
    broken.write_bytes(bytes(content))
    from tests.conftest import SUITES

    result = run_cli("run", str(SUITES / "tiny.toml"), "--data-dir", str(tmp_path / "data"),
                     "--results", str(tmp_path / "results"))
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "t10k-labels-idx1-ubyte.gz: checksum mismatch" in result.stderr.replace("\n", "")
    assert not (tmp_path / "results").exists()


def test_a_mistyped_data_dir_is_named_and_creates_nothing(tmp_path, monkeypatch):
    """`--data-dir dta` once made dta/mnist/ (and an empty download cache) before failing offline."""
    typo = tmp_path / "dta"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HARNESS_DATA_DIR": ""}
    result = run_cli("run", str(SUITES / "tiny.toml"), "--data-dir", str(typo),
                     "--results", str(tmp_path / "results"), env=env, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: --data-dir {typo}: no such folder; name the folder that holds <dataset>/<files> (e.g. ../shared/data), "
        f"create it first to download into it, or leave --data-dir out to download into {tmp_path}/cache/harness/data"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no dta/, no cache/, no results/
    monkeypatch.setenv("HARNESS_DATA_DIR", str(typo))
    with pytest.raises(DataError, match=r"\$HARNESS_DATA_DIR .*: no such folder"):
        load_dataset("mnist")
    assert not typo.exists()
