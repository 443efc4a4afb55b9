"""Mixed precision: --mixed-precision, then the suite, else auto decide (never `accelerate launch
--mixed_precision`), the run record says which won, and the forward passes really ran in that dtype."""

import json
import os
import subprocess
import sys

import pytest

from harness import pipeline
from harness.execution.hardware import auto_precision, cpu_flags, cpu_precision, gpu_precision
from harness.config.expansion import resolve_mixed_precision
from tests.conftest import SUITES, _data_dir

TINY = (SUITES / "tiny.toml").read_text()


def tiny_suite(tmp_path, name: str, precision: str | None) -> str:
    """The tiny suite, one epoch, no evaluation, with `mixed_precision` set or left out."""
    text = TINY.replace('name = "tiny"', f'name = "{name}"').replace("epochs = 2", "epochs = 1")
    if precision:
        text = text.replace('seeds = [0]', f'seeds = [0]\nmixed_precision = "{precision}"')
    text = text.replace("[evaluation]", "[evaluation]\nenabled = false")
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


def record(results, suite: str, run_id: str) -> dict:
    return json.loads((results / suite / run_id / "run.json").read_text())


def test_who_decides():
    assert resolve_mixed_precision(None, None) == ("auto", "default")
    assert resolve_mixed_precision(None, None, lambda: ("bf16", "auto: why")) == ("bf16", "default, auto: why")
    assert resolve_mixed_precision(None, "auto", lambda: ("no", "auto: why")) == ("no", "suite, auto: why")
    assert resolve_mixed_precision("fp16", "auto", lambda: ("bf16", "never asked")) == ("fp16", "--mixed-precision")
    assert resolve_mixed_precision(None, "no") == ("no", "suite")
    assert resolve_mixed_precision("bf16", "no") == ("bf16", "--mixed-precision")


def test_suite_setting_trains_in_bf16(tmp_path):
    outcome = pipeline.run_suite(tiny_suite(tmp_path, "bf16suite", "bf16"), tmp_path / "r", data_dir=_data_dir())
    assert outcome.exit_code == 0
    for result in outcome.outcomes:
        assert result.record.mixed_precision == "bf16" and result.record.mixed_precision_source == "suite"
        # observed, not assumed: every network's forward output was bfloat16 under autocast
        assert set(result.record.forward_dtypes.values()) == {"bfloat16"}, result.record.forward_dtypes


def test_auto_follows_the_hardware():
    assert cpu_precision({"avx512f", "amx_bf16", "amx_tile"})[0] == "bf16"
    assert cpu_precision({"avx512f", "avx512_bf16"})[0] == "bf16"
    precision, why = cpu_precision({"avx512f", "avx2"})  # AVX-512 alone emulates bf16: 2.4x slower, so fp32
    assert precision == "no" and "no bf16 instructions" in why
    assert gpu_precision("H100", (9, 0), True)[0] == "bf16"
    assert gpu_precision("T4", (7, 5), False)[0] == "fp16"
    assert gpu_precision("P100", (6, 0), False)[0] == "no"


def test_auto_reads_this_cpu_and_records_why(tmp_path):
    expected, why = cpu_precision(cpu_flags())
    outcome = pipeline.run_suite(tiny_suite(tmp_path, "autosuite", None), tmp_path / "r", data_dir=_data_dir(),
                                 only=["gan"])
    run = outcome.outcomes[0].record
    assert run.mixed_precision == expected and run.mixed_precision_source == f"default, {why}"
    assert set(run.forward_dtypes.values()) == {"bfloat16" if expected == "bf16" else "float32"}


def launch(tmp_path, suite: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HARNESS_DATA_DIR": str(_data_dir()), "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
         "--mixed_precision", "bf16", "--dynamo_backend", "no", "-m", "harness", "run", suite,
         "--results", str(tmp_path / "r"), *extra],
        capture_output=True, text=True, env=env, timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize("suite_precision", [None, "no"])
def test_accelerate_launch_never_changes_the_precision(tmp_path, suite_precision):
    """`accelerate launch --mixed_precision bf16` (or a launch file's 'no') trains what the suite
    says, else what auto picks here: the same configurations as one plain process."""
    name = f"launch{suite_precision or 'silent'}"
    suite = tiny_suite(tmp_path, name, suite_precision)
    launched = launch(tmp_path, suite, "--only", "gan")
    assert launched.returncode == 0, launched.stderr[-3000:]
    run = record(tmp_path / "r", name, "gan-s0")
    expected, why = (suite_precision, "suite") if suite_precision else (auto_precision()[0], f"default, {auto_precision()[1]}")
    assert run["mixed_precision"] == expected and run["mixed_precision_source"] == why
    assert set(run["forward_dtypes"].values()) == {"bfloat16" if expected == "bf16" else "float32"}
    assert run["config_hash"] == next(r for r in pipeline.load(suite).runs if r.name == "gan").config_hash
    note = "accelerate launch's mixed precision 'bf16' is not used"
    assert (note in " ".join(launched.stderr.split())) == (expected != "bf16"), launched.stderr[-2000:]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="on a GPU fp16 trains")
def test_fp16_on_a_cpu_is_refused_before_anything_is_written(tmp_path):
    """accelerate does not autocast to fp16 on a CPU: training would run in fp32 recorded as fp16."""
    from tests.conftest import SUITES, run_cli

    result = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(tmp_path), "--mixed-precision", "fp16")
    assert result.returncode == 2
    assert "fp16 (from --mixed-precision) needs a CUDA GPU" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and not any(tmp_path.iterdir())
