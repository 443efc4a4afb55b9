"""The extension test, for real: a new architecture, metric and dataset defined and registered here
alone (nothing under harness/ touched), trained, evaluated, on the leaderboard and in the report."""

from typing import Any

import numpy as np
import pytest
from pydantic import Field, PositiveInt
from torch import nn

from harness import pipeline
from harness.core.columns import Column
from harness.datasets import DATASETS, DatasetSpec, PinnedEvaluator, load_dataset
from harness.evaluation.evaluator import train_evaluator
from harness.metrics import METRICS
from harness.metrics.base import Metric
from harness.models import MODELS, register_model
from harness.models.options import GANOptions, ImageShape
from tests.extensions.toy_plugins import NpzReader

SHAPE = (3, 16, 16)
CLASSES = 4


# -- a new dataset: 3x16x16 colour images with its own reader (.npz files) ---------------------


def make_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k: a bright square in quadrant k, tinted by a class colour, on noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    images = rng.integers(0, 40, (n, *SHAPE)).astype(np.uint8)
    colours = np.array([[255, 60, 60], [60, 255, 60], [60, 60, 255], [255, 255, 60]], dtype=np.uint8)
    for i, label in enumerate(labels):
        top, left = 8 * (label // 2), 8 * (label % 2)
        images[i, :, top + 1 : top + 7, left + 1 : left + 7] = colours[label][:, None, None]
    return images, labels


# -- a new architecture: a small convolutional GAN, any (C, H, W) with H and W divisible by 4 --------


class ConvGANOptions(GANOptions):
    width: PositiveInt = Field(default=16, description="channels of the first convolution")


def conv_gan(options: ConvGANOptions, image_shape: ImageShape) -> dict[str, nn.Module]:
    channels, height, width = image_shape
    w = options.width
    generator = nn.Sequential(
        nn.Linear(options.latent_dim, 2 * w * (height // 4) * (width // 4)), nn.ReLU(),
        nn.Unflatten(1, (2 * w, height // 4, width // 4)),
        nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(w, channels, 4, stride=2, padding=1), nn.Tanh(),
    )
    discriminator = nn.Sequential(
        nn.Conv2d(channels, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * w * (height // 4) * (width // 4), 1),
    )
    return {"generator": generator, "discriminator": discriminator}


# -- a new metric: how far the samples' mean colour is from the test set's ----------------------


class MeanColourGap(Metric):
    name = "mean_colour_gap"
    columns = (Column("colour_gap", "mean colour gap", "lower", digits=3, leaderboard=True, chart=True),)
    sample_based = True

    def settings(self, session) -> dict[str, Any]:
        return {"num_samples": session.config.num_samples}

    def compute(self, model, session) -> dict[str, float]:
        samples = session.samples(model).mean(dim=(0, 2, 3))
        reference = session.reference_images.mean(dim=(0, 2, 3))
        return {"colour_gap": float((samples - reference).abs().mean())}


SUITE = """
[suite]
name = "colour"
description = "extension test: a conv GAN and an MLP VAE on 3x16x16 colour squares"
dataset = "toy-colour"
seeds = [0, 1]

[defaults]
epochs = 2
batch_size = 32

[[run]]
name = "conv-gan"
model = "toy_conv_gan"
latent_dim = 8
width = 8

[[run]]
name = "mlp-vae"
model = "mlp_vae"
latent_dim = 4
encoder_hidden = [32]
decoder_hidden = [32]

[evaluation]
metrics = ["sample_quality", "mean_colour_gap", "mode_coverage", "reconstruction", "likelihood"]
num_samples = 100
kid_subsets = 5
kid_subset_size = 50
reconstruction_images = 8
inversion_steps = 5
inversion_restarts = 1
likelihood_images = 8
iwae_samples = 4

[[claim]]
text = "the VAE matches the test colours better than the conv GAN"
metric = "colour_gap"
better = "mlp-vae"
than = "conv-gan"
"""


@pytest.fixture
def registered(tmp_path):
    """Registers the dataset (with an evaluator trained here), the architecture and the metric; removes them after."""
    data_dir = tmp_path / "data"
    (data_dir / "toy-colour").mkdir(parents=True)
    for split, n, seed in (("train", 512, 0), ("test", 128, 1)):
        images, labels = make_images(n, seed)
        np.savez(data_dir / "toy-colour" / f"{split}.npz", images=images, labels=labels)
    spec = DatasetSpec("toy-colour", "coloured squares (test)", SHAPE, CLASSES, {"train": 512, "test": 128}, NpzReader())
    DATASETS.register(spec.name)(spec)
    try:
        evaluator = tmp_path / "evaluator-toy-colour.safetensors"
        accuracy, sha256 = train_evaluator(load_dataset("toy-colour", data_dir), evaluator, epochs=2, log=lambda _: None)
        DATASETS.remove(spec.name)
        DATASETS.register(spec.name)(
            DatasetSpec(**{**spec.__dict__, "evaluator": PinnedEvaluator(str(evaluator), sha256, accuracy)}))
        register_model("toy_conv_gan", ConvGANOptions, "conv GAN defined in a test")(conv_gan)
        METRICS.register(MeanColourGap.name)(MeanColourGap)
        yield data_dir, accuracy
    finally:
        DATASETS.remove("toy-colour")
        MODELS.remove("toy_conv_gan")
        METRICS.remove(MeanColourGap.name)


@pytest.mark.slow
def test_new_architecture_metric_and_dataset_run_through_the_library(registered, tmp_path):
    data_dir, accuracy = registered
    assert accuracy > 0.9  # the evaluator built from (3, 16, 16) and 4 classes learned the classes
    suite_file = tmp_path / "colour.toml"
    suite_file.write_text(SUITE)
    outcome = pipeline.run_suite(suite_file, tmp_path / "results", data_dir=data_dir)
    assert outcome.exit_code == 0, [(o.spec.id, o.record and o.record.error) for o in outcome.failed]
    assert [o.status for o in outcome.outcomes] == ["completed"] * 4

    gan_run = outcome.folder.run("conv-gan-s0")
    assert gan_run.read_record().parameters["generator"] > 0
    row = gan_run.read_metrics_row().values
    assert row["colour_gap"] >= 0 and row["fid"] > 0 and row["reconstruction_method"] == "latent inversion"
    assert row["elbo"] == "n/a"  # a GAN bounds no likelihood
    vae_row = outcome.folder.run("mlp-vae-s1").read_metrics_row().values
    assert vae_row["elbo"] < 0 and vae_row["iwae"] >= vae_row["elbo"] - 5
    assert "colour_gap" in outcome.folder.read_reference().values  # the new metric scored the real-data floor too
    figures = gan_run.read_figures()
    assert figures["reconstructions"].shape == (16, *SHAPE) and figures["class_share"].shape == (CLASSES,)

    board = pipeline.leaderboard(outcome.folder.dir)
    assert "colour_gap" in board.metrics and set(board.table["configuration"]) == {"conv-gan", "mlp-vae"}
    assert "mean colour gap" in board.export("md")

    html = pipeline.write_report(outcome.folder.dir, log=lambda _: None).read_text()
    assert "mean colour gap" in html and "the VAE matches the test colours" in html
    charts = {p.name for p in (outcome.folder.dir / "charts").glob("*.png")}
    assert {"key_metrics.png", "samples.png", "reconstructions.png", "interpolations.png",
            "class_histograms.png", "training_curves.png"} <= charts
