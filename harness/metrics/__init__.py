"""Metric registry: a new metric is one new module registering a `Metric` subclass."""

from harness.metrics.base import NOT_APPLICABLE, Metric
from harness.registry import Registry

METRICS: Registry[type[Metric]] = Registry("metric")

# Built-in metrics register themselves on import.
from harness.metrics import likelihood, mode_coverage, precision_recall, reconstruction, sample_quality  # noqa: E402,F401

__all__ = ["METRICS", "Metric", "NOT_APPLICABLE"]
