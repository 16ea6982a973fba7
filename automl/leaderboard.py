"""The leaderboard: one row per trial, built from backend-neutral trial records.

Only ``complete`` trials with a finite objective are ranked, in the objective's direction (`automl.objectives`);
ties on the objective (validation accuracy saturates on small validation sets) are broken by the lower
validation loss, then the earlier trial.

Besides ``val_accuracy`` and ``val_loss``, each objective scored from predictions has a validation column (filled
when the search ranks by one of them: they are computed per epoch then) and a test column (``test_f1_macro``…,
filled for the top-k at the end of the search, as ``test_accuracy``). A regression search fills ``val_rmse`` /
``val_mae`` for every trial and ``test_rmse`` / ``test_mae`` for the top-k; its accuracy columns stay empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.io import atomic_write_text
from automl.objectives import OBJECTIVES
from automl.run_dir import RunDirectory

if TYPE_CHECKING:
    import pandas as pd

# The objectives scored from predictions, on the validation split (per trial) and the test split (the top-k).
SCORED_COLUMNS = [o.name for o in OBJECTIVES.values() if o.predicted]
TEST_COLUMNS = {f"test_{o.key}": o.key for o in OBJECTIVES.values() if o.predicted}  # column -> test metric

COLUMNS = [
    "rank", "trial", "status", "reason", "objective", "val_accuracy", "val_loss", *SCORED_COLUMNS, "test_accuracy",
    *TEST_COLUMNS, "architecture", "augmentation", "optimizer", "batch_size", "param_count", "latency_ms", "epochs",
    "best_epoch",
    "train_seconds", "seed", "data_fingerprint", "plugin_versions", "retry_of",
]


INT_COLUMNS = ("rank", "trial", "epochs", "best_epoch", "param_count", "batch_size", "seed", "retry_of")
FLOAT_COLUMNS = ("objective", "val_accuracy", "val_loss", *SCORED_COLUMNS, "test_accuracy", *TEST_COLUMNS,
                 "latency_ms", "train_seconds")


def is_finite_number(value: Any) -> bool:
    """A real score: an int or float (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def ranked(records: Iterable[Mapping[str, Any]], direction: str) -> list[Mapping[str, Any]]:
    """The rankable records, best first."""
    sign = -1.0 if direction == "maximize" else 1.0
    pool = [r for r in records if r.get("status") == "complete" and is_finite_number(r.get("objective"))]
    return sorted(pool, key=lambda r: (sign * r["objective"],
                                       r["val_loss"] if is_finite_number(r.get("val_loss")) else math.inf, r["trial"]))


def pareto_front(records: Iterable[Mapping[str, Any]], direction: str, trade_off: str) -> set[int]:
    """The complete trials no other complete trial beats on both the leaderboard's ranking (the objective in
    ``direction``, ties broken by the lower val_loss) and ``trade_off`` (a record field that is minimised:
    ``latency_ms``, ``param_count``); their numbers. Ranking rather than the bare objective keeps the first-ranked
    trial, which the export picks, on the front when another trial ties its objective at a lower cost."""
    points = [(r["trial"], place, float(r[trade_off])) for place, r in enumerate(ranked(records, direction))
              if is_finite_number(r.get(trade_off))]
    return {trial for trial, a, b in points
            if not any(a2 < a and b2 <= b for _, a2, b2 in points)}


def build(records: Iterable[Mapping[str, Any]], direction: str,
          test_metrics: Mapping[int, Mapping[str, float]] | None = None, objective: str | None = None,
          trade_off: str | None = None) -> pd.DataFrame:
    """A DataFrame with the fixed :data:`COLUMNS`, then one column per hyperparameter (``cnn.filters``…).
    ``objective`` (the name the search ranks by) is kept in ``frame.attrs`` for :func:`summary_columns`. With a
    second objective ``trade_off`` (``--objectives``), a ``pareto`` column after ``objective`` marks the trials
    of the front of the two."""
    import pandas as pd

    records = list(records)
    test_metrics = test_metrics or {}
    ranks = {r["trial"]: i + 1 for i, r in enumerate(ranked(records, direction))}
    rows, param_names = [], []
    for record in records:
        candidate = record.get("candidate") or {}
        row = {column: record.get(column) for column in COLUMNS}
        # Only a complete trial has a model to test (a metric kept from before a torn journal write is stale).
        tested = (test_metrics.get(record["trial"]) or {}) if record.get("status") == "complete" else {}
        row.update(
            rank=ranks.get(record["trial"]),
            architecture=candidate.get("architecture"),
            augmentation=candidate.get("augmentation"),
            optimizer=candidate.get("optimizer"),
            batch_size=candidate.get("batch_size"),
            test_accuracy=tested.get("accuracy"),
            **{column: tested.get(key) for column, key in TEST_COLUMNS.items()},
            plugin_versions=json.dumps(record.get("plugin_versions") or {}, sort_keys=True),
        )
        sampled = dict(candidate.get("params") or {})
        for key in ("image_size", "loss"):  # training.image_size: the long side this trial used; a regression's loss
            if candidate.get(key) is not None:
                sampled[f"training.{key}"] = candidate[key]
        for key, value in sampled.items():
            if key not in param_names:
                param_names.append(key)
            row[key] = value
        rows.append(row)
    # object dtype keeps each hyperparameter as it was sampled (an int stays an int next to missing values)
    frame = _typed(pd.DataFrame(rows, columns=COLUMNS + sorted(param_names), dtype=object))
    frame["_order"] = frame["rank"].fillna(len(frame) + 1)
    frame = frame.sort_values(["_order", "trial"]).drop(columns="_order").reset_index(drop=True)
    frame.attrs["objective"] = objective
    if trade_off is not None:
        front = pareto_front(records, direction, trade_off)
        frame.insert(frame.columns.get_loc("objective") + 1, "pareto", frame["trial"].map(lambda t: t in front))
        frame.attrs["trade_off"] = trade_off
    return frame


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    for column in FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in INT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    for column in frame.columns:
        if column not in COLUMNS:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (missing values as ``None``, plugin versions as an object)."""
    rows = json.loads(frame.to_json(orient="records"))
    for row in rows:
        if isinstance(row.get("plugin_versions"), str):
            row["plugin_versions"] = json.loads(row["plugin_versions"])
    return rows


def write(frame: pd.DataFrame, run_dir: Path) -> None:
    """Rewrite ``leaderboard.csv`` and ``leaderboard.md`` atomically."""
    layout = RunDirectory(run_dir)
    atomic_write_text(layout.leaderboard_csv, frame.to_csv(index=False))
    atomic_write_text(layout.leaderboard_md, to_markdown(frame))


def summary_columns(frame: pd.DataFrame) -> list[str]:
    """The columns shown on screen and in leaderboard.md: with an objective scored from predictions (the name in
    ``frame.attrs``, see :func:`build`), its validation and test columns beside the accuracies; the latency where
    a limit had it measured."""
    objective = OBJECTIVES.get(frame.attrs.get("objective") or "")
    scored = (objective.name, f"test_{objective.key}") if objective is not None and objective.predicted else ()
    latency = ("latency_ms",) if "latency_ms" in frame and frame["latency_ms"].notna().any() else ()
    pareto = ("pareto",) if "pareto" in frame else ()
    # a regression search has no accuracy: its columns are left out where every row lacks them
    accuracy = [c for c in ("val_accuracy", "test_accuracy") if c in frame and (frame[c].notna().any() or not scored)]
    shown = ("rank", "trial", "status", *pareto, *accuracy[:1], *scored[:1], *accuracy[1:], *scored[1:],
             "architecture", "augmentation", "optimizer", "param_count", *latency, "epochs", "train_seconds", "reason")
    return [c for c in shown if c in frame]


def to_markdown(frame: pd.DataFrame, limit: int | None = None) -> str:
    columns = summary_columns(frame)
    shown = frame[columns].head(limit) if limit else frame[columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in shown.iterrows():
        lines.append("| " + " | ".join(format_cell(row[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def format_cell(value: Any) -> str:
    """A leaderboard cell as text: 4 decimals for floats, empty for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        import pandas as pd

        if value is pd.NA:
            return ""
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "/")
