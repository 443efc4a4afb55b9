"""Mixed precision: the suite, --mixed-precision and `accelerate launch --mixed_precision` each decide
in their turn, the run record says which won, and the forward passes really ran in that dtype."""

import json
import os
import subprocess
import sys

import pytest

from harness import pipeline
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
    assert resolve_mixed_precision(None, None, None) == ("no", "default")
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
