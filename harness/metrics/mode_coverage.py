"""Mode coverage through the evaluator's class predictions of generated samples:
classes covered, KL divergence from the test set's class distribution, and the
classifier score (the Inception-score analogue, exp E_x[KL(p(y|x) || p(y))])."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.metrics import METRICS
from harness.metrics.base import Column, Metric

if TYPE_CHECKING:
    import torch

# A class counts as covered when it gets at least this fraction of its test-set share of samples.
COVERED_FRACTION = 0.1
EPS = 1e-12


def class_statistics(logits: torch.Tensor, reference_labels: torch.Tensor, num_classes: int) -> dict[str, float]:
    import torch

    probs = logits.double().softmax(1)
    predicted = torch.bincount(probs.argmax(1), minlength=num_classes).double() / len(probs)
    reference = torch.bincount(reference_labels, minlength=num_classes).double() / len(reference_labels)
    marginal = probs.mean(0)
    per_sample_kl = (probs * (torch.log(probs + EPS) - torch.log(marginal + EPS))).sum(1)
    return {
        "classes_covered": int((predicted >= COVERED_FRACTION * reference).sum()),
        "class_kl": float((predicted * (torch.log(predicted + EPS) - torch.log(reference + EPS))).sum()),
        "classifier_score": float(torch.exp(per_sample_kl.mean())),
    }


@METRICS.register("mode_coverage")
class ModeCoverage(Metric):
    name = "mode_coverage"
    columns = (
        Column("classes_covered", "classes covered", "higher", digits=2),
        Column("class_kl", "class KL", "lower", "nats"),
        Column("classifier_score", "classifier score", "higher"),
    )
    sample_based = True
    needs_evaluator = True

    def settings(self, session) -> dict[str, Any]:
        return {"num_samples": session.config.num_samples, "covered_fraction": COVERED_FRACTION,
                "reference": "test-set labels", **session.evaluator_info}

    def compute(self, model, session) -> dict[str, float]:
        return class_statistics(session.sample_logits(model), session.dataset.test_labels,
                                session.dataset.spec.num_classes)
