"""The report's four plots, drawn on matplotlib Figures with the Agg canvas (never pyplot)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from automl.leaderboard import is_finite_number
from automl.report.importance import category, param_distributions, varies
from automl.report.reading import complete_records, flat_params

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_PARALLEL_AXES = 12


# --- plots ----------------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
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


def plot_pareto_front(records: Sequence[Mapping[str, Any]], direction: str, objective: str,
                      trade_off: str) -> tuple[Figure | None, str]:
    """The complete trials by ``trade_off`` (minimised, x) and ``objective`` (y): the Pareto front of the two
    (``--objectives``) as a line through its trials, the others as grey dots; or (None, why not)."""
    from automl.leaderboard import pareto_front

    points = {r["trial"]: (float(r[trade_off]), float(r["objective"])) for r in records
              if r.get("status") == "complete" and is_finite_number(r.get("objective"))
              and is_finite_number(r.get(trade_off))}
    if not points:
        return None, f"no complete trial with both {objective} and {trade_off} yet."
    front = sorted(points[t] for t in pareto_front(records, direction, trade_off))
    others = [p for t, p in points.items() if p not in front]
    figure = _figure(7, 4.5)
    ax = figure.add_subplot()
    if others:
        xs, ys = zip(*others)
        ax.scatter(xs, ys, color="grey", s=24, alpha=0.7, label="dominated")
    ax.plot(*zip(*front), color="tab:orange", marker="o", linewidth=2, label=f"Pareto front ({len(front)} trials)")
    for trial, point in points.items():
        if point in front:
            ax.annotate(str(trial), point, textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(f"{trade_off} (minimised)")
    ax.set_ylabel(f"{objective} ({direction})")
    ax.set_title("Pareto front: each trial on it is the best for its " + trade_off)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return figure, ""


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
            choice = category(value)
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

    complete = complete_records(records)
    if len(complete) < 2:
        return None, (f"not enough trials: parallel coordinates need at least 2 complete trials and this run has "
                      f"{len(complete)}.")
    per_trial = [flat_params(r) for r in complete]
    distributions = param_distributions(complete, known)
    varying = [n for n in distributions if varies([p[n] for p in per_trial if n in p])]
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
    """Loss and accuracy (regression: validation RMSE) per epoch of each trial: training solid, validation dashed,
    one colour a trial; the epoch whose weights the trial kept (its best) is ringed on the validation curve."""
    from matplotlib.lines import Line2D

    figure = _figure(11, 4.5)
    loss_ax, accuracy_ax = figure.subplots(1, 2)
    histories = [record.get("history") or {} for record in top_records]
    regression = any("val_rmse" in h for h in histories) and not any("val_accuracy" in h for h in histories)
    second = "rmse" if regression else "accuracy"
    handles = []
    for index, record in enumerate(top_records):
        color = f"C{index % 10}"
        history = record.get("history") or {}
        best_epoch = record.get("best_epoch")
        for ax, metric in ((loss_ax, "loss"), (accuracy_ax, second)):
            for key, style in ((metric, "-"), (f"val_{metric}", "--")):
                values = history.get(key) or []
                ax.plot(range(1, len(values) + 1), values, linestyle=style, color=color, marker=".", linewidth=1.5)
                if key.startswith("val_") and isinstance(best_epoch, int) and 1 <= best_epoch <= len(values):
                    ax.scatter([best_epoch], [values[best_epoch - 1]], s=70, facecolors="none", edgecolors=color,
                               linewidths=1.5, zorder=4)
        handles.append(Line2D([], [], color=color, label=f"trial {record['trial']}"))
    handles += [Line2D([], [], color="black", linestyle="-", label="train"),
                Line2D([], [], color="black", linestyle="--", label="validation")]
    for ax, metric in ((loss_ax, "loss"), (accuracy_ax, second)):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    loss_ax.set_title("Loss")
    accuracy_ax.set_title("Validation RMSE (target units)" if regression else "Accuracy")
    accuracy_ax.legend(handles=handles, loc="upper right" if regression else "lower right", fontsize=8)
    figure.suptitle(f"Learning curves of the top {len(top_records)} trial(s)")
    return figure
