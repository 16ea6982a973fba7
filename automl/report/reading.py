"""Reading a run for its report: the trial records, the study's distributions, a trial's choices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from automl.leaderboard import is_finite_number


# --- reading the run ------------------------------------------------------------------------------------
def read_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], str, dict[str, Any]]:
    """The run's config, its trial records, where they were read from (never showing a password), and the exact
    distributions of its parameters where its backend knows them (Optuna's study does; otherwise empty, and the
    report infers them from the values). The run's backend plugin reads all of it."""
    from automl.backends import run_backend
    from automl.run_dir import read_config

    config = read_config(run_dir)
    backend = run_backend(config)
    source = backend.records_source(run_dir, config)  # raises NoFinishedTrialsError when there is no storage yet
    return config, backend.read_records(run_dir, config), source, backend.distributions(run_dir, config)


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
