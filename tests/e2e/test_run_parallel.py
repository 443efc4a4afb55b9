"""Run parallelism for real: `accelerate launch` processes on the CPU that each train whole runs,
claimed through files in the results folder (and two 'machines' on loopback)."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.store import SuiteFolder
from tests.conftest import REPO, _data_dir, run_cli

EVALUATION = """
[evaluation]
num_samples = 200
kid_subsets = 10
kid_subset_size = 100
reconstruction_images = 16
inversion_steps = 10
inversion_restarts = 1
likelihood_images = 16
iwae_samples = 8
ais_images = 4
ais_chains = 2
ais_steps = 10
ais_leapfrog = 2
bdmc_images = 2
"""

# Four runs whose costs differ about 40-fold: the two big ones must go first, one per process.
MIXED = """
[suite]
name = "mixed"
dataset = "mnist"
seeds = [0, 1]
mixed_precision = "no"  # "auto" would pick bf16 on some hosts; these tests compare fp32 numbers

[defaults]
batch_size = 64
train_subset = 2048

[[run]]
name = "small-vae"
model = "mlp_vae"
epochs = 1
latent_dim = 4
encoder_hidden = [16]
decoder_hidden = [16]

[[run]]
name = "big-gan"
model = "mlp_gan"
epochs = 3
latent_dim = 16
generator_hidden = [128, 128]
discriminator_hidden = [128, 128]
""" + EVALUATION


def write_suite(tmp_path: Path, text: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def launch_args(processes: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--mixed_precision", "no", "--dynamo_backend", "no", *extra]


def launch_env() -> dict[str, str]:
    return {**os.environ, "HARNESS_DATA_DIR": str(_data_dir()), "ACCELERATE_USE_CPU": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def claims_by_run(folder: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in (folder / "locks").glob("*.json")}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def numbers(run_dir: Path) -> dict:
    row = json.loads((run_dir / "metrics_row.json").read_text())
    return {k: v for k, v in row.items() if not k.endswith("seconds")}


@pytest.mark.slow
def test_two_processes_share_the_runs_and_match_a_sequential_run(tmp_path):
    suite = write_suite(tmp_path, MIXED)
    launched = subprocess.run(
        [*launch_args(2, "--num_machines", "1"), "-m", "harness", "run", str(suite), "--results", str(tmp_path / "rp")],
        capture_output=True, text=True, env=launch_env(), timeout=600, cwd=REPO)
    assert launched.returncode == 0, launched.stderr[-3000:]
    # Bit-identical results are promised for the same host and the same thread count (README,
    # "Reproducibility"): run_parallel gives each of the two processes one of the two cores.
    sequential = run_cli("run", str(suite), "--results", str(tmp_path / "seq"), "--threads", "1")
    assert sequential.returncode == 0, sequential.stderr[-3000:]

    folder = tmp_path / "rp" / "mixed"
    claims = claims_by_run(folder)
    run_ids = {"small-vae-s0", "small-vae-s1", "big-gan-s0", "big-gan-s1"}
    assert set(claims) == run_ids  # every run claimed once (one file per run, created exclusively)
    assert len({c["launch"] for c in claims.values()}) == 1 and all(c["status"] == "completed" for c in claims.values())
    # Longest first: the two big runs went to different processes at the start.
    assert {claims["big-gan-s0"]["process"], claims["big-gan-s1"]["process"]} == {0, 1}
    for run_id in run_ids:
        record = json.loads((folder / run_id / "run.json").read_text())
        assert record["strategy"] == "run_parallel" and record["num_processes"] == 1
        assert record["process_index"] == claims[run_id]["process"]  # trained by the process that claimed it
        assert record["threads"] == 1  # two processes on this machine share its cores
        history = [json.loads(line) for line in (folder / run_id / "history.jsonl").read_text().splitlines()]
        assert len(history) == record["epochs"]  # trained exactly once: one history line per epoch
        # The same numbers, bit for bit, as one process training the runs in order with one thread.
        seq_dir = tmp_path / "seq" / "mixed" / run_id
        assert digest(folder / run_id / "weights.safetensors") == digest(seq_dir / "weights.safetensors"), run_id
        assert numbers(folder / run_id) == numbers(seq_dir), run_id
    # The main process printed every run (its own and the other's) and the leaderboard over both seeds.
    output = launched.stdout + launched.stderr
    for run_id in run_ids:
        assert run_id in output
    assert "big-gan" in launched.stdout and "small-vae" in launched.stdout
    assert (folder / "reference" / "metrics.json").is_file()  # the real-data floor, once


@pytest.mark.slow
def test_a_failing_run_does_not_stop_the_other_process(tmp_path):
    suite = write_suite(tmp_path, MIXED.replace('seeds = [0, 1]', 'seeds = [0]') + """
[[run]]
name = "broken"
model = "mlp_gan"
lr = 1000.0
latent_dim = 4
generator_hidden = [16]
discriminator_hidden = [16]
""")
    launched = subprocess.run(
        [*launch_args(2, "--num_machines", "1"), "-m", "harness", "run", str(suite), "--results", str(tmp_path / "r")],
        capture_output=True, text=True, env=launch_env(), timeout=600, cwd=REPO)
    assert launched.returncode == 1, launched.stderr[-3000:]
    folder = tmp_path / "r" / "mixed"
    broken = json.loads((folder / "broken-s0" / "run.json").read_text())
    assert broken["status"] == "diverged" and "epoch 1" in broken["error"]
    for run_id in ("small-vae-s0", "big-gan-s0"):
        assert json.loads((folder / run_id / "run.json").read_text())["status"] == "completed"
        assert (folder / run_id / "metrics_row.json").is_file()
    assert "broken-s0" in launched.stderr and "diverged" in launched.stderr  # in the closing summary


def _two_machines(tmp_path: Path, suite: Path, results: tuple[Path, Path],
                  stop_main_after_second: bool = False) -> list[subprocess.CompletedProcess]:
    port = str(free_port())
    machines = [
        subprocess.Popen(
            [*launch_args(2, "--num_machines", "2", "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
                          "--main_process_port", port),
             "-m", "harness", "run", str(suite), "--results", str(results[rank])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=launch_env(), cwd=REPO)
        for rank in (0, 1)
    ]
    finished = {}
    for rank in (1, 0):
        machine = machines[rank]
        if rank == 0 and stop_main_after_second:
            machine.terminate()  # its launcher would wait minutes at the exit barrier for the failed machine
        try:
            out, err = machine.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            machine.kill()
            out, err = machine.communicate()
        finished[rank] = subprocess.CompletedProcess(machine.args, machine.returncode, out, err)
    return [finished[0], finished[1]]


@pytest.mark.slow
def test_two_machines_on_loopback_share_one_results_folder(tmp_path):
    suite = write_suite(tmp_path, MIXED)
    main, second = _two_machines(tmp_path, suite, (tmp_path / "shared", tmp_path / "shared"))
    assert main.returncode == 0, main.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    folder = tmp_path / "shared" / "mixed"
    claims = claims_by_run(folder)
    assert len(claims) == 4 and {c["process"] for c in claims.values()} == {0, 1}
    for run_id, claim in claims.items():
        history = (folder / run_id / "history.jsonl").read_text().splitlines()
        assert len(history) == json.loads((folder / run_id / "run.json").read_text())["epochs"]
        assert claim["status"] == "completed"
    assert SuiteFolder(folder).read_launch()["processes"] == 2


@pytest.mark.slow
def test_a_machine_that_does_not_see_the_results_folder_says_so(tmp_path):
    suite = write_suite(tmp_path, MIXED.replace('seeds = [0, 1]', 'seeds = [0]'))
    main, second = _two_machines(tmp_path, suite, (tmp_path / "node0", tmp_path / "node1"),
                                 stop_main_after_second=True)
    assert second.returncode != 0
    assert "does not see the results folder" in second.stderr and "shared filesystem" in second.stderr
    assert not (tmp_path / "node1" / "mixed" / "locks").exists()  # it trained nothing


@pytest.mark.slow
def test_killing_one_process_loses_nothing_finished_and_a_relaunch_finishes_the_rest(tmp_path):
    suite = write_suite(tmp_path, MIXED.replace("epochs = 3", "epochs = 40"))
    folder = tmp_path / "r" / "mixed"
    def command() -> list[str]:
        return [*launch_args(2, "--num_machines", "1", "--main_process_port", str(free_port())),
                "-m", "harness", "run", str(suite), "--results", str(tmp_path / "r")]

    launch = subprocess.Popen(command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=launch_env(),
                              cwd=REPO)
    victim = None
    deadline = time.time() + 300
    while victim is None and time.time() < deadline:  # wait until process 1 trains a big run
        time.sleep(0.5)
        victim = next((c for c in claims_by_run(folder).values() if c["process"] == 1 and c["steps_done"] > 0), None)
    assert victim is not None, "process 1 never started a run"
    os.kill(victim["pid"], signal.SIGKILL)
    launch.communicate(timeout=300)
    assert launch.returncode != 0  # torchrun stops the launch when one of its processes dies

    status = run_cli("status", str(folder), env={"COLUMNS": "200"})
    assert "interrupted" in status.stdout and victim["run"] in status.stdout
    finished_before = {run_id for run_id, c in claims_by_run(folder).items() if c["status"] == "completed"}
    kept = {run_id: digest(folder / run_id / "weights.safetensors") for run_id in finished_before}

    relaunch = subprocess.run(command(), capture_output=True, text=True, env=launch_env(), timeout=600, cwd=REPO)
    assert relaunch.returncode == 0, relaunch.stderr[-3000:]
    for run_id in ("small-vae-s0", "small-vae-s1", "big-gan-s0", "big-gan-s1"):
        record = json.loads((folder / run_id / "run.json").read_text())
        assert record["status"] == "completed" and (folder / run_id / "metrics_row.json").is_file()
    for run_id, weights in kept.items():  # what finished before the kill was not trained again
        assert digest(folder / run_id / "weights.safetensors") == weights, run_id
