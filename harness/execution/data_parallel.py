"""data_parallel: every process trains every run on its slice of each global batch."""

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from harness.execution.strategy import Strategy, check_sees_launch, write_launch
from harness.store import SuiteFolder

if TYPE_CHECKING:
    from harness.config.suite import RunSpec


class DataParallel(Strategy):
    """Every process trains every run on its slice of each global batch (DDP through accelerate).

    One process alone is the degenerate case: the same code, no collectives needed.
    """

    name = "data_parallel"
    trains_alone = False

    @property
    def is_main(self) -> bool:
        return self.processes.is_main

    @property
    def computes_reference(self) -> bool:
        return True  # every process computes its share; the main one writes

    def start_launch(self, folder: SuiteFolder, log: Callable[[str], None] = lambda text: None) -> str:
        from accelerate.utils import broadcast_object_list

        from harness.execution.scheduling import RunLocks

        launch = [write_launch(folder, self.name, self.num_processes) if self.is_main else None]
        if self.num_processes > 1:
            broadcast_object_list(launch)
            check_sees_launch(folder, launch[0], self.processes.index)
        # The main process holds the launch's run locks; the others follow its decisions.
        self.locks = RunLocks(folder, launch[0], 0, log) if self.is_main else None
        return launch[0]

    def assign(self, runs: list["RunSpec"], folder: SuiteFolder, costs: dict[str, float]) -> Iterator["RunSpec"]:
        for run in runs:
            won = self.locks is not None and self.locks.claim(run, costs[run.id])
            if self.any_process(won):
                yield run

    @property
    def failure_stops_everyone(self) -> bool:
        return self.num_processes > 1
