"""Whole suites, wall clock: one process, run_parallel and data_parallel with N processes.

Each mode trains and evaluates SUITE from scratch into its own results folder through the
real command line (`python -m harness run`, `accelerate launch ... -m harness run`), one mode
after the other, and prints the wall time of each and the speed-up over one process. On a
CPU-only machine the launches use ACCELERATE_USE_CPU=1 (gloo).

    HARNESS_DATA_DIR=../shared/data python benchmarks/suites.py suites/quickstart.toml [--processes 2]
        [--modes sequential run_parallel data_parallel] [--mixed-precision no] [--keep DIR]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def command(mode: str, suite: Path, results: Path, processes: int, precision: str | None) -> list[str]:
    harness = ["-m", "harness", "run", str(suite), "--results", str(results)]
    harness += ["--mixed-precision", precision] if precision else []
    if mode == "sequential":
        return [sys.executable, *harness]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *harness,
            "--strategy", mode]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=["sequential", "run_parallel", "data_parallel"])
    parser.add_argument("--mixed-precision", help="passed to every mode (default: the suite's)")
    parser.add_argument("--keep", type=Path, help="keep each mode's results in KEEP/<mode> (default: a temp folder)")
    args = parser.parse_args()

    env = {**os.environ, "ACCELERATE_USE_CPU": os.environ.get("ACCELERATE_USE_CPU", "1")}
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            started = time.perf_counter()
            done = subprocess.run(command(mode, args.suite, (args.keep or Path(tmp)) / mode, args.processes,
                                          args.mixed_precision),
                                  env=env, capture_output=True, text=True)
            times[mode] = time.perf_counter() - started
            status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr[-500:]}"
            print(f"{mode:<15}{times[mode]:>8.1f} s   {status}", flush=True)
    if "sequential" in times:
        for mode, seconds in times.items():
            print(f"{mode:<15} speed-up over one process: {times['sequential'] / seconds:.2f}x")


if __name__ == "__main__":
    main()
