"""The results store: a file that is missing, truncated or not what it should be is one clear error
naming it (never a traceback), and a corrupt record marks its run instead of crashing the table."""

import shutil

import pytest

from harness.store import ResultsFileError, RunFolder, SuiteFolder
from tests.conftest import run_cli


@pytest.fixture
def copy(tiny_results, tmp_path):
    target = tmp_path / "tiny"
    shutil.copytree(tiny_results, target)
    return target


def test_truncated_config_is_named(copy):
    path = copy / "vae-s0" / "config.json"
    path.write_text(path.read_text()[:40])
    with pytest.raises(ResultsFileError, match="config.json: not readable JSON"):
        RunFolder(copy, "vae-s0").read_config()
    result = run_cli("leaderboard", str(copy), "--format", "csv")
    # The run is shown as unreadable, with the file named; the other run is still on the board.
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "unreadable: vae-s0" in result.stderr and "vae-s0/config.json" in result.stderr
    assert "gan," in result.stdout and "unreadable" in result.stdout


def test_corrupt_record_marks_the_run_unreadable(copy):
    (copy / "gan-s0" / "run.json").write_text('{"status": 3}')
    result = run_cli("leaderboard", str(copy), "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "unreadable" in result.stdout and "vae," in result.stdout


@pytest.mark.slow
def test_weights_that_are_not_safetensors_are_named(copy):
    (copy / "gan-s0" / "weights.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    result = run_cli("evaluate", str(copy))
    # Named, the run marked, and the other run still scored.
    assert result.returncode == 1 and "gan-s0/weights.safetensors" in result.stderr.replace("\n", "")
    assert "evaluated vae-s0" in result.stderr
    assert "Traceback" not in result.stderr


def test_history_lines_are_checked(copy):
    folder = SuiteFolder(copy)
    assert [row["epoch"] for row in folder.run("gan-s0").read_history()] == [1, 2]
    with (copy / "gan-s0" / "history.jsonl").open("a") as f:
        f.write("{not json\n")
    with pytest.raises(ResultsFileError, match="line 3 is not JSON"):
        folder.run("gan-s0").read_history()
