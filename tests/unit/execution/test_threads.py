"""Threads: who decides how many (flag, suite, OMP_NUM_THREADS, the launcher, the machine), what the
run record says, and the default count giving way to real busy processes and coming back."""

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import torch

from harness.execution.cpu_share import CPUShare, busy_cpu_seconds, threads_for
from harness.execution.strategy import resolve_threads, usable_cores
from tests.conftest import SUITES, run_cli

LAUNCHED = {"ACCELERATE_DYNAMO_BACKEND": "NO"}  # what `accelerate launch` puts in every process's environment


def test_who_decides_the_threads():
    cores = usable_cores()
    default = (max(1, cores // 2), f"{cores} cores / 2 process(es) on this machine")
    assert resolve_threads(None, "--threads", 2, {}) == default
    assert resolve_threads(3, "--threads", 2, {"OMP_NUM_THREADS": "1"}) == (3, "--threads")  # the flag wins
    assert resolve_threads(5, "[suite] threads", 2, {"OMP_NUM_THREADS": "1"}) == (5, "[suite] threads")
    assert resolve_threads(None, "--threads", 2, {"OMP_NUM_THREADS": "1"}) == (1, "OMP_NUM_THREADS")
    assert resolve_threads(None, "--threads", 2, {"OMP_NUM_THREADS": "7"}) == (7, "OMP_NUM_THREADS")
    # accelerate launch sets OMP_NUM_THREADS=1 when nobody asked: not followed under a launcher...
    assert resolve_threads(None, "--threads", 2, {**LAUNCHED, "OMP_NUM_THREADS": "1"}) == default
    # ...but any other value came from the user through it (OMP_NUM_THREADS or --num_cpu_threads_per_process).
    assert resolve_threads(None, "--threads", 2, {**LAUNCHED, "OMP_NUM_THREADS": "3"}) == (3, "OMP_NUM_THREADS")
    for nonsense in ("", "0", "-2", "two", "1.5"):
        assert resolve_threads(None, "--threads", 2, {"OMP_NUM_THREADS": nonsense}) == default


def one_epoch_suite(tmp_path, threads: int | None = None) -> str:
    text = (SUITES / "tiny.toml").read_text().replace("epochs = 2", "epochs = 1")
    text = text.replace("[evaluation]", "[evaluation]\nenabled = false")
    if threads:
        text = text.replace('dataset = "mnist"', f'dataset = "mnist"\nthreads = {threads}')
    path = tmp_path / f"threads{threads or ''}.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("environment, suite_threads, flag, expected", [
    ({"OMP_NUM_THREADS": "1"}, None, [], (1, "OMP_NUM_THREADS")),
    ({"OMP_NUM_THREADS": "1"}, 2, [], (2, "[suite] threads")),
    ({"OMP_NUM_THREADS": "1"}, 2, ["--threads", "3"], (3, "--threads")),
])
def test_the_command_line_records_who_decided(tmp_path, environment, suite_threads, flag, expected):
    result = run_cli("run", one_epoch_suite(tmp_path, suite_threads), "--results", str(tmp_path / "r"), "--only", "vae",
                     *flag, env=environment)
    assert result.returncode == 0, result.stderr
    record = json.loads(next((tmp_path / "r").glob("*/vae-s0/run.json")).read_text())
    assert (record["threads"], record["threads_source"]) == expected
    assert record["steps_with_fewer_threads"] is None  # a count the user chose is kept whatever the load


def test_threads_for_what_the_others_leave():
    # Two cores: a thread is given up only once about a core's worth of other work is running.
    assert [threads_for(free, 2) for free in (2.0, 1.6, 1.3, 1.2, 0.9, 0.0, -1.0)] == [2, 2, 2, 1, 1, 1, 1]
    assert threads_for(7.8, 4) == 4  # never more than the process's own count


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """`count` real processes that keep a core busy each, killed on the way out."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


@pytest.mark.alone
@pytest.mark.skipif(busy_cpu_seconds() is None, reason="needs Linux's /proc/stat")
def test_the_default_count_gives_way_to_busy_processes_and_comes_back():
    """Two real busy processes: the share drops to one thread; once they are gone, back to two."""
    previous = torch.get_num_threads()
    share = CPUShare(threads=2, cores=2, governed=True)
    with busy_processes(2):
        deadline = time.monotonic() + 20
        while share.current == 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            share.poll()
        assert share.current == 1 and torch.get_num_threads() == 1
    try:
        deadline = time.monotonic() + 20
        while share.current == 1 and time.monotonic() < deadline:
            time.sleep(0.05)
            share.poll()
        assert share.current == 2 and torch.get_num_threads() == 2
        assert share.fewest_threads == 1 and share.steps_with_fewer_threads > 0
        share.start_run()  # a new run starts with its full count and a fresh tally
        assert share.steps_with_fewer_threads == 0 and share.fewest_threads == 2
    finally:
        torch.set_num_threads(previous)


@pytest.mark.alone
def test_a_count_the_user_chose_is_never_changed():
    share = CPUShare(threads=2, cores=2, governed=False)
    with busy_processes(2):
        for _ in range(30):
            time.sleep(0.05)
            share.poll()
    assert share.current == 2 and share.steps_with_fewer_threads == 0
