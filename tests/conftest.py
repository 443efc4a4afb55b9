"""Shared fixtures: the real dataset folder and helpers to run the CLI as a user would.

`python -m pytest` runs in parallel workers (pytest-xdist, `-n auto` in pyproject.toml). Two
things keep the workers from changing what a test sees:

- **Threads.** Each worker, and every process it starts, computes with its share of the cores
  (OMP_NUM_THREADS, set here before anything imports torch), as the harness's own processes
  share a machine. Without it two workers' training subprocesses would each take every core and
  spin against each other; with it a count is set by the user, so the harness never lowers it
  under load, and a run compared bit for bit with another computes at the same count.
- **Tests that need a quiet machine** (marked `alone`: they measure the load other processes
  put on the cores) take an exclusive lock that every other test takes shared, so they run while
  no other worker runs a test.
"""

import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1 and "OMP_NUM_THREADS" not in os.environ:
    # harness.execution.strategy.usable_cores, written again: importing it would load torch first.
    CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ["OMP_NUM_THREADS"] = str(max(1, CORES // WORKERS))

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SUITES = REPO / "suites"


def pytest_collection_modifyitems(config, items) -> None:
    """The `slow` tests first (in their own order): the workers start on the long ones and share
    out the short ones at the end, instead of one worker finishing a long test alone."""
    if WORKERS > 1:
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A readers-writer lock over the machine, shared by every worker of this pytest run: a test
    marked `alone` holds it exclusively, every other test holds it shared, from its fixtures'
    setup (a shared trained fixture is made inside the first test that asks for it) to teardown."""
    if WORKERS <= 1:
        yield
        return
    lock_file = Path(tempfile.gettempdir()) / f"harness-tests-{os.environ['PYTEST_XDIST_TESTRUNUID']}.lock"
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if item.get_closest_marker("alone") else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
