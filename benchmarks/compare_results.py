"""Compare two results folders of the same suite run by run: every metric, every weight, every loss.

Used to show that a change keeps the numbers (e.g. a refactor): prints the largest absolute and
relative difference per run and whether the weights are bit-identical.

    python benchmarks/compare_results.py BEFORE/quickstart AFTER/quickstart
"""

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def numbers(path: Path) -> dict[str, float]:
    row = json.loads(path.read_text())
    return {k: float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not k.endswith("seconds")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tolerance", type=float, default=1e-6, help="largest relative difference accepted")
    args = parser.parse_args()
    worst = 0.0
    runs = sorted(p.name for p in args.before.iterdir() if (p / "metrics_row.json").exists())
    for run in runs:
        a, b = numbers(args.before / run / "metrics_row.json"), numbers(args.after / run / "metrics_row.json")
        missing = sorted(set(a) - set(b))
        relative = {k: abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for k in a if k in b and not math.isnan(a[k])}
        largest = max(relative.items(), key=lambda kv: kv[1]) if relative else ("-", 0.0)
        worst = max(worst, largest[1])
        wa, wb = load_file(args.before / run / "weights.safetensors"), load_file(args.after / run / "weights.safetensors")
        identical = set(wa) == set(wb) and all(torch.equal(wa[k], wb[k]) for k in wa)
        history = [json.loads(line) for line in (args.before / run / "history.jsonl").read_text().splitlines()]
        history_after = [json.loads(line) for line in (args.after / run / "history.jsonl").read_text().splitlines()]
        losses_equal = all(
            all(ra[k] == rb[k] for k in ra if k not in ("images_per_second", "epoch_seconds", "train_seconds"))
            for ra, rb in zip(history, history_after))
        print(f"{run}: {len(relative)} metrics, largest relative difference {largest[1]:.3g} ({largest[0]}); "
              f"weights bit-identical: {identical}; epoch losses identical: {losses_equal}"
              + (f"; missing after: {missing}" if missing else ""))
    print(f"worst relative difference over {len(runs)} runs: {worst:.3g}")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
