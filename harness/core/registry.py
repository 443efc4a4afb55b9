"""A tiny name -> object registry, so a new model, metric or dataset is one new module.

Modelled on lm-evaluation-harness's registry: modules register themselves with a
decorator at import time, and suite validation, the CLI and the leaderboard look names up
here. Registries are imported by the light commands (`validate`, `leaderboard`), so the
modules that register into them keep torch out of their top-level imports.
"""

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from pydantic import AfterValidator

from harness.core.errors import HarnessError, choices_hint

T = TypeVar("T")
# How a user's own names get registered: said wherever a name is unknown.
PLUGIN_HINT = "a name from your own code needs its file loaded first: [suite] plugins or --plugin (docs/your-model.md)"


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def remove(self, name: str) -> None:
        """Forget `name` (tests that register their own entries clean up with this)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def require(self, name: str, where: str) -> T:
        """`name`'s entry, or a one-line error (exit 2) naming the option it came from and the choices."""
        if name not in self._entries:
            raise HarnessError(f"{where}: unknown {self.kind} {name!r}{choices_hint(name, self)}; {PLUGIN_HINT}",
                               exit_code=2)
        return self._entries[name]

    def names(self) -> list[str]:
        """Sorted names, for messages."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        """Names in registration order (the order built-ins are listed and shown in)."""
        return iter(list(self._entries))


def registered_in(registry: Registry[Any], pluggable: bool = True) -> AfterValidator:
    """A pydantic check that a name is registered when it is validated, not when the schema was
    written: a name registered from a user's file is as valid as a built-in, and no `Literal`
    keeps a second list of names. Use as `Annotated[str, registered_in(REGISTRY)]`; `pluggable`
    adds how a user's own names get registered to the message."""

    def check(name: str) -> str:
        if name not in registry:
            raise ValueError(f"unknown {registry.kind} {name!r}{choices_hint(name, registry)}"
                             + (f"; {PLUGIN_HINT}" if pluggable else ""))
        return name

    return AfterValidator(check)
