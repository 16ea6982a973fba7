"""The KerasTuner backend's state: the oracle, its trials and automl's records in one JSON file, replaced atomically."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

STORAGE_DIR = "kerastuner"
STATE_FILE = "state.json"
STATE_FORMAT = 1


def state_path(run_dir: Path) -> Path:
    return Path(run_dir) / STORAGE_DIR / STATE_FILE


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    """The trial records of a run (finished or still running), read without opening it for writing."""
    path = state_path(run_dir)
    if not path.exists():
        return []  # the search has not asked for its first trial yet
    state = json.loads(path.read_text())
    return [entry["record"] for entry in state["automl"]["trials"] if entry.get("record") is not None]


def pack_trials(trials: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each KerasTuner trial carries a copy of the whole space (a few KB); store every distinct
    parameter declaration once and let the trials point into that table."""
    table: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    packed = {}
    for trial_id, trial in trials.items():
        state = trial.get_state()
        refs = []
        for declaration in state["hyperparameters"]["space"]:
            key = json.dumps(declaration, sort_keys=True)
            if key not in index:
                index[key] = len(table)
                table.append(declaration)
            refs.append(index[key])
        state["hyperparameters"] = {"space": refs, "values": state["hyperparameters"]["values"]}
        packed[trial_id] = state
    return table, packed


def unpack_trials(table: list[dict[str, Any]], packed: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`pack_trials`: KerasTuner trial states (each with its own copies: KerasTuner's
    ``from_config`` deserialises the conditions of a declaration in place)."""
    return {trial_id: {**state, "hyperparameters": {"space": [copy.deepcopy(table[i])
                                                              for i in state["hyperparameters"]["space"]],
                                                    "values": state["hyperparameters"]["values"]}}
            for trial_id, state in packed.items()}


def plain(value: Any) -> Any:
    """Python scalars (the Bayesian oracle hands out numpy floats)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "item"):
        return value.item()
    return value
