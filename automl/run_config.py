"""The two files of a run directory every reader needs: the resolved experiment and the test metrics.

Kept apart from the search engine, so the export, the report, the dashboard and the result object read a run
without importing the engine that writes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from automl.errors import RunDirectoryError
from automl.io import read_yaml_file

CONFIG_FILE = "config.yaml"
TEST_METRICS_FILE = "test_metrics.json"


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved experiment of a run directory (its config.yaml)."""
    config_path = Path(run_dir) / CONFIG_FILE
    if not config_path.is_file():
        raise RunDirectoryError(
            f"{run_dir} is not an automl run directory (it has no {CONFIG_FILE}); pass the --out folder of an "
            "automl search."
        )
    config = read_yaml_file(config_path, "the run's experiment file", RunDirectoryError) or {}
    if not isinstance(config, dict):
        raise RunDirectoryError(f"{config_path} holds a {type(config).__name__}, not an experiment; it was not written "
                                "by automl search, or was edited by hand.")
    return config


def read_test_metrics(run_dir: str | Path) -> dict[int, dict[str, float]]:
    """Test-split metrics of the top trials by trial number, written once at the end of a search (none before)."""
    path = Path(run_dir) / TEST_METRICS_FILE
    if not path.exists():
        return {}
    return {int(k): v for k, v in json.loads(path.read_text()).items()}
