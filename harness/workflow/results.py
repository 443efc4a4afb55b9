"""Reading a results folder: the runs table, the leaderboard, the report."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.errors import HarnessError, choices_hint
from harness.store import SuiteFolder
from harness.workflow.evaluate import metric_columns
from harness.workflow.plan import recorded_plugins

if TYPE_CHECKING:
    import pandas as pd

    from matplotlib.figure import Figure

    from harness.analysis.compare import Comparison
    from harness.presentation.terminal import Grid


def load_results(results_dir: str | Path) -> "pd.DataFrame":
    """One row per run of a suite's results folder: configuration, status, timings, every metric."""
    from harness.analysis.aggregate import load_runs

    folder = SuiteFolder(Path(results_dir)).require()
    recorded_plugins(folder)
    return load_runs(folder)


@dataclass
class Leaderboard:
    title: str
    table: "pd.DataFrame"  # one row per configuration: mean, std, CI and n per metric
    metrics: list[str]
    notes: list[str] = field(default_factory=list)  # what makes some numbers not comparable
    unreadable: list[str] = field(default_factory=list)  # runs whose files could not be read, and why
    missing_plugins: list[str] = field(default_factory=list)  # recorded by the suite, not importable here

    def export(self, fmt: str) -> str:
        from harness.presentation.leaderboard import export

        return export(self.table, self.metrics, fmt)

    def grid(self) -> "Grid":
        from harness.presentation.leaderboard import grid

        return grid(self.table, self.metrics, self.title)

    def _repr_html_(self) -> str:
        """The table as a notebook cell shows it (Jupyter calls this), with the notes under it."""
        from html import escape

        notes = "".join(f"<p><b>not comparable:</b> {escape(note)}</p>" for note in self.notes)
        return f"<p><b>{escape(self.title)}</b></p>{self.export('html')}<p><small>mean ± 95% CI over seeds; " \
               f"n/a: does not apply</small></p>{notes}"


def leaderboard(results_dir: str | Path, metrics: list[str] | None = None, sort: str | None = None) -> Leaderboard:
    """The suite's configurations aggregated over seeds, best first by `sort` (default: FID when present)."""
    from harness.analysis.aggregate import aggregate, load_runs, result_columns, unreadable_runs
    from harness.analysis.comparability import comparability_notes, mark_mixed_settings
    from harness.metrics.columns import all_columns, leaderboard_columns, primary_column
    from harness.presentation.leaderboard import sort_frame

    folder = SuiteFolder(Path(results_dir)).require()
    missing = recorded_plugins(folder)
    runs = load_runs(folder)
    metrics = metric_columns(metrics) if metrics else None
    available = result_columns(runs)
    unknown = [m for m in (metrics or []) + ([sort] if sort else []) if m not in available and m not in all_columns()]
    if unknown:
        raise HarnessError("; ".join(f"unknown metric {name!r}{choices_hint(name, available)}"
                                     for name in unknown) + f" (in {folder.dir})", exit_code=2)
    chosen = [m for m in (metrics or leaderboard_columns()) if m in runs]
    table = mark_mixed_settings(aggregate(runs, chosen), runs)
    sort = sort or primary_column(chosen)
    table = sort_frame(table, sort if sort in table else None)
    return Leaderboard(f"{Path(results_dir).name}: {len(runs)} runs, {len(table)} configurations", table, chosen,
                       comparability_notes(runs), unreadable_runs(runs), missing)


def chart(results_dir: str | Path, metrics: list[str] | None = None) -> "Figure":
    """The key metrics of a results folder as a matplotlib figure (seeds, mean and 95% CI per
    configuration; the report's key-metrics chart), for a notebook cell or `fig.savefig`."""
    from harness.analysis.aggregate import aggregate
    from harness.metrics.columns import chart_columns
    from harness.presentation.charts import metrics_figure

    runs = load_results(results_dir)
    chosen = [m for m in (metric_columns(metrics) if metrics else chart_columns()) if m in runs]
    figure = metrics_figure(runs, aggregate(runs, chosen), chosen)
    if figure is None:
        raise HarnessError(f"{results_dir}: no scored run to chart (metrics: {', '.join(chosen) or 'none'})",
                           exit_code=2)
    figure.tight_layout()
    return figure


def compare(results_dirs: list[str | Path], metrics: list[str] | None = None) -> "Comparison":
    """The configurations several results folders share, side by side against the first (`harness compare`)."""
    from harness.analysis.compare import compare_results

    for results_dir in results_dirs:
        recorded_plugins(SuiteFolder(Path(results_dir)).require())
    return compare_results([Path(d) for d in results_dirs], metric_columns(metrics) if metrics else None)


def write_report(results_dir: str | Path, log: Callable[[str], None] = print, output: str | Path | None = None) -> Path:
    """report.md, a self-contained report.html and charts/*.png from the results store alone,
    written into the results folder or `output`."""
    from harness.presentation.report import build_report

    folder = SuiteFolder(Path(results_dir)).require()
    recorded_plugins(folder)
    return build_report(folder, log=log,
                        output=Path(output) if output is not None else None)
