"""Training throughput: the harness against a plain hand-written PyTorch loop.

For each of the study's four models, the harness trains through its library entry point
(`harness.pipeline.run_suite` on a one-run suite: strategy, accelerate, sharded batches,
checkpoints between epochs, results store)
and a plain loop trains the same architecture written out by hand with the same batch,
optimizer and data held on the device. Throughput is images per second over the timed
epochs (the first epoch is a warm-up for both). The machine is noisy, so the two are
interleaved over several rounds (alternating which goes first); the reported ratio is the median
of the per-round ratios (each pair ran back to back).

    HARNESS_DATA_DIR=../shared/data python benchmarks/throughput.py [--steps 200] [--rounds 7] [--mixed-precision bf16]
"""

import argparse
import statistics
import tempfile
import time
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


def plain_gan_epoch(cfg, data: torch.Tensor, steps: int, batch: int, dtype) -> float:
    g = plain_mlp([cfg.latent_dim, *cfg.generator_hidden, 784], nn.LeakyReLU(0.2)).append(nn.Tanh())
    d = plain_mlp([784, *cfg.discriminator_hidden, 1], nn.LeakyReLU(0.2))
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=cfg.betas)
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def epoch() -> float:
        perm = torch.randperm(len(data))
        start = time.perf_counter()
        for step in range(steps):
            real = data[perm[step * batch : (step + 1) * batch]].float().div_(127.5).sub_(1)
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                fake = g(torch.rand(batch, cfg.latent_dim) * 2 - 1)
                loss_d = F.binary_cross_entropy_with_logits(d(real).float(), ones) + \
                    F.binary_cross_entropy_with_logits(d(fake.detach()).float(), zeros)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                loss_g = F.binary_cross_entropy_with_logits(d(g(torch.rand(batch, cfg.latent_dim) * 2 - 1)).float(), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        return steps * batch / (time.perf_counter() - start)

    epoch()  # warm-up, as the harness's first epoch
    return epoch()


def plain_vae_epoch(cfg, data: torch.Tensor, steps: int, batch: int, dtype) -> float:
    act = nn.ReLU() if cfg.activation == "relu" else nn.LeakyReLU(0.2)
    enc = plain_mlp([784, *cfg.encoder_hidden, 2 * cfg.latent_dim], act)
    dec = plain_mlp([cfg.latent_dim, *cfg.decoder_hidden, 784], act)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=cfg.lr)

    def epoch() -> float:
        perm = torch.randperm(len(data))
        start = time.perf_counter()
        for step in range(steps):
            x = data[perm[step * batch : (step + 1) * batch]].float().div_(255)
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                mu, logvar = enc(x).float().chunk(2, 1)
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                logits = dec(z).float()
            bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (bce + kl) / batch
            opt.zero_grad()
            loss.backward()
            opt.step()
        return steps * batch / (time.perf_counter() - start)

    epoch()
    return epoch()


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
    print(f"{'model':<14}{'harness img/s':>15}{'plain img/s':>14}{'ratio':>8}   (medians; ratio: median of paired rounds)")
    for run in runs:
        ours, plain = [], []
        plain_epoch = plain_gan_epoch if run.model == "mlp_gan" else plain_vae_epoch
        for round_index in range(args.rounds):
            # Alternate which goes first, so slow phases of the machine hit both alike.
            order = ["harness", "plain"] if round_index % 2 == 0 else ["plain", "harness"]
            for which in order:
                torch.manual_seed(0)
                if which == "harness":
                    ours.append(harness_throughput(suite, run, dataset, args.steps))
                else:
                    plain.append(plain_epoch(run.model_config, data, args.steps, run.training.batch_size, dtype))
        h, p = statistics.median(ours), statistics.median(plain)
        # Each round's pair ran back to back, so its ratio cancels the machine's slow phases.
        paired = statistics.median(a / b for a, b in zip(ours, plain))
        print(f"{run.name:<14}{h:>15,.0f}{p:>14,.0f}{paired:>8.2f}")


if __name__ == "__main__":
    main()
