"""`harness compare` in the terminal: per compared folder its metrics against the baseline's, then
the settings that differ (the numbers come from harness.analysis.compare)."""

import pandas as pd
from rich.markup import escape

from harness.analysis.compare import Comparison
from harness.metrics.columns import column
from harness.presentation.leaderboard import format_cell
from harness.presentation.terminal import Field, Grid


def comparison_grids(comparison: Comparison) -> list[Grid]:
    """Per compared folder, its metrics against the baseline's (configuration and metric repeated
    when split to fit), then the settings that differ, if any."""
    styles = {"better": "green", "worse": "red"}
    fields = [Field("configuration"), Field("metric"), Field("A", "right"), Field("B", "right"),
              Field("B − A (95% Welch CI)", "right"), Field("verdict", wraps=True)]
    grids = []
    for folder in comparison.folders[1:]:
        rows = []
        for _, row in comparison.table[comparison.table["folder"] == str(folder)].iterrows():
            metric, verdict = row["metric"], row["verdict"]
            difference = "" if pd.isna(row["difference"]) else _cell(metric, row["difference"], row["difference_ci"])
            rows.append([escape(row["configuration"]), escape(f"{column(metric).label} {column(metric).arrow}"),
                         _cell(metric, row["base_mean"], row["base_ci"]), _cell(metric, row["mean"], row["ci"]),
                         difference, f"[{styles[verdict]}]{verdict}[/]" if verdict in styles else escape(verdict)])
        grids.append(Grid(escape(f"A: {comparison.folders[0]}   B: {folder}"), fields, rows, keep=2,
                          caption="mean ± 95% CI over seeds; verdict: whether the interval of B − A excludes 0"))
    if comparison.differing:
        rows = [[escape(setting), *(escape(v) for v in values)] for setting, values in comparison.differing]
        grids.append(Grid("[yellow]settings that differ: numbers may differ for these reasons too[/]",
                          [Field("setting", wraps=True),
                           *(Field(chr(65 + i), wraps=True) for i in range(len(comparison.folders)))], rows))
    return grids


def _cell(metric: str, mean: object, interval: object) -> str:
    """`mean ± interval` at the metric's precision, as the leaderboard writes it."""
    return format_cell(pd.Series({metric: mean, f"{metric}_ci": interval}), metric)
