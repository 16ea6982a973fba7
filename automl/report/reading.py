"""Reading a run for its report: the trial records, the study's distributions, a trial's choices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import NoFinishedTrialsError
from automl.leaderboard import is_finite_number

if TYPE_CHECKING:
    pass

# --- reading the run ------------------------------------------------------------------------------------
def read_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
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


def study_distributions(config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
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


def complete_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("status") == "complete" and is_finite_number(r.get("objective"))]
