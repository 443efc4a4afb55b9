"""Reading a suite file: TOML -> every problem at once (one line each, naming the key and the fix)
-> the expanded Suite of RunSpecs (runs x matrix x seeds x search). Who decides the precision.
The data it produces (Suite, RunSpec, the [suite] and training tables) is harness/config/suite.py."""


import dataclasses
import itertools
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.datasets import DATASETS
from harness.core.errors import SuiteError, choices_hint
from harness.core.plugins import Plugin, PluginError, load_installed, load_plugins
from harness.core.registry import PLUGIN_HINT
from harness.config.claims import Claim
from harness.config.evaluation import EvaluationConfig
from harness.models import MODELS
from harness.config.suite import (INT_LIMIT, MAX_FILE_BYTES, MAX_NESTING, MAX_RUN_ID_LENGTH, NAME_RULE, RUN_KEYS, SAFE_NAME,
                                  TOP_LEVEL_TABLES, TRAINING_KEYS, RunSpec, Suite, SuiteInfo, TrainingConfig,
                                  name_problem)
from harness.config.search import Search, parse_search, trial_id

AutoPrecision = Callable[[], tuple[str, str]]  # () -> (precision, why): what "auto" means on this device



def resolve_mixed_precision(option: str | None, suite: str | None,
                            auto: AutoPrecision | None = None) -> tuple[str, str]:
    """(precision, who decided): `--mixed-precision` wins, then the suite, else "auto"; `auto` (when
    given) turns "auto" into what this device runs natively, and why.

    The launcher has no say: `accelerate launch` always passes a precision ("no" when it was told
    none, as under launch/*.yaml), so honouring it would make one suite different configurations
    depending only on how it was launched."""
    value, source = next(((v, s) for v, s in ((option, "--mixed-precision"), (suite, "suite")) if v),
                         ("auto", "default"))
    if value == "auto" and auto is not None:
        value, why = auto()
        source = f"{source}, {why}"
    return value, source


def load_suite(path: str | Path, mixed_precision: str | None = None,
               auto_precision: AutoPrecision | None = None, plugin_base: Path | None = None) -> Suite:
    """Read, validate and expand a suite file; raise SuiteError listing every problem.

    `mixed_precision` is the command line's override; `auto_precision` resolves "auto" for the
    device that will train (without it, as in `validate`, runs keep "auto"). The suite's plugins
    are imported first, relative to `plugin_base` (default: the suite file's folder; a results
    folder's copy passes the original's).
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise SuiteError(str(path), ["file not found" if not path.exists() else "not a regular file; pass a .toml suite"])
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise SuiteError(str(path), [f"larger than {MAX_FILE_BYTES:,} bytes; a suite file is a short TOML file"])
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SuiteError(str(path), [f"cannot read the file: {err}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SuiteError(str(path), [f"TOML syntax error: {err}"]) from None
    except RecursionError:
        raise SuiteError(str(path), [f"tables or lists nested too deeply (at most {MAX_NESTING} levels)"]) from None
    return _Expander(path, raw, mixed_precision, auto_precision, plugin_base or path.parent).expand()


def suite_from_dict(data: dict[str, Any], base: Path | None = None, mixed_precision: str | None = None,
                    auto_precision: AutoPrecision | None = None) -> Suite:
    """A suite from the tables a TOML file would hold, as a dict (notebooks: no file needed).

    Checked exactly as a file is; plugin files are relative to `base` (default: the working
    directory). The suite's TOML text (what its results folder keeps as suite.toml) is written
    from the dict, with plugin files as absolute paths so that the copy loads them from anywhere."""
    import tomli_w

    base = Path(base or Path.cwd()).resolve()
    if not isinstance(data, dict):
        raise SuiteError("<dict suite>", [f"expected a dict of tables ([suite], [[run]], ...), got {type(data).__name__}"])
    data = json.loads(json.dumps(data))  # plain types only (tuples become lists, as TOML has them)
    table = data.get("suite")
    name = table.get("name") if isinstance(table, dict) and isinstance(table.get("name"), str) else "suite"
    path = base / f"{name}.toml"  # where a file of this suite would be: named in messages, never written
    if isinstance(table, dict) and isinstance(table.get("plugins"), list):
        table["plugins"] = [str((base / p).resolve()) if isinstance(p, str) and p.endswith(".py") else p
                            for p in table["plugins"]]
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError) as err:
        raise SuiteError(str(path), [f"not expressible as TOML: {err}"]) from None
    suite = _Expander(path, tomllib.loads(text), mixed_precision, auto_precision, base).expand()
    return dataclasses.replace(suite, text=text)


class _Expander:
    """Validates a parsed suite and expands it, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, raw: dict[str, Any], mixed_precision: str | None,
                 auto_precision: AutoPrecision | None, plugin_base: Path) -> None:
        self.path = path
        self.plugin_base = plugin_base
        self.raw = raw
        self.mixed_precision_override = mixed_precision
        self.auto_precision = auto_precision
        self.problems: list[str] = []
        self.expanded = 0  # runs expanded so far (checked against [suite] max_runs)
        self.precision: tuple[str, str] = ("no", "default")

    def problem(self, key_path: str, message: str) -> None:
        self.problems.append(f"{key_path}: {message}" if key_path else message)

    def expand(self) -> Suite:
        for key in self.raw:
            if key not in TOP_LEVEL_TABLES:
                self.problem(key, _unknown_key_message(key, TOP_LEVEL_TABLES, " (top-level table)"))
        before = len(self.problems)
        self._check_values(self.raw, "", 0)
        if len(self.problems) > before:  # values no model can hold: nothing else is worth checking
            raise SuiteError(str(self.path), self.problems)
        plugins = self._plugins()  # before any name is looked up: a plugin registers names
        info = self._suite_info()
        if info is not None:
            self.precision = resolve_mixed_precision(self.mixed_precision_override, info.mixed_precision,
                                                     self.auto_precision)
        defaults_training, defaults_by_model = self._defaults()
        suite_matrix = self._matrix(self.raw.get("matrix", {}), "matrix")
        suite_search = self._search(self.raw["search"], "search") if "search" in self.raw else None
        runs = self._runs(info, defaults_training, defaults_by_model, suite_matrix, suite_search)
        evaluation = self._evaluation()
        if info is not None and evaluation is not None:
            self._check_sizes(info, runs, evaluation)
        self._check_distinct(runs)
        claims = self._claims(runs, info.external if info is not None else [])
        if evaluation is not None and not evaluation.enabled and any(run.selected_by for run in runs):
            self.problem("evaluation.enabled", "is false, but a search's `select` picks its best trial by a metric; "
                         "enable the evaluation or remove select")
        if self.problems:
            raise SuiteError(str(self.path), self.problems)
        assert info is not None and evaluation is not None
        waits = [run.selected_by is not None and run.seed != info.seeds[0] for run in runs]
        return Suite(path=self.path, info=info, runs=[run for run, later in zip(runs, waits) if not later],
                     evaluation=evaluation, claims=claims, mixed_precision=self.precision[0],
                     mixed_precision_source=self.precision[1], later=[run for run, w in zip(runs, waits) if w],
                     plugins=plugins)

    def _claims(self, runs: list[RunSpec], external: list[str]) -> list[Claim]:
        tables = self.raw.get("claim", [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            self.problem("claim", "expected [[claim]] tables (text, metric, better, than)")
            return []
        configurations = sorted({run.configuration for run in runs} | set(external))
        # Runs are expanded only from a problem-free file: with other problems, which configurations
        # exist is unknown, and a claim naming one is not wrong for that.
        runs_known = bool(runs) and not self.problems
        claims = []
        for index, table in enumerate(tables):
            claim = self._validate(Claim, table, f"claim[{index}]")
            if claim is None:
                continue
            if claim.better == claim.than:
                self.problem(f"claim[{index}]", f"better and than are both {claim.better!r}; compare two configurations")
            for key in ("better", "than"):
                if runs_known and getattr(claim, key) not in configurations:
                    self.problem(f"claim[{index}].{key}", f"unknown configuration {getattr(claim, key)!r}; "
                                 f"configurations: {', '.join(configurations)} (samples scored with `harness score "
                                 "--name NAME` are named in [suite] external)")
            claims.append(claim)
        return claims

    # -- whole-file checks -----------------------------------------------------------------

    def _check_values(self, value: Any, key_path: str, depth: int) -> None:
        """Integers beyond 64 bits and nesting beyond MAX_NESTING, wherever they are."""
        if depth > MAX_NESTING:
            self.problem(key_path, f"nested more than {MAX_NESTING} levels deep")
            return
        if isinstance(value, dict):
            for key, item in value.items():
                self._check_values(item, f"{key_path}.{key}" if key_path else str(key), depth + 1)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_values(item, f"{key_path}[{index}]", depth + 1)
        elif isinstance(value, int) and not isinstance(value, bool) and not -INT_LIMIT <= value < INT_LIMIT:
            self.problem(key_path, f"integer {value} does not fit in 64 bits")

    def _check_sizes(self, info: SuiteInfo, runs: list[RunSpec], evaluation: EvaluationConfig) -> None:
        """What the dataset's splits allow, checked before anything trains."""
        sizes = DATASETS.get(info.dataset).split_sizes
        train, test = sizes["train"], sizes["test"]
        for run in runs:
            if run.training.train_subset is not None and run.training.train_subset > train:
                self.problem(f"run {run.id}: train_subset", f"{run.training.train_subset} is more than the "
                             f"{train:,} training images of {info.dataset}")
            available = min(run.training.train_subset or train, train)
            if run.training.batch_size > available:
                self.problem(f"run {run.id}: batch_size", f"{run.training.batch_size} is larger than the "
                             f"{available:,} training images it trains on")
        for key, value in evaluation.test_image_counts().items():
            if value > test:
                self.problem(f"evaluation.{key}", f"{value:,} is more than the {test:,} test images of {info.dataset}")

    def _check_distinct(self, runs: list[RunSpec]) -> None:
        """Two runs with one configuration hash would train the same thing twice (e.g. lr = [1, 1.0])."""
        seen: dict[tuple[str, int | None], str] = {}
        for run in runs:  # search trials may draw the same values: each trial is still its own run
            if (run.config_hash, run.trial) in seen:
                self.problem("run", f"{seen[run.config_hash, run.trial]} and {run.id} have the same configuration "
                             f"(after resolving values such as 1 and 1.0); remove one")
            seen.setdefault((run.config_hash, run.trial), run.id)

    # -- tables -------------------------------------------------------------------------

    def _plugins(self) -> list[Plugin]:
        """The installed plugins, then the suite's own (a plugin that fails ends the check: what it
        would have registered is missing, and every name it adds would be one more problem)."""
        load_installed()
        table = self.raw.get("suite")
        specs = table.get("plugins", []) if isinstance(table, dict) else []
        if not isinstance(specs, list) or not all(isinstance(spec, str) and spec for spec in specs):
            return []  # SuiteInfo names the problem
        try:
            return load_plugins(specs, self.plugin_base, f"suite {self.path}")
        except PluginError as err:
            raise PluginError(f"{self.path}: suite.plugins: {err}") from err.__cause__

    def _suite_info(self) -> SuiteInfo | None:
        table = self.raw.get("suite")
        if not isinstance(table, dict):
            self.problem("suite", "missing [suite] table (name, dataset, seeds)")
            return None
        return self._validate(SuiteInfo, table, "suite")

    def _evaluation(self) -> EvaluationConfig | None:
        table = self.raw.get("evaluation", {})
        if not isinstance(table, dict):
            self.problem("evaluation", "expected a table")
            return None
        return self._validate(EvaluationConfig, table, "evaluation")

    def _defaults(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        table = self.raw.get("defaults", {})
        if not isinstance(table, dict):
            self.problem("defaults", "expected a table")
            return {}, {}
        training: dict[str, Any] = {}
        by_model: dict[str, dict[str, Any]] = {}
        for key, value in table.items():
            if key in TRAINING_KEYS:
                training[key] = value
            elif key in MODELS and isinstance(value, dict):
                by_model[key] = value
                self._validate(MODELS.get(key).options, value, f"defaults.{key}")
            else:
                self.problem(
                    f"defaults.{key}",
                    _unknown_key_message(key, TRAINING_KEYS | set(MODELS.names()))
                    + "; model options go in a [defaults.<model>] table",
                )
        self._validate(TrainingConfig, training, "defaults")
        return training, by_model

    def _matrix(self, table: Any, key_path: str) -> dict[str, list[Any]]:
        if not isinstance(table, dict):
            self.problem(key_path, "expected a table of key = [values]")
            return {}
        matrix = {}
        for key, values in table.items():
            if not isinstance(values, list) or not values:
                self.problem(f"{key_path}.{key}", "expected a non-empty list of values")
            elif key in ("name", "model", "matrix", "seed", "seeds"):
                self.problem(f"{key_path}.{key}", "cannot be swept by the matrix")
            else:
                matrix[key] = values
        return matrix

    def _search(self, table: Any, where: str) -> Search | None:
        search, problems = parse_search(table, where)
        for key_path, problem in problems:
            self.problem(key_path, problem)
        return search

    def _runs(
        self,
        info: SuiteInfo | None,
        defaults_training: dict[str, Any],
        defaults_by_model: dict[str, dict[str, Any]],
        suite_matrix: dict[str, list[Any]],
        suite_search: Search | None,
    ) -> list[RunSpec]:
        tables = self.raw.get("run")
        if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
            self.problem("run", "expected one or more [[run]] tables")
            return []
        runs: list[RunSpec] = []
        seen_names: dict[str, int] = {}
        for index, table in enumerate(tables):
            where = f"run[{index}]"
            name, model = table.get("name"), table.get("model")
            if not isinstance(name, str):
                self.problem(f"{where}.name", f"expected a name of {NAME_RULE} (e.g. \"gan-baseline\")")
                name = None
            elif (why := name_problem(name)) is not None:
                self.problem(f"{where}.name", why)
                name = None
            elif name in seen_names:
                self.problem(f"{where}.name", f"duplicate run name {name!r} (also run[{seen_names[name]}])")
            else:
                seen_names[name] = index
            if not isinstance(model, str) or model not in MODELS:
                self.problem(f"{where}.model", f"unknown model {model!r}{choices_hint(str(model), MODELS.names())}; "
                             f"{PLUGIN_HINT}")
                continue
            run_matrix = self._matrix(table.get("matrix", {}), f"{where}.matrix")
            overlap = set(run_matrix) & set(suite_matrix)
            for key in sorted(overlap):
                self.problem(f"{where}.matrix.{key}", "also swept by the suite-level [matrix]; sweep it in one place")
            search = (suite_search, "search") if suite_search is not None else None
            if "search" in table:
                if suite_search is not None:
                    self.problem(f"{where}.search", "the suite has a [search] table too; search in one place")
                run_search = self._search(table["search"], f"{where}.search")
                search = (run_search, f"{where}.search") if run_search is not None else None
            options = {k: v for k, v in table.items() if k not in RUN_KEYS}
            expanded = self._expand_run(
                info, where, name, model, options, defaults_training, defaults_by_model.get(model, {}),
                {**suite_matrix, **run_matrix}, set(suite_matrix), search,
            )
            runs.extend(expanded)
        ids: dict[str, str] = {}
        for run in runs:
            if run.id in ids:
                self.problem("run", f"two runs expand to the same id {run.id!r}; give them different names")
            ids[run.id] = run.name
        return runs

    def _expand_run(
        self,
        info: SuiteInfo | None,
        where: str,
        name: str | None,
        model: str,
        options: dict[str, Any],
        defaults_training: dict[str, Any],
        defaults_model: dict[str, Any],
        matrix: dict[str, list[Any]],
        suite_matrix_keys: set[str],
        search: tuple[Search, str] | None = None,
    ) -> list[RunSpec]:
        """Validate one [[run]] table and expand it over its matrix, its search trials and the seeds.

        Returns no runs once the file has a problem (all problems are still collected).
        """
        config_class = MODELS.get(model).options
        model_keys = set(config_class.model_fields)
        known = TRAINING_KEYS | model_keys
        for key in [k for k in options if k not in known]:
            self.problem(f"{where}.{key}", _unknown_key_message(key, known | RUN_KEYS, f" for model {model!r}"))
            del options[key]
        for key in [k for k in matrix if k not in known]:
            origin = "matrix" if key in suite_matrix_keys else f"{where}.matrix"
            self.problem(f"{origin}.{key}", _unknown_key_message(key, known, f" for model {model!r} ({where})"))
            matrix = {k: v for k, v in matrix.items() if k != key}

        base_training = {**defaults_training, **{k: v for k, v in options.items() if k in TRAINING_KEYS}}
        base_model = {**defaults_model, **{k: v for k, v in options.items() if k in model_keys}}
        # Validate the fixed part once, and each matrix value on its own, so errors point at their key.
        # Problems of keys inherited from [defaults] were reported there; report the run's own here.
        self._validate(TrainingConfig, base_training, where, report=set(options))
        self._validate(config_class, base_model, where, report=set(options))
        for key, values in matrix.items():
            origin = "matrix" if key in suite_matrix_keys else f"{where}.matrix"
            target_class, base = (TrainingConfig, base_training) if key in TRAINING_KEYS else (config_class, base_model)
            for i, value in enumerate(values):
                self._validate(target_class, {**base, key: value}, f"{origin}.{key}[{i}]", report={key}, inline=True)
            if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
                self.problem(f"{origin}.{key}", "has duplicate values")
        trials = self._trials(search, where, name, known, matrix, base_training, base_model, config_class)
        if self.problems or info is None or name is None:
            return []  # runs are only built from a problem-free file
        count = len(info.seeds) * len(trials)
        for values in matrix.values():
            count *= len(values)
        self.expanded += count
        if self.expanded > info.max_runs:
            self.problem(where, f"the suite expands to more than {info.max_runs:,} runs (this [[run]] alone: "
                         f"{count:,}); shrink the matrix or seeds, or raise [suite] max_runs")
            return []

        runs = []
        keys = list(matrix)
        for combination, (trial, drawn) in itertools.product(itertools.product(*(matrix[k] for k in keys)), trials):
            swept = dict(zip(keys, combination))
            chosen = {**swept, **drawn}
            training = TrainingConfig(**{**base_training, **{k: v for k, v in chosen.items() if k in TRAINING_KEYS}})
            model_config = config_class(**{**base_model, **{k: v for k, v in chosen.items() if k in model_keys}})
            stem = "-".join([name, *(f"{k}{_format_value(v)}" for k, v in swept.items())])
            if trial is not None:
                stem = trial_id(stem, trial, len(trials))
            if not re.fullmatch(SAFE_NAME, stem):
                self.problem(where, f"run id {stem!r} would not be a safe folder name; sweep other values")
                return []
            if len(f"{stem}-s{max(info.seeds)}".encode()) > MAX_RUN_ID_LENGTH:
                self.problem(where, f"run id {stem[:40]}... is longer than {MAX_RUN_ID_LENGTH} characters (folder "
                             "names are limited); use a shorter name or fewer swept keys")
                return []
            for seed in info.seeds:
                runs.append(
                    RunSpec(
                        id=f"{stem}-s{seed}",
                        name=name,
                        model=model,
                        seed=seed,
                        dataset=info.dataset,
                        mixed_precision=self.precision[0],
                        training=training,
                        model_config=model_config,
                        matrix=chosen,
                        trial=trial,
                        selected_by=search[0].select if search is not None else None,
                    )
                )
        return runs

    def _trials(self, located: tuple[Search, str] | None, where: str, name: str | None, known: set[str],
                matrix: dict[str, list[Any]], base_training: dict[str, Any], base_model: dict[str, Any],
                config_class: type[BaseModel]) -> list[tuple[int | None, dict[str, Any]]]:
        """(trial index, drawn values) of the run's search (and where the search table is), each
        value validated like a matrix value; [(None, {})] without a search."""
        if located is None or name is None:
            return [(None, {})]
        search, origin = located
        for key in search.distributions:
            if key not in known:
                self.problem(f"{origin}.{key}", _unknown_key_message(key, known, f" for this run's model ({where})"))
            elif key in matrix:
                self.problem(f"{origin}.{key}", "is also swept by a matrix; sweep or search it, not both")
        if self.problems:
            return [(None, {})]
        trials: list[tuple[int | None, dict[str, Any]]] = list(enumerate(search.trials(name)))
        for index, drawn in trials:
            for key, value in drawn.items():
                target_class, base = (TrainingConfig, base_training) if key in TRAINING_KEYS else (config_class, base_model)
                self._validate(target_class, {**base, key: value}, f"{origin}.{key} (trial {index}: {value!r})",
                               report={key}, inline=True)
        return trials

    def _validate(
        self,
        model_class: type[BaseModel],
        data: dict[str, Any],
        key_path: str,
        report: set[str] | None = None,
        inline: bool = False,
    ) -> Any:
        """Validate `data`; on failure record one problem per error, located under `key_path`.

        `report` limits reporting to errors of those keys; `inline` means `key_path` already
        names the key (a matrix value such as `run[0].matrix.lr[1]`).
        """
        try:
            return model_class(**data)
        except ValidationError as err:
            for error in err.errors():
                loc = [str(part) for part in error["loc"]]
                if report is not None and (not loc or loc[0] not in report):
                    continue
                head = [key_path] if inline else [key_path, *loc[:1]]
                location = ".".join(head) + "".join(f"[{p}]" for p in loc[1:])
                self.problem(location, _describe(error, model_class))
            return None


def _describe(error: Any, model_class: type[BaseModel]) -> str:  # a pydantic ErrorDetails
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        known = getattr(model_class, "known_keys", lambda: model_class.model_fields)()
        return _unknown_key_message(key, set(known))
    if kind == "value_error":  # our own validators' messages already name the value
        return error["msg"].removeprefix("Value error, ")
    ctx = error.get("ctx") or {}
    if kind == "too_short":
        message = f"expected at least {ctx['min_length']} item(s)"
    elif kind == "too_long":
        message = f"expected at most {ctx['max_length']} item(s)"
    else:
        message = error["msg"].replace("Input should be", "expected")
    return f"{message} (got {error['input']!r})"


def _unknown_key_message(key: str, known: set[str], context: str = "") -> str:
    return f"unknown key {key!r}{context}{choices_hint(key, sorted(known))}"


def _format_value(value: Any) -> str:
    """Matrix values in run ids: 0.0002 -> '0.0002', [256, 512] -> '256x512', 'normal' -> 'normal'."""
    if isinstance(value, list):
        return "x".join(_format_value(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
