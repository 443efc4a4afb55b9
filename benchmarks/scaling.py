"""Scaling model: the wall time of a suite on N workers, predicted from its measured runs.

Reads every run of a results folder (training + evaluation seconds from run.json and
metrics_row.json), then replays run_parallel's schedule (longest expected run first, each run
to the first free worker) on 1, 2, 4, 8 workers and on 2 nodes. A worker is one process with
the speed the runs were measured at; `--speedup` scales that (e.g. a GPU that trains a run k
times faster than the measuring process). Also prints the two lower bounds no scheduler can
beat: the longest run, and the total work divided by the workers. Where the folder was trained
with run_parallel, the measured wall time (first claim to last finished run) is shown beside
the prediction for the same number of processes.

    python benchmarks/scaling.py reference/gan_vs_vae [--speedup 1.0] [--workers 1 2 4 8]
"""

import argparse
import heapq
from datetime import datetime
from pathlib import Path

from harness.store import SuiteFolder


def run_seconds(folder: SuiteFolder) -> dict[str, tuple[float, float]]:
    """run id -> (seconds of training + evaluation, expected cost used to order it)."""
    measured = {}
    for run in folder.runs():
        record = run.read_record()
        evaluation = (run.read_metrics_row().evaluation_seconds or 0.0) if run.is_evaluated() else 0.0
        params = record.parameters.get("total", 0)
        measured[run.id] = ((record.total_seconds or 0.0) + evaluation, float(params * record.epochs))
    return measured


def makespan(durations: list[tuple[float, float]], workers: int) -> float:
    """Wall time when runs, sorted by expected cost (largest first), go to the first free worker."""
    free_at = [0.0] * workers
    for seconds, _ in sorted(durations, key=lambda d: -d[1]):
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + seconds)
    return max(free_at)


def measured_wall(folder: SuiteFolder) -> tuple[int, float] | None:
    launch = folder.read_launch()
    claims = folder.claims()
    if not launch or not claims:
        return None
    started = min(datetime.fromisoformat(c.claimed_at) for c in claims)
    finished = max(datetime.fromisoformat(run.read_record().finished_at) for run in folder.runs())
    return launch["processes"], (finished - started).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--speedup", type=float, default=1.0, help="worker speed relative to the measuring process")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()

    folder = SuiteFolder(args.results_dir).require()
    runs = run_seconds(folder)
    durations = [(seconds / args.speedup, cost) for seconds, cost in runs.values()]
    total = sum(d for d, _ in durations)
    longest = max(d for d, _ in durations)
    print(f"{len(runs)} runs, {total / 60:.1f} min of work, longest run {longest / 60:.1f} min "
          f"(speedup {args.speedup:g} applied)")
    print(f"{'workers':<22}{'predicted':>12}{'lower bound':>14}")
    rows = [(f"{n}", n) for n in args.workers] + [(f"2 nodes x {n // 2}", n) for n in args.workers if n >= 4]
    for label, n in rows:
        bound = max(longest, total / n)
        print(f"{label:<22}{makespan(durations, n) / 60:>10.1f} m{bound / 60:>12.1f} m")
    measured = measured_wall(folder)
    if measured:
        processes, seconds = measured
        print(f"measured with run_parallel, {processes} processes: {seconds / 60:.1f} min "
              f"(predicted {makespan(durations, processes) / 60:.1f} min)")


if __name__ == "__main__":
    main()
