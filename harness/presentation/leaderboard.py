"""The leaderboard: aggregated configurations as a rich table, or exported through pandas."""

import json
import math
from typing import Any

import pandas as pd
from rich.markup import escape

from harness.core.columns import INTERVAL_KIND, NOT_APPLICABLE, Column, column
from harness.store import STATUS_COMPLETED
from harness.presentation.terminal import Field, Grid

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


# Settings that change what a number means. A configuration scored under another value than the
# suite's most common one is marked in its status and is not ranked (no "best") against the rest.
SCORING_SETTINGS = {"fid_samples": "samples", "evaluator_sha256": "evaluator", "autoencoder_sha256": "autoencoder",
                    "likelihood_model": "likelihood model"}
MARK_COLUMN = "scored_differently"


def mark_mixed_settings(agg: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """`agg` with a MARK_COLUMN: '' or e.g. 'scored with samples 1000 (others: 5000)'."""
    completed = runs[runs["status"] == STATUS_COMPLETED]
    marks: dict[str, list[str]] = {}
    for setting, label in SCORING_SETTINGS.items():
        if setting not in completed:
            continue
        values = completed[setting].dropna()
        values = values[values != NOT_APPLICABLE].map(setting_text)
        if values.nunique() <= 1:
            continue
        counts = values.value_counts()
        # The most common value is the reference; with a tie there is none and every side is marked.
        common = {counts.index[0]} if counts.iloc[0] > counts.iloc[1] else set()
        for configuration, group in values.groupby(completed.loc[values.index, "configuration"]):
            own = sorted(set(group) - common)
            if own:
                others = ", ".join(sorted(set(values) - set(group))) or ", ".join(sorted(common))
                marks.setdefault(str(configuration), []).append(f"{label} {', '.join(own)} (others: {others})")
    return agg.assign(**{MARK_COLUMN: [("scored with " + "; ".join(marks[c])) if c in marks else ""
                                       for c in agg["configuration"]]})


def setting_text(value: Any) -> str:
    """A setting's value as shown: whole floats as integers, a sha256 as its first 8 hex digits."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text[:8] if len(text) == 64 else text  # a sha256: its first 8 hex digits


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
