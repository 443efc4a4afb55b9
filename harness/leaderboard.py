"""The leaderboard: aggregated configurations as a rich table, or exported through pandas."""

import json
import math
from typing import Any

import pandas as pd
from rich.markup import escape

from harness.columns import INTERVAL_KIND, NOT_APPLICABLE, Column, column
from harness.terminal import Field, Grid

FORMATS = ("md", "csv", "latex", "json")
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
    text = _number(mean, declared)
    ci = row.get(f"{metric}_ci")
    return f"{text} ± {_number(ci, declared, interval=True)}" if _is_number(ci) else text


def _number(value: float, column: Column, interval: bool = False) -> str:
    if column.name == "parameters" and not interval:
        return f"{value:,.0f}"
    digits = 2 if interval else column.digits
    return f"{value:.{digits}g}"


def best_configurations(agg: pd.DataFrame, metric: str) -> set[str]:
    """Configurations holding the best mean of `metric` (none for columns without a direction)."""
    better = column(metric).better
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
        "status": [_status(row) for _, row in agg.iterrows()],
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
    fields = [Field(name, justify="left" if name in ("configuration", "status") else "right") for name in texts.columns]
    best = {metric: best_configurations(agg, metric) for metric in metrics}
    rows = []
    for i, row in texts.iterrows():
        configuration = agg["configuration"].iloc[i]
        cells = [escape(row["configuration"]), row["seeds"],
                 row["status"] if row["status"] == "ok" else f"[red]{row['status']}[/]"]
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
    if fmt == "latex":
        latex = text_frame(agg, metrics).to_latex(index=False, escape=True)
        return latex.replace("↓", r"$\downarrow$").replace("↑", r"$\uparrow$").replace("±", r"$\pm$")
    numeric = agg[["configuration", "model", "seeds", "completed", "failed", "statuses"]
                  + [f"{m}{suffix}" for m in metrics for suffix in ("", "_std", "_ci", "_n")]]
    if fmt == "csv":
        return numeric.to_csv(index=False)
    if fmt == "json":
        records = json.loads(numeric.to_json(orient="records"))
        return json.dumps({"interval": INTERVAL_KIND, "configurations": records}, indent=2)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def comparability_notes(runs: "pd.DataFrame") -> list[str]:
    """Warnings for numbers that sit side by side but were measured differently."""
    notes = []
    if "fid_samples" in runs:
        sizes = sorted({int(n) for n in runs["fid_samples"].dropna() if isinstance(n, (int, float))})
        if len(sizes) > 1:
            notes.append(f"FID and KID were computed at different sample sizes (N = {', '.join(map(str, sizes))}): "
                         "numbers at different N are not comparable; FID∞ is. Re-evaluate with one "
                         "`harness evaluate --num-samples N`.")
    if "likelihood_model" in runs:
        models = sorted({m for m in runs["likelihood_model"].dropna() if m != NOT_APPLICABLE})
        if len(models) > 1:
            notes.append(f"ELBO/IWAE come from different likelihood models ({', '.join(models)}): their nats are "
                         "densities of different data and not comparable; AIS log-likelihoods are.")
    return notes
