"""The metric registry: a new metric is one module that registers a `Metric` subclass here."""

from harness.core.registry import Registry
from harness.metrics.base import Metric

METRICS: Registry[type[Metric]] = Registry("metric")
