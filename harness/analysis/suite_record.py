"""The suite a results folder holds, from its record (suite.json) alone.

A launch records the expanded suite when it starts (harness.store.SuiteRecord), and every reader
(report, leaderboard, status) works from that record: a report of a model, metric or dataset
that is not registered in this process still works. Folders written before version 0.2 recorded
only their run ids and hashes; for them the suite's copy (suite.toml) is expanded once more, with
today's registries, and the result is not written back (a reader never writes).
"""

from harness.config.expansion import load_suite
from harness.core.errors import ResultsFileError, SuiteError
from harness.store import SuiteFolder, SuiteRecord


def suite_record(folder: SuiteFolder) -> SuiteRecord:
    """The folder's suite record; expanded again from suite.toml for folders before version 0.2."""
    record = folder.read_suite_record() if folder.suite_json.exists() else None
    if record is not None and record.expanded:
        return record
    try:
        suite = load_suite(folder.suite_toml)
    except SuiteError as err:
        raise ResultsFileError(folder.suite_json, "records only run ids (written before version 0.2) and its suite.toml "
                               f"no longer validates ({err.problems[0]})", "rerun the suite with `harness run` "
                               "to record it in full") from None
    expanded = SuiteRecord.model_validate(suite.record())
    if record is not None:  # what the launch said then wins over today's expansion
        expanded = expanded.model_copy(update={"mixed_precision": record.mixed_precision,
                                               "mixed_precision_source": record.mixed_precision_source})
    return expanded
