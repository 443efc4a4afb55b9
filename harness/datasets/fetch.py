"""Find dataset files on disk, download missing ones from public mirrors, verify checksums.

Lookup order for the data root: an explicit --data-dir, then $HARNESS_DATA_DIR, then a
per-user cache ($XDG_CACHE_HOME/harness/data, default ~/.cache/harness/data). Files live
in <root>/<dataset>/<file name>, the layout of the canonical distributions.
"""

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from harness.core.errors import DataError

DATA_DIR_ENV = "HARNESS_DATA_DIR"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its canonical name and the MD5 of its .gz and raw forms."""

    name: str  # canonical gz name, e.g. "train-images-idx3-ubyte.gz"
    md5_gz: str
    md5_raw: str | None  # None: the file is read only in its compressed form (an archive)

    @property
    def raw_name(self) -> str:
        return self.name.removesuffix(".gz")


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return default_data_root()


def default_data_root() -> Path:
    """The download cache used when neither --data-dir nor $HARNESS_DATA_DIR names a folder."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    return cache / "harness" / "data"


def existing_data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """`data_root`, refused when a folder the user named does not exist: a mistyped --data-dir
    must say so, not become a new, empty folder that a download then fails into. Only the
    default cache is created on demand."""
    root = data_root(data_dir)
    if root != default_data_root() and not root.is_dir():
        source = "--data-dir" if data_dir else f"${DATA_DIR_ENV}"
        raise DataError(f"{source} {root}: no such folder; name the folder that holds <dataset>/<files> "
                        f"(e.g. ../shared/data), create it first to download into it, or leave {source} out "
                        f"to download into {default_data_root()}")
    return root


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def locate(folder: Path, remote: RemoteFile, mirrors: list[str], *, download: bool = True) -> Path:
    """Return the verified path of `remote` in `folder`, downloading it if it is missing."""
    for name, expected in ((remote.name, remote.md5_gz), (remote.raw_name, remote.md5_raw)):
        path = folder / name
        if path.exists() and expected is not None:
            _verify(path, expected)
            return path
    if not download:
        raise DataError(f"{folder / remote.name} is missing")
    path = folder / remote.name
    _download(path, remote, mirrors)
    _verify(path, remote.md5_gz)
    return path


def _verify(path: Path, expected_md5: str) -> None:
    actual = md5sum(path)
    if actual != expected_md5:
        raise DataError(
            f"{path}: checksum mismatch (md5 {actual}, expected {expected_md5}); the file is "
            "corrupt or not the canonical one: delete it and run again to re-download it, "
            "or replace it with the original file"
        )


def _download(path: Path, remote: RemoteFile, mirrors: list[str]) -> None:
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + remote.name
        try:
            _fetch(url, path)
        except (urllib.error.URLError, OSError, ValueError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
            continue
        if md5sum(path) == remote.md5_gz and _is_gzip(path):
            return
        failures.append(f"{url}: downloaded file has the wrong checksum")
        path.unlink()
    raise DataError(
        f"could not download {remote.name} (tried {len(mirrors)} mirrors: {'; '.join(failures)}). "
        f"If this machine is offline, copy the files into {path.parent}/ "
        f"or point --data-dir / ${DATA_DIR_ENV} at a folder that holds <dataset>/<file>"
    )


def _is_gzip(path: Path) -> bool:
    try:
        with gzip.open(path) as f:
            f.read(4)
        return True
    except OSError:
        return False


def _fetch(url: str, path: Path) -> None:
    """Stream `url` to `path` through a temp file in the same folder (atomic rename)."""
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (mirrors are https/http)
        path.parent.mkdir(parents=True, exist_ok=True)  # only once a mirror answered: an offline try leaves nothing
        total = int(response.headers.get("Content-Length") or 0) or None
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, Progress(
                TextColumn(f"downloading {path.name}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                transient=True,
            ) as progress:
                task = progress.add_task("download", total=total)
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    progress.advance(task, len(chunk))
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
