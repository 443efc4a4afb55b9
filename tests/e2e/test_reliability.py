"""Nothing lost, nothing crashes: real training subprocesses killed, stopped and launched twice.

The suite is the tiny one, longer (8 epochs on 8,192 images, ~1 s per epoch here) so there is
time to interrupt it. Every interrupted launch is relaunched and must end with exactly the
weights and metrics of one uninterrupted launch (the `reference` fixture).
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import REPO, SUITES, _data_dir, run_cli

EPOCHS = 6


def write_suite(folder: Path, runs: str = "gan", extra: str = "") -> Path:
    text = (SUITES / "tiny.toml").read_text().replace("epochs = 2", f"epochs = {EPOCHS}").replace(
        "train_subset = 2048", "train_subset = 8192")
    if runs == "gan":  # the GAN only: the VAE's table is dropped
        text = text[: text.index("[[run]]\nname = \"vae\"")] + text[text.index("[evaluation]"):]
    path = folder / "suite.toml"
    path.write_text(text + extra)
    return path


def launch(suite: Path, results: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "HARNESS_DATA_DIR": str(_data_dir())}
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "--results", str(results), *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Poll until `condition()`; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.005)
    raise TimeoutError("the condition never came")


def checkpoint_epoch(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "checkpoint" / "position.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def results_of(run_dir: Path) -> tuple[dict, dict]:
    weights = load_file(run_dir / "weights.safetensors")
    row = json.loads((run_dir / "metrics_row.json").read_text())
    metrics = {k: v for k, v in row.items() if not k.endswith("seconds")}
    return weights, metrics


def assert_same_as_reference(run_dir: Path, reference: Path) -> None:
    weights, metrics = results_of(run_dir)
    expected_weights, expected_metrics = results_of(reference)
    assert all(torch.equal(weights[k], expected_weights[k]) for k in expected_weights)
    assert metrics == expected_metrics
    history = [json.loads(line)["epoch"] for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert history == list(range(1, EPOCHS + 1))  # every epoch once, none twice
    assert not list(run_dir.rglob("*.tmp")), "a partial file was left behind"


def every_json_file_parses(folder: Path) -> None:
    for path in folder.rglob("*.json"):
        json.loads(path.read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The GAN trained and evaluated in one uninterrupted launch."""
    folder = tmp_path_factory.mktemp("reference")
    result = launch(write_suite(folder), folder / "results")
    _, stderr = result.communicate(timeout=300)
    assert result.returncode == 0, stderr
    return folder / "results" / "tiny" / "gan-s0"


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["mid-training", "mid-checkpoint", "mid-evaluation"])
def test_sigkill_then_relaunch_resumes_exactly(reference, tmp_path, moment):
    suite, results = write_suite(tmp_path), tmp_path / "results"
    run_dir = results / "tiny" / "gan-s0"
    conditions = {
        "mid-training": lambda: checkpoint_epoch(run_dir) >= EPOCHS // 2,
        "mid-checkpoint": lambda: checkpoint_epoch(run_dir) >= 2 and (run_dir / "checkpoint.tmp").exists(),
        "mid-evaluation": lambda: (run_dir / "weights.safetensors").exists(),
    }
    process = launch(suite, results)
    interrupted = wait_for(conditions[moment], process)
    process.kill()  # SIGKILL: no handler runs
    process.communicate()
    if interrupted:
        assert json.loads((run_dir / "run.json").read_text())["status"] in ("running", "completed")
    every_json_file_parses(results)

    relaunch = run_cli("run", str(suite), "--results", str(results))
    assert relaunch.returncode == 0, relaunch.stderr
    assert_same_as_reference(run_dir, reference)
    record = json.loads((run_dir / "run.json").read_text())
    if interrupted and moment != "mid-evaluation":
        # It resumed: it did not train from epoch 1 again.
        assert record["resumed"] and record["resumed"][-1]["epoch"] > 1, record["resumed"]
        assert "resuming from its checkpoint" in relaunch.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_checkpoints_records_and_resumes(reference, tmp_path, signum, code):
    suite, results = write_suite(tmp_path), tmp_path / "results"
    run_dir = results / "tiny" / "gan-s0"
    process = launch(suite, results)
    assert wait_for(lambda: checkpoint_epoch(run_dir) >= 2, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "run the same command again" in " ".join(stderr.split())
    record = json.loads((run_dir / "run.json").read_text())
    stopped = record["stopped_at"]
    assert record["status"] == "interrupted" and stopped["epoch"] >= 2
    assert f"epoch {stopped['epoch']}, step {stopped['step']}" in record["error"]
    # The checkpoint is exactly where it stopped (8,192 images / 64 = 128 steps per epoch).
    position = json.loads((run_dir / "checkpoint" / "position.json").read_text())
    assert position["epoch"] * 128 + position["step"] == (stopped["epoch"] - 1) * 128 + stopped["step"]
    every_json_file_parses(results)

    status = run_cli("status", str(results / "tiny"))
    assert "interrupted" in status.stdout
    relaunch = run_cli("run", str(suite), "--results", str(results))
    assert relaunch.returncode == 0, relaunch.stderr
    assert_same_as_reference(run_dir, reference)


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_leaving_complete_files(reference, tmp_path):
    suite, results = write_suite(tmp_path), tmp_path / "results"
    run_dir = results / "tiny" / "gan-s0"
    process = launch(suite, results)
    assert wait_for(lambda: checkpoint_epoch(run_dir) >= 2, process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    every_json_file_parses(results)
    relaunch = run_cli("run", str(suite), "--results", str(results))
    assert relaunch.returncode == 0, relaunch.stderr
    assert_same_as_reference(run_dir, reference)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["run_parallel", "data_parallel"])
def test_two_launches_on_one_folder_share_the_work(tmp_path, strategy):
    suite = write_suite(tmp_path, runs="both", extra="")
    suite.write_text(suite.read_text().replace("seeds = [0]", "seeds = [0, 1]"))
    results = tmp_path / "results"
    first = launch(suite, results, "--strategy", strategy)
    time.sleep(1.0)
    second = launch(suite, results, "--strategy", strategy)
    outputs = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert not any("Traceback" in err for _, err in outputs)
    folder = results / "tiny"
    for run_id in ("gan-s0", "gan-s1", "vae-s0", "vae-s1"):
        record = json.loads((folder / run_id / "run.json").read_text())
        assert record["status"] == "completed", record
        history = [json.loads(line)["epoch"] for line in (folder / run_id / "history.jsonl").read_text().splitlines()]
        assert history == list(range(1, EPOCHS + 1)), (run_id, history)  # trained once, by one launch
    # Each run was trained by exactly one of them: their claims name two different processes
    # or one launch found everything done or held by the other.
    assert "another launch" in outputs[1][1] + outputs[0][1] or len(
        {json.loads(p.read_text())["pid"] for p in (folder / "locks").glob("*.json")}) == 2


@pytest.mark.slow
def test_an_exploding_gan_diverges_beside_a_normal_run(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(
        '[suite]\nname = "tiny"\ndataset = "mnist"\nseeds = [0]\n'
        '[defaults]\nepochs = 2\nbatch_size = 64\ntrain_subset = 2048\n'
        '[[run]]\nname = "gan"\nmodel = "mlp_gan"\nlatent_dim = 16\ngenerator_hidden = [32]\n'
        'discriminator_hidden = [32]\n[run.matrix]\nlr = [0.0002, 1000.0]\n'
        '[evaluation]\nenabled = false\n')
    results = tmp_path / "results"
    result = run_cli("run", str(suite), "--results", str(results))
    assert result.returncode == 1, result.stderr  # some runs did not complete
    folder = results / "tiny"
    exploded = json.loads((folder / "gan-lr1000.0-s0" / "run.json").read_text())
    normal = json.loads((folder / "gan-lr0.0002-s0" / "run.json").read_text())
    assert exploded["status"] == "diverged" and normal["status"] == "completed"
    assert exploded["stopped_at"]["epoch"] == 1 and exploded["stopped_at"]["step"] >= 1
    assert "exploded" in exploded["error"] or "non-finite" in exploded["error"]
    board = run_cli("leaderboard", str(folder), "--format", "csv")
    assert "diverged" in board.stdout


def test_a_retrain_that_fails_on_a_full_disk_keeps_the_old_results(tiny_results, tmp_path, monkeypatch, data_dir):
    """--force trains into staging; ENOSPC while writing the new weights leaves the old run as it was."""
    import shutil

    from harness import pipeline
    from harness.store import RunFolder

    results = tmp_path / "results"
    shutil.copytree(tiny_results, results / "tiny")
    run_dir = results / "tiny" / "gan-s0"
    before = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}

    def full_disk(self, state):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.weights_file))

    monkeypatch.setattr(RunFolder, "write_weights", full_disk)
    outcome = pipeline.run_suite(SUITES / "tiny.toml", results, data_dir=data_dir, only=["gan"], force=True)
    (gan,) = outcome.outcomes
    assert gan.status == "failed" and "No space left" in gan.record.error and "earlier results" in gan.record.error
    after = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before  # not a byte changed
    assert not (results / "tiny" / ".staging" / "gan-s0").exists()  # the partial retrain is gone


@pytest.fixture
def small_filesystem(tmp_path):
    """mount(size_kb) -> a real tmpfs of that size, where this machine lets us mount one."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = []

    def mount(size_kb: int) -> Path:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mount_point)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip("cannot mount a tmpfs here; test_a_retrain_that_fails_on_a_full_disk simulates ENOSPC")
        mounted.append(mount_point)
        return mount_point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


@pytest.mark.slow
def test_force_on_a_really_full_disk_keeps_everything(tiny_results, small_filesystem):
    """The tiny results on a tmpfs with 600 kB to spare: less than one retrained run writes."""
    import hashlib
    import shutil

    kept = shutil.ignore_patterns("report.*", "charts", "leaderboard.*")
    used = sum(p.stat().st_size for p in tiny_results.rglob("*") if p.is_file() and not kept(p.parent, [p.name]))
    mount_point = small_filesystem(used // 1024 + 600)
    shutil.copytree(tiny_results, mount_point / "tiny", ignore=kept)

    def digests() -> dict:
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (mount_point / "tiny").rglob("*")
                if p.is_file() and "locks" not in p.parts and p.name != "launch.json"}

    before = digests()
    result = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(mount_point), "--force")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    said = " ".join(result.stderr.split())  # rich folds long lines
    assert "No space left on device" in said and "earlier results" in said and ".staging/gan-s0" in said
    assert digests() == before  # every result exactly as it was
    assert not list((mount_point / "tiny" / ".staging").iterdir())  # the partial retrains are gone


@pytest.mark.slow
def test_force_replaces_a_run_only_when_the_retrain_completed(tiny_results, tmp_path):
    import shutil

    results = tmp_path / "results"
    shutil.copytree(tiny_results, results / "tiny")
    record_before = json.loads((results / "tiny" / "gan-s0" / "run.json").read_text())
    result = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(results), "--rerun", "gan")
    assert result.returncode == 0, result.stderr
    record_after = json.loads((results / "tiny" / "gan-s0" / "run.json").read_text())
    assert record_after["started_at"] >= record_before["started_at"] and record_after["status"] == "completed"
    assert record_after["finished_at"] != record_before["finished_at"]  # vae-s0 was not retrained:
    assert "1 run(s) already complete" in result.stderr
    assert not any((results / "tiny" / ".staging").iterdir())


@pytest.mark.slow
def test_a_complete_suite_reruns_without_writing_anything(tiny_results, tmp_path):
    import shutil

    results = tmp_path / "results"
    shutil.copytree(tiny_results, results / "tiny")
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in results.rglob("*")}
    result = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(results))
    assert result.returncode == 0 and "nothing to do" in result.stderr, result.stderr
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in results.rglob("*")}
    assert after == before
    # The commands that only read work with the report written elsewhere.
    report = run_cli("report", str(results / "tiny"), "--output", str(tmp_path / "report"))
    assert report.returncode == 0 and (tmp_path / "report" / "report.html").exists()
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in results.rglob("*")} == before


@pytest.mark.slow
def test_an_interrupted_evaluation_resumes_per_metric(tiny_results, tmp_path):
    """SIGTERM during a slow metric (AIS with many temperatures): the metrics finished before it are
    reused by the next `evaluate`, and the numbers equal those of one uninterrupted evaluation."""
    import shutil

    def copy(name: str) -> Path:
        folder = tmp_path / name / "tiny"
        shutil.copytree(tiny_results, folder)
        suite = (folder / "suite.toml").read_text().replace("ais_steps = 10", "ais_steps = 300")
        (folder / "suite.toml").write_text(suite)
        return folder

    whole, interrupted = copy("whole"), copy("interrupted")
    assert run_cli("evaluate", str(whole), "--only", "vae").returncode == 0
    env = {**os.environ, "HARNESS_DATA_DIR": str(_data_dir())}
    process = subprocess.Popen([sys.executable, "-m", "harness", "evaluate", str(interrupted), "--only", "vae"],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial_file = interrupted / "vae-s0" / "metrics.partial.json"
    assert wait_for(lambda: partial_file.exists() and "likelihood" in partial_file.read_text(), process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    finished = json.loads(partial_file.read_text())["metrics"]
    assert "ais" not in finished

    assert run_cli("evaluate", str(interrupted), "--only", "vae").returncode == 0
    report = json.loads((interrupted / "vae-s0" / "metrics.json").read_text())["metrics"]
    for name, entry in finished.items():
        if name != "sample_quality":  # it leaves feature statistics: always recomputed
            assert report[name]["seconds"] == entry["report"]["seconds"]  # reused, not recomputed
    assert not partial_file.exists()
    resumed, expected = (json.loads((folder / "vae-s0" / "metrics_row.json").read_text()) for folder in
                         (interrupted, whole))
    assert {k: v for k, v in resumed.items() if not k.endswith("seconds")} == {
        k: v for k, v in expected.items() if not k.endswith("seconds")}
