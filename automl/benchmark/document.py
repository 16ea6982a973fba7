"""Statistics, plots and Markdown/HTML reports for ``automl benchmark``.

scipy and matplotlib are imported inside the functions that use them, so importing this module is cheap.
Plots are drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot, no GUI backend) and every file is
written atomically: a reader sees the previous file or the new one, never half of one.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from automl import html_page as hp
from automl.io import atomic_write_bytes

ALPHA = 0.05
TESTS = {
    "welch": "Welch's two-sided t-test (unequal variances)",
    "mannwhitney": "two-sided Mann–Whitney U test",
}


# --- statistics ----------------------------------------------------------------------------------------
def summarize(groups: Mapping[str, Sequence[float]], *, higher_is_better: bool, test: str = "welch") -> list[dict]:
    """One row per group, best first: n, mean, std, median, min, max, rank, p-value against the best.

    The best group is the one with the best mean. Each other group is compared with it by ``test``; the
    p-values are also given Holm-adjusted for the k-1 comparisons. ``significantly_worse`` is
    ``p < 0.05`` (unadjusted) with a worse mean; it is None where no test was possible (fewer than 2 values).
    """
    import numpy as np

    if test not in TESTS:
        raise ValueError(f"test must be one of {sorted(TESTS)}; got {test!r}")
    sign = -1.0 if higher_is_better else 1.0  # sort key: smaller is better
    rows = []
    for name, values in groups.items():
        array = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
        n = len(array)
        rows.append({
            "name": name, "n": n, "values": array.tolist(),
            "mean": float(array.mean()) if n else math.nan,
            "std": float(array.std(ddof=1)) if n >= 2 else math.nan,
            "median": float(np.median(array)) if n else math.nan,
            "min": float(array.min()) if n else math.nan,
            "max": float(array.max()) if n else math.nan,
            "rank": None, "p_value": None, "p_holm": None, "significantly_worse": None, "is_best": False,
        })
    scored = [r for r in rows if r["n"]]
    for row in scored:  # competition ranking: equal means share a rank (1, 2, 2, 4)
        row["rank"] = 1 + sum(1 for other in scored if sign * other["mean"] < sign * row["mean"])
    scored.sort(key=lambda r: (r["rank"], r["name"]))
    if scored:
        best = scored[0]
        best["is_best"] = True
        tested = []
        for row in scored[1:]:
            row["p_value"] = p_value(row["values"], best["values"], test)
            if row["p_value"] is not None:
                tested.append(row)
                row["significantly_worse"] = bool(row["p_value"] < ALPHA and sign * row["mean"] > sign * best["mean"])
        for row, adjusted in zip(tested, holm([r["p_value"] for r in tested])):
            row["p_holm"] = adjusted
    return scored + [r for r in rows if not r["n"]]


def p_value(values: Sequence[float], best: Sequence[float], test: str) -> float | None:
    """Two-sided p-value of ``values`` against ``best``; None when the test cannot run (fewer than 2 values)."""
    import numpy as np
    from scipy import stats

    a, b = np.asarray(values, dtype=float), np.asarray(best, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return None
    if test == "mannwhitney":
        if np.ptp(np.concatenate([a, b])) == 0:
            return 1.0  # all values equal: no evidence of a difference (scipy would return nan)
        return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    if a.std() == 0 and b.std() == 0:
        # Both groups constant (accuracy saturates on small splits): t is 0/0 or ±inf, which scipy reports as
        # nan or 0. Equal constants are no evidence of a difference; different constants are a certain one.
        return 1.0 if a[0] == b[0] else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni step-down adjustment, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (m - position) * p_values[index]))
        adjusted[index] = running
    return adjusted


def format_p(p: float | None, *, best: bool = False) -> str:
    if best:
        return "— (best)"
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_mean_std(mean: float, std: float, digits: int = 4) -> str:
    if not math.isfinite(mean):
        return "-"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if math.isfinite(std) else "")


def format_number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


# --- files ---------------------------------------------------------------------------------------------
def _save_figure(figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def colors_for(names: Sequence[str]) -> dict[str, Any]:
    """One stable colour per name (sorted), so an optimizer has the same colour in every plot."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    tab10 = colormaps["tab10"]
    assert isinstance(tab10, ListedColormap)  # a qualitative map, whose colours are ten RGB tuples
    palette = cast("Sequence[tuple[float, float, float]]", tab10.colors)
    return {name: palette[i % len(palette)] for i, name in enumerate(sorted(names))}


# --- plots ---------------------------------------------------------------------------------------------
METRIC_LABELS = {"val_accuracy": "validation accuracy", "val_loss": "validation loss",
                 "accuracy": "training accuracy", "loss": "training loss"}


def plot_learning_curves(path: Path, title: str, histories: Mapping[str, Sequence[Mapping[str, Sequence[float]]]],
                         order: Sequence[str], metrics: Sequence[str] = ("val_accuracy", "val_loss")) -> None:
    """Per-epoch curves: for each group the mean across its runs, and a band from their min to their max.

    Runs of unequal length (early stopping) are averaged over the runs that reached each epoch.
    """
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    colors = colors_for(list(histories))
    figure = Figure(figsize=(6.0 * len(metrics), 4.2))
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    for axis, metric in zip(axes, metrics):
        for name in order:
            runs = [list(h.get(metric, [])) for h in histories.get(name, []) if h.get(metric)]
            if not runs:
                continue
            length = max(len(r) for r in runs)
            epochs = np.arange(1, length + 1)
            table = np.full((len(runs), length), np.nan)
            for i, run in enumerate(runs):
                table[i, : len(run)] = run
            counts = (~np.isnan(table)).sum(axis=0)
            filled = np.where(np.isnan(table), 0.0, table)
            mean = filled.sum(axis=0) / counts
            low = np.where(np.isnan(table), np.inf, table).min(axis=0)
            high = np.where(np.isnan(table), -np.inf, table).max(axis=0)
            axis.plot(epochs, mean, color=colors[name], label=f"{name} (n={len(runs)})", linewidth=1.8)
            axis.fill_between(epochs, low, high, color=colors[name], alpha=0.18, linewidth=0)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(METRIC_LABELS.get(metric, metric))
        axis.grid(True, alpha=0.3)
        if metric.endswith("loss"):
            axis.set_yscale("log")
    axes[0].legend(fontsize=8, loc="best")
    figure.suptitle(f"{title}\nmean across seeds; band: min–max")
    _save_figure(figure, path)


def plot_scores(path: Path, title: str, groups: Mapping[str, Sequence[float]], order: Sequence[str],
                ylabel: str) -> None:
    """A box plot per group with every run drawn as a (jittered) point on it."""
    import numpy as np
    from matplotlib.figure import Figure

    names = [n for n in order if groups.get(n)]
    colors = colors_for(list(groups))
    figure = Figure(figsize=(max(5.0, 1.1 * len(names) + 2), 4.2))
    axis = figure.subplots()
    if names:
        data = [list(groups[n]) for n in names]
        boxes = axis.boxplot(data, widths=0.55, patch_artist=True, showfliers=False,
                               medianprops={"color": "black"})
        axis.set_xticks(range(1, len(names) + 1), names)
        for patch, name in zip(boxes["boxes"], names):
            patch.set_facecolor((*colors[name][:3], 0.25))
            patch.set_edgecolor(colors[name])
        jitter = np.random.default_rng(0)  # fixed: the same data give the same picture
        for position, (name, values) in enumerate(zip(names, data), start=1):
            xs = position + jitter.uniform(-0.12, 0.12, len(values))
            axis.scatter(xs, values, color=colors[name], edgecolor="black", linewidth=0.5, zorder=3, s=28)
    axis.set_ylabel(ylabel)
    axis.grid(True, axis="y", alpha=0.3)
    axis.set_title(title)
    _save_figure(figure, path)


def step_curve(points: Sequence[tuple[float, float]], grid, *, maximize: bool):
    """Best-so-far on ``grid`` (seconds) from ``(seconds, value)`` points: nan before the first value."""
    import numpy as np

    values = np.full(len(grid), np.nan)
    best = None
    events = sorted(points)
    index = 0
    for i, t in enumerate(grid):
        while index < len(events) and events[index][0] <= t:
            value = events[index][1]
            best = value if best is None else (max(best, value) if maximize else min(best, value))
            index += 1
        if best is not None:
            values[i] = best
    return values


def plot_best_so_far(path: Path, title: str, runs: Mapping[str, Sequence[Sequence[tuple[float, float]]]],
                     ylabel: str, *, maximize: bool, end_seconds: float | None = None) -> None:
    """Best-so-far objective vs wall time: each seed as a thin step line; the median across seeds bold,
    with a min–max band (where at least one seed has a finished trial)."""
    import numpy as np
    from matplotlib.figure import Figure

    colors = colors_for(list(runs))
    last = max((t for seeds in runs.values() for points in seeds for t, _ in points), default=1.0)
    grid = np.linspace(0.0, max(end_seconds or 0.0, last) * 1.02, 400)
    figure = Figure(figsize=(8.0, 4.8))
    axis = figure.subplots()
    for name in sorted(runs):
        curves = np.array([step_curve(points, grid, maximize=maximize) for points in runs[name]])
        if curves.size == 0:
            continue
        for curve in curves:
            axis.plot(grid, curve, color=colors[name], alpha=0.35, linewidth=0.8, drawstyle="steps-post")
        defined = ~np.isnan(curves).all(axis=0)
        if not defined.any():
            continue
        middle = np.full(len(grid), np.nan)
        low, high = middle.copy(), middle.copy()
        for i in np.flatnonzero(defined):
            column = curves[:, i][~np.isnan(curves[:, i])]
            middle[i], low[i], high[i] = np.median(column), column.min(), column.max()
        axis.plot(grid, middle, color=colors[name], linewidth=2.0, drawstyle="steps-post",
                  label=f"{name} (median of {len(curves)})")
        if len(curves) > 1:
            axis.fill_between(grid, low, high, color=colors[name], alpha=0.12, step="post", linewidth=0)
    axis.set_xlim(left=0)
    axis.set_xlabel("wall time since the search started (s)")
    axis.set_ylabel(ylabel)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="lower right" if maximize else "upper right")
    axis.set_title(title)
    _save_figure(figure, path)


# --- reports -------------------------------------------------------------------------------------------
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def _inline_html(text: str) -> hp.Markup:
    """The two bits of Markdown the reports use (`code` and **bold**) as HTML, everything else escaped."""
    escaped = hp.escape(text)
    return hp.Markup(_BOLD.sub(r"<strong>\1</strong>", _CODE.sub(r"<code>\1</code>", escaped)))


@dataclass
class Document:
    """A report built once and written both as Markdown and as a self-contained HTML page."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", (level, text)))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def bullets(self, items: Sequence[str]) -> None:
        self.blocks.append(("bullets", list(items)))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.blocks.append(("table", (list(headers), [[str(c) for c in row] for row in rows])))

    def image(self, relative_path: str, alt: str) -> None:
        self.blocks.append(("image", (relative_path, alt)))

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for kind, content in self.blocks:
            if kind == "heading":
                lines += ["#" * content[0] + " " + content[1], ""]
            elif kind == "paragraph":
                lines += [content, ""]
            elif kind == "bullets":
                lines += [f"- {item}" for item in content] + [""]
            elif kind == "table":
                headers, rows = content
                cell = lambda text: text.replace("|", "\\|")  # noqa: E731
                lines.append("| " + " | ".join(map(cell, headers)) + " |")
                lines.append("|" + "|".join("---" for _ in headers) + "|")
                lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
                lines.append("")
            elif kind == "image":
                lines += [f"![{content[1]}]({content[0]})", ""]
        return "\n".join(lines).rstrip() + "\n"

    def to_html(self) -> str:
        parts: list[hp.Markup] = []
        for kind, content in self.blocks:
            if kind == "heading":
                parts.append(hp.heading(_inline_html(content[1]), content[0]))
            elif kind == "paragraph":
                parts.append(hp.paragraph(_inline_html(content)))
            elif kind == "bullets":
                parts.append(hp.bullet_list(map(_inline_html, content)))
            elif kind == "table":
                headers, rows = content
                parts.append(hp.table([list(map(_inline_html, row)) for row in rows], list(map(_inline_html, headers))))
            elif kind == "image":
                parts.append(hp.image(*content))
        return hp.page(self.title, parts)


def json_safe(value: Any) -> Any:
    """``value`` with NaN/±Inf replaced by None, so results.json is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
