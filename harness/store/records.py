"""The typed files of a run and a suite folder: strict pydantic models that read with a message
naming the file, and write atomically."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.core.errors import ResultsFileError
from harness.core.files import read_json, write_json
from harness.core.statuses import STATUS_RUNNING

# history.jsonl keys that are not losses (every other number in a history row is a loss)
HISTORY_BOOKKEEPING = frozenset({"epoch", "images_per_second", "epoch_seconds", "train_seconds", "images_per_process",
                                 "overlapping_images"})


class _File(BaseModel):
    """A JSON results file: known keys are typed, unknown ones are kept (newer versions add keys)."""

    model_config = ConfigDict(extra="allow")

    @classmethod
    def read(cls, path: Path) -> "Any":
        data = read_json(path)
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "top level"
            raise ResultsFileError(path, f"not a valid {cls.__name__} ({where}: {first['msg']})",
                                   "the file is corrupt or from another tool") from None

    def write(self, path: Path) -> None:
        write_json(path, self.model_dump(mode="json"))


EXTERNAL_MODEL = "external"  # RunConfig.model of samples made elsewhere and scored here (`harness score`)


class RunConfig(_File):
    """config.json: everything that determined training, and its hash."""

    id: str
    name: str
    suite: str
    config_hash: str
    matrix: dict[str, Any] = {}
    trial: int | None = None  # random search: the trial's index (its drawn values are in `matrix`)
    dataset: str
    model: str
    seed: int
    mixed_precision: str
    training: dict[str, Any]
    model_options: dict[str, Any]


class RunRecord(_File):
    """run.json: what happened to a run (status, where and how it trained, what it cost)."""

    id: str
    name: str
    suite: str
    config_hash: str
    status: str
    started_at: str | None = None
    finished_at: str | None = None
    epochs: int
    epochs_completed: int = 0
    device: str | None = None
    num_processes: int | None = None
    distributed_type: str | None = None
    strategy: str | None = None
    mixed_precision: str | None = None
    mixed_precision_source: str | None = None
    forward_dtypes: dict[str, str] | None = None
    versions: dict[str, str] = {}
    git_commit: str | None = None
    data_folder: str | None = None  # the dataset's folder it trained on; `evaluate` reads the data from there
    parameters: dict[str, int] = {}
    steps: int | None = None
    train_seconds: float | None = None
    images_per_second: float | None = None
    final_losses: dict[str, float] = {}
    replicas_identical: bool | None = None
    error: str | None = None
    total_seconds: float | None = None
    # Steps trained with fewer than `threads` threads while other processes needed the cores, and
    # the fewest (harness/execution/cpu_share.py); absent when the run kept its threads throughout.
    steps_with_fewer_threads: int | None = None
    fewest_threads: int | None = None
    plugins: dict[str, str] = {}  # every plugin the training process had loaded: module -> sha256 of its source
    resumed: list[dict[str, Any]] = []  # each resume: when, from which epoch and step
    stopped_at: dict[str, int] | None = None  # interrupted or diverged: {"epoch", "step"} (1-based)
    last_finite_losses: dict[str, float] | None = None  # diverged: the last losses that were still numbers


class MetricsRow(_File):
    """metrics_row.json: one flat row per run; metric columns are the extra keys."""

    id: str
    name: str
    suite: str
    model: str
    seed: int
    config_hash: str
    evaluation_seconds: float | None = None

    @property
    def values(self) -> dict[str, Any]:
        return self.model_dump()


class RunLock(_File):
    """locks/<run id>.json: which process of which launch trains a run, and how far it got: the
    run's lock (harness/execution/scheduling.py), taken by the process that trains or evaluates it.

    Created atomically (O_EXCL) by the process that wins the run; rewritten by its owner as
    it progresses (the heartbeat other launches use to tell a live claim from a dead one).
    """

    run: str
    launch: str
    process: int
    host: str
    pid: int
    process_started: float | None = None  # with host and pid, identifies the owner (pids are reused)
    claimed_at: str
    heartbeat: float  # time.time() of the owner's last update
    expected_cost: float
    steps_done: int = 0
    total_steps: int = 0
    status: str = STATUS_RUNNING  # the run's final status once the owner is done with it
    detail: str = ""  # e.g. "epoch 3/10 | 2,310 img/s"


class ReferenceRecord(_File):
    """reference/metrics.json: the real-data floor (training images scored like a model)."""

    what: str
    values: dict[str, Any]
    seconds: float | None = None


class RunEntry(BaseModel):
    """One expanded run as the suite record lists it: who it is, and where it sits in a search."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    config_hash: str
    configuration: str = ""  # the run without its seed: what results are aggregated over
    seed: int | None = None
    search_group: str | None = None  # a search with `select`: the trials this run is one of
    trial: int | None = None
    selected_by: str | None = None  # the metric that picks the search's best trial


class SuiteRecord(_File):
    """suite.json: the suite as it was expanded when a launch started (its [suite] table, runs with
    ids and hashes, the later seeds a search may add, the evaluation settings and the claims), so
    that the report, the leaderboard and `status` read the store alone and never re-validate the
    TOML against today's code. `expanded` is False for folders written before version 0.2, which
    recorded only the run ids and hashes (harness.analysis.suite_record expands those again)."""

    suite: dict[str, Any]
    source: str = ""
    mixed_precision: str = "auto"
    mixed_precision_source: str = ""
    runs: list[RunEntry]
    later: list[RunEntry] = []
    evaluation: dict[str, Any] = {}
    claims: list[dict[str, Any]] = []
    expanded: bool = False
    plugins: list[dict[str, Any]] = []  # [suite] plugins as loaded: spec, module, source, sha256, origin

    @property
    def info(self) -> SimpleNamespace:
        """The [suite] table with attribute access (`record.info.seeds`), as a Suite has it."""
        return SimpleNamespace(**self.suite)

    @property
    def name(self) -> str:
        return str(self.suite["name"])

    @property
    def seeds(self) -> list[int]:
        return list(self.suite["seeds"])

    def search_groups(self) -> dict[str, list[RunEntry]]:
        """Each search with `select`: its trials' first-seed runs, in trial order."""
        groups: dict[str, list[RunEntry]] = {}
        for run in self.runs:
            if run.selected_by is not None and run.search_group is not None and run.seed == self.seeds[0]:
                groups.setdefault(run.search_group, []).append(run)
        return groups

    def later_seeds(self, best: dict[str, int]) -> list[RunEntry]:
        """The later-seed runs of each search group's best trial (`best`: group -> trial index)."""
        return [run for run in self.later if run.search_group is not None and best.get(run.search_group) == run.trial]
