"""``automl report``: PNG plots and an HTML page of a run, built from its trial records (either backend).

``RUN/report/`` (or ``--out``) receives::

    optimization_history.png   the objective of every trial and the best so far; pruned and failed marked
    param_importance.png       how much each hyperparameter explains the objective (Optuna's fANOVA)
    parallel_coordinates.png   every complete trial as one line through its hyperparameters and objective
    learning_curves.png        train / validation loss and accuracy per epoch of the top trials
    report.html                the run's summary, the plots and the leaderboard

The page refers to the PNGs beside it by their relative names instead of embedding them as base64: the
PNGs are wanted as files anyway, so the page stays small and diffable and the folder moves (or zips) as a
whole. Every file is written atomically, report.html last, so it never refers to a plot that is missing.

The records are read from the run's storage, so a report of a running search shows the trials finished
so far. Plots are drawn on matplotlib ``Figure`` objects with the Agg canvas, never through pyplot, so
neither a GUI nor the caller's matplotlib backend is touched.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl import leaderboard
from automl.errors import ConfigError, NoFinishedTrialsError
from automl.io import atomic_write_bytes, atomic_write_text
from automl.leaderboard import is_finite_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from automl.search_space import Direction

DEFAULT_TOP = 5
HTML_FILE = "report.html"
# Page order; a plot that cannot be drawn is left out and its note says why.
PLOTS = {
    "optimization_history": "Optimization history",
    "param_importance": "Parameter importance",
    "parallel_coordinates": "Parallel coordinates",
    "learning_curves": "Learning curves",
}
# fANOVA fits a random forest on the complete trials; below this it mostly reports noise.
MIN_IMPORTANCE_TRIALS = 5
MAX_PARALLEL_AXES = 12
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


# --- reading the run ------------------------------------------------------------------------------------
def _read_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """The run's config, its trial records, and where they were read from (never showing a password)."""
    from automl.backends import read_records
    from automl.run_dir import read_config
    from automl.storage import StorageSpec

    config = read_config(run_dir)
    backend = config.get("backend", "optuna")
    if backend == "optuna":
        spec = StorageSpec.for_run(run_dir, config.get("storage"))
        if spec.journal is not None and not spec.journal.is_file():
            # Opening a missing journal would create an empty one in the user's run directory.
            raise NoFinishedTrialsError(
                f"{run_dir} has no trial yet: its study storage {spec.journal} does not exist. A report needs at "
                "least one complete or pruned trial; start or resume the search (automl search ... --out "
                f"{run_dir}) and try again once a trial has finished.")
        source = spec.shown
    else:
        from automl.backends.kerastuner_backend import state_path

        source = str(state_path(run_dir))
    return config, read_records(config, run_dir), source


def _study_distributions(config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The exact distributions of an Optuna run's parameters (log scales, ranges), by parameter name.

    A KerasTuner run has no Optuna study: its distributions are inferred from the values instead.
    """
    if config.get("backend", "optuna") != "optuna":
        return {}
    import optuna

    from automl.backends.optuna_backend import STUDY_NAME
    from automl.storage import StorageSpec

    try:
        study = optuna.load_study(study_name=config.get("study") or STUDY_NAME,
                                  storage=StorageSpec.for_run(run_dir, config.get("storage")).open())
    except KeyError:
        return {}
    distributions: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        distributions.update(trial.distributions)
    return distributions


def flat_params(record: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's choices under the names the Optuna backend gives them: ``architecture``, ``cnn.filters``,
    ``training.batch_size`` …; parameters of plugins the trial did not choose are absent (conditional)."""
    candidate = record.get("candidate") or {}
    params: dict[str, Any] = {}
    for family in ("architecture", "augmentation", "optimizer"):
        if family in candidate:
            params[family] = candidate[family]
    params.update(candidate.get("params") or {})
    for key in ("batch_size", "max_epochs", "patience", "image_size"):
        if key in candidate:
            params[f"training.{key}"] = candidate[key]
    return params


def _complete(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("status") == "complete" and is_finite_number(r.get("objective"))]


# --- distributions: the real study's, or inferred from the values -------------------------------------
_CATEGORY_TYPES = (type(None), bool, int, float, str)


def _category(value: Any) -> Any:
    """A value Optuna's CategoricalDistribution accepts (anything else by its text)."""
    return value if isinstance(value, _CATEGORY_TYPES) else str(value)


def _choice_order(value: Any) -> tuple:
    return (type(value).__name__, value if isinstance(value, (int, float)) else str(value))


def infer_distribution(values: Sequence[Any]):
    """An Optuna distribution covering ``values``: numbers a range (log when positive and spanning two
    decades or more, as learning rates do), anything else a categorical choice."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    numbers = [v for v in values if is_finite_number(v)]
    if values and len(numbers) == len(values):
        low, high = min(numbers), max(numbers)
        log = low > 0 and high / low >= 100
        if all(isinstance(v, int) for v in numbers):
            return IntDistribution(int(low), int(high), log=log)
        return FloatDistribution(float(low), float(high), log=log)
    choices = sorted({_category(v) for v in values}, key=_choice_order)
    return CategoricalDistribution(choices)


def _fits(distribution: Any, value: Any) -> bool:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return _category(value) in distribution.choices
    if isinstance(distribution, (FloatDistribution, IntDistribution)):
        return is_finite_number(value) and distribution.low <= value <= distribution.high
    return False


def param_distributions(records: Sequence[Mapping[str, Any]],
                        known: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A distribution per parameter of ``records``: the run's own (``known``) where every value fits it."""
    values: dict[str, list[Any]] = {}
    for record in records:
        for name, value in flat_params(record).items():
            values.setdefault(name, []).append(value)
    known = known or {}
    return {name: known[name] if name in known and all(_fits(known[name], v) for v in seen)
            else infer_distribution(seen) for name, seen in values.items()}


def _varies(values: Sequence[Any]) -> bool:
    return len({repr(_category(v)) for v in values}) > 1


# --- parameter importance -------------------------------------------------------------------------------
@dataclass
class Importance:
    values: dict[str, float] | None  # name → share of the objective's variance, largest first
    note: str | None  # why there are none, or what was left out
    conditional: list[str]  # parameters left out because not every complete trial has them


def param_importances(records: Sequence[Mapping[str, Any]], direction: Direction,
                      known: Mapping[str, Any] | None = None) -> Importance:
    """fANOVA importances (Optuna's evaluator, seeded) over the complete trials of either backend.

    The complete trials are copied into an in-memory Optuna study with :func:`optuna.trial.create_trial`.
    Only parameters every complete trial has and that take more than one value are assessed: a plugin's
    own parameters exist only in the trials that chose that plugin, and fANOVA needs a value in each.
    """
    complete = _complete(records)
    if len(complete) < MIN_IMPORTANCE_TRIALS:
        return Importance(None, f"not enough trials: parameter importance needs at least {MIN_IMPORTANCE_TRIALS} "
                                f"complete trials and this run has {len(complete)}; run more trials (re-run the "
                                "search with a higher --trials) and report again.", [])
    per_trial = [flat_params(r) for r in complete]
    names = sorted({name for params in per_trial for name in params})
    common = [n for n in names if all(n in params for params in per_trial)]
    conditional = [n for n in names if n not in common and _varies([p[n] for p in per_trial if n in p])]
    assessed = [n for n in common if _varies([p[n] for p in per_trial])]
    left_out = (f" Left out because only some trials have them (their plugin was not always chosen): "
                f"{', '.join(conditional)}." if conditional else "")
    if not assessed:
        return Importance(None, "not enough variation: no hyperparameter that every complete trial has takes more "
                                f"than one value, so there is nothing to rank.{left_out}", conditional)
    objectives = [float(r["objective"]) for r in complete]
    if max(objectives) == min(objectives):
        return Importance(None, f"not enough variation: all {len(complete)} complete trials have the same objective "
                                f"({objectives[0]:.4g}), so no hyperparameter explains any of it.{left_out}",
                          conditional)
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = param_distributions(complete, known)
    study = optuna.create_study(direction=direction)
    study.add_trials([
        optuna.trial.create_trial(params={n: _stored(distributions[n], p[n]) for n in assessed},
                                  distributions={n: distributions[n] for n in assessed}, value=value)
        for p, value in zip(per_trial, objectives)
    ])
    try:
        values = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as exc:  # Optuna refuses degenerate inputs; the page says so
        return Importance(None, f"parameter importance could not be computed from {len(complete)} complete trials: "
                                f"{exc}.{left_out}", conditional)
    return Importance({k: float(v) for k, v in values.items()}, left_out.strip() or None, conditional)


def _stored(distribution: Any, value: Any) -> Any:
    from optuna.distributions import CategoricalDistribution

    return _category(value) if isinstance(distribution, CategoricalDistribution) else value


# --- plots ----------------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def plot_optimization_history(records: Sequence[Mapping[str, Any]], direction: str, objective: str) -> Figure:
    """Objective per trial number; the best complete trial so far as a step line; pruned trials as grey
    crosses at the objective they had when stopped; failed trials as red triangles along the bottom."""
    from matplotlib.ticker import MaxNLocator
    from matplotlib.transforms import blended_transform_factory

    figure = _figure(8, 4.5)
    ax = figure.add_subplot()
    by_status: dict[str, list[tuple[int, float]]] = {"complete": [], "pruned": []}
    failed = []
    for record in sorted(records, key=lambda r: r["trial"]):
        status = record.get("status")
        if status in by_status and is_finite_number(record.get("objective")):
            by_status[status].append((record["trial"], float(record["objective"])))
        elif status == "failed":
            failed.append(record["trial"])
    complete, pruned = by_status["complete"], by_status["pruned"]
    if complete:
        numbers, values = zip(*complete)
        ax.scatter(numbers, values, color="tab:blue", s=28, zorder=3, label="complete")
        best, steps = None, []
        for number, value in complete:
            best = value if best is None else (max(best, value) if direction == "maximize" else min(best, value))
            steps.append((number, best))
        last = max(r["trial"] for r in records)
        steps.append((last, steps[-1][1]))
        ax.step(*zip(*steps), where="post", color="tab:orange", linewidth=2, label="best so far")
    if pruned:
        numbers, values = zip(*pruned)
        ax.scatter(numbers, values, color="grey", marker="x", s=32, zorder=3, label="pruned (objective when stopped)")
    if failed:
        bottom = blended_transform_factory(ax.transData, ax.transAxes)
        ax.scatter(failed, [0.03] * len(failed), transform=bottom, color="tab:red", marker="v", s=40, zorder=3,
                   clip_on=False, label="failed (no objective)")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{objective} ({direction})")
    ax.set_title("Optimization history")
    ax.grid(alpha=0.3)
    locator = ax.xaxis.get_major_locator()
    assert isinstance(locator, MaxNLocator)  # a linear axis's default AutoLocator is one
    locator.set_params(integer=True)
    ax.legend(loc="best", fontsize=8)
    return figure


def plot_param_importance(importances: Mapping[str, float], objective: str) -> Figure:
    names = list(importances)[::-1]  # largest at the top
    figure = _figure(8, 1.2 + 0.4 * len(names))
    ax = figure.add_subplot()
    bars = ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.bar_label(bars, labels=[f"{importances[n]:.2f}" for n in names], padding=3, fontsize=8)
    ax.set_xlim(0, max(1.0, max(importances.values()) * 1.15))
    ax.set_xlabel(f"importance for {objective} (fANOVA, shares sum to 1)")
    ax.set_title("Parameter importance")
    ax.grid(axis="x", alpha=0.3)
    return figure


_ABSENT = object()  # a parameter the trial does not have (None can be a real choice)


@dataclass
class _Axis:
    name: str
    distribution: Any

    def position(self, value: Any) -> float:
        """``value`` on this axis, scaled to 0..1 (NaN when the trial lacks the parameter)."""
        from optuna.distributions import CategoricalDistribution

        dist = self.distribution
        if value is _ABSENT:
            return math.nan
        if isinstance(dist, CategoricalDistribution):
            choice = _category(value)
            if choice not in dist.choices:
                return math.nan
            return 0.5 if len(dist.choices) == 1 else dist.choices.index(choice) / (len(dist.choices) - 1)
        low, high, value = float(dist.low), float(dist.high), float(value)
        if high == low:
            return 0.5
        if dist.log and low > 0:
            low, high, value = math.log(low), math.log(high), math.log(value)
        return (value - low) / (high - low)

    def ticks(self) -> list[tuple[float, str]]:
        from optuna.distributions import CategoricalDistribution

        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            return [(self.position(c), _short(c)) for c in dist.choices]
        return [(0.0, f"{dist.low:.3g}"), (1.0, f"{dist.high:.3g}")]


def _short(value: Any, width: int = 14) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_parallel_coordinates(records: Sequence[Mapping[str, Any]], direction: str, objective: str,
                              known: Mapping[str, Any] | None = None,
                              order: Sequence[str] = ()) -> tuple[Figure | None, str | None]:
    """One line per complete trial from its objective (the first axis) through its scaled hyperparameters,
    coloured by the objective, the best drawn last and thickest. Categorical values sit evenly spaced on
    their axis. A trial without a parameter (of a plugin it did not choose) has no marker on that axis: its
    line goes straight on to its next parameter, so every line stays one line back to its objective."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from optuna.distributions import FloatDistribution

    complete = _complete(records)
    if len(complete) < 2:
        return None, (f"not enough trials: parallel coordinates need at least 2 complete trials and this run has "
                      f"{len(complete)}.")
    per_trial = [flat_params(r) for r in complete]
    distributions = param_distributions(complete, known)
    varying = [n for n in distributions if _varies([p[n] for p in per_trial if n in p])]
    if not varying:
        return None, "not enough variation: every complete trial has the same hyperparameters."
    ranked_names = [n for n in order if n in varying] + sorted(n for n in varying if n not in order)
    note = None
    if len(ranked_names) > MAX_PARALLEL_AXES:
        note = (f"showing {MAX_PARALLEL_AXES} of {len(ranked_names)} varying hyperparameters "
                f"({'most important first' if order else 'by name'}).")
        ranked_names = ranked_names[:MAX_PARALLEL_AXES]
    objectives = [float(r["objective"]) for r in complete]
    axes = [_Axis(objective, FloatDistribution(min(objectives), max(objectives)))]
    axes += [_Axis(n, distributions[n]) for n in ranked_names]

    figure = _figure(min(18.0, max(8.0, 1.2 * len(axes) + 2)), 5)
    ax = figure.add_subplot()
    maximize = direction == "maximize"
    colormap = colormaps["viridis" if maximize else "viridis_r"]  # the best trial is always the brightest
    norm = Normalize(min(objectives), max(objectives) if max(objectives) > min(objectives) else min(objectives) + 1)
    order_of_drawing = sorted(range(len(complete)), key=lambda i: objectives[i] if maximize else -objectives[i])
    xs = list(range(len(axes)))
    for rank, i in enumerate(order_of_drawing):
        values = [objectives[i], *(per_trial[i].get(a.name, _ABSENT) for a in axes[1:])]
        points = [(x, a.position(v)) for x, a, v in zip(xs, axes, values) if not math.isnan(a.position(v))]
        best = rank == len(order_of_drawing) - 1
        ax.plot(*zip(*points), color=colormap(norm(objectives[i])), linewidth=2.6 if best else 1.2,
                alpha=1.0 if best else 0.75, marker="o", markersize=3, zorder=3 if best else 2)
    for x, axis in zip(xs, axes):
        ax.axvline(x, color="black", linewidth=0.8, zorder=1)
        for y, label in axis.ticks():
            ax.text(x + 0.04, y, label, fontsize=7, va="center", ha="left", zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.set_xticks(xs, [_short(a.name, 22) for a in axes], rotation=25, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(axes) - 0.5)
    ax.set_ylim(-0.05, 1.05)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"Parallel coordinates: {len(complete)} complete trials")
    figure.colorbar(ScalarMappable(norm=norm, cmap=colormap), ax=ax, label=objective, pad=0.01)
    return figure, note


def plot_learning_curves(top_records: Sequence[Mapping[str, Any]]) -> Figure:
    """Loss and accuracy per epoch of each trial: training solid, validation dashed, one colour a trial;
    the epoch whose weights the trial kept (its best) is ringed on the validation curve."""
    from matplotlib.lines import Line2D

    figure = _figure(11, 4.5)
    loss_ax, accuracy_ax = figure.subplots(1, 2)
    handles = []
    for index, record in enumerate(top_records):
        color = f"C{index % 10}"
        history = record.get("history") or {}
        best_epoch = record.get("best_epoch")
        for ax, metric in ((loss_ax, "loss"), (accuracy_ax, "accuracy")):
            for key, style in ((metric, "-"), (f"val_{metric}", "--")):
                values = history.get(key) or []
                ax.plot(range(1, len(values) + 1), values, linestyle=style, color=color, marker=".", linewidth=1.5)
                if key.startswith("val_") and isinstance(best_epoch, int) and 1 <= best_epoch <= len(values):
                    ax.scatter([best_epoch], [values[best_epoch - 1]], s=70, facecolors="none", edgecolors=color,
                               linewidths=1.5, zorder=4)
        handles.append(Line2D([], [], color=color, label=f"trial {record['trial']}"))
    handles += [Line2D([], [], color="black", linestyle="-", label="train"),
                Line2D([], [], color="black", linestyle="--", label="validation")]
    for ax, metric in ((loss_ax, "loss"), (accuracy_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    loss_ax.set_title("Loss")
    accuracy_ax.set_title("Accuracy")
    accuracy_ax.legend(handles=handles, loc="lower right", fontsize=8)
    figure.suptitle(f"Learning curves of the top {len(top_records)} trial(s)")
    return figure


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


def leaderboard_html(frame) -> str:
    """The leaderboard as an HTML table, every cell escaped (reasons and parameters are free text)."""
    shown = frame[[c for c in frame.columns if c not in HIDDEN_COLUMNS]]
    text = shown.apply(lambda column: column.map(_cell)).astype(str)
    return text.to_html(index=False, escape=True, border=0, classes="leaderboard", table_id="leaderboard")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
table.summary td { padding: 2px 12px 2px 0; vertical-align: top; }
table.summary td:first-child { font-weight: 600; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
p.note { background: #fff6dd; border-left: 4px solid #e0b000; padding: 0.5em 0.8em; }
.scroll { overflow-x: auto; }
table.leaderboard { border-collapse: collapse; font-size: 0.85em; }
table.leaderboard th, table.leaderboard td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
table.leaderboard th { background: #f3f3f3; position: sticky; top: 0; }
"""


def _page(title: str, summary: list[tuple[str, str]], plots: Mapping[str, Path], notes: Mapping[str, str],
          table: str) -> str:
    esc = html.escape
    rows = "\n".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in summary)
    sections = []
    for name, heading in PLOTS.items():
        parts = [f'<section id="{name}">', f"<h2>{esc(heading)}</h2>"]
        if name in plots:
            parts.append(f'<figure><img src="{esc(plots[name].name)}" alt="{esc(heading)}"></figure>')
        if name in notes:
            parts.append(f'<p class="note">{esc(notes[name])}</p>')
        parts.append("</section>")
        sections.append("\n".join(parts))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{esc(title)}</h1>
<table class="summary">
{rows}
</table>
{chr(10).join(sections)}
<section id="leaderboard-section">
<h2>Leaderboard</h2>
<div class="scroll">
{table}
</div>
</section>
</body>
</html>
"""


def _trial_counts(records: Sequence[Mapping[str, Any]]) -> dict[str | None, int]:
    counts: dict[str | None, int] = {"complete": 0, "pruned": 0, "failed": 0}  # None: a record without a status
    for record in records:
        status = record.get("status")
        counts[status] = counts.get(status, 0) + 1
    return counts


def _describe_best(best: Mapping[str, Any] | None, tests: Mapping[int, Mapping[str, float]]) -> str:
    if best is None:
        return "no complete trial yet"
    metrics = {"val_accuracy": best.get("val_accuracy"), "val_loss": best.get("val_loss"),
               "test_accuracy": (tests.get(best["trial"]) or {}).get("accuracy")}
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
    from automl.run_dir import REPORT_DIR, RunDirectory, read_test_metrics
    from automl.search_space import OBJECTIVES

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"--top is the number of best trials whose learning curves are drawn; it must be at "
                          f"least 1, got {top!r}.")
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else RunDirectory(run_dir).report
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; pass a folder for the report (default: RUN/{REPORT_DIR}).")
    config, records, source = _read_run(run_dir)
    counts = _trial_counts(records)
    finished = counts["complete"] + counts["pruned"]
    if finished == 0:
        raise NoFinishedTrialsError(
            f"{run_dir} has no finished trial yet ({len(records)} recorded, "
            f"{counts['failed']} failed); a report needs at least one complete or pruned trial. Let the search run "
            f"(automl leaderboard {run_dir} shows its progress) or resume it with the same automl search command, "
            "then report again.")

    objective = (config.get("space") or {}).get("objective", "val_accuracy")
    direction = OBJECTIVES[objective]
    known = _study_distributions(config, run_dir)
    ranked = leaderboard.ranked(records, direction)
    tests = read_test_metrics(run_dir)  # test accuracy of the top-k, once the search has ended
    frame = leaderboard.build(records, direction, tests)

    figures: dict[str, Figure] = {}
    notes: dict[str, str] = {}
    figures["optimization_history"] = plot_optimization_history(records, direction, objective)
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
        atomic_write_bytes(plots[name], _png(figure))

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
