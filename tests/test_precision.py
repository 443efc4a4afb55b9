"""Mixed precision: the suite, --mixed-precision and `accelerate launch --mixed_precision` each decide
in their turn, the run record says which won, and the forward passes really ran in that dtype."""

import json
import os
import subprocess
import sys

import pytest

from harness import pipeline
from harness.hardware import cpu_flags, cpu_precision, gpu_precision
from harness.suite import resolve_mixed_precision
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
    assert resolve_mixed_precision(None, None, None) == ("auto", "default")
    assert resolve_mixed_precision(None, None, None, lambda: ("bf16", "auto: why")) == ("bf16", "default, auto: why")
    assert resolve_mixed_precision(None, "auto", "no", lambda: ("no", "auto: why")) == ("no", "suite, auto: why")
    assert resolve_mixed_precision("fp16", "auto", None, lambda: ("bf16", "never asked")) == ("fp16", "--mixed-precision")
    assert resolve_mixed_precision(None, None, "bf16") == ("bf16", "accelerate launch")
    assert resolve_mixed_precision(None, "no", "bf16") == ("no", "suite")
    assert resolve_mixed_precision("bf16", "no", "fp16") == ("bf16", "--mixed-precision")


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


@pytest.mark.parametrize("suite_precision, expected, source", [
    (None, "bfloat16", "accelerate launch"),  # the suite is silent: the launcher's setting wins
    ("no", "float32", "suite"),  # the suite says fp32: it wins over the launcher
])
def test_launcher_setting_wins_only_where_the_suite_is_silent(tmp_path, suite_precision, expected, source):
    name = f"launch{suite_precision or 'silent'}"
    launched = launch(tmp_path, tiny_suite(tmp_path, name, suite_precision), "--only", "gan")
    assert launched.returncode == 0, launched.stderr[-3000:]
    run = record(tmp_path / "r", name, "gan-s0")
    assert run["mixed_precision"] == {"bfloat16": "bf16", "float32": "no"}[expected]
    assert run["mixed_precision_source"] == source
    assert set(run["forward_dtypes"].values()) == {expected}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="on a GPU fp16 trains")
def test_fp16_on_a_cpu_is_refused_before_anything_is_written(tmp_path):
    """accelerate does not autocast to fp16 on a CPU: training would run in fp32 recorded as fp16."""
    from tests.conftest import SUITES, run_cli

    result = run_cli("run", str(SUITES / "tiny.toml"), "--results", str(tmp_path), "--mixed-precision", "fp16")
    assert result.returncode == 2
    assert "fp16 (from --mixed-precision) needs a CUDA GPU" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and not any(tmp_path.iterdir())
