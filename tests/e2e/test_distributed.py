"""Real data parallelism: `accelerate launch` with two gloo processes on the CPU."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from harness.store import RunFolder
from tests.conftest import SUITES, _data_dir, run_cli


@pytest.mark.slow
def test_two_processes_split_the_data_and_match_one_process(tmp_path):
    env = {**os.environ, "HARNESS_DATA_DIR": str(_data_dir()), "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "harness", "run", str(SUITES / "tiny.toml"), "--results", str(tmp_path / "ddp"), "--strategy", "data_parallel",
         "--mixed-precision", "no"],  # fp32 as the run below ("auto" may pick bf16; the launcher's flag is not used)
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    single = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(tmp_path / "single"), "--mixed-precision", "no",
                     env={"OMP_NUM_THREADS": "1"})
    assert single.returncode == 0, single.stderr

    for run_id in ("gan-s0", "vae-s0"):
        ddp_dir, single_dir = tmp_path / "ddp" / "tiny" / run_id, tmp_path / "single" / "tiny" / run_id
        record = json.loads((ddp_dir / "run.json").read_text())
        assert record["distributed_type"] == "MULTI_CPU" and record["num_processes"] == 2
        assert record["replicas_identical"] is True  # both processes ended with the same weights
        for row in RunFolder(ddp_dir.parent, run_id).read_history():
            assert row["images_per_process"] == [1024, 1024]  # 2 x 32 per step, 32 steps
            assert row["overlapping_images"] == 0  # disjoint shards
        # 2 processes x 32 images train on the global batches of 1 process x 64: same weights
        # after 64 steps, up to float summation order in the gradient all-reduce.
        ddp, one = load_file(ddp_dir / "weights.safetensors"), load_file(single_dir / "weights.safetensors")
        for key in one:
            torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=1e-5, msg=f"{run_id} {key}")
        ddp_losses = RunFolder(ddp_dir.parent, run_id).read_history()[-1]
        one_losses = RunFolder(single_dir.parent, run_id).read_history()[-1]
        for name in ("discriminator", "generator") if run_id == "gan-s0" else ("loss", "kl"):
            assert abs(ddp_losses[name] - one_losses[name]) <= 1e-4 * max(1.0, abs(one_losses[name]))
        # Evaluation split its samples, inversions and bounds over both processes and gathered
        # them: the numbers equal the single-process ones (up to the tiny weight differences).
        ddp_row = json.loads((ddp_dir / "metrics_row.json").read_text())
        one_row = json.loads((single_dir / "metrics_row.json").read_text())
        numeric = [k for k, v in one_row.items() if isinstance(v, float) and not k.endswith("seconds")]
        assert {"fid", "precision", "reconstruction_mse"} <= set(numeric)
        for key in numeric:
            assert ddp_row[key] == pytest.approx(one_row[key], rel=2e-3, abs=1e-5), (run_id, key)
