"""What each sample metric rewards and misses: real images damaged in known ways, scored like a model.

    python benchmarks/failure_modes.py [--data-dir DIR] [--dataset mnist] [--n 5000]

Every set is N seeded random *training* images (so nothing is scored against itself) put where
a model's samples would be, against the harness's N-image test reference, through the same
metric functions the evaluation uses. The table goes into docs/metrics.md.
"""

import argparse
import time

import torch
import torch.nn.functional as F

from harness.datasets import load_dataset
from harness.evaluation.evaluator import load_evaluator
from harness.core.seeds import subset_indices
from harness.metrics.mode_coverage import class_statistics
from harness.metrics.per_class import per_class_fid
from harness.metrics.precision_recall import precision_recall_density_coverage
from harness.metrics.sample_quality import KID_SCALE, fid_infinity, frechet_distance, gaussian_statistics, standardised_kid


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    x = torch.arange(-3, 4, dtype=torch.float32)
    kernel = torch.exp(-x**2 / (2 * sigma**2))
    kernel = (kernel[:, None] * kernel[None, :]) / kernel.sum() ** 2
    return F.conv2d(images, kernel[None, None], padding=3)


def salt(images: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    mask = torch.rand(images.shape, generator=generator) < fraction
    return torch.where(mask, torch.ones_like(images), images)


@torch.no_grad()
def features(net, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(images[i : i + 1000]) for i in range(0, len(images), 1000)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    data = load_dataset(args.dataset, args.data_dir)
    classifier, _ = load_evaluator(data.spec)
    autoencoder, _ = load_evaluator(data.spec, kind="autoencoder")
    n = args.n
    reference_index = subset_indices(len(data.test_images), n, "test")
    reference = data.test_images[reference_index].float() / 255
    labels = data.test_labels[reference_index]
    pool_index = subset_indices(len(data.train_images), 4 * n, "train")
    pool, pool_labels = data.train_images[pool_index].float() / 255, data.train_labels[pool_index]
    generator = torch.Generator().manual_seed(0)
    four = pool[pool_labels < 4][:n]
    sets = {
        "training images (the floor)": pool[:n],
        "first N test images (biased sample)": data.test_images[:n].float() / 255,
        "four classes only": four,
        "four classes + 5 % salt noise": salt(four, 0.05, generator),
        "blurred (Gaussian, sigma 1 px)": blur(pool[:n], 1.0),
        "one class (collapse)": pool[pool_labels == 3][:n].repeat(n // max(1, int((pool_labels == 3).sum())) + 1, 1, 1, 1)[:n],
        "uniform noise": torch.rand((n, *data.spec.image_shape), generator=generator),
    }
    spaces = {"classifier": classifier, "autoencoder": autoencoder}
    real = {name: features(net, reference) for name, net in spaces.items()}
    statistics = {name: gaussian_statistics(value) for name, value in real.items()}
    print(f"{args.dataset}: each set is {n} images against the {n}-image seeded test reference "
          f"({time.strftime('%Y-%m-%d')}, torch {torch.__version__})\n")
    header = ("set", "FID", "FID∞", "FID (AE)", "FID∞ (AE)", "per-class FID", "per-class FID (AE)", "KID ×10³",
              "class overlap", "classes covered", "precision", "recall")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, images in sets.items():
        logits = classifier.logits(images).detach() if images.numel() else None
        fake = {space: features(net, images) for space, net in spaces.items()}
        row = [name]
        for space in spaces:
            row.append(f"{frechet_distance(gaussian_statistics(fake[space]), statistics[space]):.1f}")
            row.append(f"{fid_infinity(statistics[space], fake[space])['fid_inf']:.1f}")
        for space in spaces:
            value = per_class_fid(real[space], labels, fake[space], logits.argmax(1), data.spec.num_classes)["mean"]
            row.append(f"{value:.1f}")
        kid, _ = standardised_kid(real["classifier"], fake["classifier"], 50, 1000)
        coverage = class_statistics(logits, labels, data.spec.num_classes)
        pr = precision_recall_density_coverage(real["classifier"], fake["classifier"], 3, 5)
        row += [f"{kid * KID_SCALE:.1f}", f"{coverage['class_overlap']:.3f}", str(coverage["classes_covered"]),
                f"{pr['precision']:.3f}", f"{pr['recall']:.3f}"]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
