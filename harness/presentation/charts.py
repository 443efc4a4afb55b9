"""Charts with seaborn: one theme, a colour-blind-safe palette, labelled axes with units.

Each function takes data already in the results store (runs table, histories, sample grids,
the figures made at evaluation) and writes one PNG atomically. Images may have 1 or 3 channels;
training curves show whatever losses a family reports.
"""

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from harness.core.columns import INTERVAL_KIND, NOT_APPLICABLE  # noqa: E402
from harness.metrics.columns import column, primary_column
from harness.analysis.aggregate import first_readable  # noqa: E402
from harness.store import HISTORY_BOOKKEEPING, ResultsFileError, RunFolder, SuiteFolder, atomic_write  # noqa: E402

PALETTE = "colorblind"
sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    # bbox_inches="tight": the saved image grows to hold every label and legend instead of clipping them.
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def _colours(configurations: list[str]) -> dict[str, tuple]:
    return dict(zip(configurations, sns.color_palette(PALETTE, len(configurations))))


MIN_RELATIVE_SPAN = 0.05  # an axis spans at least 5% of the values' magnitude (see metrics_overview)


def metrics_overview(runs: pd.DataFrame, agg: pd.DataFrame, metrics: list[str], path: Path) -> Path | None:
    """metrics_figure saved as a PNG at `path` (None when no metric has a number)."""
    fig = metrics_figure(runs, agg, metrics)
    return None if fig is None else _save(fig, path)


def metrics_figure(runs: pd.DataFrame, agg: pd.DataFrame, metrics: list[str]) -> plt.Figure | None:
    """Small multiples, one panel per metric: each seed (dots), the mean and its interval (black),
    one row per configuration, the same row order in every panel.

    An axis never zooms a difference that is small against the values themselves into a full
    panel: it spans at least 5% of their magnitude, and the panel's title says so when it was
    widened. Tick labels are plain numbers (no offset such as "-1.121e2").
    """
    order = list(agg["configuration"])
    panels = []
    for metric in metrics:
        values = pd.to_numeric(runs[metric].where(runs[metric] != NOT_APPLICABLE), errors="coerce") \
            if metric in runs else None
        if values is not None and values.notna().any():
            panels.append((metric, runs.assign(value=values).dropna(subset=["value"])))
    if not panels:
        return None
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    label_width = max(len(name) for name in order)
    fig, axes = plt.subplots(rows, columns, figsize=(4.3 * columns + 0.09 * label_width, (0.32 * len(order) + 1.3) * rows),
                             squeeze=False, sharey=True)
    colours = _colours(order)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (metric, data) in zip(axes.flat, panels):
        declared = column(metric)
        sns.stripplot(data=data, x="value", y="configuration", order=order, hue="configuration", palette=colours,
                      size=6, alpha=0.6, jitter=0.15, legend=False, ax=ax)
        for i, row in agg.reset_index(drop=True).iterrows():
            mean, ci = row[metric], row.get(f"{metric}_ci")
            if mean == NOT_APPLICABLE or pd.isna(mean):
                ax.text(0.98, i, "n/a" if mean == NOT_APPLICABLE else "–", transform=ax.get_yaxis_transform(),
                        ha="right", va="center", color="grey", fontsize=9)
                continue
            ax.errorbar(mean, i, xerr=None if pd.isna(ci) else ci, fmt="D", color="black", capsize=4, markersize=5,
                        zorder=5)
        widened = _widen_small_span(ax, data["value"].to_numpy(dtype=float))
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:.4g}"))  # no offset
        ax.set_title(f"{declared.label} {declared.arrow}".strip() + (" (axis widened)" if widened else ""), fontsize=10)
        ax.set_xlabel(", ".join(part for part in (declared.unit, declared.direction) if part), fontsize=9)
        ax.set_ylabel("")
        ax.tick_params(labelsize=9)
    fig.suptitle(f"key metrics: seeds (dots), mean and {INTERVAL_KIND} (black)", fontsize=10)
    return fig


def _widen_small_span(ax: plt.Axes, values: np.ndarray) -> bool:
    """Widen the x axis to MIN_RELATIVE_SPAN of the values' magnitude if the data span less."""
    low, high = ax.get_xlim()
    magnitude = float(np.nanmax(np.abs(values))) if values.size else 0.0
    needed = MIN_RELATIVE_SPAN * magnitude
    if magnitude == 0 or high - low >= needed:
        return False
    centre = (low + high) / 2
    ax.set_xlim(centre - needed / 2, centre + needed / 2)
    return True


# History keys that are bookkeeping, not losses (see trainer.py).


def training_curves(suite: SuiteFolder, runs: pd.DataFrame, path: Path,
                    unreadable: Callable[[str], None]) -> Path | None:
    """Per-epoch losses of every run, one panel per loss name any family reported, configurations in
    colour, seeds averaged with a band. A history that cannot be read is reported and left out."""
    frames = []
    for _, run in runs.iterrows():
        try:
            history = suite.run(run["id"]).read_history()
        except ResultsFileError as err:
            unreadable(str(err))
            continue
        for row in history:
            for loss, value in row.items():
                if loss not in HISTORY_BOOKKEEPING and isinstance(value, (int, float)):
                    frames.append({"configuration": run["configuration"], "seed": run["seed"], "epoch": row["epoch"],
                                   "loss": loss, "value": value})
    if not frames:
        return None
    data = pd.DataFrame(frames)
    losses = list(dict.fromkeys(data["loss"]))
    colours = _colours(list(dict.fromkeys(runs["configuration"])))
    fig, axes = plt.subplots(1, len(losses), figsize=(4.2 * len(losses) + 2.5, 3.6), squeeze=False)
    for ax, loss in zip(axes[0], losses):
        sns.lineplot(data=data[data["loss"] == loss], x="epoch", y="value", hue="configuration", palette=colours,
                     errorbar=("pi", 100), marker="o", ax=ax, legend=False)
        ax.set_title(f"{loss} loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{loss} (epoch mean)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles = [plt.Line2D([], [], color=colour, marker="o", label=name) for name, colour in colours.items()]
    fig.legend(handles=handles, title="configuration (band: seed range)", loc="upper left", bbox_to_anchor=(0.82, 0.95))
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def quality_against_cost(runs: pd.DataFrame, path: Path) -> Path | None:
    """The primary score (FID) against training time and against parameters, one point per run."""
    score = primary_column(runs.columns)
    if score is None:  # evaluation disabled, or no metric with a primary score
        return None
    values = pd.to_numeric(runs[score].where(runs[score] != NOT_APPLICABLE), errors="coerce")
    data = runs.assign(**{score: values}).dropna(subset=[score, "train_seconds"])
    if data.empty:
        return None
    colours = _colours(list(dict.fromkeys(runs["configuration"])))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, cost in zip(axes, ("train_seconds", "parameters")):
        sns.scatterplot(data=data, x=cost, y=score, hue="configuration", style="model", palette=colours, s=80, ax=ax,
                        legend=ax is axes[-1])
        ax.set_xlabel(column(cost).title)
        ax.set_ylabel(f"{column(score).title} ({column(score).direction})")
        if cost == "parameters":
            ax.set_xscale("log")
    sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1, 1))
    axes[0].set_title("sample quality against training time")
    axes[1].set_title("sample quality against model size")
    return _save(fig, path)


def image_panels(rows: list[tuple[str, np.ndarray]], path: Path, title: str, columns: int = 1) -> Path:
    """Labelled images (already tiled as uint8 arrays, grey (H, W) or colour (H, W, 3)) in a grid of panels."""
    n = len(rows)
    grid_rows = -(-n // columns)
    first = rows[0][1]
    aspect = first.shape[1] / first.shape[0]
    width = min(12.0, 3.6 * aspect * columns)
    panel_height = width / columns / aspect
    fig, axes = plt.subplots(grid_rows, columns, figsize=(width, (panel_height + 0.35) * grid_rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, image) in zip(axes.flat, rows):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(label, fontsize=10)
    fig.suptitle(title)
    return _save(fig, path)


def sample_grids(suite: SuiteFolder, runs: pd.DataFrame, path: Path,
                 unreadable: Callable[[str], None]) -> Path | None:
    """Each configuration's 8x8 sample grid (first completed seed with a readable grid), same latent batch for all."""
    panels = first_readable(suite, runs, RunFolder.read_samples, unreadable)
    if not panels:
        return None
    return image_panels(panels, path, "samples from the same fixed latent batch", columns=min(4, len(panels)))


def search_budget(runs: pd.DataFrame, metric: str, table: pd.DataFrame, path: Path) -> Path | None:
    """Left: each searched family's best score after k trials (median over orders of the trials,
    90 % band; dashed: the order they ran in). Right: the family's trial scores (the search's spread)."""
    from harness.analysis.budget import trial_scores

    scores = trial_scores(runs, metric)
    if table.empty or not scores:
        return None
    declared = column(metric)
    colours = _colours(list(scores))
    fig, (curve_ax, spread_ax) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    for family, curve in table.groupby("family", sort=False):
        colour = colours[family]
        curve_ax.plot(curve["budget"], curve["median"], color=colour, marker="o", label=family)
        curve_ax.fill_between(curve["budget"], curve["low"], curve["high"], color=colour, alpha=0.2)
        curve_ax.plot(curve["budget"], curve["in_trial_order"], color=colour, linestyle="--", alpha=0.6)
    curve_ax.set_xlabel("configurations tried (budget)")
    curve_ax.set_ylabel(f"best {declared.title} so far ({declared.direction})")
    curve_ax.set_title("best score against search budget (band: 90% of trial orders; dashed: as run)", fontsize=10)
    curve_ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = curve_ax.get_legend_handles_labels()  # below both panels: it hides no curve
    fig.legend(handles, labels, title="family", loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(4, len(labels)))
    spread = pd.DataFrame([(family, value) for family, values in scores.items() for value in values],
                          columns=["family", "value"])
    sns.boxplot(data=spread, x="family", y="value", hue="family", palette=colours, ax=spread_ax, legend=False,
                boxprops={"alpha": 0.4})
    sns.stripplot(data=spread, x="family", y="value", hue="family", palette=colours, ax=spread_ax, legend=False)
    spread_ax.set_ylabel(f"{declared.title} of each trial")
    spread_ax.set_xlabel("")
    spread_ax.tick_params(axis="x", labelrotation=45)
    for label in spread_ax.get_xticklabels():
        label.set_horizontalalignment("right")
    spread_ax.set_title("the search's spread per family", fontsize=10)
    return _save(fig, path)


MAX_PROGRESS_COLUMNS = 8


def progress_strip(suite: SuiteFolder, runs: pd.DataFrame, path: Path,
                   unreadable: Callable[[str], None]) -> Path | None:
    """Each configuration's sample grids during training (`sample_every`), one row per configuration,
    at most MAX_PROGRESS_COLUMNS evenly spaced epochs (always the last)."""
    rows = first_readable(suite, runs, RunFolder.read_progress_samples, unreadable)
    if not rows:
        return None
    epochs = sorted({epoch for _, grids in rows for epoch, _ in grids})
    if len(epochs) > MAX_PROGRESS_COLUMNS:
        picks = np.linspace(0, len(epochs) - 1, MAX_PROGRESS_COLUMNS).round().astype(int)
        epochs = [epochs[i] for i in sorted(set(picks))]
    fig, axes = plt.subplots(len(rows), len(epochs), figsize=(1.5 * len(epochs) + 1.2, 1.6 * len(rows) + 0.4),
                             squeeze=False)
    for row, (label, grids) in zip(axes, rows):
        by_epoch = dict(grids)
        for ax, epoch in zip(row, epochs):
            ax.set_xticks([])
            ax.set_yticks([])
            if epoch in by_epoch:
                ax.imshow(by_epoch[epoch], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(f"epoch {epoch}", fontsize=8)
        row[0].set_ylabel(label, fontsize=8)
    fig.suptitle("samples from the same latents during training", fontsize=10)
    return _save(fig, path)


def class_histograms(histograms: dict[str, np.ndarray], reference: np.ndarray, path: Path) -> Path:
    """Predicted-class shares of each model's samples against the test set (mode collapse at a glance)."""
    frames = [pd.DataFrame({"class": np.arange(len(reference)), "share": reference, "source": "test set"})]
    frames += [pd.DataFrame({"class": np.arange(len(h)), "share": h, "source": name}) for name, h in histograms.items()]
    data = pd.concat(frames)
    fig, ax = plt.subplots(figsize=(max(7, 0.9 * len(reference) * (len(histograms) + 1) / 3), 4))
    sns.barplot(data=data, x="class", y="share", hue="source", palette=PALETTE, ax=ax)
    ax.set_xlabel("class predicted by the evaluator")
    ax.set_ylabel("share of samples")
    ax.set_title("class histogram of generated samples against the test set")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    return _save(fig, path)
