"""FID (Heusel et al. 2017), FID∞ (Chong & Forsyth 2020) and KID (Binkowski et al. 2018), in
each of the session's feature spaces (the pinned classifier and autoencoder by default).

- **FID** at a fixed, recorded N (`num_samples` generated images against the seeded N-image
  test reference). FID is biased upwards by an amount that shrinks like 1/N, so FIDs at
  different N are not comparable; the row records N (`fid_samples`).
- **FID∞** removes that dependence: FID at 15 sample sizes spaced evenly in 1/N between N/5
  and N (random subsets of the generated images, seeded), a least-squares line in 1/N, and its
  value at 1/N = 0. Chong & Forsyth use 5,000..50,000 Inception samples; we use what the
  evaluation generates.
- **KID** is the unbiased polynomial-kernel MMD² averaged over random subsets. Raw ReLU features
  whose norms differ 3× between real and generated images saturate the cubic kernel (every
  poor model scored 86-92), so features are first centred on the reference's mean and divided by
  its root-mean-square standard deviation (one number for all features: per-feature scaling
  blows up features that are almost always zero in the reference), and the kernel is
  (x·y/d + 1)³. Reported ×10³.

The Fréchet distance and the MMD² are torchmetrics' formulas (`_compute_fid`, `poly_mmd`), written
out here operation for operation: importing any part of torchmetrics loads all of it (scipy.signal
and matplotlib through its audio and plotting modules), 2 s of every evaluating process's start
on a 2-core CPU, for two formulas of a few lines. `tests/unit/metrics/test_metrics.py` checks
that both give torchmetrics' values bit for bit. Statistics are saved next to each run (float64)
so anyone can recompute FID without the weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, PositiveInt

from harness.metrics.registry import METRICS
from harness.metrics.features import PINNED
from harness.metrics.base import NOT_APPLICABLE, Column, Metric, MetricSettings
from harness.core.seeds import derived_seed

if TYPE_CHECKING:
    import torch

KID_SEED = 0
KID_SCALE = 1000.0
FID_INF_POINTS = 15  # Chong & Forsyth's default
FID_INF_SMALLEST = 0.2  # the smallest subset, as a fraction of num_samples
SPACES = {"": "classifier", "_ae": "autoencoder"}  # column suffix -> pinned evaluator


def gaussian_statistics(features: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean, covariance (float64, unbiased) and count of a feature set."""
    import torch

    x = features.double()
    return {"mean": x.mean(0), "cov": torch.cov(x.T), "count": torch.tensor([float(len(x))], dtype=torch.float64)}


def frechet_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """|mu_a - mu_b|² + Tr(S_a + S_b - 2 (S_a S_b)^½): torchmetrics' `_compute_fid`, the trace of the
    root as the sum of the square roots of S_a S_b's eigenvalues (no sqrtm)."""
    import torch

    means = (a["mean"] - b["mean"]).square().sum(dim=-1)
    traces = a["cov"].trace() + b["cov"].trace()
    root = torch.linalg.eigvals(a["cov"] @ b["cov"]).sqrt().real.sum(dim=-1)
    return float(means + traces - 2 * root)


def polynomial_mmd2(real: torch.Tensor, fake: torch.Tensor, degree: int = 3, coef: float = 1.0) -> torch.Tensor:
    """Unbiased MMD² of two equal-sized sets under the kernel (x·y/d + coef)^degree: torchmetrics'
    `poly_mmd` (the diagonals left out of the within-set sums, the cross sum over all pairs)."""
    gamma = 1.0 / real.shape[1]
    within_real, within_fake, across = ((x @ y.T * gamma + coef) ** degree
                                        for x, y in ((real, real), (fake, fake), (real, fake)))
    m = within_real.shape[0]
    within = ((within_real.sum(dim=-1) - within_real.diag()).sum()
              + (within_fake.sum(dim=-1) - within_fake.diag()).sum())
    return within / (m * (m - 1)) - 2 * across.sum(dim=0).sum() / (m**2)


def fid_infinity(reference: dict[str, torch.Tensor], fake: torch.Tensor, seed: int = 0,
                 points: int = FID_INF_POINTS, smallest: float = FID_INF_SMALLEST) -> dict[str, float]:
    """FID extrapolated to infinitely many generated samples: intercept of FID against 1/N."""
    import torch

    total = len(fake)
    low = max(2, int(total * smallest))
    inverse = torch.linspace(1 / low, 1 / total, points, dtype=torch.float64)
    sizes = sorted({int(round(1 / value)) for value in inverse.tolist()})
    generator = torch.Generator().manual_seed(seed)
    fids = []
    for size in sizes:
        chosen = torch.randperm(total, generator=generator)[:size]
        fids.append(frechet_distance(gaussian_statistics(fake[chosen]), reference))
    x = torch.tensor([1 / size for size in sizes], dtype=torch.float64)
    y = torch.tensor(fids, dtype=torch.float64)
    slope = ((x - x.mean()) * (y - y.mean())).sum() / (x - x.mean()).pow(2).sum()
    return {"fid_inf": float(y.mean() - slope * x.mean()), "fid_inf_slope": float(slope)}


def standardised_kid(real: torch.Tensor, fake: torch.Tensor, subsets: int, subset_size: int,
                     seed: int = KID_SEED) -> tuple[float, float]:
    """Mean and std over subsets of the unbiased cubic-kernel MMD², features centred and scaled by the reference's."""
    import torch

    mean, scale = real.double().mean(0), real.double().var(0).mean().sqrt().clamp_min(1e-12)
    real, fake = (real.double() - mean) / scale, (fake.double() - mean) / scale
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        r = real[torch.randperm(len(real), generator=generator)[:subset_size]]
        f = fake[torch.randperm(len(fake), generator=generator)[:subset_size]]
        values.append(polynomial_mmd2(r, f))
    stacked = torch.stack(values)
    return float(stacked.mean()), float(stacked.std())


def _columns() -> tuple[Column, ...]:
    columns = []
    for suffix in SPACES:
        tag = "" if not suffix else " (AE)"
        columns += [
            Column(f"fid{suffix}", f"FID{tag}", "lower", digits=4, leaderboard=True, chart=True, primary=not suffix,
                   summary=not suffix),
            Column(f"fid_inf{suffix}", f"FID∞{tag}", "lower", digits=4),
            Column(f"kid{suffix}", f"KID{tag}", "lower", "×10³", digits=3, chart=not suffix),
            Column(f"kid_subset_std{suffix}", f"KID std over subsets{tag}", None, "×10³", digits=3),
        ]
    return (*columns, Column("fid_samples", "FID sample size", None, digits=5, changes_meaning="samples"))


class SampleQualitySettings(MetricSettings):
    kid_subsets: PositiveInt = Field(default=100, description="KID: number of random subsets")
    kid_subset_size: PositiveInt = Field(default=1000, description="KID: images per subset")

    def problem(self, num_samples: int) -> str | None:
        if self.kid_subset_size > num_samples:
            return f"kid_subset_size ({self.kid_subset_size}) must not exceed num_samples ({num_samples})"
        return None


@METRICS.register("sample_quality")
class SampleQuality(Metric):
    name = "sample_quality"
    Settings = SampleQualitySettings
    columns = _columns()
    sample_based = True
    needs_evaluator = True
    saves_artifacts = True  # the samples' feature statistics

    def settings(self, session) -> dict[str, Any]:
        c = self.configured(session.config)
        return {"num_samples": session.config.num_samples, "reference": session.reference_subset(),
                "fid_inf": {"points": FID_INF_POINTS, "smallest_subset": int(session.config.num_samples * FID_INF_SMALLEST)},
                "kid": {"subsets": c.kid_subsets, "subset_size": c.kid_subset_size, "kernel": "(x.y/d + 1)^3",
                        "features": "centred on the reference's mean, divided by its RMS standard deviation",
                        "reported_times": KID_SCALE},
                "feature_spaces": session.feature_spaces, **session.evaluator_info}

    def compute(self, model, session) -> dict[str, Any]:
        """FID, FID∞ and KID in every feature space; the feature statistics go to the run folder."""
        c = self.configured(session.config)
        values: dict[str, Any] = {"fid_samples": session.config.num_samples}
        for suffix, kind in SPACES.items():
            space = session.config.features if (session.config.features != PINNED and not suffix) else kind
            if space not in session.feature_spaces:
                values.update({f"{name}{suffix}": NOT_APPLICABLE for name in ("fid", "fid_inf", "kid", "kid_subset_std")})
                continue
            real, fake = session.reference_features(space), session.sample_features(model, space)
            reference = session.shared(f"statistics-{space}", lambda: gaussian_statistics(real))  # noqa: B023 (called here)
            statistics = gaussian_statistics(fake)
            kid, kid_std = standardised_kid(real, fake, c.kid_subsets, c.kid_subset_size)
            extrapolated = fid_infinity(reference, fake, seed=derived_seed(0, "fid_inf"))
            values.update({f"fid{suffix}": frechet_distance(statistics, reference),
                           f"fid_inf{suffix}": extrapolated["fid_inf"],
                           f"kid{suffix}": kid * KID_SCALE, f"kid_subset_std{suffix}": kid_std * KID_SCALE})
            session.run.artifacts.setdefault("feature_stats", {}).update(
                {f"{space}.{key}": value for key, value in statistics.items()})
            session.run.artifacts.setdefault("reference_feature_stats", {}).update(
                {f"{space}.{key}": value for key, value in reference.items()})
        return values
