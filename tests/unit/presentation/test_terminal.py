"""Every terminal table at 80 columns: nothing cut, every id, name and number whole.

The tables are built from real results (the committed study, reference/gan_vs_vae) and real
suites; `render` shows what an 80-column terminal shows.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.text import Text

from harness import pipeline
from harness.cli import run_table
from harness.training.outcome import RunOutcome
from harness.presentation.progress import summary_table
from harness.store import SuiteFolder
from harness.config.expansion import load_suite
from harness.presentation.terminal import Field, Grid, render

ROOT = Path(__file__).resolve().parents[3]
STUDY = ROOT / "reference" / "gan_vs_vae"


def assert_whole(grid: Grid, width: int = 80) -> str:
    """No ellipsis, no line wider than the terminal, every cell's words on one line."""
    text = render(grid, width)
    assert "…" not in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    lines = text.splitlines()
    for row in grid.rows:
        for field, cell in zip(grid.fields, row):
            plain = Text.from_markup(cell).plain
            pieces = plain.split() if field.wraps else [plain]  # free text may wrap at spaces, nothing else
            for piece in pieces:
                assert any(piece in line for line in lines), f"{piece!r} is cut at {width} columns:\n{text}"
    return text


def test_leaderboard_of_the_study_fits_80_columns_and_repeats_the_configuration():
    board = pipeline.leaderboard(STUDY)
    text = assert_whole(board.grid())
    assert "(1/" in text  # split into parts rather than squeezed
    parts = text.count("configuration ┃")
    assert parts >= 2 and text.count("gan-baseline") == parts  # every part names its rows
    assert len(render(board.grid(), 300).split("(1/")) == 1  # a wide terminal: one table


def test_similar_names_stay_distinct_at_80_columns():
    names = [f"gan-final-lr{lr}-s0" for lr in ("0.002", "0.0005", "0.0002", "0.0001", "5e-05")]
    fields = [Field("configuration"), *(Field(f"metric number {i} ↓", "right") for i in range(8))]
    grid = Grid("sweep", fields, [[name, *(f"{1234.5 + i:.1f} ± 12" for i in range(8))] for name in names])
    text = assert_whole(grid)
    assert all(name in text for name in names)


def test_dry_run_table_keeps_every_option():
    suite = load_suite(ROOT / "suites" / "gan_lr_sweep.toml")
    text = assert_whole(run_table(suite, suite.runs))
    assert "discriminator_hidden=1024x512x256" in text and "lr=5e-05" in text


def test_run_summary_and_status_tables_fit():
    folder = SuiteFolder(STUDY)
    suite = load_suite(folder.suite_toml)
    outcomes = [RunOutcome(spec, folder.run(spec.id), folder.run(spec.id).read_record(), "completed")
                for spec in suite.runs]
    text = assert_whole(summary_table(outcomes))
    assert "gan-final-s2" in text and "2,946,577" in text


def test_status_table_fits(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    from harness.cli import main

    assert main(["status", str(STUDY)]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and all(f"gan-final-s{seed}" in out for seed in range(3))


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` for a pseudo-terminal")
@pytest.mark.parametrize("command", [["list"], ["leaderboard", str(STUDY)], ["run", "suites/gan_lr_sweep.toml",
                                                                                "--dry-run"]])
def test_commands_in_an_80_column_terminal_cut_nothing(command):
    """Through a real pseudo-terminal (rich sees a terminal 80 columns wide), as a user runs them."""
    script = ["script", "-qec", " ".join([sys.executable, "-m", "harness", *command]), "/dev/null"]
    env = {**os.environ, "COLUMNS": "80", "LINES": "50", "TERM": "xterm"}
    result = subprocess.run(script, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "…" not in result.stdout
    if command == ["list"]:
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stdout).replace("\r", "")  # without colours
        for key in ("generator_hidden", "divergence_factor", "num_samples", "max_runs", "critic_steps",
                    "[search] keys", "metric = none", "log_uniform", "cifar10", "[[run]] keys", "[matrix] keys",
                    "[[claim]] keys", "name: str (required)", "better: str (required)"):
            assert key in plain, key
        assert "PydanticUndefined" not in plain
        for section in plain.split("\n\n"):
            lines = section.strip("\n").splitlines()
            if lines and " keys" in lines[0]:  # after the title, every line (wrapped ones too) is indented
                body = lines[next(i for i, line in enumerate(lines) if line.startswith("  ")):]
                assert all(line.startswith("  ") for line in body), section


def test_piped_leaderboard_is_one_plain_table():
    result = subprocess.run([sys.executable, "-m", "harness", "leaderboard", str(STUDY)], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert result.returncode == 0 and "\x1b[" not in result.stdout and "(1/" not in result.stdout
    assert "…" not in result.stdout and "2,946,577" in result.stdout


def test_live_display_keeps_bar_steps_eta_losses_and_the_whole_id_at_80_columns():
    import io

    from rich.console import Console

    from harness.presentation.progress import TrainingProgress

    long_id = "a-generative-adversarial-network-with-a-really-very-long-name-s0"
    console = Console(width=80, file=io.StringIO(), force_terminal=True, color_system=None)
    progress = TrainingProgress(True, {"gan-final-lr0.0005-s0": 2.0, long_id: 1.0}, console)
    for run_id in ("gan-final-lr0.0005-s0", long_id):
        progress.start_run(run_id, total_steps=2811)
        progress.update(1234, epoch=2, epochs=30, losses={"discriminator": 0.512, "generator": 3.21},
                        images_per_second=2437.0)
        screen = Console(width=80, record=True, file=io.StringIO(), color_system=None)
        screen.print(progress.progress.get_renderable())
        text = screen.export_text()
        assert "…" not in text and max(len(line.rstrip()) for line in text.splitlines()) <= 80
        assert "step 1234/2811" in text and "ETA" in text and "━" in text
        assert "epoch 3/30" in text and "2,437 img/s" in text and "discriminator 0.512 generator 3.21" in text
        name_column = "".join(line[:32].strip() for line in text.splitlines())  # 80 - 48 columns for the name
        assert run_id in text or run_id in name_column  # whole, or folded onto the next line
        assert "suite" in text and "0/2 runs" in text
    progress.evaluating(run_id, "ais", 6, 7)
    screen = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    screen.print(progress.progress.get_renderable())
    assert "evaluating: ais (7/7)" in screen.export_text()


def test_evaluating_a_run_trained_earlier_names_it_in_a_log():
    """A relaunch scores a run whose evaluation was cut short, with no run of its own started:
    each metric's line names that run (it once printed "None: evaluating: ...")."""
    import io

    from rich.console import Console

    from harness.presentation.progress import TrainingProgress

    log = io.StringIO()
    progress = TrainingProgress(True, {"gan-s0": 1.0}, Console(file=log, width=80, color_system=None))
    with progress:
        progress.evaluating("gan-s0", "sample_quality", 0, 7)
    assert "gan-s0: evaluating: sample_quality (1/7)" in log.getvalue() and "None" not in log.getvalue()


def test_the_launch_line_says_processes_per_machine_precision_threads_and_unused_gpus(monkeypatch):
    """Before the first step: the runs, the strategy over its processes (per machine on several),
    the device, the precision and the threads with who decided each; GPUs the launch leaves idle."""
    from harness.execution.run_parallel import RunParallel
    from harness.presentation.progress import launch_line

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    strategy = RunParallel("no", "suite", threads=1, threads_source="--threads")
    line = " ".join(launch_line("study", 9, 3, strategy, devices_here=0).split())
    assert line == ("study: 9 run(s) to train, 3 complete; run_parallel, 4 processes on 2 machines (2 each) on cpu; "
                    "precision no (suite); 1 thread(s) per process (--threads)")
    assert "note: this machine has 8 GPUs and the launch uses 2" in launch_line("study", 9, 3, strategy, devices_here=8)
