"""Evaluation wired into `harness run` and `harness evaluate`, on the tiny suite's real runs."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import SUITES, run_cli

TINY = SUITES / "tiny.toml"


@pytest.fixture
def evaluated(tiny_results):
    return tiny_results


def read(path):
    return json.loads(path.read_text())


def test_every_metric_is_recorded_with_settings_and_time(evaluated):
    gan, vae = read(evaluated / "gan-s0" / "metrics_row.json"), read(evaluated / "vae-s0" / "metrics_row.json")
    for row in (gan, vae):
        for column in ("fid", "fid_inf", "kid", "kid_subset_std", "fid_ae", "fid_inf_ae", "kid_ae", "precision",
                       "recall", "density", "coverage", "class_overlap", "classes_covered", "class_kl",
                       "classifier_score", "reconstruction_mse", "inversion_mse", "ais_log_likelihood", "ais_sigma"):
            assert isinstance(row[column], (int, float)), column
        assert row["evaluator"] == "evaluator-mnist-v1" and len(row["evaluator_sha256"]) == 64
        assert row["autoencoder"] == "autoencoder-mnist-v1" and row["fid_samples"] == 300
        assert row["fid"] > 0 and 0 <= row["precision"] <= 1 and 1 <= row["classes_covered"] <= 10
    # GANs have no likelihood: n/a, never 0 or blank
    assert gan["elbo"] == "n/a" and gan["iwae"] == "n/a"
    assert vae["iwae"] >= vae["elbo"] - 1.0 and vae["elbo"] < 0
    assert vae["likelihood_model"] == "bernoulli_intensities" and vae["iwae_bits_per_dim"] == "n/a"  # not a density
    assert gan["reconstruction_method"] == "latent inversion" and vae["reconstruction_method"] == "encoder mean"
    report = read(evaluated / "gan-s0" / "metrics.json")
    assert report["metrics"]["likelihood"]["status"] == "n/a" and "BoundsLikelihood" in report["metrics"]["likelihood"]["reason"]
    quality = report["metrics"]["sample_quality"]
    assert quality["settings"]["num_samples"] == 300 and quality["settings"]["evaluator_sha256"] == gan["evaluator_sha256"]
    assert quality["seconds"] > 0
    inversion = report["metrics"]["reconstruction"]["settings"]
    assert inversion["inversion_steps"] == 20 and inversion["inversion_restarts"] == 2
    assert inversion["images"] == {"split": "test", "images": 32, "of": 10000, "chosen": "seeded random subset",
                                   "seed": 20260101}
    assert quality["settings"]["reference"]["chosen"] == "seeded random subset"


def test_saved_statistics_reproduce_fid(evaluated):
    """FID recomputed independently (scipy) from the saved mean/covariance equals the reported one."""
    import numpy as np
    import scipy.linalg

    stats = load_file(evaluated / "gan-s0" / "feature_stats.safetensors")
    reference = load_file(evaluated / "reference" / "test_stats.safetensors")
    row = read(evaluated / "gan-s0" / "metrics_row.json")
    for space, column in (("classifier", "fid"), ("autoencoder", "fid_ae")):
        assert int(stats[f"{space}.count"]) == 300 and stats[f"{space}.cov"].dtype == torch.float64
        mu_a, mu_b = reference[f"{space}.mean"].numpy(), stats[f"{space}.mean"].numpy()
        cov_a, cov_b = reference[f"{space}.cov"].numpy(), stats[f"{space}.cov"].numpy()
        fid = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
        assert fid == pytest.approx(row[column], rel=1e-3)


def test_real_data_floor_is_far_below_a_barely_trained_model(evaluated):
    floor = read(evaluated / "reference" / "metrics.json")["values"]
    gan = read(evaluated / "gan-s0" / "metrics_row.json")
    assert floor["fid"] < 0.2 * gan["fid"]
    assert floor["precision"] > 0.5 and floor["classes_covered"] == 10


@pytest.mark.slow
def test_evaluate_reproduces_the_numbers_without_retraining(evaluated, tmp_path):
    copy = tmp_path / "tiny"
    shutil.copytree(evaluated, copy)
    for run_id in ("gan-s0", "vae-s0"):
        (copy / run_id / "metrics_row.json").unlink()
    weights_before = (copy / "gan-s0" / "weights.safetensors").read_bytes()
    result = run_cli("evaluate", str(copy))
    assert result.returncode == 0, result.stderr
    for run_id in ("gan-s0", "vae-s0"):
        before, after = read(evaluated / run_id / "metrics_row.json"), read(copy / run_id / "metrics_row.json")
        for key, value in before.items():
            if key.endswith("seconds"):
                continue
            assert after[key] == pytest.approx(value, rel=1e-6) if isinstance(value, float) else after[key] == value, key
    assert (copy / "gan-s0" / "weights.safetensors").read_bytes() == weights_before
    # more samples: a different, recorded setting
    result = run_cli("evaluate", str(copy), "--only", "vae", "--num-samples", "400", "--metrics", "sample_quality")
    assert result.returncode == 0, result.stderr
    report = read(copy / "vae-s0" / "metrics.json")
    assert report["metrics"]["sample_quality"]["settings"]["num_samples"] == 400
    # the metrics not asked for keep their earlier results, marked as such
    assert len(report["metrics"]) > 1 and all("kept_from" in result for name, result in report["metrics"].items()
                                              if name != "sample_quality")


def test_evaluate_refuses_a_folder_without_runs(tmp_path):
    result = run_cli("evaluate", str(tmp_path))
    assert result.returncode == 2 and "no suite.toml" in result.stderr and "Traceback" not in result.stderr


def test_trained_model_beats_untrained(mnist):
    """A VAE after one epoch scores far better than the same network untrained."""
    from harness.execution.sharding import ShardedNoise
    from harness.config.evaluation import EvaluationConfig
    from harness.evaluation.session import EvaluationSession
    from harness.metrics.precision_recall import PrecisionRecall
    from harness.metrics.sample_quality import SampleQuality
    from harness.models import build_model
    from harness.execution.data_parallel import DataParallel

    config = EvaluationConfig(num_samples=500, kid_subset_size=250, kid_subsets=10)
    session = EvaluationSession(config, mnist, DataParallel("no", "test"))
    torch.manual_seed(0)
    vae = build_model("mlp_vae", {}, (1, 28, 28))
    untrained = SampleQuality().compute(vae, session)["fid"]
    untrained_coverage = PrecisionRecall().compute(vae, session)["coverage"]
    data = mnist.train_images.float() / 255
    noise = ShardedNoise(0, 0, 64, 0, 1, torch.device("cpu"))
    for i in range(0, len(data) - 63, 64):
        vae.train_step(data[i : i + 64], noise, lambda l: l.backward())
    session.start_run()
    trained = SampleQuality().compute(vae, session)["fid"]
    trained_coverage = PrecisionRecall().compute(vae, session)["coverage"]
    assert trained < 0.7 * untrained, (trained, untrained)
    # noise-like untrained samples sit at one point: they cover almost none of the test set
    assert trained_coverage > max(0.1, 4 * untrained_coverage), (trained_coverage, untrained_coverage)


@pytest.mark.slow
def test_rerun_scores_runs_that_were_trained_but_never_evaluated(evaluated, tmp_path):
    copy = tmp_path / "tiny"
    shutil.copytree(evaluated, copy)
    (copy / "vae-s0" / "metrics_row.json").unlink()  # as if killed during evaluation
    weights = (copy / "vae-s0" / "weights.safetensors").read_bytes()
    result = run_cli("run", str(TINY), "--results", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "evaluated vae-s0 (trained earlier)" in result.stderr
    assert read(copy / "vae-s0" / "metrics_row.json")["fid"] == pytest.approx(read(evaluated / "vae-s0" / "metrics_row.json")["fid"])
    assert (copy / "vae-s0" / "weights.safetensors").read_bytes() == weights  # not retrained
