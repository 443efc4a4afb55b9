"""The best plain PyTorch loops we can write for the study's four models, timed in a fresh process.

This file imports nothing of the harness, so a process that runs it has exactly the environment
it was started with: torch's default threads (or OMP_NUM_THREADS), OpenMP's default waiting (or
OMP_WAIT_POLICY / GOMP_SPINCOUNT), no MKL settings. `throughput.py` and `threads.py` start it once
per measurement, beside `python -m harness run` in its own fresh process.

The loops hold the data in memory as uint8 and train the same architectures as the harness
(suites/gan_vs_vae.toml), batch 64:
- "best": real and fake through the discriminator in one pass, the discriminator frozen (no
  weight gradients) in the generator step, fused Adam, no host sync per step;
- "tutorial": a GAN tutorial's loop (two discriminator passes, discriminator gradients computed
  and thrown away in the generator step, default Adam); for the VAE the same step, default Adam.

It prints the images/s of the second of two epochs (the first warms up, as the harness's first
epoch does) and a checksum of the trained weights.

    python benchmarks/plain_loops.py gan-final [--loop best] [--precision bf16] [--steps 200]
"""

import argparse
import gzip
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# The study's four models (suites/gan_vs_vae.toml); the harness's defaults for everything else.
MODELS = {
    "gan-baseline": {"family": "gan", "latent": 100, "g": [256, 512], "d": [512, 256], "lr": 2e-4},
    "gan-final": {"family": "gan", "latent": 100, "g": [256, 512, 1024], "d": [1024, 512, 256], "lr": 2e-4},
    "vae-baseline": {"family": "vae", "latent": 64, "hidden": [256], "activation": "relu", "lr": 1e-3},
    "vae-final": {"family": "vae", "latent": 64, "hidden": [256], "activation": "leaky_relu", "lr": 1e-3},
}
BATCH = 64


def mlp(sizes: list[int], act: Callable[[], nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def autocast(dtype: torch.dtype | None):
    return torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def gan_step(cfg: dict, dtype: torch.dtype | None, best: bool) -> tuple[Callable[[torch.Tensor], None], list[nn.Module]]:
    leaky = lambda: nn.LeakyReLU(0.2)  # noqa: E731
    g = mlp([cfg["latent"], *cfg["g"], 784], leaky).append(nn.Tanh())
    d = mlp([784, *cfg["d"], 1], leaky)
    adam = {"lr": cfg["lr"], "betas": (0.5, 0.999), "fused": True if best else None}
    opt_g, opt_d = torch.optim.Adam(g.parameters(), **adam), torch.optim.Adam(d.parameters(), **adam)
    targets = torch.cat([torch.ones(BATCH), torch.zeros(BATCH)])

    def latents() -> torch.Tensor:
        return torch.rand(BATCH, cfg["latent"]) * 2 - 1

    def best_step(images: torch.Tensor) -> None:
        real = images.float().div_(127.5).sub_(1)
        with autocast(dtype):
            with torch.no_grad():
                fake = g(latents())
            logits = d(torch.cat([real, fake.float()])).float().squeeze(1)
        loss_d = F.binary_cross_entropy_with_logits(logits, targets)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        d.requires_grad_(False)
        with autocast(dtype):
            logits = d(g(latents())).float().squeeze(1)
        loss_g = F.binary_cross_entropy_with_logits(logits, targets[:BATCH])
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        d.requires_grad_(True)

    def tutorial_step(images: torch.Tensor) -> None:
        real = images.float().div_(127.5).sub_(1)
        ones, zeros = targets[:BATCH, None], targets[BATCH:, None]
        with autocast(dtype):
            fake = g(latents())
            loss_d = (F.binary_cross_entropy_with_logits(d(real).float(), ones)
                      + F.binary_cross_entropy_with_logits(d(fake.detach()).float(), zeros))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        with autocast(dtype):
            loss_g = F.binary_cross_entropy_with_logits(d(fake).float(), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

    return (best_step if best else tutorial_step), [g, d]


def vae_step(cfg: dict, dtype: torch.dtype | None, best: bool) -> tuple[Callable[[torch.Tensor], None], list[nn.Module]]:
    act = nn.ReLU if cfg["activation"] == "relu" else (lambda: nn.LeakyReLU(0.2))
    enc = mlp([784, *cfg["hidden"], 2 * cfg["latent"]], act)
    dec = mlp([cfg["latent"], *cfg["hidden"], 784], act)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=cfg["lr"], fused=True if best else None)

    def step(images: torch.Tensor) -> None:
        x = images.float().div_(255)
        with autocast(dtype):
            mu, logvar = enc(x).float().chunk(2, 1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = dec(z).float()
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (bce + kl) / BATCH
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, [enc, dec]


def mnist_train_images(data_dir: Path, count: int) -> torch.Tensor:
    """The first `count` MNIST training images, flattened uint8 (the IDX file read directly)."""
    raw = gzip.open(data_dir / "mnist" / "train-images-idx3-ubyte.gz").read()
    return torch.frombuffer(bytearray(raw[16:16 + count * 784]), dtype=torch.uint8).reshape(count, 784)


def time_loop(model: str, loop: str, precision: str, steps: int, data_dir: Path) -> tuple[float, float]:
    """(images/s of the second epoch, checksum of the weights) for one plain loop."""
    torch.manual_seed(0)
    cfg = MODELS[model]
    dtype = torch.bfloat16 if precision == "bf16" else None
    build = gan_step if cfg["family"] == "gan" else vae_step
    step, networks = build(cfg, dtype, best=loop == "best")
    data = mnist_train_images(data_dir, steps * BATCH)

    def epoch() -> float:
        order = torch.randperm(len(data))
        start = time.perf_counter()
        for index in range(steps):
            step(data[order[index * BATCH:(index + 1) * BATCH]])
        return steps * BATCH / (time.perf_counter() - start)

    epoch()
    speed = epoch()
    return speed, sum(p.double().sum() for net in networks for p in net.parameters()).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--loop", choices=["best", "tutorial"], default="best")
    parser.add_argument("--precision", choices=["no", "bf16"], default="no")
    parser.add_argument("--steps", type=int, default=200, help="steps per epoch (two epochs, the second timed)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("HARNESS_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")))
    args = parser.parse_args()
    speed, checksum = time_loop(args.model, args.loop, args.precision, args.steps, args.data_dir)
    print(f"{speed:.1f} {checksum:.10f} {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
