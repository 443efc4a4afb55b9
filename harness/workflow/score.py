"""`harness score`: samples made elsewhere, scored and stored beside trained runs.

The entry joins a suite's results folder (its protocol: the recorded [evaluation] settings, the
same dataset) or, without one, `<results>/external-<dataset>/`, a folder of external entries
under the default protocol. Everything is checked before anything is written.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.analysis.suite_record import suite_record
from harness.config.evaluation import EvaluationConfig
from harness.config.suite import name_problem
from harness.core.errors import HarnessError, ResultsFileError
from harness.store import EXTERNAL_MODEL, SuiteFolder
from harness.workflow.plan import recorded_plugins

if TYPE_CHECKING:
    from harness.store import MetricsRow, ReferenceRecord


@dataclass
class ScoreOutcome:
    folder: SuiteFolder
    name: str
    metrics: "MetricsRow"
    failed: list[str]
    reference: "ReferenceRecord | None"
    read_as: dict[str, object]  # how the files were read (layout, range, count), as recorded


def score_samples(source: str | Path, dataset: str, name: str, results: str | Path = "results", *,
                  data_dir: str | Path | None = None, value_range: str | None = None, num_samples: int | None = None,
                  on_metric: Callable[[str, int, int], None] | None = None) -> ScoreOutcome:
    """Score the images in `source` (.npz, .npy, or a folder of PNG/JPEG) as the external entry
    `name` of a results folder: `results` itself when it is a suite's results folder, else
    `results/external-<dataset>/`. `num_samples` only for a new folder (a suite's folder keeps its protocol)."""
    from harness.datasets import DATASETS, load_dataset
    from harness.datasets.samples import SamplesError, read_samples
    from harness.evaluation.external import score_external
    from harness.evaluation.runner import evaluate_reference
    from harness.evaluation.session import EvaluationSession
    from harness.execution.data_parallel import DataParallel

    if (why := name_problem(name)) is not None:
        raise HarnessError(f"--name: {why}", exit_code=2)
    DATASETS.require(dataset, "--dataset")
    folder, config, joined = _protocol(Path(results), dataset, num_samples)
    entry = folder.run(name)
    if entry.config_file.exists():
        try:
            existing = entry.read_config().model
        except ResultsFileError:
            existing = "unreadable"
        if existing != EXTERNAL_MODEL:
            raise HarnessError(f"{entry.dir}: a run of model {existing!r} is there; pick another --name", exit_code=2)
    data = load_dataset(dataset, data_dir)
    samples = read_samples(source, data.spec.image_shape, value_range)
    if len(samples.images) < config.num_samples:
        raise SamplesError(f"{source}: {len(samples.images):,} images, and the protocol of "
                           f"{folder.dir if joined else 'a new folder'} scores {config.num_samples:,} "
                           f"(evaluation.num_samples{'' if joined else '; --num-samples'}): generate more, or score "
                           "against a folder with a smaller protocol")
    if not joined:
        _write_external_suite(folder, dataset, config)
    session = EvaluationSession(config, data, DataParallel("no", "evaluation runs in fp32"))
    reference = folder.read_reference() or evaluate_reference(folder, session)
    metrics, failed = score_external(samples, name, folder.dir.name, dataset, entry, session,
                                     on_metric or (lambda metric, index, total: None))
    return ScoreOutcome(folder, name, metrics, failed, reference, samples.record())


def _protocol(results: Path, dataset: str, num_samples: int | None) -> tuple[SuiteFolder, EvaluationConfig, bool]:
    """The folder the entry goes to, its evaluation settings, and whether it is a suite's own folder."""
    if (results / "suite.toml").is_file():
        folder = SuiteFolder(results)
        recorded_plugins(folder)  # a plugin metric's settings are part of the protocol
        record = suite_record(folder)
        if record.info.dataset != dataset:
            raise HarnessError(f"{folder.dir}: its runs are on {record.info.dataset}, not {dataset}; score against a "
                               "results folder of the same dataset", exit_code=2)
        if num_samples is not None:
            raise HarnessError(f"--num-samples: {folder.dir} scores {record.evaluation.get('num_samples')} samples per "
                               "entry (its protocol); leave --num-samples out to be comparable with its runs",
                               exit_code=2)
        try:
            return folder, EvaluationConfig.model_validate({**record.evaluation, "enabled": True}), True
        except ValueError as err:
            raise HarnessError(f"{folder.suite_json}: its evaluation settings no longer validate ({err})",
                               exit_code=2) from None
    folder = SuiteFolder(results / f"external-{dataset}")
    if folder.suite_toml.is_file():
        return _protocol(folder.dir, dataset, num_samples)
    # A smaller sample count than KID's default subset size (1000) takes subsets of all of it, as
    # the quick suites do; the folder records the settings, so every later entry uses the same.
    settings = {"num_samples": num_samples, "kid_subset_size": min(num_samples, 1000)} if num_samples else {}
    try:
        return folder, EvaluationConfig.model_validate(settings), False
    except ValueError as err:
        raise HarnessError(f"--num-samples: {' '.join(str(err).split())}", exit_code=2) from None


def _write_external_suite(folder: SuiteFolder, dataset: str, config: EvaluationConfig) -> None:
    """A suite of external entries only: its record says the protocol; there is nothing to train.
    Its suite.toml, for people to read, holds the same tables: the [evaluation] keys that differ
    from the defaults."""
    import tomli_w

    table = {"name": folder.dir.name, "description": f"samples made elsewhere, scored on {dataset}",
             "dataset": dataset, "seeds": [0]}
    evaluation = config.model_dump(mode="json")
    defaults = EvaluationConfig().model_dump(mode="json")
    changed = {key: value for key, value in evaluation.items() if defaults.get(key) != value and value is not None}
    text = "# Samples made elsewhere, scored by `harness score` (nothing to train here).\n" + \
        tomli_w.dumps({"suite": table, "evaluation": changed})
    record = {"suite": table, "source": str(folder.suite_toml), "mixed_precision": "no",
              "mixed_precision_source": "external samples", "runs": [], "evaluation": evaluation, "expanded": True}
    folder.write_suite(text, record)
