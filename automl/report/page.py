"""The report's HTML page, and write_report, which writes the plots and the page of a run."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl import html_page as hp
from automl import leaderboard
from automl.errors import ConfigError, NoFinishedTrialsError
from automl.io import atomic_write_bytes, atomic_write_text
from automl.leaderboard import is_finite_number
from automl.report.importance import param_importances
from automl.report.plots import (
    plot_learning_curves,
    plot_optimization_history,
    plot_parallel_coordinates,
    plot_param_importance,
    plot_pareto_front,
    png_bytes,
)
from automl.report.reading import read_run

if TYPE_CHECKING:
    from matplotlib.figure import Figure


DEFAULT_TOP = 5
HTML_FILE = "report.html"
# Page order; a plot that cannot be drawn is left out and its note says why.
PLOTS = {
    "optimization_history": "Optimization history",
    "pareto_front": "Pareto front",
    "param_importance": "Parameter importance",
    "parallel_coordinates": "Parallel coordinates",
    "learning_curves": "Learning curves",
}
# Columns of the leaderboard that only matter to machines (reproducibility); the page leaves them out.
HIDDEN_COLUMNS = ("data_fingerprint", "plugin_versions", "seed")
FINISHED = ("complete", "pruned")


@dataclass
class Report:
    """What :func:`write_report` wrote: the page, the plots (name → PNG) and why any plot is missing."""

    out_dir: Path
    html: Path
    plots: dict[str, Path] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    importances: dict[str, float] | None = None
    trials: int = 0
    finished: int = 0


# --- the page -------------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    """A leaderboard cell as text: missing as empty, floats to 4 significant digits."""
    if value is None:
        return ""
    try:
        import pandas as pd

        if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return ""
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def leaderboard_html(frame) -> hp.Markup:
    """The leaderboard as an HTML table, every cell escaped (reasons and parameters are free text)."""
    columns = [c for c in frame.columns if c not in HIDDEN_COLUMNS]
    rows = ([_cell(value) for value in row] for row in frame[columns].itertuples(index=False, name=None))
    return hp.table(rows, columns, css_class="leaderboard", table_id="leaderboard")


def _page(title: str, summary: list[tuple[str, str]], plots: Mapping[str, Path], notes: Mapping[str, str],
          leaderboard_table: hp.Markup) -> str:
    sections = []
    for name, heading in PLOTS.items():
        parts = [hp.heading(heading)]
        if name in plots:
            parts.append(hp.image(plots[name].name, heading))
        if name in notes:
            parts.append(hp.paragraph(notes[name], css_class="note"))
        sections.append(hp.section(name, parts))
    leaderboard_section = hp.section("leaderboard-section", [hp.heading("Leaderboard"), leaderboard_table])
    return hp.page(title, [hp.table(summary, css_class="summary"), *sections, leaderboard_section])


def _trial_counts(records: Sequence[Mapping[str, Any]]) -> dict[str | None, int]:
    counts: dict[str | None, int] = {"complete": 0, "pruned": 0, "failed": 0}  # None: a record without a status
    for record in records:
        status = record.get("status")
        counts[status] = counts.get(status, 0) + 1
    return counts


def _describe_best(best: Mapping[str, Any] | None, tests: Mapping[int, Mapping[str, float]]) -> str:
    if best is None:
        return "no complete trial yet"
    tested = tests.get(best["trial"]) or {}
    metrics = {"val_accuracy": best.get("val_accuracy"), "val_rmse": best.get("val_rmse"),
               "val_mae": best.get("val_mae"), "val_loss": best.get("val_loss"),
               "test_accuracy": tested.get("accuracy"), "test_rmse": tested.get("rmse"), "test_mae": tested.get("mae")}
    candidate = best.get("candidate") or {}
    plugins = " / ".join(str(candidate.get(f)) for f in ("architecture", "augmentation", "optimizer"))
    shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if is_finite_number(value))
    return f"trial {best['trial']}: {shown} ({plugins})"


def write_report(run_dir: str | Path, out_dir: str | Path | None = None, top: int = DEFAULT_TOP) -> Report:
    """Write the plots and ``report.html`` of a run (finished or still running) into ``out_dir``
    (default ``RUN/report``) and return what was written.

    Raises :class:`~automl.errors.RunDirectoryError` when ``run_dir`` is not a run, and
    :class:`~automl.errors.NoFinishedTrialsError` when it has no complete or pruned trial yet.
    """
    from automl.objectives import run_objective, run_trade_off
    from automl.run_dir import REPORT_DIR, RunDirectory, read_test_metrics

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"--top is the number of best trials whose learning curves are drawn; it must be at "
                          f"least 1, got {top!r}.")
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else RunDirectory(run_dir).report
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; pass a folder for the report (default: RUN/{REPORT_DIR}).")
    config, records, source, known = read_run(run_dir)
    counts = _trial_counts(records)
    finished = counts["complete"] + counts["pruned"]
    if finished == 0:
        raise NoFinishedTrialsError(
            f"{run_dir} has no finished trial yet ({len(records)} recorded, "
            f"{counts['failed']} failed); a report needs at least one complete or pruned trial. Let the search run "
            f"(automl leaderboard {run_dir} shows its progress) or resume it with the same automl search command, "
            "then report again.")

    objective, direction = run_objective(config)
    ranked = leaderboard.ranked(records, direction)
    tests = read_test_metrics(run_dir)  # test accuracy of the top-k, once the search has ended
    trade_off = run_trade_off(config)
    frame = leaderboard.build(records, direction, tests, objective, trade_off=trade_off)

    figures: dict[str, Figure] = {}
    notes: dict[str, str] = {}
    figures["optimization_history"] = plot_optimization_history(records, direction, objective)
    if trade_off is not None:
        front, why_not = plot_pareto_front(records, direction, objective, trade_off)
        if front is not None:
            figures["pareto_front"] = front
        if why_not:
            notes["pareto_front"] = why_not
    importance = param_importances(records, direction, known)
    if importance.values:
        figures["param_importance"] = plot_param_importance(importance.values, objective)
    if importance.note:
        notes["param_importance"] = importance.note
    parallel, note = plot_parallel_coordinates(records, direction, objective, known,
                                               order=list(importance.values or ()))
    if parallel is not None:
        figures["parallel_coordinates"] = parallel
    if note:
        notes["parallel_coordinates"] = note
    curves = [r for r in ranked if r.get("history")][:top]
    if curves:
        figures["learning_curves"] = plot_learning_curves(curves)
    else:
        notes["learning_curves"] = ("no complete trial with a per-epoch history yet: learning curves are drawn for "
                                    "the top trials of the leaderboard, and only pruned trials have finished.")

    plots: dict[str, Path] = {}
    for name, figure in figures.items():
        plots[name] = out / f"{name}.png"
        atomic_write_bytes(plots[name], png_bytes(figure))

    best = ranked[0] if ranked else None
    target = config.get("trials")
    summary = [
        ("run directory", str(run_dir)),
        ("data", str(config.get("data")) + (f" (target column {config['target']})" if config.get("target") else "")),
        ("backend", f"{config.get('backend', 'optuna')}, sampler {config.get('sampler')}, "
                    f"pruner {config.get('pruner')}, seed {config.get('seed')}"),
        ("storage", source),
        ("objective", f"{objective} ({direction})"),
        ("trials", f"{len(records)} recorded: {counts['complete']} complete, {counts['pruned']} pruned, "
                   f"{counts['failed']} failed" + (f" (target: {target} finished)" if target else "")),
        ("best", _describe_best(best, tests)),
        ("generated", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    title = f"automl report: {run_dir.resolve().name}"
    page = out / HTML_FILE
    atomic_write_text(page, _page(title, summary, plots, notes, leaderboard_html(frame)))
    for name in PLOTS:  # a plot of an earlier report that could not be drawn this time must not linger
        if name not in plots:
            (out / f"{name}.png").unlink(missing_ok=True)
    return Report(out, page, plots, notes, importance.values, len(records), finished)
