"""Model variants: convolutional architectures (shapes at 28x28x1 and 32x32x3, learning on MNIST), GAN objectives (known loss values on fixed logits, each learning on real MNIST),
beta-VAE and IWAE-trained VAEs (their training losses against the ELBO's terms), and every variant
DDP-safe (two CPU processes end with identical replicas)."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from harness.models import build_model
from harness.models.objectives import OBJECTIVES
from harness.models.options import GANOptions
from harness.execution.sharding import ShardedNoise
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
    # the same discriminator loss as non_saturating; generator E log(1 - sigmoid(f)) = -E softplus(f)
    "minimax": ((softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(-3)) / 2,
                -(softplus(0.5) + softplus(-3)) / 2),
    # E D(G(z)) - E D(x) = (0.5 - 3)/2 - (2 - 1)/2; generator -E D(G(z))
    "wasserstein_gp": ((0.5 - 3) / 2 - (2 - 1) / 2, 1.25),
}


def test_every_objective_is_known_and_selectable():
    assert sorted(OBJECTIVES.names()) == sorted(KNOWN)
    for name in KNOWN:
        assert GANOptions(objective=name).objective == name
    with pytest.raises(ValueError, match="unknown GAN objective 'nope'; expected one of: hinge, "):
        GANOptions(objective="nope")


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

    assert not {"objective", "critic_steps", "gradient_penalty"} & set(MLPGANOptions().resolved())  # published hashes
    assert MLPGANOptions(objective="hinge").resolved()["objective"] == "hinge"


def test_gradient_penalty_against_hand_computation():
    from harness.models.gan import gradient_penalty

    # A linear critic D(x) = w.x has gradient w at every image: penalty (|w| - 1)^2 = (5 - 1)^2.
    inputs = torch.rand(4, 1, 1, 2, requires_grad=True)
    weight = torch.tensor([3.0, 4.0])
    assert gradient_penalty((inputs.flatten(1) * weight).sum(1), inputs).item() == pytest.approx(16.0)
    # D(x) = |x|^2 has gradient 2x: per-image norms 2|x_i|, here 2 and 0 -> ((2 - 1)^2 + (0 - 1)^2) / 2.
    inputs = torch.tensor([[0.6, 0.8], [0.0, 0.0]], requires_grad=True)
    penalty = gradient_penalty((inputs**2).sum(1), inputs)
    assert penalty.item() == pytest.approx(1.0)
    penalty.backward()  # the penalty is differentiable: d/dx of (2|x| - 1)^2 / 2 = 2 (2|x| - 1) x/|x| at (0.6, 0.8)
    assert inputs.grad[0].tolist() == pytest.approx([1.2, 1.6])


def test_wgan_gp_defaults_and_a_critic_without_penalty_refused():
    from pydantic import ValidationError

    from harness.models.mlp import MLPGANOptions

    gan = build_model("mlp_gan", {"objective": "wasserstein_gp"}, (1, 28, 28))
    assert (gan.critic_steps, gan.penalty_weight) == (5, 10.0)  # the paper's Algorithm 1
    gan = build_model("mlp_gan", {"objective": "hinge", "gradient_penalty": 1, "critic_steps": 2}, (1, 28, 28))
    assert (gan.critic_steps, gan.penalty_weight) == (2, 1.0)  # any objective takes the schedule
    with pytest.raises(ValidationError, match="wasserstein_gp needs gradient_penalty > 0"):
        MLPGANOptions(objective="wasserstein_gp", gradient_penalty=0)


def test_critic_steps_schedule_the_generator_and_survive_a_resume(mnist):
    """n critic updates per generator update, each on its own batch; a model rebuilt from the
    optimizers' state (as a resumed run is) continues the cycle where it stopped."""
    options = {"generator_hidden": [32], "discriminator_hidden": [32], "objective": "wasserstein_gp"}
    data = mnist.train_images[:64 * 12].float() / 255
    source = ShardedNoise(0, 0, 64, 0, 1, torch.device("cpu"))

    def generator_updates(model) -> int:
        return int(model.optimizers["generator"].state[next(model.net("generator").parameters())]["step"])

    torch.manual_seed(0)
    gan = build_model("mlp_gan", options, (1, 28, 28))
    for i in range(7):  # generator updates at critic updates 1 and 6
        gan.train_step(data[64 * i : 64 * (i + 1)], source, lambda loss: loss.backward())
    assert generator_updates(gan) == 2
    resumed = build_model("mlp_gan", options, (1, 28, 28))
    resumed.load_state_dict(gan.state_dict())
    for name, optimizer in gan.optimizers.items():
        resumed.optimizers[name].load_state_dict(optimizer.state_dict())
    for i in range(7, 11):  # critic updates 8-11: the next generator update is at 11, not at 8
        resumed.train_step(data[64 * i : 64 * (i + 1)], source, lambda loss: loss.backward())
        assert generator_updates(resumed) == (2 if i < 10 else 3), i


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
name = "gan-wgan-gp"
model = "mlp_gan"
objective = "wasserstein_gp"
critic_steps = 2

[[run]]
name = "dcgan-wgan-gp"
model = "dcgan"
base_channels = 8
objective = "wasserstein_gp"

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


@pytest.mark.slow
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
    assert set(records) == {"gan-least-squares", "gan-hinge", "gan-wgan-gp", "dcgan-wgan-gp", "vae-beta", "vae-iwae",
                            "dcgan-hinge-sn", "conv-vae"}
    for record in records.values():
        assert record["status"] == "completed" and record["num_processes"] == 2
        assert record["replicas_identical"] is True, record["id"]


@pytest.mark.parametrize("likelihood", ["bernoulli_intensities", "bernoulli", "continuous_bernoulli", "gaussian",
                                        "gaussian_fixed"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_importance_weights_match_an_independent_computation(likelihood, shape):
    """log w = log p(x|z) + log p(z) - log q(z|x) for the same draws, computed one z at a time
    through the public conditional_log_prob (the IWAE metric and IWAE training share the batched
    path; a Gaussian's two output planes once broke it)."""
    torch.manual_seed(0)
    model = build_model("conv_vae" if shape[0] == 3 else "mlp_vae",
                        {"likelihood": likelihood, "latent_dim": 4, **({"base_channels": 4} if shape[0] == 3 else
                                                                        {"encoder_hidden": [16], "decoder_hidden": [16]})},
                        shape)
    images = model.observe(torch.rand(3, *shape), torch.Generator().manual_seed(1))
    weights = model.log_importance_weights(images, 5, torch.Generator().manual_seed(2))
    mean, logvar = model.encode(images)
    eps = torch.randn((3, 5, 4), generator=torch.Generator().manual_seed(2))
    for j in range(5):
        z = mean + torch.exp(0.5 * logvar) * eps[:, j]
        normal = torch.distributions.Normal(0.0, 1.0)
        expected = (model.conditional_log_prob(images, z) + normal.log_prob(z).sum(1)
                    - torch.distributions.Normal(mean, torch.exp(0.5 * logvar)).log_prob(z).sum(1))
        assert torch.allclose(weights[:, j], expected, rtol=1e-4, atol=1e-2), (j, weights[:, j], expected)
