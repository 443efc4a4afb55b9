"""The cluster executor through submitit's local backend (real subprocesses, no Slurm), and
`harness status` on pending, running, interrupted and finished runs."""

import pytest
import json
import os
import socket
import subprocess
import time

from harness.store import RunLock, SuiteFolder
from tests.conftest import SUITES, run_cli


@pytest.mark.slow
def test_local_executor_runs_each_pending_run_as_a_task_and_resubmits_nothing(tmp_path):
    first = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(tmp_path), "--executor", "local", timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "submitted 2 run(s) to local" in first.stderr
    folder = tmp_path / "tiny"
    jobs = json.loads((folder / "jobs.json").read_text())
    assert set(jobs) == {"gan-s0", "vae-s0"} and len({j["job"] for j in jobs.values()}) == 2  # one task per run
    for run_id in jobs:
        assert json.loads((folder / run_id / "run.json").read_text())["status"] == "completed"
        assert (folder / run_id / "metrics_row.json").is_file()  # each task evaluated its run
    assert "2 done" in first.stdout  # the status table printed after waiting

    again = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(tmp_path), "--executor", "local")
    assert again.returncode == 0, again.stderr
    assert "nothing to submit" in again.stderr
    assert json.loads((folder / "jobs.json").read_text()) == jobs


@pytest.mark.slow
def test_status_shows_done_pending_running_and_interrupted_runs(tmp_path):
    suite = tmp_path / "four.toml"
    suite.write_text((SUITES / "tiny.toml").read_text().replace("seeds = [0]", "seeds = [0, 1]"))
    trained = run_cli("run", str(suite), "--results", str(tmp_path / "r"), "--only", "gan-s0")
    assert trained.returncode == 0, trained.stderr
    folder = SuiteFolder(tmp_path / "r" / "tiny")
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs: the claim of a killed process
    for run_id, pid in (("vae-s0", dead.pid), ("vae-s1", os.getpid())):
        assert folder.create_lock(RunLock(run=run_id, launch="earlier", process=0, host=socket.gethostname(), pid=pid,
                                         claimed_at="2026-01-01T00:00:00+00:00", heartbeat=time.time(),
                                         expected_cost=1.0, steps_done=5, total_steps=64, detail="epoch 1/2"))
    result = run_cli("status", str(folder.dir), env={"COLUMNS": "200"})
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert "done" in lines["gan-s0"] and "pending" in lines["gan-s1"]
    assert "interrupted" in lines["vae-s0"] and "running" in lines["vae-s1"] and "5/64" in lines["vae-s1"]
    assert result.returncode == 1  # an interrupted run needs attention

    # A relaunch takes over the dead process's run, leaves the live claim alone, trains the rest.
    relaunch = run_cli("run", str(suite), "--results", str(folder.dir.parent))
    assert relaunch.returncode == 0, relaunch.stderr
    assert "running elsewhere" in relaunch.stderr  # vae-s1 is still the other launch's
    assert json.loads((folder.dir / "vae-s0" / "run.json").read_text())["status"] == "completed"
    assert json.loads((folder.dir / "gan-s1" / "run.json").read_text())["status"] == "completed"
    assert not (folder.dir / "vae-s1").exists()
    assert folder.read_lock("vae-s1").launch == "earlier"
