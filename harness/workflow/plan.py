"""What a launch will do: the suite loaded for this machine, its selected runs split into those
to train and those already complete, and the suite's files in its results folder."""

import importlib.util
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.analysis.trials import with_chosen_trials
from harness.config.suite import RunSpec, Suite
from harness.config.expansion import load_suite, suite_from_dict
from harness.core.errors import HarnessError, SuiteError
from harness.execution.strategies import STRATEGIES
from harness.store import STATUS_COMPLETED, ResultsFileError, RunFolder, RunRecord, SuiteFolder



def load(suite: str | Path | dict[str, Any], mixed_precision: str | None = None) -> Suite:
    """A validated, expanded suite ready to train on this machine, from a TOML file or a dict of
    the same tables (a notebook: `load({"suite": {...}, "run": [{...}]})`): `mixed_precision`
    overrides the suite's, else the suite's own, else "auto": what this device computes natively.
    However it is launched (one process, `accelerate launch` with or without launch/*.yaml), a
    suite gives the same configurations."""
    from harness.execution.hardware import auto_precision

    if isinstance(suite, dict):
        return checked(suite_from_dict(suite, mixed_precision=mixed_precision, auto_precision=auto_precision))
    return checked(load_suite(suite, mixed_precision, auto_precision))


def checked(suite: Suite) -> Suite:
    """`suite` once the names that belong to the layers above the suite schema are registered
    there: the strategy (harness/execution/strategies.py; the schema cannot import execution)."""
    strategy = suite.info.strategy
    if strategy is not None and strategy not in STRATEGIES:
        raise SuiteError(str(suite.path), [f"suite.strategy: unknown strategy {strategy!r}; expected one of: "
                                           f"{', '.join(STRATEGIES)}"])
    return suite


def ignored_launcher_precision(suite: Suite) -> str | None:
    """A note when `accelerate launch --mixed_precision` asked for another precision than the runs
    train in: the harness does not follow it (resolve_mixed_precision says why). accelerate's own
    default, "no", is not worth a note: it is passed whether or not anyone asked for it."""
    asked = os.environ.get("ACCELERATE_MIXED_PRECISION")
    if not asked or asked == "no" or asked == suite.mixed_precision:
        return None
    return (f"note: accelerate launch's mixed precision {asked!r} is not used; the runs train in "
            f"{suite.mixed_precision!r} ({suite.mixed_precision_source}). To train in {asked}, pass "
            f"--mixed-precision {asked} after `harness run`, or set mixed_precision in [suite]")


def validate(paths: list[str | Path]) -> list[tuple[Path, Suite | SuiteError]]:
    """Each suite file with its expanded suite, or the error listing every problem it has."""
    results: list[tuple[Path, Suite | SuiteError]] = []
    for path in paths:
        try:
            results.append((Path(path), checked(load_suite(path))))
        except SuiteError as err:
            results.append((Path(path), err))
    return results


@dataclass
class Plan:
    """What a launch will do: the selected runs, split into those to train and those already complete.

    `replace` holds the runs to train that already have completed results (--force, --rerun):
    they train in a staging folder that replaces the old results only once the new run completed.
    """

    suite: Suite
    folder: SuiteFolder
    only: list[str] | None = None
    force: bool = False
    rerun: list[str] | None = None
    runs: list[RunSpec] = field(default_factory=list)
    to_train: list[RunSpec] = field(default_factory=list)
    complete: list[tuple[RunSpec, RunRecord]] = field(default_factory=list)
    replace: set[str] = field(default_factory=set)

    def training_folder(self, run: RunSpec) -> RunFolder:
        return self.folder.staging(run.id) if run.id in self.replace else self.folder.run(run.id)

    def add(self, suite: Suite) -> list[RunSpec]:
        """Plan the selected runs of `suite` not planned yet; returns those to train.

        Refuses (exit 2) to overwrite a run trained with another configuration.
        """
        self.suite = suite
        planned = {run.id for run in self.runs}
        new = [run for run in suite.select(self.only) if run.id not in planned]
        forced = {run.id for run in (new if self.force else suite.select(self.rerun) if self.rerun else [])}
        to_train, conflicts = [], []
        for run in new:
            self.folder.finish_replacement(run.id)  # a launch killed while swapping in a retrained run
            stored = self.folder.run(run.id)
            try:
                record = stored.read_record() if stored.has_record() else None
            except ResultsFileError:
                record = None  # unreadable record: the run never finished
            if record is None:
                to_train.append(run)
            elif run.id in forced:
                to_train.append(run)
                if record.status == STATUS_COMPLETED:
                    self.replace.add(run.id)
            elif record.config_hash != run.config_hash:
                conflicts.append(f"{stored.dir}: trained with another configuration "
                                 f"(hash {record.config_hash}, suite now gives {run.config_hash})")
            elif record.status == STATUS_COMPLETED:
                self.complete.append((run, record))
            else:
                to_train.append(run)
        if conflicts:
            raise HarnessError("\n".join(conflicts) + "\nuse --force (or --rerun NAME) to retrain them, or --results "
                               "DIR to keep both", exit_code=2)
        self.runs += new
        self.to_train += to_train
        return to_train


def plan_suite(suite: Suite, results: str | Path, only: list[str] | None = None, force: bool = False,
               rerun: list[str] | None = None) -> Plan:
    """Which selected runs to train (with the later seeds of every search already decided).

    `force` retrains every selected run, `rerun` (glob patterns) the matching ones.
    """
    folder = SuiteFolder(Path(results) / suite.name)
    plan = Plan(suite, folder, only, force, rerun)
    plan.add(with_chosen_trials(suite, folder))
    return plan


def write_suite_files(suite: Suite, folder: SuiteFolder) -> None:
    """The suite's copy and settings (rewritten only when they changed)."""
    folder.write_suite(suite.toml_text(), suite.record())


def original_folder(folder: SuiteFolder) -> Path | None:
    """The folder of the suite file a results folder's copy came from: its plugin files are
    relative to it (None when the record does not say)."""
    try:
        source = folder.read_suite_record().source if folder.suite_json.exists() else ""
    except ResultsFileError:
        return None
    return Path(source).parent if source else None


def recorded_plugins(folder: SuiteFolder) -> list[str]:
    """Import the plugins a results folder's suite was run with, where their code still is, so a
    reader shows a plugin metric's columns as it declares them; the ones that are gone (or no
    longer import), which are left out: the store alone is enough to read the results (their
    columns then show by name)."""
    from harness.core.plugins import PluginError, load_installed, load_plugin

    load_installed()
    try:
        record = folder.read_suite_record() if folder.suite_json.exists() else None
    except ResultsFileError:
        return []
    missing = []
    for plugin in record.plugins if record else []:
        spec = _still_here(plugin)
        try:
            if spec is not None:
                load_plugin(spec, None, f"recorded in {folder.suite_json}")
                continue
        except PluginError:
            pass  # code that no longer imports (being edited, say): the store still reads without it
        missing.append(plugin["spec"])
    return missing


def _still_here(plugin: dict[str, Any]) -> str | None:
    """What to import for a recorded plugin: its file if it is still there, its module if that is
    importable; None when its code is gone."""
    source = str(plugin.get("source") or "")
    if source.endswith(".py"):
        return source if Path(source).is_file() else None
    try:
        return plugin["module"] if importlib.util.find_spec(plugin["module"]) is not None else None
    except (ImportError, ValueError):
        return None


def readable_records(folder: SuiteFolder) -> Iterator[RunRecord]:
    """The readable run records of a suite folder (none for a new suite), read one at a time: the
    data-root lookup stops at the first, so a launch does not read every record of a large suite."""
    for run_folder in folder.runs():
        try:
            yield run_folder.read_record()
        except ResultsFileError:
            continue


def recorded_data_root(records: Iterable[RunRecord]) -> Path | None:
    """The data root the runs trained from, if it is still there: `evaluate` after `run`, or `run`
    again to finish a suite, needs no --data-dir and never downloads a second copy (None: the
    usual lookup, see datasets/fetch.py)."""
    for record in records:
        if record.data_folder and Path(record.data_folder).is_dir():
            return Path(record.data_folder).parent
    return None
