"""Parameter importance (Optuna's fANOVA) over the complete trials, with the distributions it needs:
the real study's, or inferred from the values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from automl.leaderboard import is_finite_number
from automl.report.reading import complete_records, flat_params

if TYPE_CHECKING:
    from automl.search_space import Direction

# --- distributions: the real study's, or inferred from the values -------------------------------------
_CATEGORY_TYPES = (type(None), bool, int, float, str)

# fANOVA fits a random forest on the complete trials; below this it mostly reports noise.
MIN_IMPORTANCE_TRIALS = 5


def category(value: Any) -> Any:
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
    choices = sorted({category(v) for v in values}, key=_choice_order)
    return CategoricalDistribution(choices)


def _fits(distribution: Any, value: Any) -> bool:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return category(value) in distribution.choices
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


def varies(values: Sequence[Any]) -> bool:
    return len({repr(category(v)) for v in values}) > 1


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
    complete = complete_records(records)
    if len(complete) < MIN_IMPORTANCE_TRIALS:
        return Importance(None, f"not enough trials: parameter importance needs at least {MIN_IMPORTANCE_TRIALS} "
                                f"complete trials and this run has {len(complete)}; run more trials (re-run the "
                                "search with a higher --trials) and report again.", [])
    per_trial = [flat_params(r) for r in complete]
    names = sorted({name for params in per_trial for name in params})
    common = [n for n in names if all(n in params for params in per_trial)]
    conditional = [n for n in names if n not in common and varies([p[n] for p in per_trial if n in p])]
    assessed = [n for n in common if varies([p[n] for p in per_trial])]
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

    return category(value) if isinstance(distribution, CategoricalDistribution) else value
