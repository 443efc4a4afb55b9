"""Model families: shapes, the shared protocol, capabilities, and learning on real MNIST."""

import math

import pytest
import torch

from harness.execution.sharding import ShardedNoise
from harness.models import MODELS, build_model
from harness.models.base import GenerativeModel
from harness.models.capabilities import Decodes, Encodes

SHAPE = (1, 28, 28)


def build(name: str, **options) -> GenerativeModel:
    return build_model(name, options, SHAPE)


def noise(batch: int = 16) -> ShardedNoise:
    return ShardedNoise(0, 0, batch, rank=0, world_size=1, device=torch.device("cpu"))


def test_study_architectures_have_the_documented_sizes():
    gan = build("mlp_gan", generator_hidden=[256, 512, 1024], discriminator_hidden=[1024, 512, 256])
    linear = [m for m in gan.networks["generator"] if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(100, 256), (256, 512), (512, 1024), (1024, 784)]
    assert isinstance(gan.networks["generator"][-1], torch.nn.Tanh)
    assert isinstance(gan.networks["generator"][1], torch.nn.LeakyReLU) and gan.networks["generator"][1].negative_slope == 0.2
    vae = build("mlp_vae")
    enc = [m for m in vae.networks["encoder"] if isinstance(m, torch.nn.Linear)]
    dec = [m for m in vae.networks["decoder"] if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in enc] == [(784, 256), (256, 128)]
    assert [(m.in_features, m.out_features) for m in dec] == [(64, 256), (256, 784)]
    # parameter counts by hand: sum of (fan_in + 1) * fan_out
    assert vae.parameter_counts() == {"encoder": 785 * 256 + 257 * 128, "decoder": 65 * 256 + 257 * 784}


@pytest.mark.parametrize("name", MODELS.names())
def test_protocol(name):
    model = build(name)
    losses = model.train_step(torch.rand(16, *SHAPE), noise(), lambda loss: loss.backward())
    assert set(losses) == set(model.loss_names)
    assert all(v.ndim == 0 and not v.requires_grad and math.isfinite(v.item()) for v in losses.values())
    samples = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (5, *SHAPE) and samples.min() >= 0 and samples.max() <= 1
    again = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(samples, again)  # a fixed latent batch gives the same grid
    state = model.state_dict()
    clone = build(name)
    clone.load_state_dict(state)
    assert torch.equal(clone.sample(5, generator=torch.Generator().manual_seed(0)), samples)


def test_capabilities():
    gan, vae = build("mlp_gan"), build("mlp_vae")
    assert isinstance(gan, Decodes) and not isinstance(gan, Encodes)
    assert isinstance(vae, Decodes) and isinstance(vae, Encodes)
    mean, logvar = vae.encode(torch.rand(3, *SHAPE))
    assert mean.shape == logvar.shape == (3, 64)
    assert vae.decode(mean).shape == (3, *SHAPE)
    z = torch.rand(3, 100) * 2 - 1
    assert gan.decode(z).shape == (3, *SHAPE)


def test_gan_step_updates_only_the_network_it_trains():
    gan = build("mlp_gan", generator_hidden=[32], discriminator_hidden=[32])
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    grads_at_step = {}  # optimizer name -> {network: copies of its .grad at that optimizer's step}
    for name, opt in gan.optimizers.items():
        original = opt.step

        def step(*a, _name=name, _original=original, **k):
            grads_at_step[_name] = {
                n: [None if p.grad is None else p.grad.clone() for p in gan.networks[n].parameters()]
                for n in gan.networks
            }
            return _original(*a, **k)

        opt.step = step
    gan.train_step(torch.rand(16, *SHAPE), noise(), lambda loss: loss.backward())
    d_step, g_step = grads_at_step["discriminator"], grads_at_step["generator"]
    # The discriminator update sees no generator gradient at all ...
    assert all(g is None for g in d_step["generator"])
    assert all(g is not None and g.abs().sum() > 0 for g in d_step["discriminator"])
    # ... and the generator update leaves the discriminator's gradients exactly as they were.
    assert all(torch.equal(a, b) for a, b in zip(d_step["discriminator"], g_step["discriminator"]))
    assert all(g is not None and g.abs().sum() > 0 for g in g_step["generator"])
    after = gan.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in gan.networks["discriminator"].parameters())  # unfrozen again


def test_vae_loss_goes_down_on_real_mnist(mnist):
    torch.manual_seed(0)
    vae = build("mlp_vae", encoder_hidden=[128], decoder_hidden=[128], latent_dim=16)
    data = mnist.train_images[:6400].float() / 255
    history = []
    for epoch in range(2):
        source = ShardedNoise(0, epoch, 64, 0, 1, torch.device("cpu"))
        losses = [vae.train_step(data[i : i + 64], source, lambda l: l.backward())["loss"].item() for i in range(0, 6400, 64)]
        history.append(sum(losses) / len(losses))
    assert history[0] > 200 and history[1] < history[0] - 30, history  # from ~543 nats towards ~150


def test_gan_discriminator_learns_on_real_mnist(mnist):
    torch.manual_seed(0)
    gan = build("mlp_gan", generator_hidden=[64], discriminator_hidden=[64])
    data = mnist.train_images[:3200].float() / 255
    source = ShardedNoise(0, 0, 64, 0, 1, torch.device("cpu"))
    d_losses = [gan.train_step(data[i : i + 64], source, lambda l: l.backward())["discriminator"].item()
                for i in range(0, 3200, 64)]
    chance = 2 * math.log(2)  # a discriminator that cannot tell real from fake
    assert abs(d_losses[0] - chance) < 0.2
    assert sum(d_losses[-10:]) / 10 < chance - 0.3, d_losses[-10:]
