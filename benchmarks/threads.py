"""OpenMP waiting and threads, quiet and busy: how the tuned GAN and the tuned VAE train under each.

Each measurement is a fresh process of `plain_loops.py` (the best plain loop; the variables must
be set before torch loads its OpenMP runtime), with one of these ways for OpenMP's workers to
wait between kernels (torch's CPU wheels use GNU libgomp):

- `default`: nothing set; libgomp spins for GOMP_SPINCOUNT = 300,000 iterations, then sleeps;
- `ACTIVE`: OMP_WAIT_POLICY=ACTIVE, spin (practically) forever;
- `PASSIVE`: OMP_WAIT_POLICY=PASSIVE, sleep at once;
- `spin=N`: GOMP_SPINCOUNT=N, spin N iterations, then sleep;
- `ACTIVE+spin=N`: both (libgomp then spins N iterations, with ACTIVE's other choices);

on a quiet machine and beside two busy-loop processes ("loaded": as a laptop doing other work, or
another job on the same cores). The row `1 thread` is the floor a loaded run must not fall below.
Configurations are interleaved within each round (the order rotates), and each cell is the
median over rounds.

    HARNESS_DATA_DIR=../shared/data python benchmarks/threads.py [--rounds 3] [--steps 150]
        [--models gan-final vae-final] [--waits default ACTIVE PASSIVE spin=10000] [--precision no]
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

PLAIN = Path(__file__).resolve().parent / "plain_loops.py"
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def wait_environment(wait: str, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES and k != "OMP_NUM_THREADS"}
    env["OMP_NUM_THREADS"] = str(threads)
    for part in wait.split("+"):  # e.g. "ACTIVE+spin=100000"
        if part in ("ACTIVE", "PASSIVE"):
            env["OMP_WAIT_POLICY"] = part
        elif part.startswith("spin="):
            env["GOMP_SPINCOUNT"] = part.removeprefix("spin=")
    return env


def measure(model: str, wait: str, threads: int, precision: str, steps: int) -> float:
    out = subprocess.run([sys.executable, str(PLAIN), model, "--steps", str(steps), "--precision", precision],
                         env=wait_environment(wait, threads), capture_output=True, text=True, check=True)
    return float(out.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["gan-final", "vae-final"])
    parser.add_argument("--waits", nargs="+", default=["default", "ACTIVE", "PASSIVE", "spin=10000", "spin=1000"])
    parser.add_argument("--precision", choices=["no", "bf16"], default="no")
    parser.add_argument("--machines", nargs="+", default=["quiet", "loaded"])
    args = parser.parse_args()

    configurations = [(wait, 2) for wait in args.waits] + [("default", 1)]
    print(f"{'machine':<8}{'model':<14}{'threads':>8}  {'OpenMP wait':<14}{'img/s':>9}   (median of {args.rounds} rounds)")
    for machine in args.machines:
        load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)] \
            if machine == "loaded" else []
        try:
            for model in args.models:
                speeds: dict[tuple[str, int], list[float]] = {c: [] for c in configurations}
                for round_index in range(args.rounds):
                    shift = round_index % len(configurations)
                    for wait, threads in configurations[shift:] + configurations[:shift]:
                        speeds[(wait, threads)].append(measure(model, wait, threads, args.precision, args.steps))
                for (wait, threads), values in speeds.items():
                    label = wait if threads > 1 else f"{wait} (1 thread)"
                    print(f"{machine:<8}{model:<14}{threads:>8}  {label:<14}{statistics.median(values):>9,.0f}",
                          flush=True)
        finally:
            for process in load:
                process.kill()


if __name__ == "__main__":
    main()
