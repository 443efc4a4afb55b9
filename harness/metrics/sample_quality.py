"""FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) through torchmetrics, in the
session's feature space (the pinned evaluator by default), statistics in float64."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from harness.metrics import METRICS
from harness.metrics.base import Column, Metric

if TYPE_CHECKING:
    import torch
    from torchmetrics.image.fid import FrechetInceptionDistance

KID_SEED = 0  # torchmetrics draws KID subsets from the global RNG; we pin it
FEATURE_BATCH = 1000
# KID keeps every feature in memory by design; at our sizes (10,000 x 128 floats) that is 5 MB.
warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance` will save all extracted features")


def feature_statistics(metric: FrechetInceptionDistance, real: bool) -> dict[str, torch.Tensor]:
    """Mean and covariance (float64) from a torchmetrics FID state, for saving and recomputing."""
    import torch

    prefix = "real" if real else "fake"
    n = getattr(metric, f"{prefix}_features_num_samples").double()
    total = getattr(metric, f"{prefix}_features_sum")
    mean = total / n
    cov = (getattr(metric, f"{prefix}_features_cov_sum") - n * torch.outer(mean, mean)) / (n - 1)
    return {"mean": mean.cpu(), "cov": cov.cpu(), "count": n.cpu().reshape(1)}


@METRICS.register("sample_quality")
class SampleQuality(Metric):
    name = "sample_quality"
    columns = (
        Column("fid", "FID", "lower", digits=4, leaderboard=True, chart=True),
        Column("kid_mean", "KID", "lower", digits=3, leaderboard=True, chart=True),
        Column("kid_std", "KID std over subsets", None, digits=3),
    )
    sample_based = True
    needs_evaluator = True

    def settings(self, session) -> dict[str, Any]:
        c = session.config
        return {"num_samples": c.num_samples, "reference": f"first {c.num_samples} test images",
                "kid_subsets": c.kid_subsets, "kid_subset_size": c.kid_subset_size, **session.evaluator_info}

    def _metrics(self, session):
        """FID and KID holding the test set's features, fed once per session."""
        def build():
            from torchmetrics.image.fid import FrechetInceptionDistance
            from torchmetrics.image.kid import KernelInceptionDistance

            c = session.config
            # sync_on_compute=False: every process feeds the full sets, nothing to add up.
            fid = FrechetInceptionDistance(feature=session.feature_net, reset_real_features=False, sync_on_compute=False)
            kid = KernelInceptionDistance(feature=session.feature_net, subsets=c.kid_subsets,
                                          subset_size=c.kid_subset_size, reset_real_features=False, sync_on_compute=False)
            fid, kid = fid.to(session.device), kid.to(session.device)
            for start in range(0, len(session.reference_images), FEATURE_BATCH):
                batch = session.reference_images[start : start + FEATURE_BATCH].to(session.device)
                fid.update(batch, real=True)
                kid.update(batch, real=True)
            return fid, kid

        return session.shared("fid_kid", build)

    def compute(self, model, session) -> dict[str, float]:
        """FID/KID of the samples against the reference; their feature statistics go to the run folder."""
        import torch

        images = session.samples(model)
        fid, kid = self._metrics(session)
        fid.reset()
        kid.reset()
        for start in range(0, len(images), FEATURE_BATCH):
            batch = images[start : start + FEATURE_BATCH].to(session.device)
            fid.update(batch, real=False)
            kid.update(batch, real=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(KID_SEED)
            kid_mean, kid_std = kid.compute()
        session.run.artifacts["feature_stats"] = feature_statistics(fid, real=False)
        session.run.artifacts["reference_feature_stats"] = feature_statistics(fid, real=True)
        return {"fid": float(fid.compute()), "kid_mean": float(kid_mean), "kid_std": float(kid_std)}
