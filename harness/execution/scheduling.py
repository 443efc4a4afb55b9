"""Who trains which run when the processes of a launch train whole runs (`run_parallel`).

Runs are claimed one at a time, longest expected first, by whichever process is free: the
classic longest-processing-time rule, so a 45-minute run starts at once and the short ones
fill the gaps instead of leaving a process idle at the end.

A claim is a file, `locks/<run id>.json` in the suite's results folder, created with O_EXCL
(the results store's `create_lock`). We chose files over torch.distributed's key-value store
because the folder is the one thing every participant already shares: the processes of one
launch, the machines of a multi-node launch, two independent launches on one folder (they
share the work instead of colliding), and Slurm array tasks. A claim holds its owner (launch,
host, pid) and a heartbeat its owner refreshes from a background thread, so a later launch can
tell a live claim from one left by a killed process and take the run over.
"""

import os
import socket
from pathlib import Path
import threading
import time
from collections.abc import Callable, Iterator

from harness.store import STATUS_COMPLETED, STATUS_RUNNING, STATUS_SKIPPED, RunLock, ResultsFileError, SuiteFolder, now
from harness.config.suite import RunSpec

HEARTBEAT_SECONDS = 5.0  # how often an owner rewrites its claim
STALE_AFTER_SECONDS = 300.0  # a claim from another machine not refreshed for this long is dead
POLL_SECONDS = 2.0  # how often the main process looks at the others' claims while it waits


def expected_cost(run: RunSpec, image_shape: tuple[int, int, int], train_images: int) -> float:
    """Expected training cost of `run`, in parameter-images: parameters x images seen.

    For the MLPs of the study this predicts the measured train times within about 10%
    (docs/benchmarks.md, "Scaling model"); only the order and the relative sizes matter here.
    The model is built on the meta device, so no memory is allocated and nothing is computed.
    """
    import torch

    from harness.models import build_model

    with torch.device("meta"):
        model = build_model(run.model, run.model_config, image_shape)
    parameters = sum(model.parameter_counts().values())
    images = min(run.training.train_subset or train_images, train_images)
    return float(parameters) * images * run.training.epochs


def longest_first(runs: list[RunSpec], costs: dict[str, float]) -> list[RunSpec]:
    """Runs by expected cost, largest first; ties keep the suite's order (every process sorts alike)."""
    return sorted(runs, key=lambda run: -costs[run.id])


def process_started(pid: int) -> float | None:
    """When process `pid` started (seconds since boot, from /proc), None where that is unknown.

    With the pid it identifies a process: after a crash and a reboot (or many processes later)
    another process may have the dead owner's pid, but not its start time.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def process_alive(claim: RunLock) -> bool:
    """Whether the claim's owner still runs: by pid and start time on this machine, by heartbeat elsewhere."""
    if claim.host == socket.gethostname():
        try:
            os.kill(claim.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by another user
        started = process_started(claim.pid)
        return claim.process_started is None or started is None or abs(started - claim.process_started) < 1.0
    return time.time() - claim.heartbeat < STALE_AFTER_SECONDS


class RunLocks:
    """One process's view of the claims of a suite folder, for one launch."""

    def __init__(self, folder: SuiteFolder, launch: str, process: int,
                 log: Callable[[str], None] = lambda text: None) -> None:
        self.folder, self.launch, self.process, self.log = folder, launch, process, log
        self.started_at = now()
        self.held: RunLock | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # -- claiming ----------------------------------------------------------------------------

    def claim_each(self, runs: list[RunSpec], costs: dict[str, float]) -> Iterator[RunSpec]:
        """Yield each run this process wins, longest first; the caller trains it and calls `release`."""
        for run in longest_first(runs, costs):
            if self.claim(run, costs[run.id]):
                yield run

    def claim(self, run: RunSpec, cost: float) -> bool:
        """Hold `run` (the lock on its folder) if no live process holds it and no other launch finished it."""
        if not self.take(run, cost):
            return False
        if self._done_elsewhere(run):
            self.release(STATUS_SKIPPED)
            return False
        return True

    def take(self, run: RunSpec, cost: float = 0.0) -> bool:
        """Hold the lock on `run` unless a live process holds it (a dead holder's lock is taken over)."""
        claim = RunLock(run=run.id, launch=self.launch, process=self.process, host=socket.gethostname(),
                      pid=os.getpid(), process_started=process_started(os.getpid()), claimed_at=now(),
                      heartbeat=time.time(), expected_cost=cost)
        for _ in range(2):  # a second try after retiring a dead claim
            if self.folder.create_lock(claim):
                self._hold(claim)
                return True
            existing = self.folder.read_lock(run.id)
            if existing is None or existing.launch == self.launch:
                return False  # being written by a winner, or ours: taken (or already done) in this launch
            if existing.status == STATUS_RUNNING and process_alive(existing):
                return False  # another launch on this folder is training it
            # Finished by an earlier launch (the run's record decides if it needs training) or left
            # by a process that died: retire it and try again.
            dead = existing.status == STATUS_RUNNING
            if not self.folder.retire_lock(run.id, "dead" if dead else "finished"):
                return False
            if dead:
                self.log(f"{run.id}: taking over its stale lock ({existing.host} pid {existing.pid}, claimed "
                         f"{existing.claimed_at}, is gone)")
        return False

    def _done_elsewhere(self, run: RunSpec) -> bool:
        """Whether another launch completed `run` after this launch made its plan."""
        stored = self.folder.run(run.id)
        if not stored.has_record():
            return False
        try:
            record = stored.read_record()
        except ResultsFileError:
            return False
        return (record.status == STATUS_COMPLETED and record.config_hash == run.config_hash
                and record.finished_at is not None and record.finished_at >= self.started_at)

    # -- the held claim ----------------------------------------------------------------------

    def _hold(self, claim: RunLock) -> None:
        self.held = claim
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="harness-claim-heartbeat", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._write()
            except OSError:
                pass  # a full disk: training reports it; a missed heartbeat only ages the claim

    def _write(self) -> None:
        with self._lock:
            if self.held is not None:
                self.held.heartbeat = time.time()
                self.folder.update_lock(self.held)

    def progress(self, steps_done: int, total_steps: int, detail: str) -> None:
        """Recorded in the claim at the next heartbeat (the main process displays it)."""
        with self._lock:
            if self.held is not None:
                self.held.steps_done, self.held.total_steps, self.held.detail = steps_done, total_steps, detail

    def release(self, status: str) -> None:
        """Done with the held run: the claim stays, marked with the outcome, so no other
        process of this launch trains it again; a later launch retires it."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        with self._lock:
            if self.held is not None:
                self.held.status, self.held.heartbeat = status, time.time()
                self.held.steps_done = self.held.total_steps if status == STATUS_COMPLETED else self.held.steps_done
                self.folder.update_lock(self.held)
            self.held = None

    # -- the main process --------------------------------------------------------------------

    def launch_locks(self) -> list[RunLock]:
        return [claim for claim in self.folder.locks() if claim.launch == self.launch]

    def wait_until_done(self, run_ids: list[str], on_poll: Callable[[list[RunLock]], None]) -> None:
        """Block until every run of `run_ids` claimed in this launch is finished or its owner died,
        calling `on_poll` with this launch's claims each time it looks."""
        wanted = set(run_ids)
        while True:
            claims = [claim for claim in self.launch_locks() if claim.run in wanted]
            on_poll(claims)
            if all(claim.status != STATUS_RUNNING or not process_alive(claim) for claim in claims):
                return
            time.sleep(POLL_SECONDS)
