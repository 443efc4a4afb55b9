"""Where a result came from: library versions and the harness commit, recorded with every run."""

import platform
import subprocess
from importlib import metadata
from pathlib import Path


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
    repo = Path(__file__).resolve().parents[2]
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
