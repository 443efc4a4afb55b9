"""The leaderboard: aggregated configurations as a rich table, or exported through pandas."""

import json
import math
from typing import Any

import pandas as pd
from rich.markup import escape

from harness.core.columns import INTERVAL_KIND, NOT_APPLICABLE, Column
from harness.analysis.comparability import MARK_COLUMN
from harness.metrics.columns import column
from harness.presentation.terminal import Field, Grid

FORMATS = ("md", "csv", "latex", "json", "html")
MISSING = "–"  # no completed run gave a value (see the status column)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))


def format_cell(row: pd.Series, metric: str) -> str:
    """`mean ± CI` at the column's precision; no interval for one seed; n/a when it does not apply."""
    mean = row[metric]
    if mean == NOT_APPLICABLE:
        return NOT_APPLICABLE
    if not _is_number(mean):
        return MISSING
    declared = column(metric)
    text = number_text(mean, declared)
    ci = row.get(f"{metric}_ci")
    if not _is_number(ci) or (declared.better is None and ci == 0):  # one seed, or a size that never varies
        return text
    return f"{text} ± {number_text(ci, declared, interval=True)}"


def number_text(value: float, column: Column, interval: bool = False) -> str:
    """The column's significant digits (2 for an interval), never an exponent for large numbers:
    1730.2 s at 3 digits is `1,730`, not `1.73e+03`."""
    if column.name == "parameters" and not interval:
        return f"{value:,.0f}"
    digits = 2 if interval else column.digits
    magnitude = math.floor(math.log10(abs(value))) if value != 0 and math.isfinite(value) else 0
    if magnitude >= digits - 1:
        return f"{round(value, digits - 1 - magnitude):,.0f}"
    return f"{value:.{digits}g}"


def best_configurations(agg: pd.DataFrame, metric: str) -> set[str]:
    """Configurations holding the best mean of `metric` among those scored alike (none for columns
    without a direction)."""
    better = column(metric).better
    if MARK_COLUMN in agg:
        agg = agg[agg[MARK_COLUMN] == ""]
    numbers = pd.to_numeric(agg[metric].where(agg[metric] != NOT_APPLICABLE), errors="coerce")
    if better is None or numbers.isna().all():
        return set()
    best = numbers.min() if better == "lower" else numbers.max()
    return set(agg.loc[numbers == best, "configuration"])


def sort_frame(agg: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    """Best first by `metric`; configurations without a number for it go last."""
    if metric is None:
        return agg
    if metric not in agg:
        raise ValueError(f"cannot sort by {metric!r}: no such column here")
    numbers = pd.to_numeric(agg[metric].where(agg[metric] != NOT_APPLICABLE), errors="coerce")
    ascending = column(metric).better != "higher"
    order = numbers.sort_values(ascending=ascending, na_position="last", kind="stable").index
    return agg.loc[order].reset_index(drop=True)


def text_frame(agg: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Display strings: configuration, seeds, status, then `mean ± CI` per metric."""
    table = pd.DataFrame({
        "configuration": agg["configuration"],
        "seeds": agg["seeds"].astype(str),
        "status": [_status(row) + (f"; {row[MARK_COLUMN]}" if row.get(MARK_COLUMN) else "")
                   for _, row in agg.iterrows()],
    })
    for metric in metrics:
        declared = column(metric)
        table[f"{declared.title} {declared.arrow}".strip()] = [format_cell(row, metric) for _, row in agg.iterrows()]
    return table


def _status(row: pd.Series) -> str:
    """'ok', or how many seeds did not complete and why: '1 of 3 diverged', '2 of 3: failed 1, unreadable 1'."""
    if row["failed"] == 0:
        return "ok"
    kinds = [part.split(": ") for part in str(row["statuses"]).split(", ") if not part.startswith("completed:")]
    if len(kinds) == 1:
        return f"{row['failed']} of {row['seeds']} {kinds[0][0]}"
    return f"{row['failed']} of {row['seeds']}: " + ", ".join(f"{kind} {count}" for kind, count in kinds)


def grid(agg: pd.DataFrame, metrics: list[str], title: str) -> Grid:
    """The terminal leaderboard: configuration first (repeated when the table is split to fit), best in bold."""
    texts = text_frame(agg, metrics)
    fields = [Field(name, justify="left" if name in ("configuration", "status") else "right", wraps=name == "status")
              for name in texts.columns]
    best = {metric: best_configurations(agg, metric) for metric in metrics}
    rows = []
    for i, row in texts.iterrows():
        configuration = agg["configuration"].iloc[i]
        cells = [escape(row["configuration"]), row["seeds"],
                 row["status"] if row["status"] == "ok" else f"[red]{escape(row['status'])}[/]"]
        for metric, name in zip(metrics, texts.columns[3:]):
            cell = row[name]
            cells.append(f"[bold green]{cell}[/]" if configuration in best[metric] else cell)
        rows.append(cells)
    caption = (f"mean ± {INTERVAL_KIND}; ↓ lower / ↑ higher is better; bold: best; n/a: does not apply; "
               f"{MISSING}: no completed run")
    return Grid(title, fields, rows, keep=1, caption=caption)


def export(agg: pd.DataFrame, metrics: list[str], fmt: str) -> str:
    """md/latex: the display strings; csv/json: the numbers (mean, std, CI, n per metric)."""
    if fmt == "md":
        return text_frame(agg, metrics).to_markdown(index=False)
    if fmt == "html":
        return text_frame(agg, metrics).to_html(index=False, escape=True, border=0)
    if fmt == "latex":
        latex = text_frame(agg, metrics).to_latex(index=False, escape=True)
        return latex.replace("↓", r"$\downarrow$").replace("↑", r"$\uparrow$").replace("±", r"$\pm$")
    numeric = agg[["configuration", "model", "seeds", "completed", "failed", "statuses"]
                  + ([MARK_COLUMN] if MARK_COLUMN in agg else [])
                  + [f"{m}{suffix}" for m in metrics for suffix in ("", "_std", "_ci", "_n")]].copy()
    # Numbers only in the numeric columns: a metric that does not apply is empty (csv) / null (json),
    # and named in `not_applicable`.
    numeric.insert(6, "not_applicable", [" ".join(m for m in metrics if row[m] == NOT_APPLICABLE)
                                         for _, row in agg.iterrows()])
    for name in [f"{m}{suffix}" for m in metrics for suffix in ("", "_std", "_ci")]:
        numeric[name] = pd.to_numeric(numeric[name].where(numeric[name] != NOT_APPLICABLE), errors="coerce")
    if fmt == "csv":
        return numeric.to_csv(index=False)
    if fmt == "json":
        records = json.loads(numeric.to_json(orient="records"))
        return json.dumps({"interval": INTERVAL_KIND, "configurations": records}, indent=2)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
