"""A training process's fair share of a busy CPU: fewer threads while other processes need the cores.

Measured (docs/benchmarks.md, "Threads and OpenMP waiting"): with more runnable threads than
cores, torch's OpenMP teams wait for workers the scheduler has put aside. Beside two busy
processes on 2 cores the study's tuned VAE trained at 3,300-4,600 images/s with 2 threads and
9,150 with one; the tuned GAN at 520-1,300 with 2 and 1,050 with one. A thread count chosen once
at start cannot know what the machine will do later, so `CPUShare` looks at the machine about
once a second during training and uses `min(threads, cores left free by other processes)`,
never fewer than one, and the full count again once the others are gone.

It governs only the harness's default thread count. The thread count changes how sums are
rounded (README, "Reproducibility, precisely"), so a run whose threads were lowered is not
bit-identical to one that kept them; each run record says how many steps trained with fewer
threads. A count the user set (`--threads`, `[suite] threads`, OMP_NUM_THREADS) is kept whatever
the load.

Linux only (/proc/stat); elsewhere the count stays as it is.
"""

import os
import time
from pathlib import Path

import torch

PROC_STAT = Path("/proc/stat")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
POLL_SECONDS = 1.0
SMOOTHING = 0.5  # weight of the newest reading in the running estimate of the others' load


def busy_cpu_seconds(stat: Path = PROC_STAT) -> float | None:
    """CPU seconds the whole machine has spent busy since boot (all but idle and iowait), or None."""
    try:
        fields = stat.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def threads_for(free_cores: float, threads: int) -> int:
    """The threads to use when `free_cores` cores are not used by other processes, 1 to `threads`.

    A thread is given up only for about a core's worth of other work (a quarter core of slack):
    background noise (a shell, an editor, a test's polling loop) must not change a run's threads,
    since that changes its rounding."""
    return max(1, min(threads, int(free_cores + 0.75)))


class CPUShare:
    """Call `poll()` between training steps; it is a clock read except about once a second."""

    def __init__(self, threads: int, cores: int, governed: bool) -> None:
        self.threads, self.cores = threads, cores
        self.governed = governed and busy_cpu_seconds() is not None
        self.current = threads
        self.start_run()

    def start_run(self) -> None:
        """Each run starts with the process's full count and its own tally of lowered steps."""
        self.restore()
        self.steps_with_fewer_threads = 0
        self.fewest_threads = self.threads
        self._others: float | None = None
        self._last = (time.monotonic(), busy_cpu_seconds() or 0.0, own_cpu_seconds())

    def poll(self) -> None:
        if not self.governed:
            return
        if self.current < self.threads:
            self.steps_with_fewer_threads += 1
        now = time.monotonic()
        if now - self._last[0] < POLL_SECONDS:
            return
        busy, own = busy_cpu_seconds(), own_cpu_seconds()
        if busy is None:
            return
        wall = now - self._last[0]
        others = max(0.0, (busy - self._last[1]) - (own - self._last[2])) / wall  # cores busy with other processes
        self._last = (now, busy, own)
        self._others = others if self._others is None else SMOOTHING * others + (1 - SMOOTHING) * self._others
        wanted = threads_for(self.cores - self._others, self.threads)
        if wanted != self.current:
            self.current = wanted
            self.fewest_threads = min(self.fewest_threads, wanted)
            torch.set_num_threads(wanted)

    def restore(self) -> None:
        """Back to the full count: evaluation always computes with the process's own threads, so
        re-evaluating a run gives its numbers again whatever the load was while it trained."""
        if self.current != self.threads:
            self.current = self.threads
            torch.set_num_threads(self.threads)
