"""Atomic writes and checked reads: a kill never leaves a half-written file, and a file that is
missing or corrupt is one `ResultsFileError` naming it, never a traceback from whoever read it first."""

import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.core.errors import ResultsFileError

UMASK = os.umask(0)  # read once (umask can only be read by setting it), restored at once
os.umask(UMASK)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` on a temp file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    """Parsed JSON, or ResultsFileError naming the file when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError(path, "file is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ResultsFileError(path, f"not readable JSON ({err})", "the file is truncated or corrupt") from None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
