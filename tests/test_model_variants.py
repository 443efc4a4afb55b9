"""Model variants: convolutional architectures (shapes at 28x28x1 and 32x32x3, learning on MNIST), GAN objectives (known loss values on fixed logits, each learning on real MNIST),
beta-VAE and IWAE-trained VAEs (their training losses against the ELBO's terms), and every variant
DDP-safe (two CPU processes end with identical replicas)."""

import json
import math
import os
import subprocess
import sys
import typing

import pytest
import torch
import torch.nn.functional as F

from harness.models import build_model
from harness.models.objectives import OBJECTIVES
from harness.models.options import ObjectiveName
from harness.sharding import ShardedNoise
from tests.conftest import _data_dir

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# (discriminator loss, generator loss) for REAL and FAKE, worked out by hand from each paper's formula.
KNOWN = {
    # -log sigmoid(r) = softplus(-r) on real, -log(1 - sigmoid(f)) = softplus(f) on fake; sum of the two means
    "non_saturating": ((softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(-3)) / 2,
                       (softplus(-0.5) + softplus(3)) / 2),
    # 1/2 E(D(x) - 1)^2 + 1/2 E D(G(z))^2 = 1/2 (1 + 4)/2 + 1/2 (0.25 + 9)/2; generator 1/2 E(D(G(z)) - 1)^2
    "least_squares": (0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 9) / 2, 0.5 * (0.25 + 16) / 2),
    # E relu(1 - D(x)) + E relu(1 + D(G(z))) = (0 + 2)/2 + (1.5 + 0)/2; generator -E D(G(z))
    "hinge": ((0 + 2) / 2 + (1.5 + 0) / 2, 1.25),
}


def test_every_objective_is_known_and_selectable():
    assert sorted(typing.get_args(ObjectiveName)) == sorted(OBJECTIVES.names()) == sorted(KNOWN)


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_loss_values_on_fixed_logits(name):
    objective = OBJECTIVES.get(name)()
    discriminator, generator = KNOWN[name]
    assert objective.discriminator_loss(REAL, FAKE).item() == pytest.approx(discriminator, rel=1e-6)
    assert objective.generator_loss(FAKE).item() == pytest.approx(generator, rel=1e-6)


def test_non_saturating_matches_torch_bce():
    """An independent implementation: torch's own binary cross-entropy."""
    objective = OBJECTIVES.get("non_saturating")()
    expected = (F.binary_cross_entropy_with_logits(REAL, torch.ones(2))
                + F.binary_cross_entropy_with_logits(FAKE, torch.zeros(2)))
    assert objective.discriminator_loss(REAL, FAKE).item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_default_objective_keeps_every_published_configuration_hash():
    from harness.models.mlp import MLPGANOptions

    assert "objective" not in MLPGANOptions().resolved()  # the study's runs keep their hashes
    assert MLPGANOptions(objective="hinge").resolved()["objective"] == "hinge"


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_each_objective_trains_on_real_mnist_and_the_discriminator_learns(name, mnist):
    torch.manual_seed(0)
    gan = build_model("mlp_gan", {"generator_hidden": [64], "discriminator_hidden": [64], "objective": name},
                      (1, 28, 28))
    data = mnist.train_images[:3200].float() / 255
    source = ShardedNoise(0, 0, 64, 0, 1, torch.device("cpu"))
    steps = [gan.train_step(data[i : i + 64], source, lambda loss: loss.backward()) for i in range(0, 3200, 64)]
    d_losses = [step["discriminator"].item() for step in steps]
    assert all(math.isfinite(step["generator"].item()) for step in steps)
    # The discriminator starts near its "cannot tell" value and gets better at telling.
    assert sum(d_losses[-10:]) / 10 < d_losses[0] - 0.1 * abs(d_losses[0]), d_losses


def vae(**options) -> "torch.nn.Module":
    return build_model("mlp_vae", {"encoder_hidden": [64], "decoder_hidden": [64], "latent_dim": 8, **options},
                       (1, 28, 28))


@pytest.mark.parametrize("beta", [0.0, 0.5, 4.0])
def test_beta_weights_only_the_kl_term_of_the_training_loss(beta, mnist):
    torch.manual_seed(0)
    model = vae(beta=beta)
    step = model.train_step(mnist.train_images[:64].float() / 255, ShardedNoise(0, 0, 64, 0, 1, torch.device("cpu")),
                            lambda loss: loss.backward())
    assert step["loss"].item() == pytest.approx(step["reconstruction"].item() + beta * step["kl"].item(), rel=1e-5)


def test_iwae_training_loss_is_a_tighter_bound_than_the_elbo_terms(mnist):
    """-log mean_k w_k <= mean_k -log w_k = reconstruction + KL (Jensen), for the same k draws."""
    torch.manual_seed(0)
    model = vae(train_samples=8)
    images = mnist.train_images[:64].float() / 255
    step = model.train_step(images, ShardedNoise(0, 0, 64, 0, 1, torch.device("cpu")), lambda loss: loss.backward())
    elbo_loss = step["reconstruction"].item() + step["kl"].item()
    assert step["loss"].item() < elbo_loss


@pytest.mark.parametrize("options", [{"beta": 4.0}, {"train_samples": 5}])
def test_vae_variants_learn_on_real_mnist(options, mnist):
    torch.manual_seed(0)
    model = vae(**options)
    data = mnist.train_images[:3200].float() / 255
    source = ShardedNoise(0, 0, 64, 0, 1, torch.device("cpu"))
    losses = [model.train_step(data[i : i + 64], source, lambda loss: loss.backward())["loss"].item()
              for i in range(0, 3200, 64)]
    assert sum(losses[-10:]) / 10 < 0.6 * losses[0], losses


def test_vae_variant_defaults_keep_published_hashes_and_bad_combinations_are_refused():
    from pydantic import ValidationError

    from harness.models.mlp import MLPVAEOptions

    assert not {"beta", "train_samples"} & set(MLPVAEOptions().resolved())
    assert MLPVAEOptions(beta=4.0).resolved()["beta"] == 4.0
    with pytest.raises(ValidationError, match="do not combine"):
        MLPVAEOptions(beta=4.0, train_samples=5)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_convolutional_architectures_are_sized_from_the_image_shape(shape):
    n = 5
    gan = build_model("dcgan", {"spectral_norm": True, "base_channels": 8}, shape)
    images = gan.networks["generator"](torch.rand(n, 100) * 2 - 1)
    assert images.shape == (n, *shape) and images.abs().max() <= 1  # tanh range
    assert gan.networks["discriminator"](images).shape == (n, 1)
    assert gan.sample(n).shape == (n, *shape)
    for likelihood, outputs in (("bernoulli", 1), ("gaussian", 2)):
        model = build_model("conv_vae", {"likelihood": likelihood, "base_channels": 8, "latent_dim": 6}, shape)
        mean, logvar = model.encode(torch.rand(n, *shape))
        assert mean.shape == logvar.shape == (n, 6)
        assert model.networks["decoder"](mean).shape == (n, outputs * shape[0], *shape[1:])  # the likelihood's parameters
        assert model.decode(mean).shape == (n, *shape)


def test_convolutional_architectures_refuse_sides_they_cannot_halve_twice():
    with pytest.raises(ValueError, match="divisible by 4, not 30x30"):
        build_model("dcgan", {}, (1, 30, 30))


@pytest.mark.parametrize("name, options, loss", [
    ("dcgan", {"base_channels": 8, "objective": "hinge", "spectral_norm": True}, "discriminator"),
    ("dcgan", {"base_channels": 8}, "discriminator"),
    ("conv_vae", {"base_channels": 8, "latent_dim": 8}, "loss"),
])
def test_convolutional_models_learn_on_real_mnist(name, options, loss, mnist):
    torch.manual_seed(0)
    model = build_model(name, options, (1, 28, 28))
    data = mnist.train_images[:2560].float() / 255
    source = ShardedNoise(0, 0, 64, 0, 1, torch.device("cpu"))
    losses = [model.train_step(data[i : i + 64], source, lambda value: value.backward())[loss].item()
              for i in range(0, 2560, 64)]
    assert sum(losses[-8:]) / 8 < losses[0] - 0.1 * abs(losses[0]), losses


SUITE = """
[suite]
name = "variants"
dataset = "mnist"
seeds = [0]

[defaults]
epochs = 1
batch_size = 64
train_subset = 1024

[defaults.mlp_gan]
latent_dim = 16
generator_hidden = [32]
discriminator_hidden = [32]

[defaults.mlp_vae]
latent_dim = 8
encoder_hidden = [32]
decoder_hidden = [32]

[[run]]
name = "gan-least-squares"
model = "mlp_gan"
objective = "least_squares"

[[run]]
name = "gan-hinge"
model = "mlp_gan"
objective = "hinge"

[[run]]
name = "vae-beta"
model = "mlp_vae"
beta = 4.0

[[run]]
name = "vae-iwae"
model = "mlp_vae"
train_samples = 5

[[run]]
name = "dcgan-hinge-sn"
model = "dcgan"
base_channels = 8
objective = "hinge"
spectral_norm = true

[[run]]
name = "conv-vae"
model = "conv_vae"
base_channels = 8
latent_dim = 8

[evaluation]
enabled = false
"""


def test_every_new_variant_trains_under_two_processes_with_identical_replicas(tmp_path):
    suite = tmp_path / "variants.toml"
    suite.write_text(SUITE)
    env = {**os.environ, "HARNESS_DATA_DIR": str(_data_dir()), "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "harness", "run", str(suite), "--results", str(tmp_path), "--strategy", "data_parallel"],
        capture_output=True, text=True, env=env, timeout=300)
    assert launched.returncode == 0, launched.stderr[-3000:]
    records = {r["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "variants").glob("*/run.json"))}
    assert set(records) == {"gan-least-squares", "gan-hinge", "vae-beta", "vae-iwae", "dcgan-hinge-sn", "conv-vae"}
    for record in records.values():
        assert record["status"] == "completed" and record["num_processes"] == 2
        assert record["replicas_identical"] is True, record["id"]
