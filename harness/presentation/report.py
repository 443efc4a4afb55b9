"""The report: what was run, the leaderboard, charts, sample figures and the suite's claims,
as `report.md` (charts beside it in charts/) and a self-contained `report.html` (images
embedded, no external file, readable on a phone)."""

import base64
import html
import platform
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import budget

from harness.presentation import charts
from harness.analysis.aggregate import aggregate, first_readable, load_runs, unreadable_runs
from harness.analysis.claims import MIN_SEEDS, judge_all
from harness.core.columns import INTERVAL_KIND
from harness.metrics.columns import chart_columns, column, leaderboard_columns, primary_column
from harness.store.images import image_grid
from harness.presentation.leaderboard import export, number_text, sort_frame
from harness.analysis.comparability import comparability_notes
from harness.analysis.comparability import mark_mixed_settings
from harness.store import ResultsFileError, RunFolder, SuiteFolder, write_text
from harness.analysis.suite_record import suite_record
from harness.config.claims import Claim


def build_report(suite_folder: SuiteFolder, log=print, output: Path | None = None) -> Path:
    """Write report.md, report.html and charts/*.png into the suite's folder (or `output`); return
    the HTML path.

    Everything comes from the results store: no weights and no dataset are needed, and with
    `output` elsewhere nothing is written into the results folder (it may be read-only).
    """
    out = SuiteFolder(output) if output is not None else suite_folder
    suite = suite_record(suite_folder)
    runs = load_runs(suite_folder)
    agg = sort_frame(mark_mixed_settings(aggregate(runs), runs), primary_column(runs.columns))
    figures: list[tuple[str, str, Path]] = []  # (section, caption, path)
    unreadable = unreadable_runs(runs)  # files that could not be read: named in the log and the report

    def skip(problem: str) -> None:
        unreadable.append(problem)
        log(f"unreadable, left out: {problem}")

    for problem in unreadable:
        log(f"unreadable, left out: {problem}")

    def add(section: str, caption: str, path: Path | None) -> None:
        if path is not None:
            figures.append((section, caption, path))
            log(f"chart {path.name}")

    # A search with `select`: the per-configuration views show each family's chosen trial (with
    # its seeds); every trial stays in leaderboard.md/csv, the search budget and the cost chart.
    chosen = _chosen_configurations(suite, suite_folder)
    shown = runs[runs["configuration"].isin(chosen) | runs["trial"].isna()] if chosen else runs
    shown_agg = agg[agg["configuration"].isin(set(shown["configuration"]))].reset_index(drop=True)
    add("Samples", "8x8 samples of each configuration from the same latent batch",
        charts.sample_grids(suite_folder, shown, out.chart("samples"), skip))
    for section, caption, path in _model_figures(suite, suite_folder, out, shown, skip):
        add(section, caption, path)
    add("Key metrics", "every seed (dots), the mean and its interval (black); one panel per metric",
        charts.metrics_overview(shown, shown_agg, [m for m in chart_columns() if m in runs], out.chart("key_metrics")))
    budget_metric = budget.budget_metric(runs)  # None: no run of this suite was searched
    budget_table = budget.budget_table(runs, budget_metric) if budget_metric else None
    if budget_metric:
        add("Search budget", f"{column(budget_metric).label}: best score after k configurations of each searched "
            "family, over orders of the trials (Lucic et al. 2018)",
            charts.search_budget(runs, budget_metric, budget_table, out.chart("search_budget")))
    add("Training", "losses per epoch (line: mean over seeds, band: range)",
        charts.training_curves(suite_folder, shown, out.chart("training_curves"), skip))
    add("Training", "the same 16 latents decoded during training (`sample_every`), first seed of each configuration",
        charts.progress_strip(suite_folder, shown, out.chart("training_progress"), skip))
    add("Cost", "FID against training time and parameters, one point per run",
        charts.quality_against_cost(runs, out.chart("quality_vs_cost")))

    context = _context(suite, suite_folder, runs, skip)
    context["unreadable"] = unreadable
    context["budget"] = _budget_rows(budget_table, budget_metric) if budget_metric else None
    context["chosen"] = _chosen_note(suite, agg, shown_agg) if chosen else None
    # as recorded: judged as the suite said them, not re-validated against today's metrics
    claims = judge_all([Claim.model_construct(**claim) for claim in suite.claims], runs)
    metrics = [m for m in leaderboard_columns() if m in agg]
    leaderboard_md = export(agg, metrics, "md")
    how_to_read = _how_to_read(context, shown_agg, metrics)
    markdown = _markdown(context, export(shown_agg, metrics, "md"), claims, figures, out.dir, how_to_read)
    write_text(out.report_md, markdown)
    write_text(out.leaderboard_md, leaderboard_md + "\n")
    write_text(out.leaderboard_csv, export(agg, metrics, "csv"))
    write_text(out.report_html, _html(context, shown_agg, metrics, claims, figures, how_to_read))
    return out.report_html


def _chosen_configurations(suite: Any, suite_folder: SuiteFolder) -> set[str]:
    """The configurations that each search with `select` chose (its best trial, trained with the other seeds)."""
    from harness.analysis.trials import chosen_trials

    return {run.configuration for run in suite.later_seeds(chosen_trials(suite, suite_folder))}


def _chosen_note(suite: Any, agg: pd.DataFrame, shown_agg: pd.DataFrame) -> str:
    metrics = sorted({column(run.selected_by).label for run in suite.later})
    return (f"Each searched family's chosen configuration: the trial with the best {', '.join(metrics)} at seed "
            f"{suite.info.seeds[0]}, then trained with the other seeds ({len(shown_agg)} of {len(agg)} "
            "configurations). Every trial is in leaderboard.md / leaderboard.csv and in the search budget below.")


# -- what was run --------------------------------------------------------------------------


def _context(suite: Any, suite_folder: SuiteFolder, runs: pd.DataFrame,
             skip: Callable[[str], None]) -> dict[str, Any]:
    records = []
    evaluation_seconds = 0.0
    for run_id in runs["id"]:
        run_folder = suite_folder.run(run_id)
        try:
            if run_folder.has_record():
                records.append(run_folder.read_record())
            if run_folder.is_evaluated():
                evaluation_seconds += run_folder.read_metrics_row().evaluation_seconds or 0
        except ResultsFileError:
            continue  # shown as "unreadable" in the runs table already
    first = records[0] if records else None
    try:
        reference = suite_folder.read_reference()
    except ResultsFileError as err:
        skip(f"{err} (the real-data floor is left out)")
        reference = None
    return {
        "suite": suite.info.name,
        "folder": str(suite_folder.dir),
        "description": suite.info.description,
        "dataset": suite.info.dataset,
        "seeds": ", ".join(map(str, suite.info.seeds)),
        "seeds_present": ", ".join(str(int(seed)) for seed in sorted(runs["seed"].dropna().unique())),
        "compared": f"{runs['configuration'].nunique()} configurations ("
                    + (", ".join(dict.fromkeys(runs["configuration"])) if not suite.later else
                       f"the search trials of {', '.join(dict.fromkeys(runs['name']))}")
                    + f") on {suite.info.dataset}, "
                    + (f"{len(suite.info.seeds)} seed(s) each" if not suite.later else
                       f"each search trial with seed {suite.info.seeds[0]}, each family's chosen trial with seeds "
                       + ", ".join(map(str, suite.info.seeds))),
        "runs": f"{len(runs)} runs, {len(runs.groupby('configuration'))} configurations; "
                + ", ".join(f"{s}: {n}" for s, n in runs["status"].value_counts().items()),
        "hardware": (f"{first.device} x {first.num_processes} process(es) ({first.distributed_type}), "
                     f"mixed precision {first.mixed_precision}, " if first else "")
                    + f"{platform.processor() or platform.machine()}",
        "versions": ", ".join(f"{k} {v}" for k, v in first.versions.items()) if first else "",
        "git commit": ", ".join(sorted({str(r.git_commit) for r in records})),
        "evaluator": "; ".join(f"{name} sha256 {sha}" for key in ("evaluator", "autoencoder")
                               for name, sha in sorted(set(zip(runs.get(key, pd.Series(dtype=object)).dropna(),
                                                               runs.get(f"{key}_sha256", pd.Series(dtype=object)).dropna())))) or "none",
        "wall time": f"training {sum(r.total_seconds or 0 for r in records) / 60:.1f} min, "
                     f"evaluation {evaluation_seconds / 60:.1f} min",
        "reference": reference.values if reference else None,
        "measured": _measured(suite, runs),
        "notes": comparability_notes(runs),
    }


def _floor_text(values: dict[str, Any]) -> str:
    return ", ".join(f"{column(k).label} {v:.4g}" if isinstance(v, float) else f"{column(k).label} {v}"
                     for k, v in values.items() if isinstance(v, (int, float)))


def _measured(suite: Any, runs: pd.DataFrame) -> str:
    """How the numbers were made, in one line a reader needs before reading any of them."""
    c = SimpleNamespace(**suite.evaluation)  # the [evaluation] settings as recorded
    spaces = [f"{runs[key].dropna().iloc[0]} ({kind})" for key, kind in (("evaluator", "a small CNN classifier's "
              "128-d features"), ("autoencoder", "a convolutional autoencoder's 128-d bottleneck"))
              if key in runs and runs[key].notna().any()]
    reference = "the whole test set" if "fid_samples" in runs and c.num_samples >= 10_000 else \
        f"a seeded random subset of {c.num_samples} test images"
    return (f"FID/KID/precision/recall from {c.num_samples} generated images per run against {reference}, "
            f"in {' and '.join(spaces) or 'the configured feature space'} (not Inception: not comparable with "
            "published FIDs); reconstruction and likelihoods on seeded random test subsets; AIS log-likelihoods "
            "under a Gaussian observation model on dequantized intensities; definitions in docs/metrics.md")


# -- figures made at evaluation --------------------------------------------------------------


def _model_figures(suite: Any, suite_folder: SuiteFolder, out: SuiteFolder, runs: pd.DataFrame,
                   skip: Callable[[str], None]) -> list[tuple[str, str, Path]]:
    """Reconstructions, interpolations and class histograms of the first evaluated seed of each configuration."""
    models = first_readable(suite_folder, runs, RunFolder.read_figures, skip)  # (label, figures)
    if not models:
        return []  # e.g. reference results committed without figures, or evaluation disabled
    c = SimpleNamespace(**suite.evaluation)  # the [evaluation] settings as recorded
    figures = []
    reconstructions = [(label, stored) for label, stored in models if "reconstructions" in stored]
    if reconstructions:
        originals = reconstructions[0][1]["reconstruction_originals"]
        panels = [("test images", image_grid(originals, rows=1))]
        panels += [(label, image_grid(stored["reconstructions"], rows=1)) for label, stored in reconstructions]
        figures.append(("Reconstruction", f"the first {len(originals)} test images and each model's reconstruction "
                        f"(decoded encoder mean; GAN: latent inversion, {c.inversion_steps} Adam steps x "
                        f"{c.inversion_restarts} restarts)",
                        charts.image_panels(panels, out.chart("reconstructions"), "reconstructions")))
    interpolations = [(label, image_grid(stored["interpolations"], rows=4))
                      for label, stored in models if "interpolations" in stored]
    if interpolations:
        figures.append(("Latent space", "straight lines between 4 pairs of prior latents, decoded",
                        charts.image_panels(interpolations, out.chart("interpolations"),
                                            "latent interpolations", columns=min(2, len(interpolations)))))
    histograms = {label: stored["class_share"].numpy() for label, stored in models if "class_share" in stored}
    if histograms:
        reference = next(stored["reference_class_share"].numpy() for _, stored in models if "class_share" in stored)
        figures.append(("Mode coverage", f"evaluator's predicted classes of {c.num_samples} samples per model",
                        charts.class_histograms(histograms, np.asarray(reference),
                                                out.chart("class_histograms"))))
    return figures


# -- rendering -----------------------------------------------------------------------------


def _claims_rows(claims: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for c in claims:
        declared = column(c["metric"])

        def number(value: float | None) -> str:
            return "–" if value is None else number_text(value, declared)  # noqa: B023 (called in this iteration)

        advantage = number(c["advantage"])
        if c["advantage_ci"] is not None:
            advantage += f" ± {number_text(c['advantage_ci'], declared, interval=True)}"
        spaces = "; ".join(f"{column(s['metric']).label}: {number(s['better_mean'])} vs {number(s['than_mean'])}, "
                           f"{s['verdict']}" for s in c["spaces"])
        rows.append([c["text"], f"**{c['verdict']}**: {c['reason']}", column(c["metric"]).title,
                     f"{c['better']}: {number(c['better_mean'])} (n={c['better_n']})",
                     f"{c['than']}: {number(c['than_mean'])} (n={c['than_n']})",
                     advantage, spaces])
    return rows


# The verdict right after the claim: on a narrow screen the rest of the row scrolls.
CLAIM_HEADER = ["claim", "verdict", "metric", "expected better", "than",
                "advantage (in the claim's favour, ± 95% Welch CI)", "in each feature space"]
CLAIM_METHOD = (f"Welch's t-test per metric column; at least {MIN_SEEDS} seeds per side for a verdict; p-values "
                "corrected with Holm's method over the suite's claims (family-wise error 5 %); a claim about a metric "
                "measured in several feature spaces is supported (or contradicted) only if it is in every space.")


# The report's order: the point first (leaderboard, claims, the pictures), then how to read the
# numbers, then the figures behind them, then the details of how it was run.
FIRST_SCREEN_FIGURES = ("Samples", "Reconstruction")
FIGURE_ORDER = ("Key metrics", "Search budget", "Training", "Cost", "Latent space", "Mode coverage")
DETAILS = ("dataset", "seeds", "seeds_present", "runs", "hardware", "versions", "git commit", "evaluator",
           "wall time", "measured")


def _budget_rows(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The budget curve at 1, 2, 4, ... trials and at the full search: median [90 % band] per family."""
    declared = column(metric)
    rows = {}
    for family, curve in table.groupby("family", sort=False):
        n = int(curve["budget"].max())
        budgets = sorted({*(2**i for i in range(n.bit_length()) if 2**i <= n), n})
        for k in budgets:
            point = curve[curve["budget"] == k].iloc[0]
            rows.setdefault(family, {})[f"best of {k}"] = (
                f"{number_text(point['median'], declared)} [{number_text(point['low'], declared)}, "
                f"{number_text(point['high'], declared)}]")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"{declared.label} {declared.arrow}").fillna("")


def _ordered(figures: list[tuple[str, str, Path]], sections: tuple[str, ...]) -> list[tuple[str, str, Path]]:
    return [figure for section in sections for figure in figures if figure[0] == section]


def _how_to_read(context: dict[str, Any], agg: pd.DataFrame, metrics: list[str]) -> list[str]:
    """The few facts without which the numbers mean nothing: where they are measured, from how many
    samples, what a perfect model would score, and which way is better."""
    if not any(column(m).better and m not in ("train_seconds", "images_per_second") for m in metrics):
        return ["These runs have not been scored (evaluation disabled or not run yet): "
                f"`python -m harness evaluate {context['folder']}` computes every metric from the saved weights."]
    lines = [context["measured"] + "."]
    if context["reference"]:
        lines.append("Real-data floor (training images scored as if they were samples, i.e. what a perfect model "
                     f"would score at this sample count): "
                     f"{_floor_text({k: v for k, v in context['reference'].items() if k in metrics})}.")
    directions = [f"{column(m).label} {column(m).arrow} ({column(m).direction})" for m in metrics if column(m).better]
    if directions:
        lines.append("Direction: " + "; ".join(directions) + ".")
    lines.append(f"Each cell is the mean over seeds ± the {INTERVAL_KIND}; a single seed has no interval, and "
                 "differences inside the intervals are not evidence (the claims apply a test).")
    return lines


def _markdown(context: dict[str, Any], leaderboard: str, claims: list[dict[str, Any]],
              figures: list[tuple[str, str, Path]], suite_dir: Path, how_to_read: list[str]) -> str:
    def figure_lines(selected: list[tuple[str, str, Path]]) -> list[str]:
        lines, section = [], None
        for name, caption, path in selected:
            if name != section:
                lines += [f"## {name}", ""]
                section = name
            lines += [f"![{caption}]({path.relative_to(suite_dir).as_posix()})", "", f"*{caption}*", ""]
            if name == "Search budget" and context.get("budget") is not None:
                lines += ["Best score after k configurations: median over trial orders [90 % band].", "",
                          context["budget"].to_markdown(), ""]
        return lines

    lines = [f"# {context['suite']}: report", "", context["description"], "", f"**Compared:** {context['compared']}",
             "", "## Leaderboard", ""] + ([context["chosen"], ""] if context.get("chosen") else []) + [
             f"mean ± {INTERVAL_KIND}; ↓ lower / ↑ higher is better; n/a: does not apply.", "", leaderboard, ""]
    lines += [f"**Not comparable:** {note}\n" for note in context["notes"]]
    lines += [f"**Unreadable, left out:** {problem}\n" for problem in context["unreadable"]]
    if claims:
        lines += ["## Claims", "", CLAIM_METHOD, "", "| " + " | ".join(CLAIM_HEADER) + " |", "|" + "---|" * len(CLAIM_HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in _claims_rows(claims)]
        lines.append("")
    lines += figure_lines(_ordered(figures, FIRST_SCREEN_FIGURES))
    lines += ["## How to read these numbers", ""] + [f"- {line}" for line in how_to_read] + [""]
    lines += figure_lines(_ordered(figures, FIGURE_ORDER))
    lines += ["## What was run", ""]
    lines += [f"- **{key.replace('_', ' ')}**: {context[key]}" for key in DETAILS]
    return "\n".join(lines) + "\n"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:auto;padding:1em;
line-height:1.45;color:#222} h1,h2{line-height:1.2} .scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} th,td{border:1px solid #ccc;padding:.25em .45em;
text-align:right;vertical-align:top} th{font-weight:600;background:#f6f6f6} td{white-space:nowrap}
th:first-child,td:first-child{text-align:left} td small{color:#666} td.best{font-weight:bold;color:#006d2c}
td.fail{color:#b2182b} td.verdict-supported{color:#006d2c;font-weight:bold}
td.verdict-contradicted{color:#b2182b;font-weight:bold}
img{max-width:100%;height:auto} figure{margin:1em 0} figcaption{font-style:italic;color:#555;font-size:.9em}
ul{padding-left:1.2em} .note{color:#555;font-size:.9em} p,li{overflow-wrap:anywhere}
table.claims{width:100%} table.claims td,table.claims th{white-space:normal;text-align:left;min-width:6em}
.pair{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start} .pair figure{flex:1 1 420px;min-width:0;margin:0}
.howto{border:1px solid #9ecae1;background:#f3f8fc;border-radius:6px;padding:.2em 1em;margin:1em 0}
.howto h2{font-size:1.1em} .howto li{margin:.2em 0} code{word-break:break-all}
@media (max-width:600px){body{padding:.5em} table{font-size:.78em}}
"""


def _html(context: dict[str, Any], agg: pd.DataFrame, metrics: list[str], claims: list[dict[str, Any]],
          figures: list[tuple[str, str, Path]], how_to_read: list[str]) -> str:
    from harness.presentation.leaderboard import best_configurations, text_frame

    e = html.escape

    def figure(caption: str, path: Path) -> str:
        data = base64.b64encode(path.read_bytes()).decode()
        return (f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{e(caption)}</figcaption></figure>")

    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{e(context['suite'])} report"
             f"</title><style>{CSS}</style></head><body>",
             f"<h1>{e(context['suite'])}: report</h1><p>{e(context['description'])}</p>"
             f"<p><b>Compared:</b> {e(context['compared'])}</p><h2>Leaderboard</h2>"]
    if context.get("chosen"):
        parts.append(f"<p>{e(context['chosen'])}</p>")
    texts = text_frame(agg, metrics)
    parts.append(f"<p class='note'>mean ± {e(INTERVAL_KIND)}; ↓ lower / ↑ higher is better; bold green: best; "
                 "n/a: does not apply; –: no completed run.</p><div class='scroll'><table><tr>")
    parts += [f"<th>{e(c)}</th>" for c in texts.columns] + ["</tr>"]
    best = {m: best_configurations(agg, m) for m in metrics}
    for i, row in texts.iterrows():
        configuration = agg["configuration"].iloc[i]
        cells = [f"<td>{e(row['configuration'])}</td>", f"<td>{e(row['seeds'])}</td>",
                 f"<td class='{'' if row['status'] == 'ok' else 'fail'}'>{e(row['status'])}</td>"]
        for metric, name in zip(metrics, texts.columns[3:]):
            mean, _, interval = row[name].partition(" ± ")  # the interval on a line of its own keeps columns narrow
            text = e(mean) + (f"<br><small>± {e(interval)}</small>" if interval else "")
            cells.append(f"<td class='{'best' if configuration in best[metric] else ''}'>{text}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></div>")
    parts += [f"<p class='note'><b>Not comparable:</b> {e(note)}</p>" for note in context["notes"]]
    parts += [f"<p class='note'><b>Unreadable, left out:</b> {e(problem)}</p>" for problem in context["unreadable"]]
    if claims:
        parts.append(f"<h2>Claims</h2><p class='note'>{e(CLAIM_METHOD)}</p><div class='scroll'><table class='claims'>"
                     "<tr>" + "".join(f"<th>{e(h)}</th>" for h in CLAIM_HEADER) + "</tr>")
        for claim, row in zip(claims, _claims_rows(claims)):
            verdict = row[1].replace("**", "")
            cells = "".join(f"<td>{e(cell)}</td>" for cell in row[2:])
            parts.append(f"<tr><td>{e(row[0])}</td><td class='verdict-{claim['verdict'].split()[0]}'>{e(verdict)}</td>"
                         f"{cells}</tr>")
        parts.append("</table></div>")
    first = _ordered(figures, FIRST_SCREEN_FIGURES)
    if first:
        parts.append("<h2>Samples and reconstructions</h2><div class='pair'>"
                     + "".join(figure(caption, path) for _, caption, path in first) + "</div>")
    parts.append("<div class='howto'><h2>How to read these numbers</h2><ul>"
                 + "".join(f"<li>{e(line)}</li>" for line in how_to_read) + "</ul></div>")
    section = None
    for name, caption, path in _ordered(figures, FIGURE_ORDER):
        if name != section:
            parts.append(f"<h2>{e(name)}</h2>")
            section = name
        parts.append(figure(caption, path))
        if name == "Search budget" and context.get("budget") is not None:
            parts.append("<p class='note'>Best score after k configurations: median over trial orders [90 % band].</p>"
                         f"<div class='scroll'>{context['budget'].to_html(border=0)}</div>")
    parts.append("<h2>What was run</h2><ul>")
    parts += [f"<li><b>{e(key.replace('_', ' '))}</b>: {e(str(context[key]))}</li>" for key in DETAILS]
    parts.append("</ul></body></html>")
    return "\n".join(parts)
