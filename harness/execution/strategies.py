"""The strategies by name: how the processes of one launch share a suite's work.

Light to import (no torch, no accelerate), so that `validate`, `list` and the command line's
choices read the names without loading them; an entry's `load` imports its class when a launch
builds it. A strategy from a user's file registers the same way as the built-ins:

    @register_strategy("my_strategy", "one line on who trains what")
    class MyStrategy(Strategy): ...
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.core.registry import Registry

if TYPE_CHECKING:
    from harness.execution.strategy import Strategy

DEFAULT_STRATEGY = "run_parallel"


@dataclass(frozen=True)
class StrategyEntry:
    name: str
    description: str
    load: Callable[[], "type[Strategy]"]


STRATEGIES: Registry[StrategyEntry] = Registry("strategy")


def register_strategy(name: str, description: str) -> Callable[[Any], Any]:
    """Class decorator: `strategy = "<name>"` in [suite] and `--strategy <name>` then build it."""

    def register(cls: Any) -> Any:
        STRATEGIES.register(name)(StrategyEntry(name, description, lambda: cls))
        return cls

    return register


def _built_in(module: str, attribute: str) -> Callable[[], "type[Strategy]"]:
    # By name, so that reading the registry does not import torch and accelerate.
    return lambda: getattr(importlib.import_module(f"harness.execution.{module}"), attribute)


STRATEGIES.register("run_parallel")(StrategyEntry(
    "run_parallel", "whole runs per process, claimed longest first through run locks (the default)",
    _built_in("run_parallel", "RunParallel")))
STRATEGIES.register("data_parallel")(StrategyEntry(
    "data_parallel", "every run split over all processes (DDP through accelerate)", _built_in("data_parallel", "DataParallel")))
