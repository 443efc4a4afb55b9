"""Mode coverage through the pinned classifier's predictions of generated samples: does the
model make every class, in the right proportion?

- class overlap: sum over classes of min(generated share, test share), the histogram
  intersection; 1 when the proportions match, and a dropped class costs exactly its test share
  (0.1 for a digit), however good the other samples are. Precision cannot see this: a GAN
  collapsed onto one class scores precision 1.0 and class overlap about 0.1.
- classes covered: classes with at least COVERED_FRACTION of their test share;
- class KL: KL(generated class histogram || test class histogram), nats;
- classifier score: the Inception-score analogue, exp E_x[KL(p(y|x) || p(y))].

How good the samples of each class are is per-class FID (harness/metrics/per_class.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.metrics.registry import METRICS
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
        "class_overlap": float(torch.minimum(predicted, reference).sum()),
        "classes_covered": int((predicted >= COVERED_FRACTION * reference).sum()),
        "class_kl": float((predicted * (torch.log(predicted + EPS) - torch.log(reference + EPS))).sum()),
        "classifier_score": float(torch.exp(per_sample_kl.mean())),
    }


@METRICS.register("mode_coverage")
class ModeCoverage(Metric):
    name = "mode_coverage"
    columns = (
        Column("class_overlap", "class overlap", "higher", digits=3, leaderboard=True),
        Column("classes_covered", "classes covered", "higher", digits=2, summary=True),
        Column("class_kl", "class KL", "lower", "nats"),
        Column("classifier_score", "classifier score", "higher"),
    )
    sample_based = True
    needs_evaluator = True

    def settings(self, session) -> dict[str, Any]:
        return {"num_samples": session.config.num_samples, "covered_fraction": COVERED_FRACTION,
                "reference": {"labels": "true test labels", **session.reference_subset()}, **session.evaluator_info}

    def compute(self, model, session) -> dict[str, float]:
        return class_statistics(session.sample_logits(model), session.reference_labels,
                                session.dataset.spec.num_classes)
