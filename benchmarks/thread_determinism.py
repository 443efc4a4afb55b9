"""Which of torch's CPU operations give other bits at 1 and 2 threads on this host.

A matrix product of the study's sizes (MKL), the product behind a weight gradient, a sum over
a dimension, and full sums below and above torch's parallel grain (32,768 numbers), each computed
at 1 and at 2 threads on the same inputs. Run it under different MKL_CBWR settings to see what
MKL's strict mode changes (README, "Reproducibility, precisely"; docs/benchmarks.md).

    python benchmarks/thread_determinism.py
    MKL_CBWR=AUTO,STRICT python benchmarks/thread_determinism.py
"""

import os

import torch


def operations() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 784, generator=generator), torch.randn(784, 512, generator=generator)
    g = torch.randn(64, 512, generator=generator)
    return {
        "64x784 @ 784x512 (forward)": a @ b,
        "784x64 @ 64x512 (weight gradient)": a.t() @ g,
        "sum over dim 0 of 4096x64": torch.randn(4096, 64, generator=generator).sum(0),
        # Whether a split sum rounds differently depends on the numbers: these seeds show it.
        "full sum of 16,384 numbers (one thread's)": normal(16_384, 2).sum(),
        "full sum of 64x784 = 50,176 numbers": normal(64 * 784, 2).sum(),
        "full sum of 200,704 numbers": normal(200_704, 2).sum(),
    }


def normal(count: int, seed: int) -> torch.Tensor:
    return torch.randn(count, generator=torch.Generator().manual_seed(seed))


def main() -> None:
    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        results[threads] = operations()
    print(f"MKL_CBWR={os.environ.get('MKL_CBWR', '(unset)')}")
    for name, value in results[1].items():
        same = torch.equal(value, results[2][name])
        print(f"  {name:<42} 1 vs 2 threads: {'bit-identical' if same else 'differ'}")


if __name__ == "__main__":
    main()
