"""The pinned evaluator: a small CNN classifier whose penultimate layer is the feature space
for FID, KID, precision/recall and density/coverage, and whose predictions measure mode coverage.

Inception-v3 cannot be downloaded here and is a poor judge of small grayscale images, so, like
several MNIST studies, we use a classifier trained on the dataset's own training split. Its
weights are committed in `harness/assets/` and pinned with their sha256 in the dataset's
DatasetSpec, so every machine and release computes FID in exactly the same feature space;
every metric row records the name and hash.
"""

import hashlib
import time
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from harness.datasets import Dataset, DatasetSpec, PinnedEvaluator
from harness.errors import HarnessError
from harness.store import atomic_write

FEATURE_DIM = 128


class EvaluatorNet(nn.Module):
    """conv(32) -> pool -> conv(64) -> pool -> fc(128) = features -> fc(classes), sized from the image shape.

    `forward` returns the 128-d penultimate features (what torchmetrics' `feature=` calls);
    `num_features` tells torchmetrics the dimension without a dummy forward pass.
    Input: images as floats in [0, 1], shape (n, C, H, W).
    """

    num_features = FEATURE_DIM

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        channels, height, width = image_shape
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(64 * (height // 4) * (width // 4), FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(FEATURE_DIM, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body((images.float() - 0.5) / 0.5)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward(images))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluator_path(pinned: PinnedEvaluator) -> Path:
    """A pinned evaluator's file: a name in harness/assets/, or an absolute path."""
    path = Path(pinned.file)
    return path if path.is_absolute() else Path(str(resources.files("harness") / "assets" / pinned.file))


def load_evaluator(spec: DatasetSpec, device: torch.device | str = "cpu") -> tuple[EvaluatorNet, PinnedEvaluator]:
    """The dataset's pinned evaluator, its hash verified, in eval mode without gradients."""
    pinned = spec.evaluator
    if pinned is None:
        raise HarnessError(
            f"dataset {spec.name!r} has no pinned evaluator, which FID/KID/precision-recall/mode coverage need; "
            f"train one with `python -m harness evaluator train --dataset {spec.name}` and pin it in its "
            "DatasetSpec, or leave those metrics out of [evaluation] metrics"
        )
    path = evaluator_path(pinned)
    if not path.exists():
        raise HarnessError(f"evaluator weights {path} are missing from the installation; reinstall harness")
    actual = sha256_of(path)
    if actual != pinned.sha256:
        raise HarnessError(
            f"{path}: sha256 {actual} does not match the pinned {pinned.sha256}; the evaluator was modified, "
            "so its FID numbers would not be comparable: restore the file from the repository"
        )
    net = EvaluatorNet(spec.image_shape, spec.num_classes)
    net.load_state_dict(load_file(path))
    net.eval().requires_grad_(False)
    return net.to(device), pinned


@torch.no_grad()
def accuracy(net: EvaluatorNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    """Fraction of uint8 `images` (n, C, H, W) classified as `labels`."""
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
    net = EvaluatorNet(data.spec.image_shape, data.spec.num_classes)
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
