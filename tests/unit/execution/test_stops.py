"""Stop signals in this process: what counts as a second signal."""

import os
import signal

import pytest

from harness.execution.stops import STOPS, Stopped, handle_stops


def test_a_launchers_forwarded_sigterm_is_the_same_stop_but_a_second_ctrl_c_is_not():
    """`accelerate launch` (one process) forwards a terminal's Ctrl-C as SIGTERM a moment after the
    child got the SIGINT: still one graceful stop. A second SIGINT stops at once."""
    with handle_stops(), STOPS.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)  # delivered before kill() returns: same thread, same process
        assert STOPS.requested and STOPS.signum == signal.SIGINT
        with pytest.raises(Stopped, match="at once"):
            os.kill(os.getpid(), signal.SIGINT)
