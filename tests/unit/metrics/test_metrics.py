"""Metrics against known values, invariants and independent implementations."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from harness.core.errors import HarnessError
from harness.evaluation import evaluator as evaluator_module
from harness.datasets import DATASETS
from harness.evaluation.evaluator import accuracy, load_evaluator
from harness.metrics import sample_quality
from harness.metrics.likelihood import iwae_bound
from harness.metrics.mode_coverage import class_statistics
from harness.metrics.precision_recall import precision_recall_density_coverage
from harness.metrics.reconstruction import invert
from harness.models import build_model


@pytest.fixture(scope="module")
def evaluator():
    net, _ = load_evaluator(DATASETS.get("mnist"))
    return net


@pytest.fixture(scope="module")
def test_images(mnist):
    return mnist.test_images[:2000].float() / 255


def scipy_fid(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID from its definition, with scipy's matrix square root (an independent implementation)."""
    a, b = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def torchmetrics_fid(evaluator, real: torch.Tensor, fake: torch.Tensor) -> float:
    fid = FrechetInceptionDistance(feature=evaluator)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


@pytest.mark.slow
def test_committed_evaluators_load_verify_and_classify(mnist, data_dir):
    from harness.datasets import load_dataset

    net, pinned = load_evaluator(mnist.spec)
    assert pinned.sha256 == evaluator_module.sha256_of(evaluator_module.evaluator_path(pinned))
    assert accuracy(net, mnist.test_images, mnist.test_labels) >= 0.99
    assert net(mnist.test_images[:5].float() / 255).shape == (5, net.num_features)
    fashion = load_dataset("fashion-mnist", data_dir)
    net, _ = load_evaluator(fashion.spec)
    assert accuracy(net, fashion.test_images, fashion.test_labels) >= 0.90


def test_tampered_evaluator_is_refused():
    import dataclasses

    spec = DATASETS.get("mnist")
    tampered = dataclasses.replace(spec, evaluator=dataclasses.replace(spec.evaluator, sha256="0" * 64))
    with pytest.raises(HarnessError, match="does not match the pinned"):
        load_evaluator(tampered)
    with pytest.raises(HarnessError, match="has no pinned classifier evaluator"):
        load_evaluator(dataclasses.replace(spec, name="unpinned", evaluator=None))


def test_fid_of_a_set_against_itself_is_zero(evaluator, test_images):
    assert abs(torchmetrics_fid(evaluator, test_images, test_images)) < 1e-3


def test_torchmetrics_fid_matches_scipy(evaluator, mnist, test_images):
    train = mnist.train_images[:2000].float() / 255
    ours = torchmetrics_fid(evaluator, test_images, train)
    with torch.no_grad():
        reference = scipy_fid(evaluator(test_images), evaluator(train))
    assert ours > 0.01
    assert abs(ours - reference) <= 1e-3 * reference


def test_the_harness_fid_and_kid_formulas_are_torchmetrics_bit_for_bit(evaluator, mnist, test_images):
    """The harness writes out torchmetrics' Fréchet distance and polynomial MMD² (its import costs
    2 s a process): the same numbers, to the last bit, on real features; FID also against scipy."""
    from torchmetrics.image.fid import _compute_fid
    from torchmetrics.image.kid import poly_mmd

    with torch.no_grad():
        real, fake = evaluator(test_images), evaluator(mnist.train_images[:2000].float() / 255)
    a, b = sample_quality.gaussian_statistics(real), sample_quality.gaussian_statistics(fake)
    ours = sample_quality.frechet_distance(a, b)
    assert ours == float(_compute_fid(a["mean"], a["cov"], b["mean"], b["cov"])) and ours > 0.01
    assert abs(ours - scipy_fid(real, fake)) <= 1e-3 * ours
    r, f = real[:500].double(), fake[:500].double()
    assert torch.equal(sample_quality.polynomial_mmd2(r, f), poly_mmd(r, f, degree=3, gamma=1.0 / r.shape[1], coef=1.0))


def test_fid_rises_with_noise(evaluator, test_images):
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(test_images.shape, generator=generator)
    half = len(test_images) // 2
    scores = [torchmetrics_fid(evaluator, test_images[:half], (test_images[half:] + s * noise[half:]).clamp(0, 1))
              for s in (0.0, 0.05, 0.1, 0.2, 0.4)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


def test_kid_of_two_halves_is_near_zero(evaluator, test_images):
    def kid(a, b):
        metric = KernelInceptionDistance(feature=evaluator, subsets=20, subset_size=500)
        metric.update(a, real=True)
        metric.update(b, real=False)
        torch.manual_seed(0)
        return float(metric.compute()[0])

    same = kid(test_images[:1000], test_images[1000:])
    noisy = kid(test_images[:1000], (test_images[1000:] + 0.3 * torch.randn(1000, 1, 28, 28)).clamp(0, 1))
    assert abs(same) < 0.05 * noisy, (same, noisy)


def brute_force_prdc(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict:
    """Precision/recall/density/coverage with plain loops, straight from the papers' definitions."""
    def radii(x, k):
        return np.array([sorted(np.linalg.norm(x - p, axis=1))[k] for p in x])

    def inside(q, centres, r):
        return np.array([[np.linalg.norm(a - c) <= rc for c, rc in zip(centres, r)] for a in q])

    r_real, r_fake, r_dc = radii(real, k_pr), radii(fake, k_pr), radii(real, k_dc)
    return {
        "precision": inside(fake, real, r_real).any(1).mean(),
        "recall": inside(real, fake, r_fake).any(1).mean(),
        "density": inside(fake, real, r_dc).sum() / (k_dc * len(fake)),
        "coverage": inside(fake, real, r_dc).any(0).mean(),
    }


def test_precision_recall_density_coverage_match_brute_force():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(120, 5))
    fake = rng.normal(loc=0.7, size=(90, 5))
    ours = precision_recall_density_coverage(torch.from_numpy(real), torch.from_numpy(fake), 3, 5)
    expected = brute_force_prdc(real, fake, 3, 5)
    for key in expected:
        assert ours[key] == pytest.approx(expected[key], abs=1e-12), key


def test_precision_recall_of_a_set_against_itself_and_a_shifted_set(evaluator, test_images):
    with torch.no_grad():
        features = evaluator(test_images)
    same = precision_recall_density_coverage(features, features, 3, 5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    assert same["density"] > 0.9
    shifted = features + features.std() * 2
    moved = precision_recall_density_coverage(features, shifted, 3, 5)
    assert moved["precision"] < 0.5 and moved["recall"] < 0.5 and moved["coverage"] < 0.5


def test_mode_coverage_known_answers():
    labels = torch.arange(10).repeat(100)
    perfect = torch.nn.functional.one_hot(labels, 10).float() * 50
    stats = class_statistics(perfect, labels, 10)
    assert stats["classes_covered"] == 10 and stats["class_kl"] == pytest.approx(0, abs=1e-9)
    assert stats["classifier_score"] == pytest.approx(10, rel=1e-6)
    collapsed = torch.nn.functional.one_hot(torch.full((1000,), 3), 10).float() * 50
    stats = class_statistics(collapsed, labels, 10)
    assert stats["classes_covered"] == 1 and stats["classifier_score"] == pytest.approx(1, rel=1e-6)
    assert stats["class_kl"] == pytest.approx(math.log(10), rel=1e-6)


def test_iwae_bound_is_above_elbo_and_tightens_with_k(mnist):
    torch.manual_seed(0)
    vae = build_model("mlp_vae", {"latent_dim": 8, "encoder_hidden": [64], "decoder_hidden": [64]}, (1, 28, 28))
    from harness.execution.sharding import ShardedNoise

    data = mnist.train_images[:3200].float() / 255
    noise = ShardedNoise(0, 0, 64, 0, 1, torch.device("cpu"))
    for i in range(0, 3200, 64):  # a little training so the bounds are not trivial
        vae.train_step(data[i : i + 64], noise, lambda l: l.backward())
    images = mnist.test_images[:300].float() / 255
    elbo = vae.elbo(images, torch.Generator().manual_seed(1)).double()
    bounds = [iwae_bound(vae, images, k, torch.Generator().manual_seed(2)).mean().item() for k in (1, 10, 100, 500)]
    assert all(a <= b + 1e-6 for a, b in zip(bounds, bounds[1:])), bounds
    assert bounds[-1] > elbo.mean().item() + 0.5
    # k = 1 is an unbiased (one-sample) ELBO estimate: equal in expectation.
    one_sample = iwae_bound(vae, images, 1, torch.Generator().manual_seed(3))
    standard_error = (one_sample - elbo).std().item() / math.sqrt(len(images))
    assert abs((one_sample - elbo).mean().item()) < 4 * standard_error


def test_gan_inversion_recovers_images_the_generator_made():
    torch.manual_seed(0)
    gan = build_model("mlp_gan", {"latent_dim": 8, "generator_hidden": [64], "discriminator_hidden": [16]}, (1, 28, 28))
    gan.net("generator").requires_grad_(False)
    known = torch.rand(64, 8) * 1.6 - 0.8
    with torch.no_grad():
        targets = gan.decode(known)
    latents, errors = invert(gan, targets, steps=300, restarts=4, lr=0.05, generator=torch.Generator().manual_seed(0))
    start = (gan.decode(torch.rand(64, 8) * 2 - 1) - targets).pow(2).flatten(1).mean(1)
    assert errors.mean() < 1e-4 and errors.mean() < 1e-2 * start.mean(), (errors.mean(), start.mean())
    assert latents.min() >= -1 and latents.max() <= 1  # stayed in the uniform prior's support


def test_sharded_chunks_give_the_same_result_in_order():
    from harness.execution.data_parallel import DataParallel

    result = DataParallel("no", "test").map_chunks(10, 3, lambda i, a, b: torch.arange(a, b) * 10 + i)
    assert result.tolist() == [0, 10, 20, 31, 41, 51, 62, 72, 82, 93]


def test_inception_features_are_never_downloaded(tmp_path):
    from pydantic import ValidationError

    from harness.config.evaluation import EvaluationConfig
    from harness.metrics.inception import InceptionFeatures

    with pytest.raises(ValidationError, match="needs inception_weights"):
        EvaluationConfig(features="inception")
    with pytest.raises(HarnessError, match="does not exist; point it at local"):
        InceptionFeatures(str(tmp_path / "missing.pth"))
