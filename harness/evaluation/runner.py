"""Evaluate trained runs from their saved weights and write the numbers next to them.

    <run dir>/metrics.json             every metric: values, settings, wall time (or n/a + why)
    <run dir>/metrics_row.json         one flat row per run, what aggregation reads
    <run dir>/feature_stats.safetensors  mean and covariance of the samples' features (FID inputs)
    <suite dir>/reference/metrics.json   the real-data floor: N training images scored like a model
    <suite dir>/reference/*_stats.safetensors  feature statistics of the test and training references

Evaluation always starts from `weights.safetensors` in full precision, so evaluating right after
training and re-evaluating later (`harness evaluate`) give the same numbers.
"""

import time
import traceback
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from harness import results
from harness.datasets import Dataset
from harness.evaluation.session import EvaluationSession
from harness.metrics import METRICS, NOT_APPLICABLE
from harness.metrics.mode_coverage import ModeCoverage
from harness.metrics.precision_recall import PrecisionRecall
from harness.metrics.sample_quality import SampleQuality
from harness.models import MODELS
from harness.models.base import GenerativeModel

REFERENCE_DIR = "reference"


def load_trained_model(run_dir: Path, dataset: Dataset, device: torch.device) -> tuple[GenerativeModel, dict[str, Any]]:
    config = results.read_json(run_dir / "config.json")
    family = MODELS.get(config["model"])
    model = family(family.config_class(**config["model_options"]), dataset.spec.image_shape)
    model.load_state_dict(load_file(run_dir / "weights.safetensors"))
    for net in model.networks.values():
        net.to(device).eval()
    return model, config


def evaluate_run(run_dir: Path, session: EvaluationSession) -> tuple[dict[str, Any], list[str]]:
    """Score one trained run with every configured metric; return its flat row and the failed metrics."""
    model, config = load_trained_model(run_dir, session.dataset, session.device)
    session.start_run()
    started = time.perf_counter()
    report: dict[str, Any] = {}
    failed: list[str] = []
    row: dict[str, Any] = {
        "id": config["id"], "name": config["name"], "suite": config["suite"], "model": config["model"],
        "seed": config["seed"], "config_hash": config["config_hash"], **config.get("matrix", {}),
    }
    for name in session.config.metrics:
        metric = METRICS.get(name)()
        reason = metric.missing_capability(model)
        if reason is not None:
            report[name] = {"status": NOT_APPLICABLE, "reason": reason}
            row.update({column: NOT_APPLICABLE for column in metric.columns})
            continue
        metric_started = time.perf_counter()
        try:
            values = metric.compute(model, session)
        except Exception as err:  # one broken metric must not cost the others
            report[name] = {"status": "failed", "error": f"{type(err).__name__}: {err}",
                            "traceback": traceback.format_exc()}
            row.update({column: None for column in metric.columns})
            failed.append(name)
            continue
        seconds = round(time.perf_counter() - metric_started, 3)
        report[name] = {"status": "ok", "values": values, "settings": metric.settings(session), "seconds": seconds}
        row.update(values)
        row[f"{name}_seconds"] = seconds
    row.update(session.evaluator_info)
    row["evaluation_seconds"] = round(time.perf_counter() - started, 3)
    if session.accelerator.is_main_process:
        stats = session.run.artifacts.get("feature_stats")
        if stats is not None:
            results.atomic_write(run_dir / "feature_stats.safetensors", lambda tmp: save_file(stats, str(tmp)))
        results.write_json(run_dir / "metrics.json", {
            "run": config["id"], "evaluated_at": results.now(), **session.evaluator_info,
            "evaluation_seconds": row["evaluation_seconds"], "metrics": report,
        })
        results.write_json(run_dir / "metrics_row.json", row)
    session.accelerator.wait_for_everyone()
    return row, failed


def evaluate_reference(suite_dir: Path, session: EvaluationSession) -> dict[str, Any] | None:
    """The real-data floor: N training images scored against the test reference like a model."""
    wanted = set(session.config.metrics) & {"sample_quality", "precision_recall", "mode_coverage"}
    if not wanted:
        return None
    n = session.config.num_samples
    train_images = session.dataset.train_images[:n].float().div(255)
    started = time.perf_counter()
    values: dict[str, Any] = {}
    sample_quality = SampleQuality()
    if "sample_quality" in wanted:
        scores, train_stats = sample_quality.score(train_images, session)
        values.update(scores)
    if "precision_recall" in wanted:
        values.update(PrecisionRecall().score(session.features(train_images), session))
    if "mode_coverage" in wanted:
        values.update(ModeCoverage().score(session.class_logits(train_images), session))
    record = {
        "what": f"first {n} training images against the first {n} test images (a perfect model's score)",
        "evaluated_at": results.now(), **session.evaluator_info, "values": values,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if session.accelerator.is_main_process:
        folder = suite_dir / REFERENCE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        if "sample_quality" in wanted:
            test_stats = sample_quality.reference_statistics(session)
            results.atomic_write(folder / "test_stats.safetensors", lambda tmp: save_file(test_stats, str(tmp)))
            results.atomic_write(folder / "train_stats.safetensors", lambda tmp: save_file(train_stats, str(tmp)))
        results.write_json(folder / "metrics.json", record)
    session.accelerator.wait_for_everyone()
    return record
