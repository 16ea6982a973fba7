"""A run directory (``automl search --out RUN``): the one place that knows its layout.

    RUN/config.yaml          the resolved experiment (every option, the space, the data's fingerprint)
    RUN/study.journal        the study (Optuna's journal file, or KerasTuner's state beside it)
    RUN/.lock                held by the search for as long as it runs
    RUN/leaderboard.csv|md   the ranked trials, rewritten after every trial
    RUN/test_metrics.json    test-split metrics of the top trials, written once at the end
    RUN/trials/NNNN/         the kept (top-k) trials' models; trials/.pending/ holds one until it is ranked
    RUN/checkpoints/NNNN/    a running trial's checkpoint; checkpoints/warm/ the weights a promotion starts from
    RUN/best/                the exported model and its card
    RUN/exports/NAME/        other exports (``automl export --trial N``, ``--refit``)
    RUN/report/              ``automl report``'s plots and page

Readers (the search, its workers, the export, the report, the dashboard, ``automl predict``, the result
object) ask a :class:`RunDirectory` for a path instead of spelling it, so the layout can change in one file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.errors import RunDirectoryError
from automl.io import read_yaml_file

CONFIG_FILE = "config.yaml"
TEST_METRICS_FILE = "test_metrics.json"
JOURNAL_FILE = "study.journal"
LOCK_FILE = ".lock"
LEADERBOARD_FILES = ("leaderboard.csv", "leaderboard.md")
BEST_DIR = "best"
TRIALS_DIR = "trials"
CHECKPOINTS_DIR = "checkpoints"
REPORT_DIR = "report"


@dataclass(frozen=True)
class RunDirectory:
    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    # --- files and folders -----------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def test_metrics(self) -> Path:
        return self.root / TEST_METRICS_FILE

    @property
    def journal(self) -> Path:
        return self.root / JOURNAL_FILE

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def leaderboard_csv(self) -> Path:
        return self.root / LEADERBOARD_FILES[0]

    @property
    def leaderboard_md(self) -> Path:
        return self.root / LEADERBOARD_FILES[1]

    @property
    def best(self) -> Path:
        """The exported model's folder."""
        return self.root / BEST_DIR

    @property
    def trials(self) -> Path:
        return self.root / TRIALS_DIR

    @property
    def trials_lock(self) -> Path:
        """Held while a worker keeps or drops trial models (several finish at once)."""
        return self.root / ".trials.lock"

    @property
    def pending(self) -> Path:
        return self.trials / ".pending"

    @property
    def warm(self) -> Path:
        return self.root / CHECKPOINTS_DIR / "warm"

    @property
    def exports(self) -> Path:
        """Where ``automl export`` writes any export other than the search's best/."""
        return self.root / "exports"

    @property
    def report(self) -> Path:
        return self.root / REPORT_DIR

    def trial_model(self, number: int) -> Path:
        """Where a search keeps a top-k trial's model (:func:`automl.runner.keep_top_models`)."""
        return self.trials / f"{int(number):04d}" / "model.keras"

    def kept_trials(self) -> list[int]:
        """The trials whose models are kept, by number."""
        return sorted(int(path.parent.name) for path in self.trials.glob("*/model.keras"))

    def pending_model(self, number: int) -> Path:
        """Where a finished trial's model waits, saved and checked, until it is kept or dropped. Not in its trial's
        folder: another worker's clean-up removes the folders of trials outside the top-k."""
        return self.pending / f"{int(number):04d}.{os.getpid()}.keras"

    def checkpoint(self, number: int) -> Path:
        """A running trial's checkpoint folder (a retry shares the one of the attempt it retries)."""
        return self.root / CHECKPOINTS_DIR / f"{int(number):04d}"

    def warm_start(self, number: int) -> Path:
        """The saved weights of trial ``number``, which a Hyperband promotion may continue from."""
        return self.warm / f"{int(number):04d}.weights.h5"

    # --- what every reader needs -------------------------------------------------------------------------
    def is_run(self) -> bool:
        return self.config.is_file()

    def read_config(self) -> dict[str, Any]:
        """The resolved experiment (config.yaml)."""
        if not self.is_run():
            raise RunDirectoryError(
                f"{self.root} is not an automl run directory (it has no {CONFIG_FILE}); pass the --out folder of an "
                "automl search."
            )
        config = read_yaml_file(self.config, "the run's experiment file", RunDirectoryError) or {}
        if not isinstance(config, dict):
            raise RunDirectoryError(f"{self.config} holds a {type(config).__name__}, not an experiment; it was not "
                                    "written by automl search, or was edited by hand.")
        return config

    def read_test_metrics(self) -> dict[int, dict[str, float]]:
        """Test-split metrics of the top trials by trial number, written once at the end of a search (none
        before)."""
        if not self.test_metrics.exists():
            return {}
        return {int(k): v for k, v in json.loads(self.test_metrics.read_text()).items()}


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved experiment of a run directory (its config.yaml)."""
    return RunDirectory(run_dir).read_config()


def read_test_metrics(run_dir: str | Path) -> dict[int, dict[str, float]]:
    """Test-split metrics of the top trials by trial number (none before the search's end)."""
    return RunDirectory(run_dir).read_test_metrics()
