"""The pinned evaluators: two networks of different kinds, trained on the dataset's own
training split, whose features are the spaces FID, KID and precision/recall are computed in.

- the **classifier** (a small CNN; its penultimate layer, 128-d): features that separate the
  classes, so its FID is dominated by the class histogram (docs/metrics.md); its predictions
  also give mode coverage and the classes of per-class FID;
- the **autoencoder** (a convolutional encoder/decoder trained to reconstruct, no labels; its
  128-d bottleneck): features that keep what a reconstruction needs (stroke width, blur, noise,
  style), which a classifier is trained to ignore. A second space of a different kind shows
  which verdicts are about the models and which about one feature space.

Inception-v3 cannot be downloaded here and is a poor judge of small grayscale images. Weights
are committed in `harness/assets/` and pinned with their sha256 in the dataset's DatasetSpec,
so every machine and release computes the same features; every metric row records name and hash.
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
from harness.core.errors import HarnessError
from harness.store import atomic_write

FEATURE_DIM = 128


class EvaluatorNet(nn.Module):
    """What both kinds share: `forward` gives the features, `training_loss` trains the network."""

    num_features = FEATURE_DIM

    def training_loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class ClassifierNet(EvaluatorNet):
    """conv(32) -> pool -> conv(64) -> pool -> fc(128) = features -> fc(classes), sized from the image shape.

    `forward` returns the 128-d penultimate features (what torchmetrics' `feature=` calls);
    `num_features` tells torchmetrics the dimension without a dummy forward pass.
    Input: images as floats in [0, 1], shape (n, C, H, W).
    """

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

    def training_loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(images), labels)


class AutoencoderNet(EvaluatorNet):
    """conv(32, /2) -> conv(64, /2) -> linear 128 = features; mirrored transposed convolutions back.

    The bottleneck is linear (no ReLU), so no feature is clipped at zero. Trained with the
    mean squared error of the reconstruction; labels are never used.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        channels, height, width = image_shape
        grid = (64, height // 4, width // 4)
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(grid[0] * grid[1] * grid[2], FEATURE_DIM),
        )
        self.decoder = nn.Sequential(
            nn.Linear(FEATURE_DIM, grid[0] * grid[1] * grid[2]), nn.ReLU(), nn.Unflatten(1, grid),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, stride=2, padding=1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body((images.float() - 0.5) / 0.5)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.forward(images)))

    def training_loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.reconstruct(images), images)


EVALUATOR_KINDS: dict[str, type[EvaluatorNet]] = {"classifier": ClassifierNet, "autoencoder": AutoencoderNet}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluator_path(pinned: PinnedEvaluator) -> Path:
    """A pinned evaluator's file: a name in harness/assets/, or an absolute path."""
    path = Path(pinned.file)
    return path if path.is_absolute() else Path(str(resources.files("harness") / "assets" / pinned.file))


def load_evaluator(spec: DatasetSpec, device: torch.device | str = "cpu",
                   kind: str = "classifier") -> tuple[EvaluatorNet, PinnedEvaluator]:
    """The dataset's pinned evaluator of `kind`, its hash verified, in eval mode without gradients."""
    missing = spec.missing_evaluator(kind)
    if missing:
        raise HarnessError(missing)
    pinned = spec.evaluators[kind]
    path = evaluator_path(pinned)
    if not path.exists():
        raise HarnessError(f"evaluator weights {path} are missing from the installation; reinstall harness")
    actual = sha256_of(path)
    if actual != pinned.sha256:
        raise HarnessError(
            f"{path}: sha256 {actual} does not match the pinned {pinned.sha256}; the evaluator was modified, "
            "so its FID numbers would not be comparable: restore the file from the repository"
        )
    net = EVALUATOR_KINDS[kind](spec.image_shape, spec.num_classes)
    net.load_state_dict(load_file(path))
    net.eval().requires_grad_(False)
    return net.to(device), pinned


@torch.no_grad()
def accuracy(net: ClassifierNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    """Fraction of uint8 `images` (n, C, H, W) classified as `labels`."""
    net.eval()
    correct = 0
    for i in range(0, len(images), batch):
        logits = net.logits(images[i : i + batch].float() / 255)
        correct += int((logits.argmax(1) == labels[i : i + batch]).sum())
    return correct / len(images)


@torch.no_grad()
def test_score(net: EvaluatorNet, data: Dataset) -> tuple[str, float]:
    """How well a trained evaluator does on the test split: accuracy, or reconstruction MSE."""
    if isinstance(net, ClassifierNet):
        return "test accuracy", accuracy(net, data.test_images, data.test_labels)
    net.eval()
    images = data.test_images.float() / 255
    return "test MSE", float(sum(F.mse_loss(net.reconstruct(images[i : i + 1000]), images[i : i + 1000],
                                            reduction="sum") for i in range(0, len(images), 1000)) / images.numel())


def train_evaluator(
    data: Dataset, output: Path, epochs: int = 4, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
    kind: str = "classifier", log=print,
) -> tuple[float, str]:
    """Train an evaluator of `kind` deterministically on the training split; return (test score, sha256)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = EVALUATOR_KINDS[kind](data.spec.image_shape, data.spec.num_classes)
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
            loss = net.training_loss(x, labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        score_name, score = test_score(net, data)
        log(f"epoch {epoch + 1}/{epochs}: {score_name} {score:.4f} ({time.perf_counter() - started:.0f}s)")
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    atomic_write(output, lambda tmp: save_file(state, str(tmp)))
    return score, sha256_of(output)
