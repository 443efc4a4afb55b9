"""The pinned evaluator: a small CNN classifier whose penultimate layer is the feature space
for FID, KID, precision/recall and density/coverage, and whose predictions measure mode coverage.

Inception-v3 cannot be downloaded here and is a poor judge of 28x28 grayscale digits, so, like
several MNIST studies, we use a classifier trained on the dataset's own training split. Its
weights are committed in `harness/assets/` with their sha256, so every machine and release
computes FID in exactly the same feature space; every metric row records the name and hash.
"""

import hashlib
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from harness.datasets import Dataset
from harness.errors import HarnessError
from harness.results import atomic_write

FEATURE_DIM = 128


class EvaluatorNet(nn.Module):
    """conv(32) -> pool -> conv(64) -> pool -> fc(128) = features -> fc(classes).

    `forward` returns the 128-d penultimate features (what torchmetrics' `feature=` calls);
    `num_features` tells torchmetrics the dimension without a dummy forward pass.
    Input: images as floats in [0, 1], shape (n, 1, 28, 28).
    """

    num_features = FEATURE_DIM

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(64 * 7 * 7, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(FEATURE_DIM, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body((images.float() - 0.5) / 0.5)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward(images))


@dataclass(frozen=True)
class EvaluatorAsset:
    """A committed evaluator: file in harness/assets, its sha256 and its measured test accuracy."""

    dataset: str
    file: str
    sha256: str
    test_accuracy: float

    @property
    def name(self) -> str:
        return self.file.removesuffix(".safetensors")


# Pinned evaluators. Each was made by the command in its comment (which prints the accuracy and
# sha256); a new version gets a new file name, so old FID numbers stay tied to their evaluator.
EVALUATORS: dict[str, EvaluatorAsset] = {
    # python -m harness evaluator train --dataset mnist --output harness/assets/evaluator-mnist-v1.safetensors
    "mnist": EvaluatorAsset(
        "mnist", "evaluator-mnist-v1.safetensors",
        "c036cf823b5f3a114d99e448cbda4b8292d77a0795861e87b1b881c61270cdaa", test_accuracy=0.9932,
    ),
    # python -m harness evaluator train --dataset fashion-mnist --epochs 8 \
    #     --output harness/assets/evaluator-fashion-mnist-v1.safetensors
    "fashion-mnist": EvaluatorAsset(
        "fashion-mnist", "evaluator-fashion-mnist-v1.safetensors",
        "9effa41c17f5ef722245ec2819a8a9d5e466ffa0e2336e5bfdc78a649aa84a57", test_accuracy=0.9183,
    ),
}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def asset_path(file: str) -> Path:
    return Path(str(resources.files("harness") / "assets" / file))


def load_evaluator(dataset: str, device: torch.device | str = "cpu") -> tuple[EvaluatorNet, EvaluatorAsset]:
    """The committed evaluator for `dataset`, its hash verified, in eval mode without gradients."""
    if dataset not in EVALUATORS:
        raise HarnessError(
            f"no committed evaluator for dataset {dataset!r} (have: {', '.join(EVALUATORS) or 'none'}); "
            f"train one with `python -m harness evaluator train --dataset {dataset}`"
        )
    asset = EVALUATORS[dataset]
    path = asset_path(asset.file)
    if not path.exists():
        raise HarnessError(f"evaluator weights {path} are missing from the installation; reinstall harness")
    actual = sha256_of(path)
    if actual != asset.sha256:
        raise HarnessError(
            f"{path}: sha256 {actual} does not match the pinned {asset.sha256}; the evaluator was modified, "
            "so its FID numbers would not be comparable: restore the file from the repository"
        )
    net = EvaluatorNet()
    net.load_state_dict(load_file(path))
    net.eval().requires_grad_(False)
    return net.to(device), asset


@torch.no_grad()
def accuracy(net: EvaluatorNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    """Fraction of uint8 `images` (n, 1, 28, 28) classified as `labels`."""
    net.eval()
    correct = 0
    for i in range(0, len(images), batch):
        logits = net.logits(images[i : i + batch].float() / 255)
        correct += int((logits.argmax(1) == labels[i : i + batch]).sum())
    return correct / len(images)


def train_evaluator(
    data: Dataset, output: Path, epochs: int = 4, batch_size: int = 128, lr: float = 1e-3, seed: int = 0, log=print
) -> tuple[float, str]:
    """Train the evaluator deterministically on the training split; return (test accuracy, sha256)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = EvaluatorNet(data.spec.num_classes)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr * 3, total_steps=epochs * (len(data.train_images) // batch_size)
    )
    images, labels = data.train_images, data.train_labels
    for epoch in range(epochs):
        net.train()
        started = time.perf_counter()
        order = torch.randperm(len(images), generator=generator)
        for step in range(len(images) // batch_size):
            index = order[step * batch_size : (step + 1) * batch_size]
            x = images[index].float() / 255
            # light augmentation: random shifts of up to 2 pixels keep the classifier honest on
            # slightly off-centre generated digits
            shift = torch.randint(-2, 3, (2,), generator=generator).tolist()
            x = torch.roll(x, shifts=shift, dims=(2, 3))
            loss = F.cross_entropy(net.logits(x), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        test_accuracy = accuracy(net, data.test_images, data.test_labels)
        log(f"epoch {epoch + 1}/{epochs}: test accuracy {test_accuracy:.4f} ({time.perf_counter() - started:.0f}s)")
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    atomic_write(output, lambda tmp: save_file(state, str(tmp)))
    return test_accuracy, sha256_of(output)
