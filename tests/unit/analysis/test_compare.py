"""Settings that change what a number means: `compare` across results folders flags them, and the
leaderboard marks rows scored differently instead of ranking them silently."""

import pytest
import io
import json
import shutil

import pandas as pd

from tests.conftest import run_cli


@pytest.mark.slow
def test_compare_and_leaderboard_flag_a_different_sample_count(tiny_results, tmp_path):
    before, after = tmp_path / "before" / "tiny", tmp_path / "after" / "tiny"
    shutil.copytree(tiny_results, before)
    shutil.copytree(tiny_results, after)
    # `fid` is a column; evaluate finds the metric that computes it (the leaderboard's language).
    rescored = run_cli("evaluate", str(after), "--only", "gan", "--num-samples", "200", "--metrics", "fid")
    assert rescored.returncode == 0, rescored.stderr
    row = json.loads((after / "gan-s0" / "metrics_row.json").read_text())
    earlier = json.loads((before / "gan-s0" / "metrics_row.json").read_text())
    assert row["fid_samples"] == 200 and row["fid"] != earlier["fid"]  # re-scored
    assert row["reconstruction_mse"] == earlier["reconstruction_mse"] and row["precision"] == earlier["precision"]
    report = json.loads((after / "gan-s0" / "metrics.json").read_text())["metrics"]
    assert "kept_from" in report["reconstruction"] and "kept_from" not in report["sample_quality"]

    board = run_cli("leaderboard", str(after), "--format", "json")
    rows = {row["configuration"]: row for row in json.loads(board.stdout)["configurations"]}
    assert rows["gan"]["scored_differently"] == "scored with samples 200 (others: 300)"
    assert rows["vae"]["scored_differently"] == "scored with samples 300 (others: 200)"  # a tie: both marked
    table = run_cli("leaderboard", str(after))
    assert "scored with samples 200 (others: 300)" in " ".join(table.stdout.split())

    compared = run_cli("compare", str(before), str(after))
    assert compared.returncode == 0, compared.stderr
    text = " ".join(compared.stdout.split())
    assert "settings that differ" in text and "FID sample size │ 300 │ 200, 300" in text
    assert "gan" in text and "FID ↓" in text

    same = run_cli("compare", str(before), str(before))
    assert same.returncode == 0 and "same settings" in same.stdout and "settings that differ" not in same.stdout
    assert "same within the interval" in same.stdout or "no interval" in same.stdout  # one seed: no interval

    csv = pd.read_csv(io.StringIO(run_cli("compare", str(before), str(after), "--format", "csv").stdout))
    fid = csv[(csv["configuration"] == "gan") & (csv["metric"] == "fid")].iloc[0]
    assert fid["difference"] == fid["mean"] - fid["base_mean"] and fid["mean"] != fid["base_mean"]


def test_compare_names_a_changed_configuration_key(tiny_results, tmp_path):
    before, after = tmp_path / "a" / "tiny", tmp_path / "b" / "tiny"
    shutil.copytree(tiny_results, before)
    shutil.copytree(tiny_results, after)
    config = after / "vae-s0" / "config.json"
    data = json.loads(config.read_text())
    data["training"]["epochs"] = 7
    config.write_text(json.dumps(data))
    compared = run_cli("compare", str(before), str(after), "--metrics", "reconstruction")
    assert compared.returncode == 0, compared.stderr
    assert "vae: epochs │ 2 │ 7" in " ".join(compared.stdout.split())
    assert "reconstruction MSE" in compared.stdout  # a metric name expands to its columns


def test_export_numbers_are_numbers(tiny_results):
    csv = pd.read_csv(io.StringIO(run_cli("leaderboard", str(tiny_results), "--format", "csv").stdout))
    gan = csv.set_index("configuration").loc["gan"]
    assert pd.isna(gan["iwae"]) and "iwae" in gan["not_applicable"]  # n/a: empty, and named
    assert pd.api.types.is_float_dtype(csv["iwae"]) and pd.api.types.is_float_dtype(csv["fid"])
    data = json.loads(run_cli("leaderboard", str(tiny_results), "--format", "json").stdout)
    assert all(row["iwae"] is None or isinstance(row["iwae"], float) for row in data["configurations"])
