"""Suites: a declarative TOML file -> validated, expanded runs (runs x matrix x seeds).

Layout of a suite file (README.md, "Suite format", has the full reference):

    [suite]            name, description, dataset, seeds, mixed_precision (optional)
    [defaults]         training keys for every run; [defaults.<model>] options per model family
    [matrix]           optional: key = [values], crossed into every run
    [[run]]            name, model, training keys, model options, optional [run.matrix]

This module holds what a suite is once read (SuiteInfo, TrainingConfig, RunSpec, Suite) and
the rules its names follow; harness/config/expansion.py reads a file into it, reporting every
problem of a file together as `<file>: <key path>: <what is expected>`.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator

from harness.datasets import DATASETS
from harness.core.errors import SuiteError
from harness.core.plugins import Plugin
from harness.core.precisions import PRECISIONS
from harness.core.registry import PLUGIN_HINT, registered_in
from harness.core.trackers import TRACKERS
from harness.config.claims import Claim
from harness.config.evaluation import EvaluationConfig
from harness.models.options import ModelOptions, display_option, late_option, resolved

MixedPrecision = Annotated[str, registered_in(PRECISIONS, pluggable=False)]
SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"  # matched whole (re.fullmatch): no trailing newline slips through
NAME_RULE = "letters, digits, '_', '.', '-', starting with a letter or digit"
MAX_NAME_LENGTH = 100  # suite and run names; a run id adds matrix values and the seed
MAX_RUN_ID_LENGTH = 200  # folder names: most filesystems allow 255 bytes
MAX_FILE_BYTES = 1_000_000  # a suite file is a page of TOML, not a data file
MAX_NESTING = 8  # tables and lists inside each other
DEFAULT_MAX_RUNS = 1000  # expanded runs per suite unless [suite] max_runs says otherwise
SEED_LIMIT = 2**32  # seeds feed numpy and torch generators: unsigned 32-bit
INT_LIMIT = 2**63  # every integer must fit a signed 64-bit integer


class SuiteInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(description="results go to <results>/<name>/")
    description: str = Field("", description="one line on what the suite compares (shown in the report)")
    dataset: str = Field(description="the dataset every run trains on (see the datasets table)")
    seeds: list[Annotated[int, Field(ge=0, lt=SEED_LIMIT)]] = Field(
        min_length=1, description="every run is repeated once per seed; 3 or more give intervals and verdicts")
    max_runs: PositiveInt = Field(default=DEFAULT_MAX_RUNS,
                                  description="refuse suites that expand to more runs than this (a typo in a matrix)")
    mixed_precision: MixedPrecision | None = Field(
        default=None, description="auto (default: bf16/fp16 only where the device computes it natively) | no | fp16 | "
        "bf16; `--mixed-precision` overrides it, and `accelerate launch --mixed_precision` never does")
    strategy: str | None = Field(
        default=None, description="a registered strategy (harness list): run_parallel (default): whole runs per process | "
        "data_parallel: every run split over all processes; checked when the suite is loaded (harness.workflow.plan)")
    threads: PositiveInt | None = Field(
        default=None, description="CPU threads per process, kept whatever the load (default: OMP_NUM_THREADS, else "
        "cores / processes, fewer while other processes need the cores)")
    log_with: list[Annotated[str, registered_in(TRACKERS, pluggable=False)]] = Field(
        default_factory=list, description="experiment trackers every run logs to: tensorboard, wandb, mlflow "
        "(offline by default; README, 'Trackers'); `--log-with` overrides it; changes no number")
    external: list[Annotated[str, Field(pattern=f"^{SAFE_NAME}$", max_length=MAX_NAME_LENGTH)]] = Field(
        default_factory=list, description="entries scored with `harness score --name NAME` into this suite's results "
        "folder that [[claim]] tables may name beside the suite's configurations")
    plugins: list[str] = Field(
        default_factory=list, description="your own code, imported before the suite is checked: .py files relative "
        "to the suite file, or importable modules (docs/your-model.md); recorded with every run")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(f"unknown dataset {value!r}; known: {', '.join(DATASETS.names())}; {PLUGIN_HINT}")
        return value

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("seeds must be unique")
        return value


class TrainingConfig(BaseModel):
    """Keys every run takes, whatever its model family."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    epochs: PositiveInt = Field(1, description="passes over the training images")
    batch_size: PositiveInt = Field(default=64, description="global batch, split across processes")
    train_subset: PositiveInt | None = Field(default=None, description="train on the first N training images only")
    divergence_factor: PositiveFloat | None = late_option(
        1000.0, "stop a run as diverged when a loss's magnitude exceeds this multiple of its first step's "
        "(at least 1); null: only non-finite losses or weights stop it", gt=1.0)
    sample_every: PositiveInt | None = display_option(
        None, "save a 4x4 sample grid from a fixed latent batch every N epochs (and at the last), shown as a "
        "training-progress strip in the report; changes no number and no configuration hash")

    def resolved(self) -> dict[str, Any]:
        return resolved(self)


TRAINING_KEYS = set(TrainingConfig.model_fields)
RUN_KEYS = {"name", "model", "matrix", "search"}
TOP_LEVEL_TABLES = {"suite", "defaults", "matrix", "search", "run", "evaluation", "claim"}


def name_problem(value: str) -> str | None:
    if not re.fullmatch(SAFE_NAME, value):
        return f"expected {NAME_RULE} (got {value!r})"
    if len(value) > MAX_NAME_LENGTH:
        return f"expected at most {MAX_NAME_LENGTH} characters (got {len(value)})"
    return None


def _check_name(value: str) -> str:
    if (why := name_problem(value)) is not None:
        raise ValueError(why)
    return value


def configuration_of(run_id: str) -> str:
    """A run id without its seed: 'gan-final-lr0.0002-s1' -> 'gan-final-lr0.0002'."""
    return re.sub(r"-s\d+$", "", run_id)


@dataclass(frozen=True)
class RunSpec:
    """One expanded run: a [[run]] entry with one matrix combination and one seed."""

    id: str
    name: str
    model: str
    seed: int
    dataset: str
    mixed_precision: str
    training: TrainingConfig
    model_config: ModelOptions
    matrix: dict[str, Any] = field(default_factory=dict)  # swept and searched values of this run
    trial: int | None = None  # random search: the trial's index (harness/config/search.py)
    selected_by: str | None = None  # a search with `select`: the metric that picks its best trial

    @property
    def search_group(self) -> str | None:
        """The trials this run is one of ('gan-ns-t03-s0' -> 'gan-ns'): one search, one best trial."""
        return re.sub(r"-t\d+$", "", self.configuration) if self.trial is not None else None

    def resolved_config(self) -> dict[str, Any]:
        """Everything that determines training, fully resolved; what is saved and hashed."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "seed": self.seed,
            "mixed_precision": self.mixed_precision,
            "training": self.training.resolved(),
            "model_options": self.model_config.resolved(),
        }

    @property
    def configuration(self) -> str:
        """The run without its seed: what results are aggregated over (e.g. 'gan-final-lr0.0002')."""
        return configuration_of(self.id)

    @property
    def config_hash(self) -> str:
        canonical = json.dumps(self.resolved_config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Suite:
    path: Path
    info: SuiteInfo
    runs: list[RunSpec]
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    claims: list[Claim] = field(default_factory=list)
    mixed_precision: str = "auto"  # what the runs train in, after the command line and the suite had their say
    mixed_precision_source: str = "default"  # which of them decided
    # A search with `select`: the trials' runs with the suite's later seeds. Only the best trial's
    # train, once every trial is scored (harness/analysis/trials.py, with_chosen_trials).
    later: list[RunSpec] = field(default_factory=list)
    plugins: list[Plugin] = field(default_factory=list)  # [suite] plugins, as loaded
    text: str | None = None  # the suite's TOML when it came from a dict (a file's is read from `path`)

    def toml_text(self) -> str:
        """What the results folder keeps as suite.toml."""
        return self.text if self.text is not None else self.path.read_text(encoding="utf-8")

    def record(self) -> dict[str, Any]:
        """suite.json (harness.store.SuiteRecord): everything a reader of the results needs to know
        about the suite, as expanded now."""

        def entry(run: RunSpec) -> dict[str, Any]:
            return {"id": run.id, "name": run.name, "config_hash": run.config_hash, "configuration": run.configuration,
                    "seed": run.seed, "search_group": run.search_group, "trial": run.trial,
                    "selected_by": run.selected_by}

        unset = {key for key in ("plugins", "log_with", "external") if not getattr(self.info, key)}
        info = self.info.model_dump(exclude=unset)  # records of suites without them stay as they were
        record = {"suite": info, "source": str(self.path), "mixed_precision": self.mixed_precision,
                "mixed_precision_source": self.mixed_precision_source, "runs": [entry(r) for r in self.runs],
                "later": [entry(r) for r in self.later], "evaluation": self.evaluation.model_dump(mode="json"),
                "claims": [claim.model_dump() for claim in self.claims], "expanded": True}
        if self.plugins:
            record["plugins"] = [plugin.record() for plugin in self.plugins]
        return record

    def search_groups(self) -> dict[str, list[RunSpec]]:
        """Each search with `select`: its trials' first-seed runs (in `runs`), in trial order."""
        groups: dict[str, list[RunSpec]] = {}
        for run in self.runs:
            if run.selected_by is not None and run.search_group is not None and run.seed == self.info.seeds[0]:
                groups.setdefault(run.search_group, []).append(run)
        return groups

    def later_seeds(self, best: dict[str, int]) -> list[RunSpec]:
        """The later-seed runs of each search group's best trial (`best`: group -> trial index)."""
        return [run for run in self.later if run.search_group is not None and best.get(run.search_group) == run.trial]

    @property
    def name(self) -> str:
        return self.info.name

    def select(self, patterns: list[str] | None) -> list[RunSpec]:
        """Runs whose name or id matches any of the glob `patterns` (all runs when None)."""
        if not patterns:
            return list(self.runs)
        from fnmatch import fnmatchcase

        chosen = [r for r in self.runs if any(fnmatchcase(r.name, p) or fnmatchcase(r.id, p) for p in patterns)]
        unmatched = [p for p in patterns if not any(fnmatchcase(r.name, p) or fnmatchcase(r.id, p) for r in self.runs)]
        if unmatched:
            names = sorted({r.name for r in self.runs})
            raise SuiteError(
                str(self.path),
                [f"--only {p!r} matches no run; run names: {', '.join(names)} (ids too, globs allowed)" for p in unmatched],
            )
        return chosen
