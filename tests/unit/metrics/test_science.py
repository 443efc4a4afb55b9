"""What the numbers mean: unbiased references, FID∞, the second feature space, per-class quality,
proper likelihoods, AIS against exact values and bounds, and claims corrected for multiplicity."""

import dataclasses
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from harness.analysis.claims import CONTRADICTED, NOT_SIGNIFICANT, SUPPORTED, holm, judge_all
from harness.config.claims import Claim
from harness.datasets import DATASETS, Dataset
from harness.core.errors import HarnessError
from harness.config.evaluation import EvaluationConfig
from harness.evaluation.evaluator import load_evaluator, sha256_of, train_evaluator
from harness.evaluation.session import EvaluationSession
from harness.core.seeds import subset_indices
from harness.metrics.ais import ais_log_likelihood, annealed_importance_sampling, bdmc_gap, log_mean_exp
from harness.metrics.likelihood import iwae_bound
from harness.metrics.mode_coverage import class_statistics
from harness.metrics.per_class import per_class_fid
from harness.metrics.sample_quality import fid_infinity, frechet_distance, gaussian_statistics
from harness.models import build_model
from harness.models.latents import Prior
from harness.models.likelihoods import LIKELIHOODS, dequantize
from harness.store import STATUS_COMPLETED
from harness.execution.data_parallel import DataParallel


@pytest.fixture(scope="module")
def classifier():
    return load_evaluator(DATASETS.get("mnist"))[0]


def features(net, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net(images[i : i + 1000]) for i in range(0, len(images), 1000)])


# -- references ---------------------------------------------------------------------------


def test_reference_is_a_seeded_random_subset_never_the_first_n(mnist, classifier):
    session = EvaluationSession(EvaluationConfig(num_samples=2000), mnist, DataParallel("no", "test"))
    chosen = subset_indices(10_000, 2000, "test")
    assert torch.equal(session.reference_images, mnist.test_images[chosen].float() / 255)
    assert not torch.equal(chosen.sort().values, torch.arange(2000))
    assert torch.equal(subset_indices(10_000, 500, "test"), chosen[:500]), "subsets are nested prefixes"
    assert torch.equal(subset_indices(10_000, 10_000, "test"), torch.arange(10_000)), "the whole split as is"

    # Why: the first N test images are the cleaner writers. Random training images score a much
    # lower FID against the harness's reference than against the first N.
    train = features(classifier, mnist.train_images[subset_indices(60_000, 2000, "train")].float() / 255)
    random_reference = gaussian_statistics(features(classifier, session.reference_images))
    first_n = gaussian_statistics(features(classifier, mnist.test_images[:2000].float() / 255))
    fid_random, fid_first = frechet_distance(gaussian_statistics(train), random_reference), \
        frechet_distance(gaussian_statistics(train), first_n)
    assert fid_first > 1.5 * fid_random, (fid_random, fid_first)


def test_fid_infinity_recovers_the_frechet_distance_of_known_gaussians():
    torch.manual_seed(0)
    d = 64
    a = torch.randn(d, d) / math.sqrt(d)
    cov_fake = a @ a.T + 0.5 * torch.eye(d)
    mean_fake = torch.full((d,), 0.3)
    reference = {"mean": torch.zeros(d, dtype=torch.float64), "cov": torch.eye(d, dtype=torch.float64)}
    exact = frechet_distance({"mean": mean_fake.double(), "cov": cov_fake.double()}, reference)
    fake = torch.distributions.MultivariateNormal(mean_fake, cov_fake).sample((3000,))
    at_n = frechet_distance(gaussian_statistics(fake), reference)
    extrapolated = fid_infinity(reference, fake)["fid_inf"]
    assert at_n - exact > 0.3, "FID at finite N is biased upwards"
    assert abs(extrapolated - exact) < 0.5 * (at_n - exact), (exact, at_n, extrapolated)


# -- the second feature space and per-class quality ---------------------------------------


def test_autoencoder_evaluator_is_pinned_and_refuses_a_tampered_file(mnist):
    spec = DATASETS.get("mnist")
    net, pinned = load_evaluator(spec, kind="autoencoder")
    assert pinned.sha256 == spec.autoencoder.sha256
    images = mnist.test_images[:500].float() / 255
    with torch.no_grad():
        assert F.mse_loss(net.reconstruct(images), images) < 0.005, "it reconstructs test digits"
        assert net(images).shape == (500, 128)
    tampered = dataclasses.replace(spec, autoencoder=dataclasses.replace(spec.autoencoder, sha256="0" * 64))
    with pytest.raises(HarnessError, match="does not match the pinned"):
        load_evaluator(tampered, kind="autoencoder")


def test_autoencoder_training_is_deterministic(mnist, tmp_path):
    small = Dataset(mnist.spec, mnist.train_images[:1024], mnist.train_labels[:1024],
                    mnist.test_images[:256], mnist.test_labels[:256])
    hashes = [train_evaluator(small, tmp_path / f"ae{i}.safetensors", epochs=1, kind="autoencoder",
                              log=lambda _: None)[1] for i in range(2)]
    assert hashes[0] == hashes[1] == sha256_of(tmp_path / "ae0.safetensors")


def blur(images: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    x = torch.arange(-3, 4, dtype=torch.float32)
    kernel = torch.exp(-x**2 / (2 * sigma**2))
    kernel = (kernel[:, None] * kernel[None, :]) / kernel.sum() ** 2
    return F.conv2d(images, kernel[None, None], padding=3)


def test_dropped_classes_and_blur_show_in_different_columns(mnist):
    spec = DATASETS.get("mnist")
    classifier, autoencoder = load_evaluator(spec)[0], load_evaluator(spec, kind="autoencoder")[0]
    reference = mnist.test_images[subset_indices(10_000, 5000, "test")].float() / 255
    reference_labels = mnist.test_labels[subset_indices(10_000, 5000, "test")]
    pool = mnist.train_images[subset_indices(60_000, 12_000, "train")].float() / 255
    pool_labels = mnist.train_labels[subset_indices(60_000, 12_000, "train")]
    sets = {"four classes": pool[pool_labels < 4][:4000], "blurred": blur(pool[:4000])}
    scores = {}
    for name, images in sets.items():
        logits = classifier.logits(images).detach()
        coverage = class_statistics(logits, reference_labels, 10)
        per_class = per_class_fid(features(autoencoder, reference), reference_labels, features(autoencoder, images),
                                  logits.argmax(1), 10)
        scores[name] = {"overlap": coverage["class_overlap"], "per_class_fid": per_class["mean"]}
    assert scores["four classes"]["overlap"] < 0.5 < 0.9 < scores["blurred"]["overlap"], scores
    assert scores["blurred"]["per_class_fid"] > 3 * scores["four classes"]["per_class_fid"], scores


def test_class_overlap_penalises_collapse_that_precision_rewards():
    one_class = torch.full((1000, 10), -10.0)
    one_class[:, 3] = 10.0
    labels = torch.arange(10).repeat(100)
    stats = class_statistics(one_class, labels, 10)
    assert stats["class_overlap"] == pytest.approx(0.1)
    assert stats["classes_covered"] == 1


# -- likelihoods ----------------------------------------------------------------------------


def test_likelihoods_against_torch_distributions():
    torch.manual_seed(0)
    logits = torch.randn(4, 12)
    images = torch.randint(0, 256, (4, 12)).float() / 255
    uniform = torch.rand(4, 12)
    binarized = LIKELIHOODS.get("bernoulli")().observe(images, None)
    assert set(binarized.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(binarized, (images * 255 >= 128).float())
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(binarized).sum(-1)
    assert torch.allclose(LIKELIHOODS.get("bernoulli")().log_prob(logits, binarized), expected, atol=1e-5)

    continuous = LIKELIHOODS.get("continuous_bernoulli")()
    x = continuous.observe(images, uniform)
    assert torch.allclose(x, (images * 255 + uniform) / 256) and x.min() >= 0 and x.max() < 1
    expected = torch.distributions.ContinuousBernoulli(logits=logits).log_prob(x).sum(-1)
    assert torch.allclose(continuous.log_prob(logits, x), expected, atol=1e-4)

    gaussian = LIKELIHOODS.get("gaussian")()
    outputs = torch.randn(4, 24)
    mean, std = torch.sigmoid(outputs[:, :12]), 1e-3 + F.softplus(outputs[:, 12:])
    expected = torch.distributions.Normal(mean, std).log_prob(x).sum(-1)
    assert torch.allclose(gaussian.log_prob(outputs, x), expected, atol=1e-4)
    # a proper density integrates to one: a 1-pixel continuous Bernoulli on a fine grid
    grid = (torch.arange(100_000) + 0.5) / 100_000
    density = continuous.log_prob(torch.full((100_000, 1), 1.3), grid[:, None]).exp()
    assert float(density.mean()) == pytest.approx(1.0, abs=1e-3)
    assert LIKELIHOODS.get("bernoulli_intensities")().bits_per_dim(-100.0, 784) is None


class BatchNoise:
    """The trainer's noise source for one process and a fixed batch size, from the global RNG."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def normal(self, *shape):
        return torch.randn(self.batch, *shape)

    def uniform(self, low, high, *shape):
        return torch.rand(self.batch, *shape) * (high - low) + low


@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous_bernoulli", "gaussian", "gaussian_fixed"])
def test_each_likelihood_trains_a_vae_whose_loss_falls(mnist, likelihood):
    torch.manual_seed(0)
    model = build_model("mlp_vae", {"latent_dim": 8, "likelihood": likelihood}, (1, 28, 28))
    images = mnist.train_images[:2048].float() / 255

    losses = []
    for step in range(60):
        batch = images[(step * 64) % 1984 :][:64]
        losses.append(float(model.train_step(batch, BatchNoise(64), lambda loss: loss.backward())["loss"]))
    assert sum(losses[-10:]) < sum(losses[:10])
    assert model.sample(4).shape == (4, 1, 28, 28)


# -- AIS --------------------------------------------------------------------------------------


class LinearGaussian:
    """decode(z) = W z + b with a N(0, I) prior: log p(x) under N(decode(z), σ²I) is exact."""

    def __init__(self, d: int = 3, pixels: int = 12) -> None:
        generator = torch.Generator().manual_seed(0)
        self.latent_dim = d
        self.prior = Prior("normal", d)
        self.weight = torch.randn(pixels, d, generator=generator) * 0.8
        self.bias = torch.randn(pixels, generator=generator) * 0.1

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.weight.T + self.bias).reshape(-1, 1, 3, 4)

    def exact(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        cov = self.weight @ self.weight.T + sigma**2 * torch.eye(len(self.bias))
        return torch.distributions.MultivariateNormal(self.bias, cov).log_prob(x.flatten(1))


def test_ais_recovers_the_exact_log_likelihood_of_a_linear_gaussian_decoder():
    model, sigma = LinearGaussian(), 0.3
    x = model.decode(torch.randn(6, 3, generator=torch.Generator().manual_seed(1)))
    x = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    estimate = ais_log_likelihood(model, x, sigma, chains=16, steps=1000, leapfrog=5,
                                  generator=torch.Generator().manual_seed(3))
    error = estimate - model.exact(x, sigma)
    assert error.abs().mean() < 0.15 and error.abs().max() < 0.4, error  # tolerance stated in docs/metrics.md


@pytest.mark.slow
def test_bdmc_gap_shrinks_with_more_temperatures():
    model, sigma = LinearGaussian(), 0.3
    gaps = [bdmc_gap(model, 6, sigma, 8, steps, 5, torch.Generator().manual_seed(4))["gap"] for steps in (10, 100, 600)]
    assert gaps[0] > gaps[1] > abs(gaps[2]), gaps
    assert gaps[0] > 1.0 and abs(gaps[2]) < 0.3, gaps


def test_ais_is_at_least_the_iwae_bound_of_a_trained_vae(mnist):
    torch.manual_seed(0)
    model = build_model("mlp_vae", {"latent_dim": 4, "likelihood": "bernoulli", "encoder_hidden": [64],
                                    "decoder_hidden": [64]}, (1, 28, 28))
    data = mnist.train_images[:4096].float() / 255

    for _epoch in range(3):
        for start in range(0, len(data), 128):
            model.train_step(data[start : start + 128], BatchNoise(128), lambda loss: loss.backward())
    observed = model.observe(mnist.test_images[subset_indices(10_000, 8, "test")].float() / 255,
                             torch.Generator().manual_seed(0))
    iwae = iwae_bound(model, observed, 200, torch.Generator().manual_seed(1))
    chains = 8
    repeated = observed.repeat_interleave(chains, 0)
    for net in model.networks.values():
        net.requires_grad_(False)
    from harness.metrics.ais import pilot_step_sizes

    def log_likelihood_for(copies):
        rows = observed.repeat_interleave(copies, 0)
        return lambda z: model.conditional_log_prob(rows, z)

    generator = torch.Generator().manual_seed(2)
    steps = pilot_step_sizes(model.prior, log_likelihood_for, len(observed), chains, 300, 5, generator)
    weights, _ = annealed_importance_sampling(model.prior, log_likelihood_for(chains), len(repeated), 300, 5,
                                              generator, steps)
    ais = log_mean_exp(weights, chains)
    assert (ais - iwae).mean() > -1.0, (ais, iwae)  # AIS >= IWAE - noise, on the same images


def test_dequantize_stays_inside_each_pixels_bin():
    images = torch.arange(256).float()[None] / 255
    x = dequantize(images, torch.rand(images.shape))
    assert torch.equal(torch.floor(x * 256), torch.arange(256).float()[None])


# -- claims -----------------------------------------------------------------------------------


def test_holm_adjusts_known_p_values():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5]
    assert holm([0.6, 0.6]) == [1.0, 1.0]


def _runs(values: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    rows = []
    for configuration, metrics in values.items():
        seeds = len(next(iter(metrics.values())))
        for seed in range(seeds):
            rows.append({"configuration": configuration, "status": STATUS_COMPLETED,
                         **{metric: column[seed] for metric, column in metrics.items()}})
    return pd.DataFrame(rows)


def test_claim_verdicts_need_seeds_spread_every_feature_space_and_survive_holm():
    claim = Claim(text="a beats b", metric="fid", better="a", than="b")
    clear = _runs({"a": {"fid": [10.0, 11.0, 12.0], "fid_ae": [5.0, 5.5, 6.0]},
                   "b": {"fid": [20.0, 21.0, 22.0], "fid_ae": [9.0, 9.5, 10.0]}})
    assert judge_all([claim], clear)[0]["verdict"] == SUPPORTED
    reversed_claim = Claim(text="b beats a", metric="fid", better="b", than="a")
    assert judge_all([reversed_claim], clear)[0]["verdict"] == CONTRADICTED

    disagree = _runs({"a": {"fid": [10.0, 11.0, 12.0], "fid_ae": [9.0, 9.5, 10.0]},
                      "b": {"fid": [20.0, 21.0, 22.0], "fid_ae": [5.0, 5.5, 6.0]}})
    judged = judge_all([claim], disagree)[0]
    assert judged["verdict"] == NOT_SIGNIFICANT and "disagree" in judged["reason"]
    assert [s["verdict"] for s in judged["spaces"]] == [SUPPORTED, CONTRADICTED]

    no_spread = _runs({"a": {"fid": [10.0] * 3, "fid_ae": [5.0] * 3}, "b": {"fid": [20.0] * 3, "fid_ae": [9.0] * 3}})
    assert judge_all([claim], no_spread)[0]["verdict"] == NOT_SIGNIFICANT
    two_seeds = _runs({"a": {"fid": [10.0, 11.0], "fid_ae": [5.0, 5.5]}, "b": {"fid": [20.0, 21.0], "fid_ae": [9.0, 9.5]}})
    assert "fewer than 3 seeds" in judge_all([claim], two_seeds)[0]["reason"]

    # A difference significant alone (p about 0.03) is not once several claims are tested together.
    borderline = _runs({"a": {"fid": [10.0, 12.0, 14.0], "fid_ae": [10.0, 12.0, 14.0]},
                        "b": {"fid": [15.0, 17.0, 19.0], "fid_ae": [15.0, 17.0, 19.0]}})
    alone = judge_all([claim], borderline)[0]
    assert alone["verdict"] == SUPPORTED, alone
    together = judge_all([claim] * 4, borderline)
    assert all(c["verdict"] == NOT_SIGNIFICANT for c in together), together
    assert together[0]["p_adjusted"] == pytest.approx(min(1.0, 4 * alone["p_adjusted"]))


def test_no_result_column_is_named_like_another_columns_summary():
    from harness.metrics.columns import all_columns

    names = set(all_columns())
    clashes = [f"{name}{suffix}" for name in names for suffix in ("_std", "_ci", "_n") if f"{name}{suffix}" in names]
    assert not clashes, f"the leaderboard writes <metric>_std/_ci/_n: {clashes}"
