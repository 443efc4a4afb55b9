"""Threads, OpenMP waiting and MKL reproducibility: the tuned GAN's training step on this CPU.

Each configuration runs in a fresh process (the variables must be set before torch loads):
1 or 2 intra-op threads, OpenMP workers spinning (ACTIVE) or sleeping (PASSIVE) between
kernels, MKL's strict reproducible mode (MKL_CBWR=AUTO,STRICT) on or off, on a quiet machine
and with two busy-loop processes competing for the cores ("loaded"). It prints images/s
and a checksum of the generator's weights after the timed steps: equal checksums mean
bit-identical training.

    python benchmarks/threads.py [--steps 150] [--rounds 3]
    python benchmarks/threads.py --adam        # fused against default Adam
"""

import argparse
import os
import statistics
import subprocess
import sys

STEP = r"""
import os, sys, time, torch, torch.nn.functional as F
from torch import nn
torch.set_num_threads(int(sys.argv[1])); steps = int(sys.argv[2]); fused = sys.argv[3] == "fused"; torch.manual_seed(0)
def mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2: layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)
g = mlp([100, 256, 512, 1024, 784]).append(nn.Tanh()); d = mlp([784, 1024, 512, 256, 1])
opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999), fused=fused or None)
opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999), fused=fused or None)
data = torch.rand(64 * (steps + 20), 784) * 2 - 1; B = 64
targets = torch.cat([torch.ones(B), torch.zeros(B)])
def run(first, count):
    for s in range(first, first + count):
        with torch.no_grad(): fake = g(torch.rand(B, 100) * 2 - 1)
        loss = F.binary_cross_entropy_with_logits(d(torch.cat([data[s * B:(s + 1) * B], fake])).squeeze(1), targets)
        opt_d.zero_grad(); loss.backward(); opt_d.step(); d.requires_grad_(False)
        loss = F.binary_cross_entropy_with_logits(d(g(torch.rand(B, 100) * 2 - 1)).squeeze(1), targets[:B])
        opt_g.zero_grad(); loss.backward(); opt_g.step(); d.requires_grad_(True)
run(0, 20); start = time.perf_counter(); run(20, steps); seconds = time.perf_counter() - start
print(steps * B / seconds, sum(p.double().sum() for p in g.parameters()).item())
"""


def measure(threads: int, wait_policy: str, strict: bool, steps: int, adam: str = "fused") -> tuple[float, float]:
    env = {**os.environ, "OMP_WAIT_POLICY": wait_policy}
    env.pop("MKL_CBWR", None)
    if strict:
        env["MKL_CBWR"] = "AUTO,STRICT"
    out = subprocess.run([sys.executable, "-c", STEP, str(threads), str(steps), adam], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--adam", action="store_true",
                        help="instead: fused against default Adam, quiet machine, the harness's settings")
    args = parser.parse_args()
    if args.adam:
        print(f"{'threads':>8}{'Adam':>10}{'img/s':>9}")
        for threads in (1, 2):
            for adam in ("default", "fused"):
                speed = statistics.median(measure(threads, "PASSIVE", True, args.steps, adam)[0]
                                          for _ in range(args.rounds))
                print(f"{threads:>8}{adam:>10}{speed:>9,.0f}")
        return
    configurations = [(t, w, s) for t in (1, 2) for w in ("ACTIVE", "PASSIVE") for s in (False, True)]
    print(f"{'machine':<8}{'threads':>8}{'OMP wait':>10}{'MKL strict':>12}{'img/s':>9}  weights checksum")
    for machine in ("quiet", "loaded"):
        load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)] \
            if machine == "loaded" else []
        try:
            for threads, wait_policy, strict in configurations:
                runs = [measure(threads, wait_policy, strict, args.steps) for _ in range(args.rounds)]
                speed = statistics.median(r[0] for r in runs)
                print(f"{machine:<8}{threads:>8}{wait_policy:>10}{'on' if strict else 'off':>12}{speed:>9,.0f}"
                      f"  {runs[0][1]:.10f}")
        finally:
            for process in load:
                process.kill()


if __name__ == "__main__":
    main()
