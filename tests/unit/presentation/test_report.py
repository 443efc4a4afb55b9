"""Aggregation, leaderboard, claims and the report, on inputs with known answers."""

import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from harness.analysis.aggregate import aggregate
from harness.analysis.aggregate import load_runs as load_runs_of
from harness.analysis.claims import judge_all
from harness.config.claims import Claim
from harness.presentation.terminal import render
from harness.presentation.leaderboard import export, grid, sort_frame
from harness.config.expansion import load_suite
from harness.store import SuiteFolder
from tests.conftest import run_cli

T_975_2 = 4.302652729911275


def load_runs(path: Path):
    return load_runs_of(SuiteFolder(path))  # Student t quantile, 2 degrees of freedom


def write_run(suite_dir: Path, run_id: str, model: str, seed: int, status: str = "completed", **metrics) -> None:
    run_dir = suite_dir / run_id
    run_dir.mkdir(parents=True)
    name = re.sub(r"-s\d+$", "", run_id)
    identity = {"id": run_id, "name": name, "suite": "synthetic", "config_hash": run_id}
    (run_dir / "config.json").write_text(json.dumps({
        **identity, "matrix": {}, "dataset": "mnist", "model": model, "seed": seed, "mixed_precision": "no",
        "training": {"epochs": 1}, "model_options": {}}))
    (run_dir / "run.json").write_text(json.dumps({
        **identity, "status": status, "epochs": 1, "train_seconds": 10.0 + seed, "images_per_second": 100.0,
        "parameters": {"total": 1000}, **({"error": "boom"} if status != "completed" else {})}))
    if metrics:
        (run_dir / "metrics_row.json").write_text(json.dumps({**identity, "model": model, "seed": seed, **metrics}))


@pytest.fixture
def synthetic(tmp_path) -> Path:
    """gan-a: 3 seeds; gan-b: 2 completed + 1 failed; vae: 1 seed (no interval), GANs have no ELBO."""
    suite = tmp_path / "synthetic"
    for seed, fid in enumerate([10.0, 12.0, 14.0]):
        write_run(suite, f"gan-a-s{seed}", "mlp_gan", seed, fid=fid, elbo="n/a", reconstruction_mse=0.05)
    for seed, fid in enumerate([30.0, 34.0]):
        write_run(suite, f"gan-b-s{seed}", "mlp_gan", seed, fid=fid, elbo="n/a", reconstruction_mse=0.06)
    write_run(suite, "gan-b-s2", "mlp_gan", 2, status="diverged")
    write_run(suite, "vae-s0", "mlp_vae", 0, fid=50.0, elbo=-100.0, reconstruction_mse=0.01)
    return suite


def test_aggregate_known_means_intervals_failures_and_not_applicable(synthetic):
    runs = load_runs(synthetic)
    assert len(runs) == 7 and set(runs["status"]) == {"completed", "diverged"}
    agg = aggregate(runs, ["fid", "elbo", "reconstruction_mse"]).set_index("configuration")
    a = agg.loc["gan-a"]
    assert a["fid"] == pytest.approx(12.0) and a["fid_std"] == pytest.approx(2.0) and a["fid_n"] == 3
    assert a["fid_ci"] == pytest.approx(T_975_2 * 2.0 / math.sqrt(3))
    b = agg.loc["gan-b"]
    assert b["seeds"] == 3 and b["completed"] == 2 and b["failed"] == 1 and "diverged: 1" in b["statuses"]
    assert b["fid"] == pytest.approx(32.0) and b["fid_n"] == 2  # the diverged run is counted, not averaged
    vae = agg.loc["vae"]
    assert vae["fid"] == 50.0 and math.isnan(vae["fid_ci"]) and vae["fid_n"] == 1  # one seed: no interval
    assert a["elbo"] == "n/a" and vae["elbo"] == -100.0


def test_leaderboard_text_and_every_export(synthetic):
    agg = sort_frame(aggregate(load_runs(synthetic), ["fid", "elbo"]), "fid")
    assert list(agg["configuration"]) == ["gan-a", "gan-b", "vae"]  # lower FID first
    text = render(grid(agg, ["fid", "elbo"], "synthetic"), 200)
    assert "12 ± 5" in text and "32 ± " in text and "1 of 3 diverged" in text and "n/a" in text
    markdown = export(agg, ["fid", "elbo"], "md")
    assert "| gan-a" in markdown and "12 ± 5" in markdown and "FID ↓" in markdown
    csv = pd.read_csv(__import__("io").StringIO(export(agg, ["fid", "elbo"], "csv")))
    assert csv.set_index("configuration").loc["gan-a", "fid_ci"] == pytest.approx(T_975_2 * 2 / math.sqrt(3))
    data = json.loads(export(agg, ["fid", "elbo"], "json"))
    assert "Student-t" in data["interval"] and data["configurations"][0]["configuration"] == "gan-a"
    latex = export(agg, ["fid", "elbo"], "latex")
    assert "\\toprule" in latex and "$\\downarrow$" in latex and "$\\pm$" in latex
    with pytest.raises(ValueError, match="cannot sort by"):
        sort_frame(agg, "nope")


@pytest.mark.parametrize(
    "better,than,metric,verdict",
    [
        ("gan-a", "gan-b", "fid", "not significant"),  # 12 vs 32, but gan-b has 2 completed seeds: fewer than 3
        ("gan-a", "vae", "fid", "not significant"),  # vae has one seed: no interval
        ("vae", "gan-a", "elbo", "no data"),  # GANs have no ELBO
    ],
)
def test_claim_verdicts(synthetic, better, than, metric, verdict):
    result = judge_all([Claim(text="t", metric=metric, better=better, than=than)], load_runs(synthetic))[0]
    assert result["verdict"] == verdict, result


def test_claim_with_overlapping_seeds_is_not_significant(tmp_path):
    for seed, (x, y) in enumerate([(10, 11), (14, 9), (12, 13)]):
        write_run(tmp_path / "s", f"a-s{seed}", "mlp_gan", seed, fid=float(x))
        write_run(tmp_path / "s", f"b-s{seed}", "mlp_gan", seed, fid=float(y))
    result = judge_all([Claim(text="t", metric="fid", better="a", than="b")], load_runs(tmp_path / "s"))[0]
    assert result["verdict"] == "not significant"
    assert result["advantage"] == pytest.approx(-1.0) and result["advantage_ci"] > 1  # a: 12, b: 11


@pytest.mark.slow
def test_report_renders_everything_with_a_failed_run(tiny_results, tmp_path, data_dir):
    suite = tmp_path / "tiny"
    shutil.copytree(tiny_results, suite)
    write_run(suite, "gan-s1", "mlp_gan", 1, status="failed")  # a failed seed beside the real runs
    edited = tmp_path / "tiny.toml"  # a claim added after training: a rerun trains nothing, records it
    edited.write_text((suite / "suite.toml").read_text() + """
[[claim]]
text = "the VAE reconstructs better than the GAN"
metric = "reconstruction_mse"
better = "vae"
than = "gan"
""")
    rerun = run_cli("run", str(edited), "--results", str(tmp_path), "--data-dir", str(data_dir))
    assert rerun.returncode == 0 and "nothing to do" in rerun.stderr, rerun.stderr
    result = run_cli("report", str(suite), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert str(suite / "report.html") in result.stderr.replace("\n", "")
    charts = {p.name for p in (suite / "charts").glob("*.png")}
    assert {"key_metrics.png", "training_curves.png", "quality_vs_cost.png", "samples.png", "reconstructions.png",
            "interpolations.png", "class_histograms.png"} <= charts
    for chart in (suite / "charts").glob("*.png"):
        with Image.open(chart) as image:
            image.verify()
    page = (suite / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(charts)
    assert not re.search(r"""(src|href)=['"](?!data:)""", page)  # nothing external
    assert "1 of 2 failed" in page and "n/a" in page and "not significant" in page
    # The point first: leaderboard, claims, then samples and reconstructions side by side, then how to
    # read the numbers, the key-metrics figure, training curves, and the details last.
    order = [page.index(marker) for marker in ("<h2>Leaderboard", "<h2>Claims", "<h2>Samples and reconstructions",
                                               "alt='8x8 samples", "alt='the first", "How to read these numbers",
                                               "<h2>Key metrics", "<h2>Training", "<h2>What was run")]
    assert order == sorted(order)
    howto = page[page.index("How to read these numbers"):page.index("<h2>Key metrics")]
    assert "evaluator-mnist-v1" in howto and "generated images per run" in howto and "Real-data floor" in howto
    assert "FID ↓ (lower is better)" in howto
    markdown = (suite / "report.md").read_text()
    assert "## Claims" in markdown and "charts/reconstructions.png" in markdown
    board = run_cli("leaderboard", str(suite), "--format", "md")
    assert board.returncode == 0 and "1 of 2 failed" in board.stdout and "| vae " in board.stdout


PROGRESS_SUITE = """
[suite]
name = "progress"
dataset = "mnist"
seeds = [0]

[defaults]
epochs = 3
batch_size = 64
train_subset = 1024
{extra}

[[run]]
name = "gan"
model = "mlp_gan"
latent_dim = 8
generator_hidden = [16]
discriminator_hidden = [16]

[evaluation]
enabled = false
"""


@pytest.mark.slow
def test_sample_every_saves_progress_grids_changes_no_number_and_shows_a_strip(tmp_path):
    plain, sampled = tmp_path / "plain.toml", tmp_path / "sampled.toml"
    plain.write_text(PROGRESS_SUITE.format(extra=""))
    sampled.write_text(PROGRESS_SUITE.format(extra="sample_every = 2"))
    assert load_suite(plain).runs[0].config_hash == load_suite(sampled).runs[0].config_hash
    for suite, results in ((plain, tmp_path / "a"), (sampled, tmp_path / "b")):
        result = run_cli("run", str(suite), "--results", str(results))
        assert result.returncode == 0, result.stderr
    run = tmp_path / "b" / "progress" / "gan-s0"
    assert sorted(p.name for p in (run / "progress").iterdir()) == ["epoch-0002.png", "epoch-0003.png"]  # and the last
    assert not (tmp_path / "a" / "progress" / "gan-s0" / "progress").exists()
    weights = [(root / "progress" / "gan-s0" / "weights.safetensors").read_bytes() for root in (tmp_path / "a", tmp_path / "b")]
    assert weights[0] == weights[1]  # sampling during training leaves the trained numbers alone
    report = run_cli("report", str(tmp_path / "b" / "progress"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "b" / "progress" / "report.html").read_text()
    assert "the same 16 latents decoded during training" in page


def test_a_folder_from_before_the_suite_record_still_reports(tmp_path):
    """Folders written before version 0.2 recorded only run ids and hashes in suite.json and kept
    their locks in claims/: the suite is expanded again from suite.toml, claims/ is no run, and
    the report is the one the full record gives."""
    from harness.analysis.suite_record import suite_record
    from harness.cli import main

    study = Path(__file__).resolve().parents[3] / "reference" / "gan_vs_vae"
    new, old = tmp_path / "new" / "gan_vs_vae", tmp_path / "old" / "gan_vs_vae"
    shutil.copytree(study, new)
    shutil.copytree(study, old)
    (old / "locks").rename(old / "claims")
    record = json.loads((old / "suite.json").read_text())
    legacy = {key: record[key] for key in ("suite", "source", "mixed_precision", "mixed_precision_source")}
    legacy["runs"] = [{key: run[key] for key in ("id", "name", "config_hash")} for run in record["runs"]]
    (old / "suite.json").write_text(json.dumps(legacy, indent=2))

    expanded = suite_record(SuiteFolder(old))
    assert expanded.expanded and [r.id for r in expanded.runs] == [r["id"] for r in record["runs"]]
    assert expanded.claims == record["claims"] and expanded.evaluation == record["evaluation"]
    assert "claims" not in {run.id for run in SuiteFolder(old).runs()}
    for folder in (new, old):
        assert main(["report", str(folder), "--output", str(folder.parent / "out")]) == 0
    reports = [(folder.parent / "out" / "report.md").read_text().replace(str(folder), "FOLDER") for folder in (new, old)]
    assert reports[0] == reports[1]
