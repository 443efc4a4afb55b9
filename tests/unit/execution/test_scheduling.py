"""Claims without processes: ordering, exclusive claims under contention, dead and finished claims."""

import os
import socket
import subprocess
import threading
import time

from harness.execution.scheduling import RunLocks, expected_cost, longest_first, process_alive
from harness.store import RunLock, SuiteFolder
from harness.config.expansion import load_suite
from tests.conftest import SUITES

STUDY = load_suite(SUITES / "gan_vs_vae.toml", mixed_precision="no")


def costs_of(runs):
    return {run.id: expected_cost(run, (1, 28, 28), 60_000) for run in runs}


def test_expected_costs_order_the_study_as_its_measured_times_do():
    costs = costs_of(STUDY.runs)
    order = [run.name for run in longest_first([r for r in STUDY.runs if r.seed == 0], costs)]
    # Measured train times of seed 0 (reference/gan_vs_vae): 2,680 s, 600 s, 405 s, 115 s.
    assert order == ["gan-final", "gan-baseline", "vae-final", "vae-baseline"]
    assert 5 < costs["gan-final-s0"] / costs["vae-final-s0"] < 8  # measured ratio: 6.6


def test_concurrent_processes_claim_every_run_exactly_once(tmp_path):
    folder = SuiteFolder(tmp_path / "study")
    runs = STUDY.runs
    costs = costs_of(runs)
    won: dict[int, list[str]] = {}
    start = threading.Barrier(4)

    def worker(process: int) -> None:
        claims = RunLocks(folder, "launch-a", process)
        start.wait()
        mine = won.setdefault(process, [])
        for run in claims.claim_each(runs, costs):
            mine.append(run.id)
            time.sleep(0.01)
            claims.release("completed")

    threads = [threading.Thread(target=worker, args=(p,)) for p in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [run_id for ids in won.values() for run_id in ids]
    assert sorted(claimed) == sorted(run.id for run in runs)  # each once, none lost
    assert {claim.status for claim in folder.locks()} == {"completed"}


def claim(run: str, launch: str, pid: int, status: str = "running", heartbeat: float | None = None,
          host: str | None = None) -> RunLock:
    return RunLock(run=run, launch=launch, process=0, host=host or socket.gethostname(), pid=pid,
                 claimed_at="2026-01-01T00:00:00+00:00", heartbeat=heartbeat or time.time(), expected_cost=1.0,
                 status=status)


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_new_launch_takes_over_dead_and_finished_claims_but_not_live_ones(tmp_path):
    folder = SuiteFolder(tmp_path / "study")
    runs = [r for r in STUDY.runs if r.seed == 0]
    ids = [r.id for r in runs]
    folder.create_lock(claim(ids[0], "old", dead_pid()))  # killed process
    folder.create_lock(claim(ids[1], "old", os.getpid(), status="failed"))  # finished (failed) earlier
    folder.create_lock(claim(ids[2], "other", os.getpid()))  # another launch, alive
    folder.create_lock(claim(ids[3], "far", 1, heartbeat=time.time() - 3600, host="elsewhere"))  # silent machine
    claims = RunLocks(folder, "new", 0)
    taken = []
    for run in claims.claim_each(runs, costs_of(runs)):
        taken.append(run.id)
        claims.release("completed")
    assert sorted(taken) == sorted([ids[0], ids[1], ids[3]])
    assert folder.read_lock(ids[2]).launch == "other"
    # Within one launch a finished claim is never retried.
    again = RunLocks(folder, "new", 1)
    assert list(again.claim_each(runs, costs_of(runs))) == []


def test_liveness_by_pid_here_and_by_heartbeat_elsewhere():
    assert process_alive(claim("r", "l", os.getpid()))
    assert not process_alive(claim("r", "l", dead_pid()))
    assert process_alive(claim("r", "l", 1, host="elsewhere"))
    assert not process_alive(claim("r", "l", 1, host="elsewhere", heartbeat=time.time() - 3600))
