"""The on-disk layout of results, and atomic writes (a kill never leaves a half-written file).

    <results>/<suite>/suite.toml                 copy of the suite file that produced the runs
    <results>/<suite>/<run id>/config.json       resolved configuration + its hash
    <results>/<suite>/<run id>/history.jsonl     one line per epoch: losses, images/s, wall time
    <results>/<suite>/<run id>/weights.safetensors   final weights of every network
    <results>/<suite>/<run id>/samples.png       8x8 samples from a fixed latent batch
    <results>/<suite>/<run id>/run.json          status, times, parameters, device, versions
    <results>/<suite>/<run id>/checkpoint/       last complete end-of-epoch training state
"""

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)

STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_DIVERGED = "diverged"


class RunPaths:
    """Names of the files of one run, in one place."""

    def __init__(self, suite_dir: Path, run_id: str) -> None:
        self.dir = suite_dir / run_id
        self.config = self.dir / "config.json"
        self.history = self.dir / "history.jsonl"
        self.weights = self.dir / "weights.safetensors"
        self.samples = self.dir / "samples.png"
        self.record = self.dir / "run.json"
        self.checkpoint = self.dir / "checkpoint"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temp file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Rewrite the whole history atomically with one more row (histories are small)."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(path, existing + json.dumps(row) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("harness", "torch", "accelerate", "torchmetrics", "safetensors", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def git_commit() -> str | None:
    """The commit of the harness checkout, with '-dirty' if it has uncommitted changes."""
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")
