"""Shared fixtures: the real dataset folder and helpers to run the CLI as a user would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SUITES = REPO / "suites"


def _data_dir() -> Path:
    configured = os.environ.get("HARNESS_DATA_DIR")
    path = Path(configured) if configured else REPO.parent / "shared" / "data"
    if not (path / "mnist").is_dir():
        pytest.fail(f"real MNIST files not found in {path}/mnist: set HARNESS_DATA_DIR (CI uses ../shared/data)")
    return path.resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _data_dir()


@pytest.fixture(scope="session")
def mnist(data_dir):
    from harness.datasets import load_dataset

    return load_dataset("mnist", data_dir)


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m harness ARGS` in a fresh process, output captured."""
    full_env = {**os.environ, "HARNESS_DATA_DIR": str(_data_dir()), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd or REPO, timeout=timeout,
    )


@pytest.fixture(scope="session")
def tiny_results(tmp_path_factory) -> Path:
    """The tiny suite trained and evaluated once through the CLI; tests that change it copy it first."""
    root = tmp_path_factory.mktemp("tiny-results")
    result = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(root))
    assert result.returncode == 0, result.stderr
    return root / "tiny"
