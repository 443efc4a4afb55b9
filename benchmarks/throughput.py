"""Training throughput: the harness against the best plain PyTorch loop we can write, and
against the loop of a typical tutorial.

For each of the study's four models, the harness trains through its library entry point
(`harness.pipeline.run_suite` on a one-run suite: strategy, accelerate, sharded batches,
checkpoints between epochs, results store), and two plain loops train the same architecture
written out by hand with the same batch, precision and data held in memory: the best one
(one discriminator pass for real and fake, frozen discriminator in the generator step, fused
Adam) and a tutorial's (two passes, discriminator gradients computed in the generator step,
default Adam). Throughput is images per second over the timed epoch (the first epoch is a
warm-up for all). The machine is noisy, so the three are interleaved over several rounds
(rotating which goes first); each ratio is the median of the per-round ratios.

    HARNESS_DATA_DIR=../shared/data python benchmarks/throughput.py [--steps 200] [--rounds 7] [--mixed-precision bf16]
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rich.console import Console

from harness import pipeline
from harness.datasets import load_dataset

SUITE = Path(__file__).resolve().parent.parent / "suites" / "gan_vs_vae.toml"


def plain_mlp(sizes: list[int], act: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act)
    return nn.Sequential(*layers)


def timed_epochs(step: Callable[[torch.Tensor], None], data: torch.Tensor, steps: int, batch: int) -> float:
    """Images/s of the second of two epochs (the first warms up, as the harness's does)."""
    def epoch() -> float:
        perm = torch.randperm(len(data))
        start = time.perf_counter()
        for index in range(steps):
            step(data[perm[index * batch : (index + 1) * batch]])
        return steps * batch / (time.perf_counter() - start)

    epoch()
    return epoch()


def best_gan(cfg, data: torch.Tensor, steps: int, batch: int, dtype) -> float:
    """The best plain loop we can write: real and fake through D in one pass, D frozen (no weight
    gradients) in the generator step, fused Adam, data in memory, no host sync per step."""
    g = plain_mlp([cfg.latent_dim, *cfg.generator_hidden, 784], nn.LeakyReLU(0.2)).append(nn.Tanh())
    d = plain_mlp([784, *cfg.discriminator_hidden, 1], nn.LeakyReLU(0.2))
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=cfg.betas, fused=True)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=cfg.betas, fused=True)
    targets = torch.cat([torch.ones(batch), torch.zeros(batch)])

    def step(images: torch.Tensor) -> None:
        real = images.float().div_(127.5).sub_(1)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            with torch.no_grad():
                fake = g(torch.rand(batch, cfg.latent_dim) * 2 - 1)
            logits = d(torch.cat([real, fake.float()])).float().squeeze(1)
        loss_d = F.binary_cross_entropy_with_logits(logits, targets)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        d.requires_grad_(False)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            logits = d(g(torch.rand(batch, cfg.latent_dim) * 2 - 1)).float().squeeze(1)
        loss_g = F.binary_cross_entropy_with_logits(logits, targets[:batch])
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        d.requires_grad_(True)

    return timed_epochs(step, data, steps, batch)


def tutorial_gan(cfg, data: torch.Tensor, steps: int, batch: int, dtype) -> float:
    """The loop of most GAN tutorials: real and fake through D separately, D's weight gradients
    computed (and thrown away) in the generator step, the default (unfused) Adam."""
    g = plain_mlp([cfg.latent_dim, *cfg.generator_hidden, 784], nn.LeakyReLU(0.2)).append(nn.Tanh())
    d = plain_mlp([784, *cfg.discriminator_hidden, 1], nn.LeakyReLU(0.2))
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=cfg.betas)
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def step(images: torch.Tensor) -> None:
        real = images.float().div_(127.5).sub_(1)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            fake = g(torch.rand(batch, cfg.latent_dim) * 2 - 1)
            loss_d = F.binary_cross_entropy_with_logits(d(real).float(), ones) + \
                F.binary_cross_entropy_with_logits(d(fake.detach()).float(), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss_g = F.binary_cross_entropy_with_logits(d(fake).float(), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

    return timed_epochs(step, data, steps, batch)


def _vae(cfg, data: torch.Tensor, steps: int, batch: int, dtype, fused: bool) -> float:
    act = nn.ReLU() if cfg.activation == "relu" else nn.LeakyReLU(0.2)
    enc = plain_mlp([784, *cfg.encoder_hidden, 2 * cfg.latent_dim], act)
    dec = plain_mlp([cfg.latent_dim, *cfg.decoder_hidden, 784], act)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=cfg.lr, fused=fused or None)

    def step(images: torch.Tensor) -> None:
        x = images.float().div_(255)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            mu, logvar = enc(x).float().chunk(2, 1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = dec(z).float()
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (bce + kl) / batch
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed_epochs(step, data, steps, batch)


def best_vae(cfg, data, steps, batch, dtype) -> float:
    """The same VAE step with fused Adam."""
    return _vae(cfg, data, steps, batch, dtype, fused=True)


def tutorial_vae(cfg, data, steps, batch, dtype) -> float:
    """The same VAE step with the default (unfused) Adam, as in the PyTorch VAE example."""
    return _vae(cfg, data, steps, batch, dtype, fused=False)


def harness_throughput(suite, run, dataset, steps: int) -> float:
    """Images/s of the second (timed) epoch of `run`, trained alone through the library, not evaluated."""
    from dataclasses import replace

    training = run.training.model_copy(update={"epochs": 2, "train_subset": steps * run.training.batch_size})
    one_run = replace(suite, runs=[replace(run, training=training)],
                      evaluation=suite.evaluation.model_copy(update={"enabled": False}))
    with tempfile.TemporaryDirectory() as tmp:
        outcome = pipeline.run_suite(one_run, tmp, dataset=dataset, console=Console(quiet=True))
        assert outcome.exit_code == 0, outcome.failed
        history = outcome.folder.run(run.id).read_history()
    return history[-1]["images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed epoch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mixed-precision", choices=["no", "bf16"], default="no")
    parser.add_argument("--only", nargs="*", help="run names (default: all four)")
    args = parser.parse_args()

    suite = pipeline.load(SUITE, mixed_precision=args.mixed_precision)
    runs = [r for r in suite.runs if r.seed == 0 and (not args.only or r.name in args.only)]
    dataset = load_dataset("mnist")
    data = dataset.train_images.flatten(1)
    dtype = torch.bfloat16 if args.mixed_precision == "bf16" else None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, mixed precision {args.mixed_precision}, "
          f"{args.steps} steps x batch 64, {args.rounds} rounds")
    print(f"{'model':<14}{'harness':>10}{'best plain':>12}{'tutorial':>10}{'vs best':>9}{'vs tutorial':>13}"
          "   (img/s medians; ratios: medians of paired rounds)")
    for run in runs:
        loops = {"best": best_gan, "tutorial": tutorial_gan} if run.model == "mlp_gan" else \
            {"best": best_vae, "tutorial": tutorial_vae}
        speeds: dict[str, list[float]] = {"harness": [], "best": [], "tutorial": []}
        for round_index in range(args.rounds):
            # Rotate the order, so slow phases of the machine hit all three alike.
            order = ["harness", "best", "tutorial"]
            order = order[round_index % 3:] + order[: round_index % 3]
            for which in order:
                torch.manual_seed(0)
                if which == "harness":
                    speeds[which].append(harness_throughput(suite, run, dataset, args.steps))
                else:
                    speeds[which].append(loops[which](run.model_config, data, args.steps,
                                                      run.training.batch_size, dtype))
        medians = {k: statistics.median(v) for k, v in speeds.items()}
        # Each round's three ran back to back, so its ratios cancel the machine's slow phases.
        ratio = {k: statistics.median(a / b for a, b in zip(speeds["harness"], speeds[k])) for k in ("best", "tutorial")}
        print(f"{run.name:<14}{medians['harness']:>10,.0f}{medians['best']:>12,.0f}{medians['tutorial']:>10,.0f}"
              f"{ratio['best']:>9.2f}{ratio['tutorial']:>13.2f}")


if __name__ == "__main__":
    main()
