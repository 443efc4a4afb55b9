"""Graceful stops: what SIGINT (Ctrl-C) and SIGTERM (Slurm, Docker, systemd) do to a launch.

While a run trains, the first signal only asks for a stop: the trainer finishes the current
step, writes a checkpoint and the run's record (`interrupted`, with the epoch and step) and
raises `Stopped`, which the CLI turns into one line saying how to resume and exit code 130
(SIGINT) or 143 (SIGTERM). Outside training (loading data, evaluating, waiting) there is no
state worth saving, so the first signal stops at once; so does a second signal during
training. Either way only complete files are left: every write of the results store is atomic.

One exception to "second signal": `accelerate launch` with one process passes a terminal's
Ctrl-C on as a SIGTERM to its child a moment after the child got the SIGINT itself (and kills
it 5 s later). A different signal within `FORWARDED_WITHIN` seconds of the first is that same
request, not a second one, so one Ctrl-C under the launcher still checkpoints mid-epoch.
"""

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
FORWARDED_WITHIN = 2.0  # seconds: a launcher's forwarded SIGTERM comes within milliseconds


class Stopped(BaseException):
    """The launch was asked to stop by `signum`; `where` says what was going on.

    A BaseException, like KeyboardInterrupt: code that records one failing metric or run and
    goes on (`except Exception`) must not swallow a request to stop everything.
    """

    def __init__(self, signum: int, where: str = "") -> None:
        super().__init__(signum, where)
        self.signum = signum
        self.where = where  # the pipeline fills it in where the handler could not know

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}" + (f" {self.where}" if self.where else "")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class StopRequests:
    """The process's stop flag, set by the signal handlers installed by `handle_stops`."""

    def __init__(self) -> None:
        self.signum: int | None = None  # the first stop signal received, if any
        self.first_at = 0.0  # when it came (time.monotonic())
        self.deferring = False  # inside `deferred()`: a first signal only sets the flag

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.first_at = time.monotonic()
        elif signum != self.signum and time.monotonic() - self.first_at < FORWARDED_WITHIN:
            first = True  # the launcher passing the same Ctrl-C on (see the module's docstring)
        self.signum = self.signum or signum
        if first and self.deferring:
            return  # the trainer stops at the end of the current step
        raise Stopped(signum, "at once (second signal)" if not first else "")

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block (a training loop) that polls `requested` and stops cleanly itself."""
        before, self.deferring = self.deferring, True
        try:
            yield
        finally:
            self.deferring = before

    def raise_if_requested(self, where: str = "") -> None:
        if self.signum is not None:
            raise Stopped(self.signum, where)


STOPS = StopRequests()


@contextlib.contextmanager
def handle_stops() -> Iterator[StopRequests]:
    """Install the stop handlers for the duration of a command (main thread only; elsewhere, e.g.
    in a notebook's worker thread, signals keep their default behaviour)."""
    if threading.current_thread() is not threading.main_thread():
        yield STOPS
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    STOPS.signum = None
    for signum in STOP_SIGNALS:
        signal.signal(signum, STOPS._handle)
    try:
        yield STOPS
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
