"""Command line: `python -m harness COMMAND` (also under `accelerate launch -m harness`).

Each handler parses its arguments, calls one function of harness.pipeline and prints what it
returns; no orchestration lives here. Importing this module imports neither torch nor
accelerate, so `--help`, `validate`, `list` and `leaderboard` start fast.
"""

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.markup import escape

from harness import __version__, pipeline
from harness.core.errors import HarnessError, SuiteError, storage_problem
from harness.core.precisions import PRECISIONS
from harness.execution.executors import EXECUTORS
from harness.execution.strategies import STRATEGIES
from harness.config.suite import RunSpec, Suite
from harness.presentation.terminal import Field, Grid, show

DEFAULT_RESULTS = "results"


def _is_main_process() -> bool:
    """Before an Accelerator exists: only rank 0 of a launch talks to the user."""
    return int(os.environ.get("RANK", "0")) == 0


def _count(minimum: int):
    """An argparse type: an integer >= `minimum`, refused with a one-line message otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not minimum <= value < 2**31:
            raise argparse.ArgumentTypeError(f"expected a number from {minimum} to {2**31 - 1}, got {value}")
        return value
    return parse


def _plugin_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`--plugin`, read before the parser is built (main, _load_plugins): shown on every command."""
    parser.add_argument(
        "--plugin", action="append", default=argparse.SUPPRESS, metavar="PATH_OR_MODULE",
        help="import your own code first (a .py file or a module) so its models, objectives, metrics, datasets, "
        "strategies and executors can be named; repeatable (also: [suite] plugins, entry points harness.plugins)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Train GANs and VAEs from declarative TOML suites and compare them with measured numbers.",
        epilog="Several processes or GPUs: accelerate launch --config_file launch/gpus.yaml -m harness run SUITE "
        "(launch/ has configurations for CPUs, GPUs and several machines; README, 'GPUs').",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _plugin_option(parser)  # before the command too: harness --plugin X run ...

    def add_command(name: str, **options: Any) -> argparse.ArgumentParser:
        return _plugin_option(commands.add_parser(name, **options))

    run = add_command(
        "run",
        help="train every run of a suite and write results",
        description="Validate SUITE, expand it into runs (runs x matrix x seeds) and train them. "
        "Results go to RESULTS/<suite name>/<run id>/. Completed runs with the same configuration are "
        "skipped, so rerunning a suite finishes what is missing.",
    )
    run.add_argument("suite", type=Path, help="path to a suite TOML file, e.g. suites/quickstart.toml")
    run.add_argument("--results", type=Path, default=Path(DEFAULT_RESULTS), help="results root (default: ./results)")
    run.add_argument("--data-dir", type=Path, help="dataset root holding <dataset>/<files> (default: $HARNESS_DATA_DIR, then ~/.cache/harness/data)")
    run.add_argument("--only", nargs="+", metavar="NAME", help="train only runs whose name or id matches (glob patterns allowed)")
    run.add_argument("--dry-run", action="store_true", help="print the expanded run table and exit without training")
    run.add_argument("--mixed-precision", choices=list(PRECISIONS),
                     help="override the suite's mixed precision (auto: bf16/fp16 only where the device computes it natively)")
    run.add_argument("--force", action="store_true",
                     help="retrain the selected runs even if complete (the old results stay until the new run completed)")
    run.add_argument("--rerun", nargs="+", metavar="NAME",
                     help="retrain the runs whose name or id matches (globs allowed), even if complete; "
                     "the rest of the suite runs as usual")
    run.add_argument("--strategy", metavar="NAME",
                     help="how the processes of `accelerate launch` share the suite: whole runs per process "
                     f"(run_parallel, the default) or every run split over all processes (data_parallel); "
                     f"registered: {', '.join(STRATEGIES)} (a plugin's too)")
    run.add_argument("--threads", type=_count(1), metavar="N",
                     help="CPU threads per process, kept whatever the load (default: OMP_NUM_THREADS, else "
                          "cores / processes, fewer while other processes need the cores)")
    run.add_argument("--log-with", nargs="+", metavar="TRACKER",
                     help="log every run to these trackers (tensorboard, wandb, mlflow; offline by default), "
                     "instead of the suite's log_with")
    cluster = run.add_argument_group("cluster (submitit; pip install -e \".[cluster]\")")
    cluster.add_argument("--executor", metavar="NAME",
                         help="submit the pending runs as a job array, one `harness run --only RUN` per task, instead "
                         "of training here (local: the same tasks as subprocesses of this machine); "
                         f"registered: {', '.join(EXECUTORS)} (a plugin's too)")
    cluster.add_argument("--partition", help="Slurm partition")
    cluster.add_argument("--gpus-per-run", type=_count(0), default=0, metavar="N", help="GPUs per task (default 0)")
    cluster.add_argument("--cpus-per-run", type=_count(1), default=2, metavar="N", help="CPU cores per task (default 2)")
    cluster.add_argument("--time", type=_count(1), default=240, metavar="MINUTES", help="time limit per task (default 240)")
    cluster.add_argument("--max-parallel", type=_count(1), metavar="N", help="at most N tasks at once (Slurm array throttle)")
    cluster.add_argument("--wait", action="store_true", help="wait for the jobs and print the leaderboard (always for local)")
    run.set_defaults(handler=cmd_run)

    state = add_command(
        "status", help="where each run of a results folder stands: pending, submitted, running, done, failed",
        description="For each run of RESULTS_DIR's suite: done, failed or diverged (from its record), running "
        "(which machine and process, how far), interrupted (its process is gone), submitted (cluster job) or pending. "
        "Exit status 1 when any run failed, diverged, was interrupted (run the same command again to resume it) or "
        "cannot be read; 0 otherwise, pending and running runs included; 2 when RESULTS_DIR is not a results folder.")
    state.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    state.set_defaults(handler=cmd_status)

    validate = add_command(
        "validate",
        help="check suite files without training",
        description="Run exactly the checks of `run` on each SUITE and report every problem (exit 2 if any).",
    )
    validate.add_argument("suites", type=Path, nargs="+", metavar="SUITE")
    validate.set_defaults(handler=cmd_validate)

    evaluate = add_command(
        "evaluate",
        help="(re-)evaluate finished runs without retraining",
        description="Score the completed runs in RESULTS_DIR (a suite's results folder, e.g. results/quickstart) "
        "from their saved weights, with the suite's [evaluation] settings unless overridden here.",
    )
    evaluate.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    evaluate.add_argument("--only", nargs="+", metavar="NAME", help="evaluate only runs whose name or id matches (globs allowed)")
    evaluate.add_argument("--data-dir", type=Path, help="dataset root (as for `run`)")
    evaluate.add_argument("--num-samples", type=_count(1), help="generated samples and test images for FID/KID/PR")
    evaluate.add_argument("--metrics", nargs="+", metavar="METRIC",
                          help="metrics (sample_quality, reconstruction, ...) or columns (fid, recall: the metric that "
                          "computes them) to compute; default: the suite's; `harness list` shows both")
    evaluate.set_defaults(handler=cmd_evaluate)

    score = add_command(
        "score", help="score samples made elsewhere (an .npz/.npy array or a folder of PNGs) beside trained runs",
        description="Score SAMPLES with every sample-based metric under exactly the protocol of trained runs (the "
        "same seeded test reference, evaluators, sample count and floor) and store them as an external entry NAME: "
        "in RESULTS when it is a suite's results folder (its protocol), else in RESULTS/external-<dataset>/. They "
        "then show in the leaderboard, report, claims and compare; what samples cannot answer (reconstruction, "
        "likelihoods) is n/a.")
    score.add_argument("samples", type=Path, metavar="SAMPLES",
                       help=".npz/.npy of uint8 or float images, (N, H, W), (N, H, W, C) or (N, C, H, W); or a folder "
                       "of PNG/JPEG files")
    score.add_argument("--dataset", required=True, help="the dataset the samples imitate (harness list)")
    score.add_argument("--name", required=True, help="the entry's name in the leaderboard")
    score.add_argument("--results", type=Path, default=Path(DEFAULT_RESULTS),
                       help="a suite's results folder to join, or a results root (default: ./results)")
    score.add_argument("--range", dest="value_range", choices=["0,1", "0,255", "-1,1"],
                       help="the values' range (default: inferred, [0, 1] or [0, 255]; recorded either way)")
    score.add_argument("--num-samples", type=_count(1),
                       help="images scored, for a new folder only (default 10000; a suite's folder keeps its own)")
    score.add_argument("--data-dir", type=Path, help="dataset root (as for `run`)")
    score.set_defaults(handler=cmd_score)

    board = add_command(
        "leaderboard",
        help="seed-aggregated table of a suite's results",
        description="Aggregate RESULTS_DIR (a suite's results folder) over seeds and print one row per configuration: "
        "mean ± 95% CI per metric, the best value of each column in bold, n/a where a metric does not apply.",
    )
    board.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    board.add_argument("--sort", metavar="METRIC", help="best first by this metric (default: fid when present)")
    board.add_argument("--metrics", nargs="+", metavar="METRIC",
                       help="columns (fid, recall, ...) or metrics (sample_quality: all its columns) to show; "
                       "default: the key metrics; `harness list` shows both")
    board.add_argument("--format", choices=["table", "md", "csv", "latex", "json", "html"], default="table",
                       help="table (terminal) or an export format printed to stdout")
    board.set_defaults(handler=cmd_leaderboard)

    compare = add_command(
        "compare", help="the same configurations in several results folders side by side",
        description="Compare RESULTS_B (and more) with RESULTS_A, configuration by configuration: each metric's mean "
        "in both, the difference with its 95% Welch interval and whether it excludes zero; every setting that "
        "differs (sample counts, evaluator hashes, configuration, precision, device, library versions) is flagged.")
    compare.add_argument("results_dirs", type=Path, nargs="+", metavar="RESULTS_DIR",
                         help="two or more suite results folders; the first is the baseline")
    compare.add_argument("--metrics", nargs="+", metavar="METRIC", help="columns to compare (default: the key metrics)")
    compare.add_argument("--format", choices=["table", "csv"], default="table", help="table (terminal) or csv")
    compare.set_defaults(handler=cmd_compare)

    report = add_command(
        "report", help="write report.md, a self-contained report.html and charts/*.png",
        description="Charts, sample figures, the leaderboard and the suite's claims for RESULTS_DIR.")
    report.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    report.add_argument("--data-dir", type=Path, help="accepted for older scripts; the report reads only RESULTS_DIR")
    report.add_argument("--output", type=Path, metavar="DIR",
                        help="write the report, leaderboard and charts into DIR instead of RESULTS_DIR "
                        "(e.g. when RESULTS_DIR is read-only or shared)")
    report.set_defaults(handler=cmd_report)

    evaluator = add_command("evaluator", help="train the pinned evaluator network (maintainers)",
                                    description="Manage the CNN whose features FID/KID/PR use.")
    evaluator_commands = evaluator.add_subparsers(dest="evaluator_command", required=True, metavar="ACTION")
    train_evaluator = evaluator_commands.add_parser(
        "train", help="train the evaluator deterministically and print its accuracy and sha256",
        description="Train the evaluator CNN on DATASET's training split (seeded, deterministic) and save it. "
        "To pin it, put the file in harness/assets/ and its sha256 in the dataset's module (harness/datasets/DATASET.py).")
    train_evaluator.add_argument("--dataset", required=True)
    train_evaluator.add_argument("--data-dir", type=Path)
    train_evaluator.add_argument("--epochs", type=_count(1), default=4)
    train_evaluator.add_argument("--kind", choices=["classifier", "autoencoder"], default="classifier",
                                 help="classifier (features + classes) or autoencoder (the second feature space)")
    train_evaluator.add_argument("--output", type=Path, help="default: ./evaluator-<dataset>-v1.safetensors "
                                 "(autoencoder: ./autoencoder-<dataset>-v1.safetensors)")
    train_evaluator.set_defaults(handler=cmd_train_evaluator)

    listing = add_command("list", help="every key a suite takes, the models, metrics and datasets",
                                  description="Describe every key of a suite ([suite], training, [evaluation] and "
                                  "each model family's options: type, default, meaning), the metrics with their "
                                  "columns, and the datasets.")
    listing.set_defaults(handler=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    from harness.execution.stops import Stopped, handle_stops

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        _load_plugins(argv)
    except HarnessError as err:
        if _is_main_process() or err.every_process:
            _print_error(str(err))
        return err.exit_code
    args = build_parser().parse_args(argv)
    try:
        with handle_stops():
            return args.handler(args)
    except HarnessError as err:
        if _is_main_process() or err.every_process:
            _print_error(str(err))
        return err.exit_code
    except Stopped as err:
        if _is_main_process():
            Console(stderr=True, highlight=False).print(
                f"[bold yellow]{escape(str(err))}.[/] Finished results are kept and an interrupted run resumes "
                "from its checkpoint: run the same command again to continue.", soft_wrap=True)
        return err.exit_code
    except BrokenPipeError:  # `harness leaderboard ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error while exiting
        return 141
    except OSError as err:  # full disk, read-only folder, permission denied: name the path, no traceback
        if _is_main_process():
            _print_error(storage_problem(err) + "; results written before are untouched")
        return 1


def _load_plugins(argv: list[str]) -> None:
    """The installed plugins and every `--plugin`, before the parser is built: the choices it lists
    and every name a command checks then include theirs."""
    from harness.core.plugins import load_installed, load_plugins

    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--plugin", action="append", default=[])
    known, _ = early.parse_known_args(argv)
    load_installed()
    load_plugins(known.plugin, None, "--plugin")


def _print_error(text: str) -> None:
    """Each problem on its own `error:` line; a plugin's traceback (indented lines after
    "traceback of ...") is printed as it is, so its file names and lines stay clickable."""
    console = Console(stderr=True, highlight=False)
    in_traceback = False
    for line in text.splitlines():
        in_traceback = in_traceback or line.startswith("traceback of the plugin")
        if in_traceback:
            console.print(escape(line), soft_wrap=True, style="dim" if line.startswith("traceback") else None)
        else:
            console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)


# -- validate / list ------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    failed: list[SuiteError] = []
    for path, checked in pipeline.validate(args.suites):
        if isinstance(checked, SuiteError):
            failed.append(checked)
        else:
            console.print(f"[green]ok[/] {path}: {len(checked.runs)} runs")
    if failed:
        raise HarnessError("\n".join(str(e) for e in failed), exit_code=2)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from harness.core.plugins import loaded_plugins
    from harness.core.trackers import TRACKERS
    from harness.metrics.features import FEATURES
    from harness.datasets import DATASETS
    from harness.datasets.fetch import data_root
    from harness.config.evaluation import EvaluationConfig
    from harness.metrics import METRICS
    from harness.models import MODELS
    from harness.config.search import SEARCH_KEYS, SEARCHED_KEY_HELP
    from harness.config.claims import Claim
    from harness.config.suite import SuiteInfo, TrainingConfig
    from harness.models.likelihoods import LIKELIHOODS
    from harness.models.objectives import OBJECTIVES

    console = Console(highlight=False)
    for name in MODELS:
        entry = MODELS.get(name)
        _describe_keys(console, f"model {name}: {entry.description} (options go in a [[run]] table or "
                       f"[defaults.{name}])", entry.options)
    _describe_keys(console, "[suite] keys", SuiteInfo)
    _describe_names(console, "[[run]] keys (one table per run; also any training key and its model's options)", {
        "name: str (required)": "the run's name; its ids are name[-matrix values]-s<seed>",
        "model: str (required)": f"a model family: {', '.join(MODELS)}",
        "matrix: table": "key = [values] for this run only, crossed with the suite's [matrix]",
        "search: table": "this run's own [search] (the keys below)"})
    _describe_names(console, "[matrix] keys (suite-wide, crossed into every run)", {
        "<key> = [values]": "any training key or model option; every combination becomes its own runs"})
    _describe_keys(console, "[[claim]] keys (one table per claim; judged with Welch's test over seeds)", Claim)
    _describe_keys(console, "training keys (every run; [defaults] or [[run]])", TrainingConfig)
    _describe_keys(console, "[evaluation] keys every metric shares", EvaluationConfig)
    for name in METRICS:
        if METRICS.get(name).Settings.model_fields:
            _describe_keys(console, f"[evaluation] keys of metric {name}", METRICS.get(name).Settings)
    title = "[search] keys (suite-wide, or [run.search] for one run; README: Model zoo)"
    console.print(f"[bold underline]{escape(title)}[/]")
    for key, (kind, meaning) in [*SEARCH_KEYS.items(), ("<key>", SEARCHED_KEY_HELP)]:
        console.print(_indented(f"[bold]{escape(key)}[/]: {escape(kind)}", 2))
        console.print(_indented(escape(meaning), 6))
    console.print()
    metrics = [[name, ", ".join(METRICS.get(name).column_names()),
                ", ".join(c.__name__ for c in METRICS.get(name).requires) or "sample"] for name in METRICS]
    show(console, Grid("metrics (`--metrics` of evaluate and leaderboard take a metric or a column)",
                       [Field("metric"), Field("columns", wraps=True), Field("needs", wraps=True)], metrics))
    datasets = []
    for name in DATASETS:
        spec = DATASETS.get(name)
        pinned = ", ".join(spec.evaluators) or f"none: {spec.train_evaluator_command()}"
        datasets.append([name, "x".join(map(str, spec.image_shape)),
                         f"{spec.split_sizes['train']:,} / {spec.split_sizes['test']:,}", escape(spec.description),
                         escape(pinned)])
    show(console, Grid(escape(f"datasets (looked up in {data_root()})"),
                       [Field("dataset"), Field("images"), Field("train / test"), Field("description", wraps=True),
                        Field("pinned evaluators", wraps=True)], datasets))
    _describe_names(console, "GAN objectives (objective = ...)", {n: _first_line(OBJECTIVES.get(n)) for n in OBJECTIVES})
    _describe_names(console, "VAE likelihoods (likelihood = ...)",
                    {n: _first_line(LIKELIHOODS.get(n)) for n in LIKELIHOODS})
    _describe_names(console, "feature spaces ([evaluation] features)",
                    {n: FEATURES.get(n).description for n in FEATURES})
    _describe_names(console, "trackers (--log-with, [suite] log_with)", {n: TRACKERS.get(n).description for n in TRACKERS})
    _describe_names(console, "strategies (--strategy, [suite] strategy)",
                    {n: STRATEGIES.get(n).description for n in STRATEGIES})
    _describe_names(console, "executors (--executor)", {n: EXECUTORS.get(n).description for n in EXECUTORS})
    _describe_names(console, "mixed precision (--mixed-precision, [suite] mixed_precision)",
                    {n: PRECISIONS.get(n) for n in PRECISIONS})
    plugins = {p.module: f"{p.source or p.spec} ({p.origin}), sha256 {(p.sha256 or 'unknown')[:12]}"
               for p in loaded_plugins()}
    _describe_names(console, "plugins loaded (--plugin, [suite] plugins, entry points harness.plugins)",
                    plugins or {"none": "docs/your-model.md shows how to add your own"})
    return 0


def _describe_names(console: Console, title: str, names: dict[str, str]) -> None:
    """A registry's names and what each means, one per line (what a suite or an option may say)."""
    console.print(f"[bold underline]{escape(title)}[/]")
    for name, meaning in names.items():
        console.print(_indented(f"[bold]{escape(name)}[/]: {escape(meaning)}", 2))
    console.print()


def _indented(markup: str, indent: int) -> Padding:
    """A line whose wrapped continuation lines keep its indent (a printed prefix would not)."""
    return Padding(markup, (0, 0, 0, indent), expand=False)


def _first_line(entry: Any) -> str:
    return (entry.__doc__ or "").strip().split("\n")[0] or entry.__name__


def _describe_keys(console: Console, title: str, config_class: Any) -> None:
    """Every key of a pydantic config as `key: type = default` and its meaning on the next line: a
    list rather than a table, so nothing is cut or squeezed at any terminal width."""
    console.print(f"[bold underline]{escape(title)}[/]")
    for key, info in config_class.model_fields.items():
        default = "(required)" if info.is_required() else f"= {escape(repr(_default(info)))}"
        console.print(_indented(f"[bold]{key}[/]: {escape(_type_name(info.annotation))} {default}", 2))
        console.print(_indented(escape(info.description or ""), 6))  # wrapped lines stay indented
    console.print()


def _default(info: Any) -> Any:
    return info.default_factory() if info.default_factory is not None else info.default


def _type_name(annotation: Any) -> str:
    """A short, readable type: Literal options spelled out, constraints left out."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(v) for v in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list[{_type_name(args[0])}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def cmd_leaderboard(args: argparse.Namespace) -> int:
    print_leaderboard(pipeline.leaderboard(args.results_dir, args.metrics, args.sort), args.format)
    return 0


def print_leaderboard(board: pipeline.Leaderboard, fmt: str = "table") -> None:
    if fmt == "table":
        console = Console(highlight=False)
        show(console, board.grid())
        for note in board.notes:
            console.print(f"[yellow]not comparable:[/] {escape(note)}", soft_wrap=not console.is_terminal)
    else:
        print(board.export(fmt))
    for plugin in board.missing_plugins:
        Console(stderr=True, highlight=False).print(
            f"note: plugin {escape(plugin)} (recorded by the suite) does not import here; its metrics' columns show "
            "by name (--plugin PATH gives its code)", soft_wrap=True)
    for problem in board.unreadable:
        Console(stderr=True, highlight=False).print(f"[red]unreadable:[/] {escape(problem)}", soft_wrap=True)


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.presentation.compare import comparison_grids

    comparison = pipeline.compare(args.results_dirs, args.metrics)
    if args.format == "csv":
        print(comparison.table.to_csv(index=False), end="")
        return 0
    console = Console(highlight=False)
    for grid in comparison_grids(comparison):
        show(console, grid)
    if not comparison.differing:
        console.print("[green]same settings[/]: sample counts, evaluators, configurations, precision, device and "
                      "library versions agree")
    if comparison.unmatched:
        console.print(f"not in every folder (left out): {escape(', '.join(comparison.unmatched))}", soft_wrap=True)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False)
    path = pipeline.write_report(args.results_dir, log=lambda line: console.print(f"  {escape(line)}"),
                                 output=args.output)
    console.print(f"report: {path} (and {path.with_suffix('.md')}, charts in {path.parent / 'charts'}/)")
    return 0


def cmd_train_evaluator(args: argparse.Namespace) -> int:
    from harness.datasets import load_dataset
    from harness.evaluation.evaluator import train_evaluator

    data = load_dataset(args.dataset, args.data_dir)
    prefix = "evaluator" if args.kind == "classifier" else "autoencoder"
    output = args.output or Path(f"{prefix}-{args.dataset}-v1.safetensors")
    console = Console(highlight=False)
    score, sha256 = train_evaluator(data, output, epochs=args.epochs, kind=args.kind, log=console.print)
    console.print(f"saved {output}: test score {score:.4f}, sha256 {sha256}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from harness.presentation.progress import evaluation_line, metric_text

    console = Console(stderr=True, highlight=False)

    def starting(run_id: str, metric: str, index: int, total: int) -> None:
        what = f"{metric} ({index + 1}/{total})" if index < total else "drawing figures"
        console.print(f"  [dim]{escape(run_id)}: {what}[/]")

    outcome = pipeline.evaluate_results(args.results_dir, data_dir=args.data_dir, only=args.only,
                                        num_samples=args.num_samples, metrics=args.metrics,
                                        on_run=lambda run: console.print(evaluation_line(run)), on_metric=starting)
    if outcome.writes_results and outcome.reference:
        console.print(f"real-data floor: {metric_text(outcome.reference.values)}")
    return outcome.exit_code


def cmd_score(args: argparse.Namespace) -> int:
    from harness.presentation.progress import metric_text

    console = Console(stderr=True, highlight=False)
    outcome = pipeline.score_samples(
        args.samples, args.dataset, args.name, args.results, data_dir=args.data_dir, value_range=args.value_range,
        num_samples=args.num_samples,
        on_metric=lambda name, index, total: console.print(f"  [dim]{escape(args.name)}: {escape(name)} "
                                                           f"({min(index + 1, total)}/{total})[/]"))
    read = outcome.read_as
    console.print(f"scored {escape(args.name)}: {read['images']:,} images ({read['layout']}, range {read['range']} "
                  f"{read['range_source']}): {escape(metric_text(outcome.metrics.values))}", soft_wrap=True)
    if outcome.reference:
        console.print(f"real-data floor: {escape(metric_text(outcome.reference.values))}", soft_wrap=True)
    for name in outcome.failed:
        console.print(f"[red]failed:[/] {escape(name)} (see {outcome.folder.run(args.name).metrics_file})")
    console.print(f"stored in {outcome.folder.dir}/{args.name}/  (leaderboard: python -m harness leaderboard "
                  f"{outcome.folder.dir})", soft_wrap=True)
    return 1 if outcome.failed else 0


# -- run ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    suite = pipeline.load(args.suite, mixed_precision=args.mixed_precision)
    if args.dry_run:
        if _is_main_process():
            console = Console(highlight=False)
            show(console, run_table(suite, suite.select(args.only)))
            if suite.later:
                metrics = sorted({run.selected_by for run in suite.later})
                seeds = sorted({run.seed for run in suite.later})
                console.print(f"then the best trial of each search (by {', '.join(metrics)}) trains with seed(s) "
                              f"{', '.join(map(str, seeds))}: {len(suite.search_groups()) * len(seeds)} more run(s) "
                              "once its trials are scored")
        return 0
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # log files: keep the tables readable
    if args.executor:
        return _submit(suite, args, console)
    if (note := pipeline.ignored_launcher_precision(suite)) and _is_main_process():
        console.print(note)
    outcome = pipeline.run_suite(suite, args.results, data_dir=args.data_dir, only=args.only, force=args.force,
                                 rerun=args.rerun, console=console, strategy=args.strategy, threads=args.threads,
                                 log_with=args.log_with)
    if outcome.writes_results:
        from harness.presentation.progress import summary_table

        show(console, summary_table(outcome.outcomes))
        if outcome.evaluated:
            print_leaderboard(pipeline.leaderboard(outcome.folder.dir))
        console.print(f"results: {outcome.folder.dir}/  (leaderboard: python -m harness leaderboard "
                      f"{outcome.folder.dir}; report: python -m harness report {outcome.folder.dir})",
                      soft_wrap=True)  # never folded: the commands are copied from here
    return outcome.exit_code


def _submit(suite: Suite, args: argparse.Namespace, console: Console) -> int:
    from harness.execution.executors import ClusterOptions

    options = ClusterOptions(partition=args.partition, gpus_per_run=args.gpus_per_run, cpus_per_run=args.cpus_per_run,
                             time_minutes=args.time, max_parallel=args.max_parallel, data_dir=args.data_dir,
                             log_with=args.log_with)
    waiting = args.wait or EXECUTORS.require(args.executor, "--executor").always_waits
    folder = args.results / suite.name

    def show_progress() -> None:
        _, states = pipeline.status(folder)
        counts = {s: sum(1 for x in states if x.state == s) for s in dict.fromkeys(x.state for x in states)}
        console.print("  " + ", ".join(f"{n} {s}" for s, n in counts.items()), end="\r" if console.is_terminal else "\n")

    submission = pipeline.submit_suite(suite, args.results, executor=args.executor, options=options, only=args.only,
                                       force=args.force, wait=waiting, on_poll=show_progress if waiting else None)
    for run_id, why in submission.already.items():
        console.print(f"[dim]not submitted[/] {run_id}: {why}")
    if submission.submitted:
        jobs = sorted(set(submission.submitted.values()))
        console.print(f"submitted {len(submission.submitted)} run(s) to {args.executor}: job(s) {', '.join(jobs)}")
    else:
        console.print("nothing to submit: every selected run is complete, running or queued")
    if not waiting:
        console.print(f"follow them with: python -m harness status {folder}")
        return 0
    return cmd_status(argparse.Namespace(results_dir=folder))


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 1 when any run failed, diverged, was interrupted or is unreadable, else 0 (the help says so)."""
    suite, states = pipeline.status(args.results_dir)
    styles = {"done": "green", "running": "cyan", "submitted": "blue", "pending": "dim"}
    rows = [[escape(state.id), f"[{styles.get(state.state, 'red')}]{state.state}[/]", escape(state.detail)]
            for state in states]
    console = Console(highlight=False)
    show(console, Grid(f"{suite.name}: {len(states)} runs", [Field("run"), Field("state"), Field("detail", wraps=True)],
                       rows))
    counts: dict[str, int] = {}
    for state in states:
        counts[state.state] = counts.get(state.state, 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()))
    return 1 if any(s.state in ("failed", "diverged", "interrupted", "unreadable") for s in states) else 0


def run_table(suite: Suite, runs: list[RunSpec]) -> Grid:
    """The dry run's table: every run with the options that differ from its model's defaults."""
    rows = []
    for run in runs:
        defaults = run.model_config.__class__()
        changed = {k: v for k, v in run.model_config.model_dump().items() if getattr(defaults, k) != v}
        options = " ".join(f"{k}={_compact(v)}" for k, v in changed.items()) or "-"
        rows.append([escape(run.id), run.model, str(run.seed), str(run.training.epochs), str(run.training.batch_size),
                     str(run.training.train_subset or "all"), escape(options), run.config_hash[:8]])
    fields = [Field("id"), Field("model"), Field("seed", "right"), Field("epochs", "right"), Field("batch", "right"),
              Field("images", "right"), Field("options (non-default)", wraps=True), Field("hash")]
    title = (f"{suite.name}: {len(runs)} runs on {suite.info.dataset} "
             f"(mixed precision: {suite.mixed_precision}, from {suite.mixed_precision_source})")
    return Grid(escape(title), fields, rows)


def _compact(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, list) else str(value)


if __name__ == "__main__":
    sys.exit(main())
