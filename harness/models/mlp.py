"""MLP architectures (the study's networks): fully connected generator/discriminator and encoder/decoder.

Registers `mlp_gan` (GAN family) and `mlp_vae` (VAE family). The networks flatten images
inside themselves, so any image shape works. Torch is imported inside the builders: this
module is read by `validate`, which must stay light.
"""

from pydantic import Field, PositiveInt

from harness.models.registry import register_model
from harness.models.options import ActivationName, GANOptions, ImageShape, VAEOptions


class MLPGANOptions(GANOptions):
    generator_hidden: list[PositiveInt] = Field(default=[256, 512], min_length=1,
                                                description="widths of the generator's hidden layers, input side first")
    discriminator_hidden: list[PositiveInt] = Field(default=[512, 256], min_length=1,
                                                    description="widths of the discriminator's hidden layers")
    activation: ActivationName = Field("leaky_relu", description="activation after every hidden layer")
    leaky_slope: float = Field(default=0.2, ge=0, description="negative slope of leaky_relu")


class MLPVAEOptions(VAEOptions):
    encoder_hidden: list[PositiveInt] = Field(default=[256], min_length=1,
                                              description="widths of the encoder's hidden layers")
    decoder_hidden: list[PositiveInt] = Field(default=[256], min_length=1,
                                              description="widths of the decoder's hidden layers")
    activation: ActivationName = Field("relu", description="activation after every hidden layer")
    leaky_slope: float = Field(default=0.2, ge=0, description="negative slope of leaky_relu")


def _pixels(image_shape: ImageShape) -> int:
    channels, height, width = image_shape
    return channels * height * width


@register_model("mlp_gan", MLPGANOptions,
                "MLP GAN, objective per run (default: the study's non-saturating BCE loss), Adam (lr 2e-4, betas 0.5/0.999)")
def mlp_gan(options: MLPGANOptions, image_shape: ImageShape) -> dict:
    """Generator: latent -> hidden -> pixels (tanh). Discriminator: pixels -> hidden -> 1 logit."""
    from torch import nn

    from harness.models.layers import FromImages, ToImages, mlp_layers

    o, pixels = options, _pixels(image_shape)
    generator = ToImages(*mlp_layers([o.latent_dim, *o.generator_hidden, pixels], o.activation, o.leaky_slope),
                         nn.Tanh(), image_shape=image_shape)
    discriminator = FromImages(*mlp_layers([pixels, *o.discriminator_hidden, 1], o.activation, o.leaky_slope))
    return {"generator": generator, "discriminator": discriminator}


@register_model("mlp_vae", MLPVAEOptions,
                "MLP VAE, likelihood per run (default: the study's BCE on grey levels), loss = -ELBO, Adam (lr 1e-3)")
def mlp_vae(options: MLPVAEOptions, image_shape: ImageShape) -> dict:
    """Encoder: pixels -> hidden -> (mean, log-variance). Decoder: latent -> hidden -> the likelihood's
    parameters (k per pixel, channel-major)."""
    from harness.models.layers import FromImages, ToImages, mlp_layers
    from harness.models.likelihoods import LIKELIHOODS

    o, pixels = options, _pixels(image_shape)
    k = LIKELIHOODS.get(o.likelihood).outputs_per_pixel
    channels, height, width = image_shape
    return {
        "encoder": FromImages(*mlp_layers([pixels, *o.encoder_hidden, 2 * o.latent_dim], o.activation, o.leaky_slope)),
        "decoder": ToImages(*mlp_layers([o.latent_dim, *o.decoder_hidden, k * pixels], o.activation, o.leaky_slope),
                            image_shape=(k * channels, height, width)),
    }
