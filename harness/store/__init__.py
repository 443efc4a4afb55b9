"""The results store: every file of a suite folder and its run folders, read and written here only.

Callers import from `harness.store`: `folders` holds the layout (RunFolder, SuiteFolder), `records`
the typed files, `images` the sample grids; atomic writes and statuses live in harness.core.
"""

from harness.core.errors import ResultsFileError
from harness.core.files import atomic_write, now, read_json, write_json, write_text
from harness.core.statuses import (STATUS_COMPLETED, STATUS_DIVERGED, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_RUNNING,
                                   STATUS_SKIPPED, STATUS_UNREADABLE)
from harness.store.folders import RunFolder, SuiteFolder
from harness.store.records import (EXTERNAL_MODEL, HISTORY_BOOKKEEPING, MetricsRow, ReferenceRecord, RunConfig, RunEntry, RunLock, RunRecord,
                                   SuiteRecord)

__all__ = ["EXTERNAL_MODEL", "HISTORY_BOOKKEEPING", "MetricsRow", "ReferenceRecord", "ResultsFileError", "RunConfig", "RunFolder", "RunLock",
           "RunRecord", "RunEntry", "SuiteRecord", "STATUS_COMPLETED", "STATUS_DIVERGED", "STATUS_FAILED", "STATUS_INTERRUPTED", "STATUS_RUNNING",
           "STATUS_SKIPPED", "STATUS_UNREADABLE", "SuiteFolder", "atomic_write", "now", "read_json", "write_json",
           "write_text"]
