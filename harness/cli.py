"""Command line: `python -m harness {run,validate,list}` (also under `accelerate launch -m harness`)."""

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness import __version__, results
from harness.errors import HarnessError, SuiteError
from harness.suite import RunSpec, Suite, load_suite

DEFAULT_RESULTS = "results"


def _is_main_process() -> bool:
    """Before an Accelerator exists: only rank 0 of a launch talks to the user."""
    return int(os.environ.get("RANK", "0")) == 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Train GANs and VAEs from declarative TOML suites and compare them with measured numbers.",
        epilog="Several processes or GPUs: accelerate launch [--num_processes N] -m harness run SUITE",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
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
    run.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], help="override the suite's mixed precision")
    run.add_argument("--force", action="store_true", help="retrain runs that already have results")
    run.set_defaults(handler=cmd_run)

    validate = commands.add_parser(
        "validate",
        help="check suite files without training",
        description="Run exactly the checks of `run` on each SUITE and report every problem (exit 2 if any).",
    )
    validate.add_argument("suites", type=Path, nargs="+", metavar="SUITE")
    validate.set_defaults(handler=cmd_validate)

    evaluate = commands.add_parser(
        "evaluate",
        help="(re-)evaluate finished runs without retraining",
        description="Score the completed runs in RESULTS_DIR (a suite's results folder, e.g. results/quickstart) "
        "from their saved weights, with the suite's [evaluation] settings unless overridden here.",
    )
    evaluate.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    evaluate.add_argument("--only", nargs="+", metavar="NAME", help="evaluate only runs whose name or id matches (globs allowed)")
    evaluate.add_argument("--data-dir", type=Path, help="dataset root (as for `run`)")
    evaluate.add_argument("--num-samples", type=int, help="generated samples and test images for FID/KID/PR")
    evaluate.add_argument("--metrics", nargs="+", metavar="METRIC", help="metrics to compute (default: the suite's)")
    evaluate.set_defaults(handler=cmd_evaluate)

    board = commands.add_parser(
        "leaderboard",
        help="seed-aggregated table of a suite's results",
        description="Aggregate RESULTS_DIR (a suite's results folder) over seeds and print one row per configuration: "
        "mean ± 95% CI per metric, the best value of each column in bold, n/a where a metric does not apply.",
    )
    board.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    board.add_argument("--sort", metavar="METRIC", help="best first by this metric (default: fid when present)")
    board.add_argument("--metrics", nargs="+", metavar="METRIC", help="columns to show (default: the key metrics)")
    board.add_argument("--format", choices=["table", "md", "csv", "latex", "json"], default="table",
                       help="table (terminal) or an export format printed to stdout")
    board.set_defaults(handler=cmd_leaderboard)

    report = commands.add_parser(
        "report", help="write report.md, a self-contained report.html and charts/*.png",
        description="Charts, sample figures, the leaderboard and the suite's claims for RESULTS_DIR.")
    report.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    report.add_argument("--data-dir", type=Path, help="dataset root (for the reconstruction figure)")
    report.set_defaults(handler=cmd_report)

    evaluator = commands.add_parser("evaluator", help="train the pinned evaluator network (maintainers)",
                                    description="Manage the CNN whose features FID/KID/PR use.")
    evaluator_commands = evaluator.add_subparsers(dest="evaluator_command", required=True, metavar="ACTION")
    train_evaluator = evaluator_commands.add_parser(
        "train", help="train the evaluator deterministically and print its accuracy and sha256",
        description="Train the evaluator CNN on DATASET's training split (seeded, deterministic) and save it. "
        "To pin it, put the file in harness/assets/ and its sha256 in harness/evaluation/evaluator.py.")
    train_evaluator.add_argument("--dataset", required=True)
    train_evaluator.add_argument("--data-dir", type=Path)
    train_evaluator.add_argument("--epochs", type=int, default=4)
    train_evaluator.add_argument("--output", type=Path, help="default: ./evaluator-<dataset>-v1.safetensors")
    train_evaluator.set_defaults(handler=cmd_train_evaluator)

    listing = commands.add_parser("list", help="known models, their options, and datasets",
                                  description="List registered model families with every option and default, and datasets.")
    listing.set_defaults(handler=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except HarnessError as err:
        if _is_main_process():
            console = Console(stderr=True, highlight=False)
            for line in str(err).splitlines():
                console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
        return err.exit_code


# -- validate / list ------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    failed: list[SuiteError] = []
    for path in args.suites:
        try:
            suite = load_suite(path)
        except SuiteError as err:
            failed.append(err)
            continue
        console.print(f"[green]ok[/] {path}: {len(suite.runs)} runs")
    if failed:
        raise HarnessError("\n".join(str(e) for e in failed), exit_code=2)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from harness.datasets import DATASETS
    from harness.datasets.fetch import data_root
    from harness.evaluation.config import EvaluationConfig
    from harness.metrics import METRICS
    from harness.models import MODELS
    from harness.suite import TrainingConfig

    console = Console()
    table = _table("models (options go in a [[run]] table or [defaults.<model>])", "model", "option", "type", "default")
    for name in MODELS:
        family = MODELS.get(name)
        table.add_row(f"[bold]{name}[/]", "", "", family.description, end_section=False)
        for option, info in family.config_class.model_fields.items():
            table.add_row("", option, escape(_type_name(info.annotation)), escape(repr(info.default)))
        table.add_section()
    console.print(table)
    console.print(_keys_table("training keys (every run; [defaults] or [[run]])", TrainingConfig))
    console.print(_keys_table("[evaluation] keys (suite-wide)", EvaluationConfig))

    metrics = _table("metrics", "metric", "columns", "needs")
    for name in METRICS:
        metric = METRICS.get(name)
        metrics.add_row(name, ", ".join(metric.columns), ", ".join(c.__name__ for c in metric.requires) or "sample")
    console.print(metrics)

    datasets = _table(f"datasets (looked up in {data_root()})", "dataset", "images", "train / test", "description")
    for name in DATASETS:
        spec = DATASETS.get(name)
        datasets.add_row(name, "x".join(map(str, spec.image_shape)),
                         f"{spec.split_sizes['train']:,} / {spec.split_sizes['test']:,}", spec.description)
    console.print(datasets)
    return 0


def _table(title: str, *columns: str) -> Table:
    table = Table(title=escape(title), title_justify="left")
    for column in columns:
        table.add_column(column)
    return table


def _keys_table(title: str, config_class: Any) -> Table:
    """Every field of a pydantic config: key, type, default and its description."""
    table = _table(title, "key", "type", "default", "meaning")
    for key, info in config_class.model_fields.items():
        table.add_row(key, escape(_type_name(info.annotation)), escape(repr(info.default)), info.description or "")
    return table


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


def _require_results(results_dir: Path) -> None:
    if not (results_dir / "suite.toml").exists():
        raise HarnessError(f"{results_dir}: no suite.toml here; pass a suite's results folder "
                           "such as results/quickstart (made by `harness run`)", exit_code=2)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    _require_results(args.results_dir)
    print_leaderboard(args.results_dir, args.metrics, args.sort, args.format)
    return 0


def print_leaderboard(results_dir: Path, metrics: list[str] | None = None, sort: str | None = None,
                      fmt: str = "table") -> None:
    from harness.aggregate import aggregate, load_runs
    from harness.columns import COLUMNS, KEY_METRICS
    from harness.leaderboard import export, rich_table, sort_frame

    runs = load_runs(results_dir)
    unknown = [m for m in (metrics or []) + ([sort] if sort else []) if m not in COLUMNS]
    if unknown:
        raise HarnessError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}", exit_code=2)
    metrics = [m for m in (metrics or KEY_METRICS) if m in runs]
    agg = aggregate(runs, metrics)
    sort = sort or ("fid" if "fid" in metrics else None)
    agg = sort_frame(agg, sort if sort in agg else None)
    if fmt == "table":
        console = Console(highlight=False)
        if not console.is_terminal:
            console.width = max(console.width, 160)
        console.print(rich_table(agg, metrics, f"{results_dir.name}: {len(runs)} runs, {len(agg)} configurations"))
    else:
        print(export(agg, metrics, fmt))


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import build_report

    _require_results(args.results_dir)
    console = Console(stderr=True, highlight=False)
    path = build_report(args.results_dir, args.data_dir, log=lambda line: console.print(f"  {line}"))
    console.print(f"report: {path} (and {path.with_suffix('.md')}, charts in {path.parent / 'charts'}/)")
    return 0


def cmd_train_evaluator(args: argparse.Namespace) -> int:
    from harness.datasets import load_dataset
    from harness.evaluation.evaluator import train_evaluator

    data = load_dataset(args.dataset, args.data_dir)
    output = args.output or Path(f"evaluator-{args.dataset}-v1.safetensors")
    console = Console(highlight=False)
    accuracy, sha256 = train_evaluator(data, output, epochs=args.epochs, log=console.print)
    console.print(f"saved {output}: test accuracy {accuracy:.4f}, sha256 {sha256}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    _require_results(args.results_dir)
    suite = load_suite(args.results_dir / "suite.toml")
    overrides = {k: v for k, v in (("num_samples", args.num_samples), ("metrics", args.metrics)) if v is not None}
    try:
        config = suite.evaluation.model_validate({**suite.evaluation.model_dump(), **overrides, "enabled": True})
    except ValueError as err:
        raise HarnessError(f"evaluation options: {err}", exit_code=2) from None
    runs = suite.select(args.only)
    finished = [r for r in runs if _status(args.results_dir / r.id) == results.STATUS_COMPLETED]
    missing = [r.id for r in finished if not (args.results_dir / r.id / "weights.safetensors").exists()]
    if missing:
        raise HarnessError(f"{args.results_dir}: no weights.safetensors for {', '.join(missing)} (reference results "
                           "are committed without weights); retrain them with `harness run` to re-evaluate", exit_code=2)
    if not finished:
        raise HarnessError(f"{args.results_dir}: no completed runs to evaluate", exit_code=2)

    from accelerate import Accelerator

    from harness.datasets import load_dataset
    from harness.evaluation.runner import evaluate_reference, evaluate_run
    from harness.evaluation.session import EvaluationSession

    accelerator = Accelerator()
    session = EvaluationSession(config, load_dataset(suite.info.dataset, args.data_dir), accelerator)
    console = Console(stderr=True, highlight=False)
    main_process = accelerator.is_main_process
    reference = evaluate_reference(args.results_dir, session)
    if main_process and reference:
        console.print(f"real-data floor: {_metric_text(reference['values'])}")
    any_failed = False
    for run in finished:
        row, failed = evaluate_run(args.results_dir / run.id, session)
        any_failed = any_failed or bool(failed)
        if main_process:
            console.print(f"[green]evaluated[/] {run.id} in {row['evaluation_seconds']:.1f}s: {_metric_text(row)}"
                          + (f" [red]failed: {', '.join(failed)}[/] (see metrics.json)" if failed else ""))
    return 1 if any_failed else 0


def _status(run_dir: Path) -> str | None:
    try:
        return results.read_json(run_dir / "run.json").get("status")
    except (OSError, ValueError):
        return None


def _metric_text(values: dict[str, Any]) -> str:
    shown = ("fid", "kid_mean", "precision", "recall", "classes_covered", "reconstruction_mse", "elbo", "iwae")
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items() if k in shown)


# -- run ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite, mixed_precision=args.mixed_precision)
    runs = suite.select(args.only)
    if args.dry_run:
        if _is_main_process():
            Console().print(run_table(suite, runs))
        return 0

    suite_dir = args.results / suite.name
    to_train, skipped = _plan(runs, suite_dir, force=args.force)

    # Heavy imports only once we know there is work (keeps `validate` and `--help` fast).
    from accelerate import Accelerator

    from harness.datasets import load_dataset
    from harness.progress import TrainingProgress, summary_table
    from harness.trainer import train_run

    dataset = load_dataset(suite.info.dataset, args.data_dir)
    accelerator = Accelerator(mixed_precision=suite.info.mixed_precision)
    for run in to_train:
        if run.training.batch_size % accelerator.num_processes:
            raise HarnessError(
                f"{args.suite}: run {run.id}: batch_size {run.training.batch_size} is not divisible by "
                f"{accelerator.num_processes} processes; batch_size is the global batch, split across processes",
                exit_code=2,
            )
    if accelerator.is_main_process:
        suite_dir.mkdir(parents=True, exist_ok=True)
        results.write_text(suite_dir / "suite.toml", suite.path.read_text(encoding="utf-8"))
        results.write_json(suite_dir / "suite.json", {
            "suite": suite.info.model_dump(),
            "source": str(suite.path),
            "runs": [{"id": r.id, "name": r.name, "config_hash": r.config_hash} for r in suite.runs],
        })

    records = [{**results.read_json(suite_dir / r.id / "run.json"), "status": "skipped"} for r in skipped]
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # log files: keep the tables readable
    evaluation = _Evaluation(suite, dataset, accelerator, suite_dir)
    with TrainingProgress(accelerator.is_main_process, len(to_train), console) as progress:
        if skipped:
            progress.print(f"{len(skipped)} run(s) already complete with the same configuration: skipped (--force retrains)")
        for run in skipped:  # trained earlier but never scored (e.g. stopped during evaluation)
            if suite.evaluation.enabled and not (suite_dir / run.id / "metrics_row.json").exists():
                row, _ = evaluation.evaluate(run)
                progress.print(f"  evaluated {run.id} (trained earlier) in {row['evaluation_seconds']:.1f}s: {_metric_text(row)}")
        for run in to_train:
            record = train_run(run, suite.name, dataset, accelerator, suite_dir, progress)
            records.append(record)
            progress.finish_run(_one_line(record))
            if record["status"] == results.STATUS_COMPLETED and suite.evaluation.enabled:
                row, failed = evaluation.evaluate(run)
                progress.print(f"  evaluated in {row['evaluation_seconds']:.1f}s: {_metric_text(row)}"
                               + (f" [red]failed metrics: {', '.join(failed)}[/] (see metrics.json)" if failed else ""))
                if failed:
                    record["status"] = "evaluation failed"
    if accelerator.is_main_process:
        console.print(summary_table(records))
        if suite.evaluation.enabled:
            print_leaderboard(suite_dir)
        console.print(f"results: {suite_dir}/  (leaderboard: python -m harness leaderboard {suite_dir}; "
                      f"report: python -m harness report {suite_dir})")
    failed = [r for r in records if r["status"] not in (results.STATUS_COMPLETED, "skipped")]
    return 1 if failed else 0


class _Evaluation:
    """Evaluates runs right after training; the session (evaluator, test features) is built once."""

    def __init__(self, suite: Suite, dataset: Any, accelerator: Any, suite_dir: Path) -> None:
        self.suite, self.dataset, self.accelerator, self.suite_dir = suite, dataset, accelerator, suite_dir
        self.session = None

    def evaluate(self, run: RunSpec) -> tuple[dict[str, Any], list[str]]:
        from harness.evaluation.runner import evaluate_reference, evaluate_run
        from harness.evaluation.session import EvaluationSession

        if self.session is None:
            self.session = EvaluationSession(self.suite.evaluation, self.dataset, self.accelerator)
            evaluate_reference(self.suite_dir, self.session)
        return evaluate_run(self.suite_dir / run.id, self.session)


def _plan(runs: list[RunSpec], suite_dir: Path, force: bool) -> tuple[list[RunSpec], list[RunSpec]]:
    """Split runs into (to train, already complete); refuse to overwrite a different configuration."""
    to_train, skipped, conflicts = [], [], []
    for run in runs:
        record_path = suite_dir / run.id / "run.json"
        if force or not record_path.exists():
            to_train.append(run)
            continue
        try:
            record = results.read_json(record_path)
        except ValueError:
            to_train.append(run)  # unreadable record: the run never finished
            continue
        if record.get("config_hash") != run.config_hash:
            conflicts.append(f"{record_path.parent}: trained with another configuration "
                             f"(hash {record.get('config_hash')}, suite now gives {run.config_hash})")
        elif record.get("status") == results.STATUS_COMPLETED:
            skipped.append(run)
        else:
            to_train.append(run)
    if conflicts:
        raise HarnessError("\n".join(conflicts) + "\nuse --force to retrain them, or --results DIR to keep both",
                           exit_code=2)
    return to_train, skipped


def _one_line(record: dict[str, Any]) -> str:
    if record["status"] != results.STATUS_COMPLETED:
        return f"[red]{record['status']}[/] {record['id']}: {record.get('error', '')}"
    losses = " ".join(f"{k} {v:.4g}" for k, v in record["final_losses"].items())
    return (f"[green]done[/] {record['id']}: {record['epochs_completed']} epochs in {record['train_seconds']:.1f}s "
            f"({record['images_per_second']:,.0f} img/s), {losses}")


def run_table(suite: Suite, runs: list[RunSpec]) -> Table:
    table = Table(title=f"{suite.name}: {len(runs)} runs on {suite.info.dataset} "
                        f"(mixed precision: {suite.info.mixed_precision})", title_justify="left")
    table.add_column("id", no_wrap=True)
    for column in ("model", "seed", "epochs", "batch", "images", "options (non-default)"):
        table.add_column(column)
    table.add_column("hash", no_wrap=True)
    for run in runs:
        defaults = run.model_config.__class__()
        changed = {k: v for k, v in run.model_config.model_dump().items() if getattr(defaults, k) != v}
        options = " ".join(f"{k}={_compact(v)}" for k, v in changed.items()) or "-"
        table.add_row(run.id, run.model, str(run.seed), str(run.training.epochs), str(run.training.batch_size),
                      str(run.training.train_subset or "all"), options, run.config_hash[:8])
    return table


def _compact(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, list) else str(value)


if __name__ == "__main__":
    sys.exit(main())
