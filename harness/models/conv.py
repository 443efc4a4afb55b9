"""Convolutional architectures sized from the image shape: `dcgan` (GAN family) and `conv_vae` (VAE family).

Both work at any image whose height and width are multiples of 4 (28x28x1 MNIST, 32x32x3
CIFAR-10): two stride-2 convolutions take H x W to H/4 x W/4 and two transposed ones back.

- `dcgan` (Radford et al. 2016): generator latent -> linear -> (2c, H/4, W/4) -> transposed
  convolutions with batch norm and ReLU -> tanh; discriminator strided convolutions with
  LeakyReLU and no batch norm (real and generated images share one forward pass, which batch norm
  would mix), optionally spectrally normalised (Miyato et al. 2018) -> 1 logit.
- `conv_vae`: the same encoder shape ending in 2 x latent_dim numbers (mean, log-variance) and the
  generator's shape as decoder ending in the likelihood's parameters, no squashing.

Torch is imported inside the builders: this module is read by `validate`, which must stay light.
"""

from pydantic import Field, PositiveInt

from harness.models.registry import register_model
from harness.models.options import ActivationName, GANOptions, ImageShape, VAEOptions

DOWNSAMPLING = 4  # two stride-2 convolutions


class DCGANOptions(GANOptions):
    base_channels: PositiveInt = Field(64, le=1024, description="channels after the discriminator's first "
                                       "convolution (the generator mirrors it: 2c then c)")
    spectral_norm: bool = Field(False, description="spectral normalisation of every discriminator layer "
                                "(Miyato et al. 2018; usual with the hinge objective)")
    leaky_slope: float = Field(default=0.2, ge=0, description="negative slope of the discriminator's LeakyReLU")


class ConvVAEOptions(VAEOptions):
    base_channels: PositiveInt = Field(32, le=1024, description="channels after the encoder's first convolution "
                                       "(the decoder mirrors it)")
    activation: ActivationName = Field("relu", description="activation after every hidden layer")
    leaky_slope: float = Field(default=0.2, ge=0, description="negative slope of leaky_relu")


def _reduced(image_shape: ImageShape) -> tuple[int, int]:
    _, height, width = image_shape
    if height % DOWNSAMPLING or width % DOWNSAMPLING:
        raise ValueError(f"the convolutional architectures need image sides divisible by {DOWNSAMPLING}, "
                         f"not {height}x{width}; use an mlp_* model for this dataset")
    return height // DOWNSAMPLING, width // DOWNSAMPLING


def _upsampler(latent_dim: int, channels: int, out_channels: int, image_shape: ImageShape, activation, batch_norm: bool):
    """latent -> linear -> (2c, H/4, W/4) -> two transposed convolutions -> (out_channels, H, W), no output activation."""
    from torch import nn

    height, width = _reduced(image_shape)
    norm = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
    return nn.Sequential(
        nn.Linear(latent_dim, 2 * channels * height * width),
        nn.Unflatten(1, (2 * channels, height, width)), norm(2 * channels), activation(),
        nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), norm(channels), activation(),
        nn.ConvTranspose2d(channels, out_channels, 4, stride=2, padding=1),
    )


def _downsampler(in_channels: int, channels: int, outputs: int, image_shape: ImageShape, activation,
                 spectral_norm: bool = False):
    """(in_channels, H, W) -> two stride-2 convolutions -> linear -> `outputs` numbers."""
    from torch import nn

    height, width = _reduced(image_shape)
    wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
    return nn.Sequential(
        wrap(nn.Conv2d(in_channels, channels, 4, stride=2, padding=1)), activation(),
        wrap(nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1)), activation(),
        nn.Flatten(), wrap(nn.Linear(2 * channels * height * width, outputs)),
    )


@register_model("dcgan", DCGANOptions,
                "DCGAN-style convolutional GAN sized from the image shape, optional spectral norm; objective per run")
def dcgan(options: DCGANOptions, image_shape: ImageShape) -> dict:
    from torch import nn

    o, channels = options, image_shape[0]
    generator = nn.Sequential(_upsampler(o.latent_dim, o.base_channels, channels, image_shape, nn.ReLU, True),
                              nn.Tanh())
    discriminator = _downsampler(channels, o.base_channels, 1, image_shape, lambda: nn.LeakyReLU(o.leaky_slope),
                                 o.spectral_norm)
    return {"generator": generator, "discriminator": discriminator}


@register_model("conv_vae", ConvVAEOptions,
                "convolutional VAE sized from the image shape; likelihood, beta and train_samples per run")
def conv_vae(options: ConvVAEOptions, image_shape: ImageShape) -> dict:
    from harness.models.layers import ACTIVATIONS
    from harness.models.likelihoods import LIKELIHOODS

    o, channels = options, image_shape[0]
    k = LIKELIHOODS.get(o.likelihood).outputs_per_pixel

    def activation():
        return ACTIVATIONS[o.activation](o.leaky_slope)

    return {
        "encoder": _downsampler(channels, o.base_channels, 2 * o.latent_dim, image_shape, activation),
        "decoder": _upsampler(o.latent_dim, o.base_channels, k * channels, image_shape, activation, False),
    }
