"""This CPU's matrix-product peak (GFLOP/s) in fp32 and bf16, and what one training image of each
study model costs in matrix-product FLOPs: together they say how far a measured images/s is from
what the hardware could do (docs/benchmarks.md).

The peak is the best of several large square products (2 * n^3 FLOPs each) at the thread count
torch uses (OMP_NUM_THREADS, else all cores). The per-image cost counts every Linear layer's
forward (2 * in * out per image) and its two backward products (input and weight gradients),
for each network pass a training step makes (benchmarks/plain_loops.py, the best loop):

- GAN: D forward and backward on the real and the fake half, G forward without a graph for the
  discriminator step; G forward, D forward, D input-gradient only (frozen), G backward for the
  generator step;
- VAE: encoder and decoder forward and backward (the first layer's input gradient is not needed).

    python benchmarks/matmul_peak.py [--size 2048] [--repeats 10] [--numbers]
"""

import argparse
import time

import torch

PIXELS = 784
SHAPES = {  # (latent, generator or decoder widths, discriminator or encoder widths) per model
    "gan-baseline": ("gan", 100, [256, 512], [512, 256]),
    "gan-final": ("gan", 100, [256, 512, 1024], [1024, 512, 256]),
    "vae-baseline": ("vae", 64, [256], [256]),
    "vae-final": ("vae", 64, [256], [256]),
}


def layer_products(sizes: list[int]) -> int:
    """Multiply-adds of one image through these Linear layers."""
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


def first_layer(sizes: list[int]) -> int:
    return sizes[0] * sizes[1]


def flops_per_image(model: str) -> float:
    family, latent, first, second = SHAPES[model]
    if family == "gan":
        g = [latent, *first, PIXELS]
        d = [PIXELS, *second, 1]
        g_macs, d_macs = layer_products(g), layer_products(d)
        # Discriminator step, per image of the batch: G forward (no graph), then D forward and
        # backward (weight and input gradients, none into the images) on a real and a fake image.
        d_step = g_macs + 2 * (3 * d_macs - first_layer(d))
        # Generator step: G forward, D forward, D input gradients only (frozen), G backward (no latent gradient).
        g_step = 3 * g_macs - first_layer(g) + 2 * d_macs
        return 2 * (d_step + g_step)
    enc = [PIXELS, *second, 2 * latent]
    dec = [latent, *first, PIXELS]
    macs = 3 * layer_products(enc) - first_layer(enc) + 3 * layer_products(dec)
    return 2 * macs


def peak(dtype: torch.dtype, size: int, repeats: int) -> float:
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--numbers", action="store_true", help="print only the two peaks (fp32 bf16), for scripts")
    args = parser.parse_args()
    if args.numbers:
        print(peak(torch.float32, args.size, args.repeats), peak(torch.bfloat16, args.size, args.repeats))
        return
    print(f"{torch.get_num_threads()} threads: peak fp32 {peak(torch.float32, args.size, args.repeats):,.0f} GFLOP/s, "
          f"bf16 {peak(torch.bfloat16, args.size, args.repeats):,.0f} GFLOP/s")
    for model in SHAPES:
        print(f"{model}: {flops_per_image(model) / 1e6:.1f} MFLOP of matrix products per training image")


if __name__ == "__main__":
    main()
