"""`harness score`: samples made elsewhere, under exactly the protocol of the folder they join.

The independent check: the training images the real-data floor was computed from, saved as an
array and scored as an external entry, give the floor's numbers again (the same seeded
reference, evaluators and sample count); what samples cannot answer is n/a; bad input leaves
the folder as it was."""

import json
import shutil

import numpy as np
import pytest

from harness.core.seeds import subset_indices
from tests.conftest import SUITES, run_cli

pytestmark = pytest.mark.slow


def folder_state(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_the_floors_own_images_score_as_the_floor(tiny_results, tmp_path, mnist):
    results = tmp_path / "tiny"
    shutil.copytree(tiny_results, results)
    floor = json.loads((results / "reference" / "metrics.json").read_text())["values"]
    n = json.loads((results / "suite.json").read_text())["evaluation"]["num_samples"]
    train = mnist.train_images.numpy()[subset_indices(len(mnist.train_images), n, "train").numpy()]
    np.save(tmp_path / "floor_images.npy", train.transpose(0, 2, 3, 1))  # (N, H, W, C) uint8
    done = run_cli("score", str(tmp_path / "floor_images.npy"), "--dataset", "mnist", "--name", "floor-images",
                   "--results", str(results))
    assert done.returncode == 0, done.stderr
    row = json.loads((results / "floor-images" / "metrics_row.json").read_text())
    for key in ("fid", "fid_ae", "kid", "precision", "recall", "fid_inf"):
        assert row[key] == pytest.approx(floor[key], rel=1e-5, abs=1e-6), key
    assert row["reconstruction_mse"] == "n/a" and row["iwae"] == "n/a" and row["ais_log_likelihood"] == "n/a"
    config = json.loads((results / "floor-images" / "config.json").read_text())
    assert config["model"] == "external" and config["model_options"]["layout"] == "NHWC"
    assert config["model_options"]["range"] == "0,255" and config["model_options"]["images"] == n

    board = run_cli("leaderboard", str(results), "--format", "json")
    rows = {r["configuration"]: r for r in json.loads(board.stdout)["configurations"]}
    assert set(rows) == {"gan", "vae", "floor-images"}
    assert rows["floor-images"]["fid"] < rows["gan"]["fid"]
    # a claim may name the entry once the suite lists it in [suite] external
    suite = tmp_path / "tiny.toml"
    suite.write_text((SUITES / "tiny.toml").read_text().replace('seeds = [0]', 'seeds = [0]\nexternal = ["floor-images"]')
                     + '\n[[claim]]\ntext = "the floor\'s images beat the GAN"\nmetric = "fid"\nbetter = "floor-images"\n'
                       'than = "gan"\n')
    rerun = run_cli("run", str(suite), "--results", str(tmp_path))
    assert rerun.returncode == 0 and "nothing to do" in rerun.stderr, rerun.stderr
    status = run_cli("status", str(results))
    assert status.returncode == 0 and "external samples: " in status.stdout and "floor-images" in status.stdout
    report = run_cli("report", str(results))
    assert report.returncode == 0, report.stderr
    assert "floor-images" in (results / "report.html").read_text()
    assert "the floor's images beat the GAN" in (results / "report.md").read_text()


def test_bad_samples_leave_the_folder_as_it_was(tiny_results, tmp_path):
    results = tmp_path / "tiny"
    shutil.copytree(tiny_results, results)
    before = folder_state(results)
    np.save(tmp_path / "few.npy", np.zeros((10, 28, 28), np.uint8))
    np.save(tmp_path / "nan.npy", np.full((400, 28, 28), np.nan, np.float32))
    cases = [
        (["few.npy", "--dataset", "mnist"], "10 images, and the protocol of"),
        (["nan.npy", "--dataset", "mnist"], "400 image(s) hold NaN"),
        (["few.npy", "--dataset", "fashion-mnist"], "its runs are on mnist, not fashion-mnist"),
        (["few.npy", "--dataset", "mnist", "--num-samples", "5"], "--num-samples"),
        (["missing.npz", "--dataset", "mnist"], "no such file or folder"),
    ]
    for args, message in cases:
        done = run_cli("score", str(tmp_path / args[0]), *args[1:], "--name", "x", "--results", str(results))
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    clash = run_cli("score", str(tmp_path / "few.npy"), "--dataset", "mnist", "--name", "gan-s0", "--results",
                    str(results))
    assert clash.returncode == 2 and "a run of model 'mlp_gan' is there" in clash.stderr
    assert folder_state(results) == before


def test_without_a_suite_folder_the_entries_get_their_own(tmp_path, data_dir):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "noise.npz", samples=rng.random((300, 28, 28)).astype(np.float32))
    done = run_cli("score", str(tmp_path / "noise.npz"), "--dataset", "mnist", "--name", "noise", "--results",
                   str(tmp_path / "results"), "--num-samples", "300", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "results" / "external-mnist"
    assert (folder / "noise" / "metrics_row.json").is_file() and (folder / "reference" / "metrics.json").is_file()
    board = run_cli("leaderboard", str(folder), "--format", "json")
    assert [r["configuration"] for r in json.loads(board.stdout)["configurations"]] == ["noise"]
    again = run_cli("score", str(tmp_path / "noise.npz"), "--dataset", "mnist", "--name", "noise-again",
                    "--results", str(tmp_path / "results"))  # joins the folder, and keeps its protocol of 300
    assert again.returncode == 0, again.stderr
    rows = [json.loads((folder / n / "metrics_row.json").read_text()) for n in ("noise", "noise-again")]
    assert rows[0]["fid"] == rows[1]["fid"]
