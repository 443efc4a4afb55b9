"""Kill a training launch at random moments, relaunch it, and check that it resumed exactly.

    python benchmarks/kill_resume.py --data-dir ../shared/data [--kills 10] [--epochs 10]

One uninterrupted launch of a GAN (the tiny suite's, on 8,192 images) is the reference. Then,
`--kills` times: a fresh launch is killed with SIGKILL (or SIGTERM, alternating) after a random
delay, and relaunched until it finishes. Each row says when it was killed, what the relaunch
resumed from, how long the relaunch took against the reference, and whether the final weights
and metrics are identical to the reference's. A kill that lands before the first checkpoint
restarts from epoch 1 (nothing to resume), which the table shows too.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parent.parent


def suite_text(epochs: int) -> str:
    text = (REPO / "suites" / "tiny.toml").read_text()
    text = text.replace("epochs = 2", f"epochs = {epochs}").replace("train_subset = 2048", "train_subset = 8192")
    return text[: text.index('[[run]]\nname = "vae"')] + text[text.index("[evaluation]"):]


def launch(suite: Path, results: Path, data_dir: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "--results", str(results)],
                            env={**os.environ, "HARNESS_DATA_DIR": data_dir}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish(suite: Path, results: Path, data_dir: str) -> float:
    started = time.perf_counter()
    process = launch(suite, results, data_dir)
    assert process.wait() == 0, "the relaunch failed"
    return time.perf_counter() - started


def outcome(run_dir: Path) -> tuple[dict, dict]:
    row = json.loads((run_dir / "metrics_row.json").read_text())
    return load_file(run_dir / "weights.safetensors"), {k: v for k, v in row.items() if not k.endswith("seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kill-resume-"))
    suite = work / "suite.toml"
    suite.write_text(suite_text(args.epochs))

    reference_seconds = finish(suite, work / "reference", args.data_dir)
    weights, metrics = outcome(work / "reference" / "tiny" / "gan-s0")
    print(f"reference: uninterrupted launch {reference_seconds:.1f} s")
    print("| kill | signal | after (s) | state when killed | resumed from | relaunch (s) | identical |")
    print("|---|---|---|---|---|---|---|")
    identical = 0
    for kill in range(args.kills):
        results = work / f"kill{kill}"
        run_dir = results / "tiny" / "gan-s0"
        signum = signal.SIGKILL if kill % 2 == 0 else signal.SIGTERM
        delay = rng.uniform(2.0, reference_seconds)
        process = launch(suite, results, args.data_dir)
        time.sleep(delay)
        process.send_signal(signum)
        process.wait()
        record = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
        state = f"{record.get('status', 'no record')}, {record.get('epochs_completed', 0)} epochs done"
        seconds = finish(suite, results, args.data_dir)
        record = json.loads((run_dir / "run.json").read_text())
        resumed = record.get("resumed") or []
        where = f"epoch {resumed[-1]['epoch']}, step {resumed[-1]['step']}" if resumed else "start (or already trained)"
        got_weights, got_metrics = outcome(run_dir)
        same = all(torch.equal(got_weights[k], weights[k]) for k in weights) and got_metrics == metrics
        identical += same
        print(f"| {kill + 1} | {signal.Signals(signum).name} | {delay:.1f} | {state} | {where} | {seconds:.1f} | "
              f"{'yes' if same else 'NO'} |")
    print(f"\n{identical} of {args.kills} relaunches ended identical to the uninterrupted launch")


if __name__ == "__main__":
    main()
