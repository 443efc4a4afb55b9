"""Metric registry: a new metric is one new module registering a `Metric` subclass.

Metric modules are imported by the light commands (validate, leaderboard), so they import
torch and torchmetrics inside their functions.
"""

from harness.metrics.base import NOT_APPLICABLE, Metric
from harness.metrics.features import FEATURES, FeatureSpace
from harness.metrics.registry import METRICS

# Built-in metrics register themselves on import; this order is the leaderboard's column order.
from harness.metrics import sample_quality, per_class, precision_recall, mode_coverage, reconstruction, likelihood, ais  # noqa: E402,F401,I001

__all__ = ["FEATURES", "METRICS", "FeatureSpace", "Metric", "NOT_APPLICABLE"]
