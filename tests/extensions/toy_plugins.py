"""Extensions a contributor writes outside harness/: one of each kind, each registered the way
docs/architecture.md ("How to add") says, none touching the package (and a feature space). `register()` adds them,
`unregister()` takes them out again (tests share one process)."""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field, PositiveInt

from harness.core.columns import Column
from harness.core.errors import DataError
from harness.datasets import DATASETS, DatasetSpec
from harness.execution.executors import EXECUTORS, Executor, Submission, task_command
from harness.execution.strategies import STRATEGIES, register_strategy
from harness.execution.run_parallel import RunParallel
from harness.metrics import FEATURES, METRICS, FeatureSpace
from harness.metrics.base import Metric, MetricSettings
from harness.models.likelihoods import LIKELIHOODS, Likelihood
from harness.models.objectives import OBJECTIVES, GANObjective
from harness.store import now

SHAPE = (1, 8, 8)
CLASSES = 2


# -- a dataset: 1x8x8 stripes, horizontal or vertical, read from .npz files ------------------------


def write_stripes(folder: Path) -> None:
    """<folder>/{train,test}.npz: class 0 horizontal stripes, class 1 vertical, on noise."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", 256, 0), ("test", 64, 1)):
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, CLASSES, n)
        images = rng.integers(0, 60, (n, *SHAPE)).astype(np.uint8)
        for i, label in enumerate(labels):
            if label == 0:
                images[i, :, ::2, :] = 230
            else:
                images[i, :, :, ::2] = 230
        np.savez(folder / f"{split}.npz", images=images, labels=labels)


class NpzReader:
    """Reads <folder>/{train,test}.npz holding uint8 `images` (n, C, H, W) and `labels` (n,)."""

    def read(self, spec, folder: Path, download: bool) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        splits = {}
        for split in ("train", "test"):
            path = folder / f"{split}.npz"
            if not path.exists():
                raise DataError(f"{path} is missing; the test that registers {spec.name} writes it")
            with np.load(path) as data:
                splits[split] = (torch.from_numpy(data["images"]), torch.from_numpy(data["labels"]))
        return splits


STRIPES = DatasetSpec("toy-stripes", "stripes, horizontal or vertical (a plugin)", SHAPE, CLASSES,
                      {"train": 256, "test": 64}, NpzReader())


# -- a GAN objective: the hinge loss with a margin of 2 ---------------------------------------------


class WideHinge(GANObjective):
    """Hinge loss with margin 2 (a plugin objective)."""

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return torch.relu(2 - real_logits.float()).mean() + torch.relu(2 + fake_logits.float()).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()


# -- a VAE likelihood: Laplace with a fixed scale, a density of dequantized intensities --------------


class Laplace(Likelihood):
    """Laplace(sigmoid(a), 0.1) per pixel on dequantized intensities (a plugin likelihood)."""

    dequantizes = True
    data = "dequantized intensities (pixel + u) / 256"
    scale = 0.1

    def log_prob(self, outputs: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return torch.distributions.Laplace(torch.sigmoid(outputs), self.scale).log_prob(observed).sum(-1)

    def mean(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(outputs)


# -- a metric with its own settings: the pixel spread of the samples against the test images --------


class SpreadSettings(MetricSettings):
    spread_images: PositiveInt = Field(default=32, description="test images the spread is compared with")
    spread_quantile: float = Field(default=0.5, gt=0, lt=1, description="which quantile of the pixel spread")


class PixelSpread(Metric):
    name = "pixel_spread"
    Settings = SpreadSettings
    test_image_settings = ("spread_images",)
    columns = (Column("spread_gap", "pixel spread gap", "lower", digits=3, leaderboard=True, summary=True),
               Column("spread_images_used", "spread test images", None, changes_meaning="spread images"))
    sample_based = True

    def settings(self, session) -> dict[str, Any]:
        own = self.configured(session.config)
        return {"images": session.test_subset(own.spread_images), "quantile": own.spread_quantile}

    def compute(self, model, session) -> dict[str, Any]:
        own = self.configured(session.config)
        test = session.test_images[session.test_indices(own.spread_images)]
        spread = lambda images: float(images.flatten(1).std(0).quantile(own.spread_quantile))  # noqa: E731
        return {"spread_gap": abs(spread(session.samples(model).cpu()) - spread(test)),
                "spread_images_used": own.spread_images}


# -- a feature space: the images pooled 2x2 and flattened (FID and kin in pixel space) ------------


def pooled_pixels(session) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.AvgPool2d(2), torch.nn.Flatten())


POOLED = FeatureSpace("images pooled 2x2, as vectors (a plugin feature space)", build=pooled_pixels,
                      identity=lambda session: {"pooled_pixels": "avgpool2-v1"})


# -- a strategy: run_parallel, training the suite's runs in reverse order ------------------------


class ReverseOrder(RunParallel):
    """Whole runs per process, the suite's last run first (a plugin strategy)."""

    name = "reverse_order"

    def assign(self, runs, folder, costs):
        yield from super().assign(list(reversed(runs)), folder, {run.id: float(i) for i, run in enumerate(runs)})


# -- an executor: each pending run as an in-process `harness run --only RUN` -----------------------


class FinishedJob:
    def __init__(self, job_id: str, exit_code: int) -> None:
        self.job_id, self.exit_code = job_id, exit_code

    def done(self) -> bool:
        return True


class InProcess(Executor):
    """Runs each task's command line in this process, one after another (a plugin executor)."""

    description = "each pending run as `harness run --only RUN` in this process, one after another"
    always_waits = True
    commands: list[list[str]] = []

    def submit(self, suite, runs, folder, results, options, force=False) -> Submission:
        from harness.cli import main

        submission = Submission(folder)
        jobs = folder.read_jobs()
        for index, run in enumerate(runs):
            command = task_command(suite, results, run, options, force)
            self.commands.append(command)
            job = FinishedJob(f"inline-{index}", main(command[3:]))  # drop `python -m harness`
            submission.jobs.append(job)
            submission.submitted[run.id] = job.job_id
            jobs[run.id] = {"job": job.job_id, "executor": "inline", "submitted_at": now()}
        folder.write_jobs(jobs)
        return submission


def register() -> None:
    DATASETS.register(STRIPES.name)(STRIPES)
    OBJECTIVES.register("wide_hinge")(WideHinge)
    LIKELIHOODS.register("laplace")(Laplace)
    METRICS.register(PixelSpread.name)(PixelSpread)
    register_strategy("reverse_order", "whole runs per process, last run first")(ReverseOrder)
    EXECUTORS.register("inline")(InProcess())
    FEATURES.register("pooled_pixels")(POOLED)


def unregister() -> None:
    DATASETS.remove(STRIPES.name)
    OBJECTIVES.remove("wide_hinge")
    LIKELIHOODS.remove("laplace")
    METRICS.remove(PixelSpread.name)
    STRATEGIES.remove("reverse_order")
    EXECUTORS.remove("inline")
    FEATURES.remove("pooled_pixels")
