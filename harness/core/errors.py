"""Errors that end a command with a clear message instead of a traceback."""

import difflib
from collections.abc import Iterable
from pathlib import Path

LISTED_AT_MOST = 12  # more choices than this are named by where to see them, not printed in the line


def closest_name(name: str, known: Iterable[str]) -> str | None:
    """The known name `name` is most likely a typo of, if any is close enough."""
    return next(iter(difflib.get_close_matches(name, list(known), n=1)), None)


def choices_hint(name: str, known: Iterable[str], listed_in: str = "python -m harness list") -> str:
    """What to say after "unknown X 'name'": the closest known name if one is close (a typo), else
    the choices, or where to find them when a line could not hold them all."""
    known = list(known)
    if close := closest_name(name, known):
        return f" (did you mean {close!r}?)"
    if len(known) > LISTED_AT_MOST:
        return f"; `{listed_in}` shows all {len(known)}"
    return f"; expected one of: {', '.join(known)}"


class HarnessError(Exception):
    """A user-facing failure: `message` says what is wrong and how to fix it.

    The CLI prints it (one line per problem) and exits with `exit_code`, never a traceback.
    """

    exit_code = 1
    every_process = False  # printed by every process of a launch, not only the main one

    def __init__(self, message: str, exit_code: int | None = None, every_process: bool = False) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        self.every_process = every_process


class SuiteError(HarnessError):
    """All problems found in one suite file, reported together (exit code 2)."""

    exit_code = 2

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class DataError(HarnessError):
    """A dataset file is missing, corrupt or cannot be fetched (exit code 3)."""

    exit_code = 3


def storage_problem(err: OSError, where: object = None) -> str:
    """One line for a failed write or read of results: the path, what went wrong, what to do."""
    import errno

    path = err.filename or where or "a results file"
    fixes = {errno.ENOSPC: "free space on that disk or pass --results DIR on another one",
             errno.EDQUOT: "free space within your quota or pass --results DIR elsewhere",
             errno.EROFS: "that filesystem is read-only; pass --results DIR on a writable one",
             errno.EACCES: "you may not write there; fix its permissions or pass --results DIR",
             errno.EPERM: "you may not write there; fix its permissions or pass --results DIR"}
    fix = fixes.get(err.errno or 0, "check the path and the disk")
    return f"{path}: {err.strerror or err} ({fix})"


class ResultsFileError(HarnessError):
    """A results file is missing, truncated or not what it should be; the message names it."""

    exit_code = 2

    def __init__(self, path: Path, problem: str, fix: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {problem}" + (f"; {fix}" if fix else ""))
