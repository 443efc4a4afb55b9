"""run_parallel: every process of the launch trains whole runs alone, claimed through run locks."""

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from harness.execution.strategy import Strategy, check_sees_launch, exchange_through_launcher_store, write_launch
from harness.store import SuiteFolder

if TYPE_CHECKING:
    from harness.config.suite import RunSpec
    from harness.store import RunLock


class RunParallel(Strategy):
    """Every process of the launch trains whole runs alone, on its own device.

    Its Processes is this process alone (same precision handling, same numbers as a
    sequential run); what differs is who trains what: runs are claimed one at a
    time, longest expected first (harness/execution/scheduling.py), so N processes finish the suite
    about N times sooner when the runs are many and small. The launch's processes never talk
    during training; they agree on a launch id once, through the launcher's key-value store.
    """

    name = "run_parallel"
    trains_alone = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def computes_reference(self) -> bool:
        return self.is_main  # alone: the processes do not compute together

    def start_launch(self, folder: SuiteFolder, log: Callable[[str], None] = lambda text: None) -> str:
        from harness.execution.scheduling import RunLocks

        launch = write_launch(folder, self.name, self.world_size) if self.is_main else None
        if self.world_size > 1:
            launch = exchange_through_launcher_store("harness/launch", launch)
            check_sees_launch(folder, launch, self.rank)
        self.locks = RunLocks(folder, launch, self.rank, log)
        return launch

    def assign(self, runs: list["RunSpec"], folder: SuiteFolder, costs: dict[str, float]) -> Iterator["RunSpec"]:
        assert self.locks is not None, "start_launch first"
        yield from self.locks.claim_each(runs, costs)

    def others(self) -> list["RunLock"]:
        return self.locks.launch_locks() if self.locks is not None else []

    def wait_for_others(self, runs: list["RunSpec"], on_poll: Callable[[list["RunLock"]], None]) -> None:
        if self.locks is not None and self.world_size > 1:
            self.locks.wait_until_done([run.id for run in runs], on_poll)

    @property
    def failure_stops_everyone(self) -> bool:
        return False

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "num_processes": 1, "strategy": self.name,
                "launch_processes": self.world_size, "process_index": self.rank}
