"""Runs followed in TensorBoard, W&B and MLflow, read back with each tool's own reader (W&B's
offline run file with its protobuf records), who tracks under each strategy, and a missing
tracker package named before anything trains."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SUITES, run_cli

pytestmark = pytest.mark.slow

LAUNCH = ["--multi_gpu", "--num_processes", "2", "-m", "harness"]  # after `python -m accelerate.commands.launch`


def wandb_records(run_file: Path) -> list:
    """The protobuf records of an offline W&B run (`run-<id>.wandb`): a 7-byte header, then
    LevelDB-style log blocks of 32 KiB whose records are split into FULL/FIRST/MIDDLE/LAST chunks
    behind a 7-byte header (checksum, length, type). Written here because wandb ships no reader."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:3] == b":W&", data[:7]
    records, chunks, offset, block = [], b"", 7, 32768
    while offset + 7 <= len(data):
        left_in_block = block - offset % block
        if left_in_block < 7:  # the block's tail is padding
            offset += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", data[offset:offset + 7])
        if kind == 0 and length == 0:
            offset += left_in_block
            continue
        chunks += data[offset + 7:offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):  # FULL or LAST: a whole record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            records.append(record)
            chunks = b""
    return records


def test_wandb_offline_runs_hold_the_configuration_losses_and_metrics(tmp_path, data_dir):
    pytest.importorskip("wandb")
    env = {"WANDB_API_KEY": "", "HOME": str(tmp_path)}  # not logged in: offline
    done = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(tmp_path), "--log-with", "wandb", "--only",
                   "vae", env=env)
    assert done.returncode == 0, done.stderr
    [run_file] = (tmp_path / "tiny" / "wandb").glob("offline-run-*/run-*.wandb")
    records = wandb_records(run_file)
    runs = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert runs and runs[0].display_name == "vae-s0" and runs[0].run_group == "vae" and runs[0].project == "tiny"
    config = {item.key: json.loads(item.value_json) for r in records if r.WhichOneof("record_type") == "config"
              for item in r.config.update}
    assert config["model"] == "mlp_vae" and config["training.epochs"] == 2
    history = [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    logged = {key for row in history for key in row}
    assert {"loss/loss", "epoch_loss/kl", "images_per_second", "metrics/fid", "floor/fid"} <= logged
    fid = json.loads((tmp_path / "tiny" / "vae-s0" / "metrics_row.json").read_text())["fid"]
    assert [row["metrics/fid"] for row in history if "metrics/fid" in row] == [pytest.approx(fid)]


def test_each_strategy_tracks_on_the_processes_that_write(tmp_path, data_dir):
    pytest.importorskip("tensorboard")
    env = {"ACCELERATE_USE_CPU": "1"}
    for strategy in ("run_parallel", "data_parallel"):
        results = tmp_path / strategy
        launched = subprocess.run(
            [sys.executable, "-m", "accelerate.commands.launch", *LAUNCH, "run", str(SUITES / "tiny.toml"),
             "--results", str(results), "--strategy", strategy, "--log-with", "tensorboard"],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "HARNESS_DATA_DIR": str(data_dir), **env})
        assert launched.returncode == 0, launched.stderr[-3000:]
        for run in ("gan-s0", "vae-s0"):
            event_files = list((results / "tiny" / run / "tensorboard").rglob("events.out.tfevents.*"))
            scalar_files = [f for f in event_files if f.parent.name == "tensorboard"]
            assert len(scalar_files) == 1, (strategy, run, event_files)  # one process tracked it


def test_a_missing_tracker_package_is_one_line_with_its_install_command(tmp_path):
    (tmp_path / "no_mlflow.py").write_text("import sys\nsys.modules['mlflow'] = None  # as if not installed\n")
    done = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(tmp_path / "results"), "--log-with", "mlflow",
                   "--plugin", str(tmp_path / "no_mlflow.py"))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: log_with: mlflow needs the mlflow package")
    assert 'pip install -e ".[mlflow]"' in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results" / "tiny").exists() or not list((tmp_path / "results" / "tiny").glob("*/run.json"))
    unknown = run_cli("validate", "--plugin", str(tmp_path / "no_mlflow.py"), str(SUITES / "tiny.toml"))
    assert unknown.returncode == 0
