"""The report: what was run, the leaderboard, charts, sample figures and the suite's claims,
as `report.md` (charts beside it in charts/) and a self-contained `report.html` (images
embedded, no external file, readable on a phone)."""

import base64
import html
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from harness import charts, results
from harness.aggregate import aggregate, load_runs
from harness.claims import judge
from harness.columns import COLUMNS, INTERVAL_KIND, KEY_METRICS
from harness.datasets import load_dataset
from harness.images import image_grid
from harness.leaderboard import export, sort_frame
from harness.suite import load_suite

REPORT_DIGITS = 16  # test digits in the reconstruction figure
INTERPOLATION_STEPS = 10
HISTOGRAM_SAMPLES = 2000
CHART_METRICS = ["fid", "kid_mean", "precision", "recall", "coverage", "reconstruction_mse", "elbo", "iwae"]


def build_report(suite_dir: Path, data_dir: Path | None = None, log=print) -> Path:
    """Write report.md, report.html and charts/*.png into `suite_dir`; return the HTML path."""
    suite = load_suite(suite_dir / "suite.toml")
    runs = load_runs(suite_dir)
    agg = sort_frame(aggregate(runs), "fid" if "fid" in runs else None)
    chart_dir = suite_dir / "charts"
    figures: list[tuple[str, str, Path]] = []  # (section, caption, path)

    def add(section: str, caption: str, path: Path | None) -> None:
        if path is not None:
            figures.append((section, caption, path))
            log(f"chart {path.name}")

    for metric in CHART_METRICS:
        add("Metrics", f"{COLUMNS[metric].title}: every seed and the mean with its interval",
            charts.metric_chart(runs, agg, metric, chart_dir / f"metric_{metric}.png"))
    add("Training", "losses per epoch (line: mean over seeds, band: range)",
        charts.training_curves(suite_dir, runs, chart_dir / "training_curves.png"))
    add("Cost", "FID against training time and parameters, one point per run",
        charts.quality_against_cost(runs, chart_dir / "quality_vs_cost.png"))
    add("Samples", "8x8 samples of each configuration from the same latent batch",
        charts.sample_grids(suite_dir, runs, chart_dir / "samples.png"))
    for section, caption, path in _model_figures(suite, suite_dir, runs, chart_dir, data_dir):
        add(section, caption, path)

    context = _context(suite, suite_dir, runs)
    claims = [judge(claim, runs) for claim in suite.claims]
    metrics = [m for m in KEY_METRICS if m in agg]
    leaderboard_md = export(agg, metrics, "md")
    markdown = _markdown(context, leaderboard_md, claims, figures, suite_dir)
    results.write_text(suite_dir / "report.md", markdown)
    results.write_text(suite_dir / "leaderboard.md", leaderboard_md + "\n")
    results.write_text(suite_dir / "leaderboard.csv", export(agg, metrics, "csv"))
    page = _html(context, agg, metrics, claims, figures)
    results.write_text(suite_dir / "report.html", page)
    return suite_dir / "report.html"


# -- what was run --------------------------------------------------------------------------


def _context(suite: Any, suite_dir: Path, runs: pd.DataFrame) -> dict[str, Any]:
    records = [results.read_json(suite_dir / i / "run.json") for i in runs["id"] if (suite_dir / i / "run.json").exists()]
    first = records[0] if records else {}
    evaluation_seconds = sum(
        results.read_json(suite_dir / i / "metrics_row.json").get("evaluation_seconds", 0)
        for i in runs["id"] if (suite_dir / i / "metrics_row.json").exists()
    )
    reference = suite_dir / "reference" / "metrics.json"
    return {
        "suite": suite.info.name,
        "description": suite.info.description,
        "dataset": suite.info.dataset,
        "seeds": ", ".join(map(str, suite.info.seeds)),
        "seeds_present": ", ".join(map(str, sorted(runs["seed"].unique()))),
        "runs": f"{len(runs)} runs, {len(runs.groupby('configuration'))} configurations; "
                + ", ".join(f"{s}: {n}" for s, n in runs["status"].value_counts().items()),
        "hardware": f"{first.get('device', '?')} x {first.get('num_processes', '?')} process(es) "
                    f"({first.get('distributed_type', '?')}), mixed precision {first.get('mixed_precision', '?')}, "
                    f"{platform.processor() or platform.machine()}",
        "versions": ", ".join(f"{k} {v}" for k, v in first.get("versions", {}).items()),
        "git commit": ", ".join(sorted({str(r.get("git_commit")) for r in records})),
        "evaluator": ", ".join(sorted({str(v) for v in runs.get("evaluator_sha256", pd.Series()).dropna()})) or "none",
        "wall time": f"training {sum(r.get('total_seconds', 0) for r in records) / 60:.1f} min, "
                     f"evaluation {evaluation_seconds / 60:.1f} min",
        "reference": results.read_json(reference)["values"] if reference.exists() else None,
    }


# -- figures that need the trained models --------------------------------------------------


def _model_figures(suite: Any, suite_dir: Path, runs: pd.DataFrame, chart_dir: Path, data_dir: Path | None):
    from harness.evaluation.evaluator import load_evaluator
    from harness.evaluation.runner import load_trained_model
    from harness.metrics.reconstruction import invert, prior_sample
    from harness.models.base import Decodes, Encodes

    completed = runs[runs["status"] == results.STATUS_COMPLETED].sort_values("seed")
    # Committed reference results carry no weights: those runs simply have no model figures.
    completed = completed[[(suite_dir / i / "weights.safetensors").exists() for i in completed["id"]]]
    if completed.empty:
        return []
    dataset = load_dataset(suite.info.dataset, data_dir)
    device = torch.device("cpu")
    digits = dataset.test_images[:REPORT_DIGITS].float() / 255
    models = []
    for configuration, group in completed.groupby("configuration", sort=False):
        model, _ = load_trained_model(suite_dir / group["id"].iloc[0], dataset, device)
        models.append((f"{configuration} (seed {group['seed'].iloc[0]})", model))

    evaluator, _ = load_evaluator(suite.info.dataset)
    reconstructions = [("test digits", image_grid(digits, rows=1))]
    interpolations = []
    histograms = {}
    c = suite.evaluation
    for label, model in models:
        for net in model.networks.values():
            net.requires_grad_(False)
        if isinstance(model, Encodes):
            with torch.no_grad():
                rebuilt = model.decode(model.encode(digits)[0])
            reconstructions.append((f"{label}: decoded encoder mean", image_grid(rebuilt, rows=1)))
        elif isinstance(model, Decodes):
            latents, _ = invert(model, digits, c.inversion_steps, c.inversion_restarts, c.inversion_lr,
                                torch.Generator().manual_seed(0))
            with torch.no_grad():
                rebuilt = model.decode(latents)
            reconstructions.append((f"{label}: latent inversion", image_grid(rebuilt, rows=1)))
        if isinstance(model, Decodes):
            generator = torch.Generator().manual_seed(0)
            ends = prior_sample(model, 8, generator).reshape(2, 4, -1)  # 4 pairs of latents
            weights = torch.linspace(0, 1, INTERPOLATION_STEPS)[None, :, None]
            path = ends[0][:, None, :] * (1 - weights) + ends[1][:, None, :] * weights  # (4, steps, d)
            with torch.no_grad():
                frames = model.decode(path.reshape(-1, model.latent_dim))
            interpolations.append((label, image_grid(frames, rows=4)))
        with torch.no_grad():
            samples = model.sample(HISTOGRAM_SAMPLES, generator=torch.Generator().manual_seed(0))
            predicted = evaluator.logits(samples).argmax(1)
        histograms[label] = np.bincount(predicted.numpy(), minlength=dataset.spec.num_classes) / HISTOGRAM_SAMPLES
    reference = np.bincount(dataset.test_labels.numpy(), minlength=dataset.spec.num_classes) / len(dataset.test_labels)
    figures = [("Reconstruction", f"the first {REPORT_DIGITS} test digits and each model's reconstruction "
                f"(GAN: {c.inversion_steps} Adam steps x {c.inversion_restarts} restarts)",
                charts.image_panels(reconstructions, chart_dir / "reconstructions.png", "reconstructions"))]
    if interpolations:
        figures.append(("Latent space", "straight lines between 4 pairs of prior latents, decoded",
                        charts.image_panels(interpolations, chart_dir / "interpolations.png", "latent interpolations",
                                            columns=min(2, len(interpolations)))))
    figures.append(("Mode coverage", f"evaluator's predicted classes of {HISTOGRAM_SAMPLES} samples per model",
                    charts.class_histograms(histograms, reference, chart_dir / "class_histograms.png")))
    return figures


# -- rendering -----------------------------------------------------------------------------


def _claims_rows(claims: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for c in claims:
        digits = COLUMNS[c["metric"]].digits

        def number(value: float | None) -> str:
            return "–" if value is None else f"{value:.{digits}g}"

        advantage = number(c["advantage"])
        if c["advantage_ci"] is not None:
            advantage += f" ± {c['advantage_ci']:.2g}"
        rows.append([c["text"], COLUMNS[c["metric"]].title,
                     f"{c['better']}: {number(c['better_mean'])} (n={c['better_n']})",
                     f"{c['than']}: {number(c['than_mean'])} (n={c['than_n']})",
                     advantage, f"**{c['verdict']}**: {c['reason']}"])
    return rows


CLAIM_HEADER = ["claim", "metric", "expected better", "than", "advantage (in the claim's favour, ± 95% Welch CI)", "verdict"]


def _markdown(context: dict[str, Any], leaderboard: str, claims: list[dict[str, Any]],
              figures: list[tuple[str, str, Path]], suite_dir: Path) -> str:
    lines = [f"# {context['suite']}: report", "", context["description"], "", "## What was run", ""]
    for key in ("dataset", "seeds", "seeds_present", "runs", "hardware", "versions", "git commit", "evaluator", "wall time"):
        lines.append(f"- **{key.replace('_', ' ')}**: {context[key]}")
    lines += ["", "## Leaderboard", "", f"mean ± {INTERVAL_KIND}; ↓ lower / ↑ higher is better; n/a: does not apply.",
              "", leaderboard, ""]
    if context["reference"]:
        floor = context["reference"]
        lines += ["Real-data floor (training images scored as if they were samples; a perfect model's score): "
                  + ", ".join(f"{COLUMNS[k].label} {v:.4g}" for k, v in floor.items() if k in COLUMNS), ""]
    if claims:
        lines += ["## Claims", "", "| " + " | ".join(CLAIM_HEADER) + " |", "|" + "---|" * len(CLAIM_HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in _claims_rows(claims)]
        lines.append("")
    section = None
    for name, caption, path in figures:
        if name != section:
            lines += [f"## {name}", ""]
            section = name
        lines += [f"![{caption}]({path.relative_to(suite_dir).as_posix()})", "", f"*{caption}*", ""]
    return "\n".join(lines)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:auto;padding:1em;
line-height:1.45;color:#222} h1,h2{line-height:1.2} .scroll{overflow-x:auto} table{border-collapse:collapse;
font-size:.9em;margin:.5em 0} th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left} td.best{font-weight:bold;color:#006d2c} td.fail{color:#b2182b}
td.verdict-supported{color:#006d2c;font-weight:bold} td.verdict-contradicted{color:#b2182b;font-weight:bold}
img{max-width:100%;height:auto} figure{margin:1em 0} figcaption{font-style:italic;color:#555}
ul{padding-left:1.2em} .note{color:#555;font-size:.9em}
table.claims td{white-space:normal;text-align:left;min-width:8em;vertical-align:top}
"""


def _html(context: dict[str, Any], agg: pd.DataFrame, metrics: list[str], claims: list[dict[str, Any]],
          figures: list[tuple[str, str, Path]]) -> str:
    from harness.leaderboard import best_configurations, format_cell, text_frame

    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{e(context['suite'])} report"
             f"</title><style>{CSS}</style></head><body>",
             f"<h1>{e(context['suite'])}: report</h1><p>{e(context['description'])}</p><h2>What was run</h2><ul>"]
    for key in ("dataset", "seeds", "seeds_present", "runs", "hardware", "versions", "git commit", "evaluator", "wall time"):
        parts.append(f"<li><b>{e(key.replace('_', ' '))}</b>: {e(str(context[key]))}</li>")
    parts.append("</ul><h2>Leaderboard</h2>")
    texts = text_frame(agg, metrics)
    parts.append(f"<p class='note'>mean ± {e(INTERVAL_KIND)}; ↓ lower / ↑ higher is better; bold green: best; "
                 "n/a: does not apply; –: no completed run.</p><div class='scroll'><table><tr>")
    parts += [f"<th>{e(c)}</th>" for c in texts.columns] + ["</tr>"]
    best = {m: best_configurations(agg, m) for m in metrics}
    for i, row in texts.iterrows():
        configuration = agg["configuration"].iloc[i]
        cells = [f"<td>{e(row['configuration'])}</td>", f"<td>{e(row['seeds'])}</td>",
                 f"<td class='{'' if row['status'] == 'ok' else 'fail'}'>{e(row['status'])}</td>"]
        for metric in metrics:
            cls = "best" if configuration in best[metric] else ""
            cells.append(f"<td class='{cls}'>{e(format_cell(agg.iloc[i], metric))}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></div>")
    if context["reference"]:
        floor = ", ".join(f"{COLUMNS[k].label} {v:.4g}" for k, v in context["reference"].items() if k in COLUMNS)
        parts.append(f"<p class='note'>Real-data floor (training images scored as samples): {e(floor)}</p>")
    if claims:
        parts.append("<h2>Claims</h2><div class='scroll'><table class='claims'><tr>"
                     + "".join(f"<th>{e(h)}</th>" for h in CLAIM_HEADER) + "</tr>")
        for claim, row in zip(claims, _claims_rows(claims)):
            verdict = row[-1].replace("**", "")
            cells = "".join(f"<td>{e(cell)}</td>" for cell in row[:-1])
            parts.append(f"<tr>{cells}<td class='verdict-{claim['verdict'].split()[0]}'>{e(verdict)}</td></tr>")
        parts.append("</table></div>")
    section = None
    for name, caption, path in figures:
        if name != section:
            parts.append(f"<h2>{e(name)}</h2>")
            section = name
        data = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{e(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)
