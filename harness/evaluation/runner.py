"""Evaluate trained runs from their saved weights and write the numbers (and the report's
figures) next to them through the results store.

Evaluation always starts from the saved weights in full precision, so evaluating right after
training and re-evaluating later (`harness evaluate`) give the same numbers. Every process
computes its share (the strategy splits and gathers); only the writing process writes.
"""

import time
import traceback
from collections.abc import Callable
from typing import Any

import torch

from harness.datasets import DatasetSpec
from harness.evaluation.figures import model_figures
from harness.evaluation.session import EvaluationSession
from harness.core.seeds import subset_indices, subset_record
from harness.metrics import METRICS, NOT_APPLICABLE
from harness.models import build_model
from harness.models.base import GenerativeModel
from harness.store import (MetricsRow, ReferenceRecord, ResultsFileError, RunConfig, RunFolder, SuiteFolder, now,
                           read_json)


def load_trained_model(folder: RunFolder, spec: DatasetSpec, device: torch.device) -> tuple[GenerativeModel, RunConfig]:
    config = folder.read_config()
    try:
        model = build_model(config.model, config.model_options, spec.image_shape)
    except (ValueError, KeyError, TypeError) as err:  # pydantic's ValidationError is a ValueError
        raise ResultsFileError(folder.config_file, f"does not describe a model this harness builds ({_one_line(err)})",
                               "retrain the run with `harness run --rerun NAME`") from None
    try:
        model.load_state_dict(folder.read_weights())
    except RuntimeError as err:
        raise ResultsFileError(folder.weights_file, f"weights do not fit model {config.model!r} ({_one_line(err)})",
                               "retrain the run with `harness run --force`") from None
    for net in model.networks.values():
        net.to(device).eval()
    return model, config


def _one_line(err: Exception, limit: int = 200) -> str:
    return " ".join(str(err).split())[:limit]


def evaluate_run(folder: RunFolder, session: EvaluationSession,
                 on_metric: Callable[[str, int, int], None] = lambda name, index, total: None,
                 ) -> tuple[MetricsRow, list[str]]:
    """Score one trained run with every configured metric; return its flat row and the failed metrics.

    `on_metric(name, index, total)` is called as each metric starts (a progress display: some
    metrics take minutes), and with "figures" before the report's figures are drawn.

    After each metric the finished ones are saved (metrics.partial.json); an evaluation that was
    interrupted reuses them if nothing that determines them changed (weights, settings, evaluators).
    """
    model, config = load_trained_model(folder, session.dataset.spec, session.device)
    weights = folder.weights_file.stat()
    session.start_run()
    return score_model(model, config, folder, session, on_metric, [weights.st_size, weights.st_mtime_ns])


def score_model(model: Any, config: RunConfig, folder: RunFolder, session: EvaluationSession,
                on_metric: Callable[[str, int, int], None], identity: Any) -> tuple[MetricsRow, list[str]]:
    """Score `model` (a trained model, or samples made elsewhere already in the session) with
    every configured metric into `folder`; `identity` says what its numbers depend on beside the
    settings and evaluators (the weights' size and time, the samples' hash)."""
    started = time.perf_counter()
    report: dict[str, Any] = {}
    failed: list[str] = []
    row: dict[str, Any] = {
        "id": config.id, "name": config.name, "suite": config.suite, "model": config.model,
        "seed": config.seed, "config_hash": config.config_hash, **config.matrix,
    }
    key = _evaluation_key(identity, session)
    partial = folder.read_partial_evaluation()
    done = partial["metrics"] if partial and partial.get("key") == key and isinstance(partial.get("metrics"), dict) else {}
    session.strategy.wait()  # every process has read it before the writer adds to it
    for index, name in enumerate(session.config.metrics):
        on_metric(name, index, len(session.config.metrics))
        metric = METRICS.get(name)()
        if name in done and not metric.saves_artifacts:
            report[name], values = done[name]["report"], done[name]["row"]
            row.update(values)
            continue
        reason = metric.missing_capability(model)
        if reason is not None:
            report[name] = {"status": NOT_APPLICABLE, "reason": reason}
            row.update({column: NOT_APPLICABLE for column in metric.column_names()})
            continue
        metric_started = time.perf_counter()
        try:
            values = metric.compute(model, session)
        except Exception as err:  # one broken metric must not cost the others
            report[name] = {"status": "failed", "error": f"{type(err).__name__}: {err}",
                            "traceback": traceback.format_exc()}
            row.update({column: None for column in metric.column_names()})
            failed.append(name)
            continue
        seconds = round(time.perf_counter() - metric_started, 3)
        report[name] = {"status": "ok", "values": values, "settings": metric.settings(session), "seconds": seconds,
                        **({"details": details} if (details := session.run.artifacts.get("details", {}).get(name)) else {})}
        row.update(values)
        row[f"{name}_seconds"] = seconds
        done[name] = {"report": report[name], "row": {**values, f"{name}_seconds": seconds}}
        if session.strategy.writes_results:
            folder.write_partial_evaluation({"key": key, "metrics": done})
    for name, (earlier_report, earlier_row) in _earlier_metrics(folder, session).items():
        report[name], row = earlier_report, {**earlier_row, **row}
    on_metric("figures", len(session.config.metrics), len(session.config.metrics))
    try:
        figures = model_figures(model, session)
    except Exception as err:  # the report's pictures must not cost the numbers (e.g. a plugin's decode)
        figures = None
        report["figures"] = {"status": "failed", "error": f"{type(err).__name__}: {err}",
                             "traceback": traceback.format_exc()}
    row.update(session.evaluator_info)
    row["evaluation_seconds"] = round(time.perf_counter() - started, 3)
    metrics_row = MetricsRow.model_validate(row)
    if session.strategy.writes_results:
        folder.write_evaluation(
            {"run": config.id, "evaluated_at": now(), **session.evaluator_info,
             "evaluation_seconds": row["evaluation_seconds"], "metrics": report},
            metrics_row, session.run.artifacts.get("feature_stats"), figures,
        )
    session.strategy.wait()
    return metrics_row, failed


def _earlier_metrics(folder: RunFolder, session: EvaluationSession) -> dict[str, tuple[dict, dict]]:
    """The run's earlier results of metrics this evaluation does not compute (`evaluate --metrics fid`
    re-scores FID and keeps the rest), as {metric: (report, row values)}. Only results from the same
    evaluators are kept; a run retrained since has no earlier results (its folder starts afresh)."""
    try:
        earlier, earlier_row = read_json(folder.metrics_file), folder.read_metrics_row().values
    except ResultsFileError:
        return {}
    if not isinstance(earlier, dict) or any(earlier.get(k) != v for k, v in session.evaluator_info.items()):
        return {}
    kept = {}
    for name, result in (earlier.get("metrics") or {}).items():
        if name in session.config.metrics or name not in METRICS or not isinstance(result, dict):
            continue
        columns = [*METRICS.get(name).column_names(), f"{name}_seconds"]
        kept[name] = ({**result, "kept_from": earlier.get("evaluated_at")},
                      {c: earlier_row[c] for c in columns if c in earlier_row})
    return kept


def _evaluation_key(model_identity: Any, session: EvaluationSession) -> str:
    """What determines a run's metric values: its weights, the evaluation settings, the evaluators."""
    import hashlib
    import json

    identity = {"weights": model_identity, "config": session.config.model_dump(mode="json"),
                "evaluators": session.evaluator_info}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def evaluate_reference(suite: SuiteFolder, session: EvaluationSession) -> ReferenceRecord | None:
    """The real-data floor: N training images scored against the test reference exactly like a model's N samples.

    The training images are a seeded random subset, like the reference: a model that reproduced
    the data distribution perfectly would score about this.
    """
    metrics = [METRICS.get(name)() for name in session.config.metrics if METRICS.get(name).sample_based]
    if not metrics:
        return None
    n = session.config.num_samples
    train = session.dataset.train_images
    session.start_run(samples=train[subset_indices(len(train), n, "train")].float().div(255))
    started = time.perf_counter()
    values: dict[str, Any] = {}
    for metric in metrics:
        values.update(metric.compute(None, session))
    record = ReferenceRecord.model_validate({
        "what": f"{n} training images against the {n}-image test reference (a perfect model's score)",
        "samples": subset_record(len(train), n, "train"), "reference": session.reference_subset(),
        "evaluated_at": now(), **session.evaluator_info, "values": values,
        "seconds": round(time.perf_counter() - started, 3),
    })
    artifacts = session.run.artifacts
    stats = ({"train": artifacts["feature_stats"], "test": artifacts["reference_feature_stats"]}
             if "feature_stats" in artifacts else {})
    if session.strategy.writes_results:
        suite.write_reference(record, stats)
    session.strategy.wait()
    return record
