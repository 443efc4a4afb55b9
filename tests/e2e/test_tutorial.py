"""docs/your-model.md, executed: its files written and its commands run, in order, in an empty
folder, as a researcher following it would. Then what the page promises is read back from the
results: the plugin's models trained by every command, both strategies and the local executor,
recorded with their plugin's hash, tracked in TensorBoard and MLflow, and the external entry."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

TUTORIAL = REPO / "docs" / "your-model.md"
BLOCK = re.compile(r"^```(\w+)(?: file=(\S+))?\n(.*?)^```", re.MULTILINE | re.DOTALL)


def tutorial_steps() -> list[tuple[str, str | None, str]]:
    """(language, file name or None, text) of every fenced block, in page order."""
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8"))]


def test_the_page_has_files_and_commands():
    steps = tutorial_steps()
    assert {name for _, name, _ in steps if name} == {"my_models.py", "my_suite.toml"}
    commands = [line for language, _, text in steps if language == "bash" for line in text.splitlines()]
    for command in ("validate", "list", "run", "status", "leaderboard", "report", "compare", "evaluate", "score"):
        assert any(f"-m harness {command}" in line for line in commands), command
    assert any("accelerate launch" in c and "data_parallel" in c for c in commands)
    assert any("--executor local" in c for c in commands)


def test_the_tutorial_runs_as_written(tmp_path, data_dir):
    pytest.importorskip("submitit")
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    folder = tmp_path / "my-project"
    folder.mkdir()
    bin_dir = tmp_path / "bin"  # `python` is this interpreter, whatever the PATH says
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "HARNESS_DATA_DIR": str(data_dir),
           "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for language, name, text in tutorial_steps():
        if name:
            (folder / name).write_text(text, encoding="utf-8")
        elif language == "bash":
            for command in filter(None, (line.strip() for line in text.splitlines())):
                done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                                      timeout=600)
                assert done.returncode == 0, f"$ {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
                if shlex.split(command)[:4] == ["python", "-m", "harness", "list"]:
                    assert "model my_gmmn" in done.stdout and "bandwidths" in done.stdout

    results = folder / "results" / "my-benchmark"
    board = subprocess.run([sys.executable, "-m", "harness", "leaderboard", str(results), "--format", "json"],
                           cwd=folder, env=env, capture_output=True, text=True, check=True)
    rows = {row["configuration"]: row for row in json.loads(board.stdout)["configurations"]}
    assert set(rows) == {"study-gan", "study-vae", "my-gan", "my-gmmn", "another-tool"}
    assert all(row["completed"] == 1 for row in rows.values())
    assert "reconstruction_mse" in rows["another-tool"]["not_applicable"]
    assert "iwae" in rows["my-gmmn"]["not_applicable"] and rows["my-gmmn"]["reconstruction_mse"] is not None

    # every run records the plugin and the hash of the file it trained with
    import hashlib

    source_hash = hashlib.sha256((folder / "my_models.py").read_bytes()).hexdigest()
    for results_dir in (results, folder / "results-2p" / "my-benchmark", folder / "results-dp" / "my-benchmark",
                        folder / "results-tasks" / "my-benchmark"):
        records = [json.loads(p.read_text()) for p in results_dir.glob("*/run.json")]
        assert records and all(r["status"] == "completed" for r in records), results_dir
        assert all(r["plugins"] == {"my_models": source_hash} for r in records if r["epochs"]), results_dir
    strategies = {json.loads(p.read_text())["strategy"] for p in (folder / "results-dp").glob("*/*/run.json")}
    assert strategies == {"data_parallel"}
    two = [json.loads(p.read_text()) for p in (folder / "results-2p").glob("*/*/run.json")]
    assert len(two) == 4 and {r["strategy"] for r in two} == {"run_parallel"}

    # TensorBoard: the run's losses, images/s, sample grids, final metrics and the floor
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scores = json.loads((results / "my-gmmn-s0" / "metrics_row.json").read_text())
    events = EventAccumulator(str(results / "my-gmmn-s0" / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"loss/mmd", "epoch_loss/mmd", "images_per_second", "metrics/fid", "floor/fid"} <= scalars
    assert events.Scalars("metrics/fid")[-1].value == pytest.approx(scores["fid"], rel=1e-6)
    assert "samples" in events.Tags()["images"]

    # MLflow: one run per harness run, named by its id, with the configuration and the same numbers
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient((results / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("my-benchmark")
    tracked = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert set(tracked) == {"study-gan-s0", "study-vae-s0", "my-gan-s0", "my-gmmn-s0"}
    gmmn = tracked["my-gmmn-s0"]
    assert gmmn.data.params["model"] == "my_gmmn" and gmmn.data.params["model_options.hidden"] == "256"
    assert gmmn.data.metrics["metrics/fid"] == pytest.approx(scores["fid"], rel=1e-6)
    assert [a.path for a in client.list_artifacts(gmmn.info.run_id, "samples")]
    history = client.get_metric_history(gmmn.info.run_id, "loss/mmd")  # every few steps: the display's updates
    assert history and all(0 < point.step <= 32 for point in history)  # 2,048 images / 64 per step
