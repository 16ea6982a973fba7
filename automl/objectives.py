"""What a search ranks its trials by: one table of objectives, one row per metric.

A row names the metric as the epoch logs, the trial records and the leaderboard call it (``val_…``), whether it
is minimised or maximised, the kind of problem it applies to, and — for the metrics Keras does not log itself —
how it is scored from a split's labels and predicted probabilities. Those are computed on the validation split
after every epoch (`automl.trainer`'s validation-metrics callback, before early stopping and the pruner read the
logs) and on the test split for the top trials at the end of the search, under the key without ``val_``
(``test_metrics.json``; the leaderboard's ``test_…`` columns).

A data set is a classification or a regression problem (`automl.data`: a numeric target with a non-integer value
or many distinct values is regression, or ``--task``). Regression's ``val_rmse`` / ``val_mae`` (minimised, in the
target's units) are rows with ``problems=("regression",)``: the trainer scores them every epoch for every regression
trial; its ``val_loss`` is the mean squared error of the standardised target.

Everything that ranks trials (the leaderboard, the kept models, the export, the report, the benchmarks) reads
the direction from here: :func:`direction` for a name, :func:`run_objective` for a run's recorded config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["minimize", "maximize"]  # what Optuna's create_study takes
DEFAULT_OBJECTIVE = "val_accuracy"
CLASSIFICATION = "classification"
REGRESSION = "regression"
PROBLEMS = (CLASSIFICATION, REGRESSION)
# What a regression search ranks by when neither the space nor --objective names a regression objective.
DEFAULT_REGRESSION_OBJECTIVE = "val_rmse"


def problem_of(data: Any) -> str:
    """The kind of problem of a data set (a `Dataset`, or a run's recorded ``config.yaml``): classification unless
    it records regression (a task name, "image" or "tabular", is classification: what it was before regression)."""
    if isinstance(data, Mapping):
        return str(data.get("problem") or CLASSIFICATION)
    return str(getattr(data, "problem", None) or CLASSIFICATION)


def default_objective(problem: str) -> str:
    return DEFAULT_REGRESSION_OBJECTIVE if problem == REGRESSION else DEFAULT_OBJECTIVE


# --- scores from labels and probabilities -----------------------------------------------------------------
def _labels_and_predictions(labels, probabilities):
    import numpy as np

    y = np.asarray(labels).astype(np.int64).ravel()
    p = np.asarray(probabilities, dtype=np.float64)
    return y, p, p.argmax(axis=1)


def balanced_accuracy(labels, probabilities) -> float:
    """The mean recall over the classes present in ``labels`` (scikit-learn's balanced_accuracy_score)."""
    from sklearn import metrics

    y, _, predicted = _labels_and_predictions(labels, probabilities)
    return float(metrics.balanced_accuracy_score(y, predicted))


def f1_macro(labels, probabilities) -> float:
    """F1 averaged over every class of the model (a class it never predicts counts 0), as the model card's
    ``macro_f1``."""
    from sklearn import metrics

    y, p, predicted = _labels_and_predictions(labels, probabilities)
    return float(metrics.f1_score(y, predicted, labels=list(range(p.shape[1])), average="macro", zero_division=0))


def roc_auc(labels, probabilities) -> float:
    """ROC AUC: with two classes, of the second (positive) class's probability; with more, one-vs-rest and
    averaged over the classes (macro) — over those present in ``labels`` beside others, so a small split that
    misses a class still has a value. NaN when no class can be scored (a single class in ``labels``)."""
    import numpy as np
    from sklearn import metrics

    y, p, _ = _labels_and_predictions(labels, probabilities)
    if p.shape[1] == 2:
        return float(metrics.roc_auc_score(y, p[:, 1])) if len(np.unique(y)) == 2 else float("nan")
    scored = [float(metrics.roc_auc_score(y == c, p[:, c])) for c in range(p.shape[1]) if 0 < np.sum(y == c) < len(y)]
    return float(np.mean(scored)) if scored else float("nan")


def _values(labels, predictions):
    import numpy as np

    return np.asarray(labels, dtype=np.float64).ravel(), np.asarray(predictions, dtype=np.float64).ravel()


def rmse(labels, predictions) -> float:
    """Root mean squared error of predicted values, in the target's units."""
    import numpy as np

    y, p = _values(labels, predictions)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(labels, predictions) -> float:
    """Mean absolute error of predicted values, in the target's units."""
    import numpy as np

    y, p = _values(labels, predictions)
    return float(np.mean(np.abs(y - p)))


@dataclass(frozen=True)
class Objective:
    """One row of the table."""

    name: str  # in the epoch logs, trial records and leaderboard: val_accuracy
    direction: Direction
    description: str
    # (labels, probabilities) -> value; None: Keras logs it itself (val_loss, val_accuracy)
    score: Callable[[Any, Any], float] | None = None
    problems: tuple[str, ...] = (CLASSIFICATION,)

    @property
    def key(self) -> str:
        """Its name on the test split (``test_metrics.json``; the leaderboard's ``test_<key>``): ``f1_macro``."""
        return self.name.removeprefix("val_")

    @property
    def predicted(self) -> bool:
        """Whether it is scored from the model's predictions (each epoch, by the trainer) rather than logged by
        Keras."""
        return self.score is not None

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("val_loss", "minimize", "the validation loss (cross-entropy; regression: mean squared error of the "
              "standardised target)", problems=PROBLEMS),
    Objective("val_accuracy", "maximize", "the share of validation samples classified right"),
    Objective("val_balanced_accuracy", "maximize", "the mean recall over the classes", balanced_accuracy),
    Objective("val_f1_macro", "maximize", "F1 averaged over the classes", f1_macro),
    Objective("val_auc", "maximize", "ROC AUC (two classes: of the positive class; more: one-vs-rest, macro)",
              roc_auc),
    Objective("val_rmse", "minimize", "root mean squared error, in the target's units", rmse, (REGRESSION,)),
    Objective("val_mae", "minimize", "mean absolute error, in the target's units", mae, (REGRESSION,)),
)}


def objective_names(problem: str | None = CLASSIFICATION) -> list[str]:
    """The objectives a data set of ``problem`` can be searched by, in the table's order (None: every one)."""
    return [name for name, o in OBJECTIVES.items() if problem is None or problem in o.problems]


def predicted_objectives(problem: str = CLASSIFICATION) -> list[Objective]:
    """The rows scored from predictions (the extra validation and test columns of the leaderboard)."""
    return [o for o in OBJECTIVES.values() if o.predicted and problem in o.problems]


def check_objective(name: Any, where: str, error: type[Exception], problem: str | None = CLASSIFICATION) -> str:
    """``name`` if it is an objective for ``problem`` (None: of any problem); else ``error`` listing the valid ones
    with their directions."""
    valid = objective_names(problem)
    if name in valid:
        return str(name)
    listed = "; ".join(f"{n} ({OBJECTIVES[n].direction[:3]}imised: {OBJECTIVES[n].description})" for n in valid)
    raise error(f"{where} must be one of the objectives for {problem or 'classification or regression'}: {listed}; "
                f"got {name!r}.")


def direction(name: str) -> Direction:
    """Whether ``name`` is minimised or maximised (an unknown name is a KeyError: names are checked on input)."""
    return OBJECTIVES[name].direction


def run_objective(config: Mapping[str, Any]) -> tuple[str, Direction]:
    """The objective a run ranks by and its direction, from its recorded ``config.yaml`` (its space's
    ``objective``; a run recorded before objectives were chosen ranked by val_accuracy)."""
    name = (config.get("space") or {}).get("objective") or default_objective(problem_of(config))
    return name, direction(name)


def run_trade_off(config: Mapping[str, Any]) -> str | None:
    """The second objective of a run searched with ``--objectives`` (its space's ``training.trade_off``)."""
    return ((config.get("space") or {}).get("training") or {}).get("trade_off")


def best_of(values: Sequence[float], name: str) -> float:
    """The best of ``values`` of objective ``name``, by its direction."""
    return max(values) if direction(name) == "maximize" else min(values)


def prediction_scores(labels, probabilities, problem: str = CLASSIFICATION, *,
                      prefix: bool = True) -> dict[str, float]:
    """Every predicted objective of ``problem`` on one split, by name (``val_f1_macro``), or by key
    (``f1_macro``) with ``prefix=False``; ``probabilities`` are the predicted values for regression. Non-finite
    predictions (a diverged model) give NaN scores."""
    import numpy as np

    finite = bool(np.all(np.isfinite(np.asarray(probabilities, dtype=np.float64))))
    scores = {}
    for o in predicted_objectives(problem):
        assert o.score is not None
        scores[o.name if prefix else o.key] = o.score(labels, probabilities) if finite else float("nan")
    return scores
