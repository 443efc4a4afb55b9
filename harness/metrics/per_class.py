"""Per-class FID: how good are the images of each class, whatever the class proportions?

Generated images are assigned to classes by the pinned classifier's prediction, test images by
their true labels; FID is computed within each class (generated images of class c against the
reference's images of class c) in each feature space, and averaged with the test set's class
weights over the classes the model makes. A class with fewer than MIN_CLASS_SAMPLES generated
images has no reliable FID and is left out of the average: dropping classes shows in class
overlap and classes covered (mode_coverage), blur and noise show here. An overall FID mixes
both, and in the classifier's space the class histogram dominates it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.metrics.registry import METRICS
from harness.metrics.base import NOT_APPLICABLE, Column, Metric
from harness.metrics.sample_quality import SPACES, frechet_distance, gaussian_statistics

if TYPE_CHECKING:
    import torch

MIN_CLASS_SAMPLES = 50


def per_class_fid(real: torch.Tensor, real_labels: torch.Tensor, fake: torch.Tensor, fake_classes: torch.Tensor,
                  num_classes: int, min_samples: int = MIN_CLASS_SAMPLES) -> dict[str, Any]:
    """Class-weighted mean of within-class FIDs over the classes with enough generated images."""
    import torch

    weights = torch.bincount(real_labels, minlength=num_classes).double() / len(real_labels)
    per_class: dict[int, float] = {}
    for c in range(num_classes):
        mine, theirs = fake[fake_classes == c], real[real_labels == c]
        if len(mine) >= min_samples and len(theirs) >= 2:
            per_class[c] = frechet_distance(gaussian_statistics(mine), gaussian_statistics(theirs))
    if not per_class:
        return {"mean": None, "classes": {}}
    scored = torch.tensor(list(per_class))
    mean = sum(weights[c] * value for c, value in per_class.items()) / weights[scored].sum()
    return {"mean": float(mean), "classes": per_class}


@METRICS.register("per_class_fid")
class PerClassFID(Metric):
    name = "per_class_fid"
    columns = tuple(Column(f"fid_per_class{suffix}", f"per-class FID{'' if not suffix else ' (AE)'}", "lower",
                           digits=4, leaderboard=not suffix) for suffix in SPACES)
    sample_based = True
    needs_evaluator = True

    def settings(self, session) -> dict[str, Any]:
        return {"num_samples": session.config.num_samples, "reference": session.reference_subset(),
                "classes": "generated: the classifier's prediction; test: true labels",
                "min_class_samples": MIN_CLASS_SAMPLES, "weights": "test-set class shares",
                **session.evaluator_info}

    def compute(self, model, session) -> dict[str, Any]:
        classes = session.sample_logits(model).argmax(1)
        values: dict[str, Any] = {}
        for suffix, space in SPACES.items():
            if space not in session.feature_spaces:
                values[f"fid_per_class{suffix}"] = NOT_APPLICABLE
                continue
            result = per_class_fid(session.reference_features(space), session.reference_labels,
                                   session.sample_features(model, space), classes, session.dataset.spec.num_classes)
            values[f"fid_per_class{suffix}"] = result["mean"]
            session.details(self.name)[space] = {str(c): value for c, value in result["classes"].items()}
        return values
