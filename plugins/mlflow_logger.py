"""Built-in ``mlflow`` logger, an optional extra: ``pip install "automl[mlflow]"``, then ``--log mlflow``.

One MLflow run for the search and, nested in it, one run per trial: the candidate's hyperparameters as params,
every epoch's logs as metrics (step = the 0-based epoch), the result (``objective``, ``val_accuracy``,
``val_loss`` at the best epoch, ``epochs``…) and the status as tags; a failed trial's run ends ``FAILED``.

Where it logs: ``$MLFLOW_TRACKING_URI`` when set (a server, a database), else a SQLite database in the run
directory (``mlflow ui --backend-store-uri sqlite:///RUN/mlflow.db``); the experiment is
``$MLFLOW_EXPERIMENT_NAME``, else the run directory's name. MLflow is imported only when a run selects this
logger, so listing plugins never needs it.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from automl import Logger, hookimpl
from automl.errors import PluginError

INSTALL_HINT = 'pip install "automl[mlflow]"'
DATABASE = "mlflow.db"
RESULT_KEYS = ("objective", "val_accuracy", "val_loss", "epochs", "best_epoch", "train_seconds", "param_count")
SEARCH_PARAMS = ("data", "backend", "sampler", "pruner", "seed", "target_trials", "workers", "study")
MAX_PARAM_LENGTH = 500  # the smallest limit among MLflow versions and stores


class MLflowLogger(Logger):
    name = "mlflow"
    description = f"One MLflow run per trial (params, epoch metrics, result) inside one for the search; {INSTALL_HINT}."

    def __init__(self) -> None:
        self._client = None
        self._experiment_id = ""
        self._search_run = ""
        self._trial_runs: dict[int, str] = {}  # trial number -> its MLflow run id, while it trains

    def check(self) -> None:
        try:
            import mlflow  # noqa: F401
        except ImportError as exc:
            raise PluginError(f"the mlflow logger needs MLflow, which is not installed here ({exc}). Install it with "
                              f"{INSTALL_HINT} (or pip install mlflow), or leave out --log mlflow.") from None

    @hookimpl
    def automl_search_started(self, run_dir: Path, config: dict[str, Any]) -> None:
        from mlflow import MlflowClient

        run_dir = Path(run_dir).resolve()
        self._client = MlflowClient(tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{run_dir / DATABASE}")
        experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or run_dir.name
        experiment = self._client.get_experiment_by_name(experiment_name)
        self._experiment_id = experiment.experiment_id if experiment else self._client.create_experiment(experiment_name)
        run = self._client.create_run(self._experiment_id, run_name=f"search {run_dir.name}",
                                      tags={"automl.run_dir": str(run_dir)})
        self._search_run = run.info.run_id
        params = {key: config.get(key) for key in SEARCH_PARAMS}
        params["objective"] = (config.get("space") or {}).get("objective")
        self._log(self._search_run, params=params)

    @hookimpl
    def automl_trial_started(self, trial: int, candidate: dict[str, Any]) -> None:
        params = {key: candidate.get(key) for key in ("architecture", "augmentation", "optimizer", "batch_size",
                                                     "max_epochs", "patience")}
        self._log(self._trial_run(trial), params={**params, **(candidate.get("params") or {})})

    @hookimpl
    def automl_trial_epoch(self, trial: int, epoch: int, logs: dict[str, float]) -> None:
        self._log(self._trial_run(trial), metrics=logs, step=epoch)

    @hookimpl
    def automl_trial_finished(self, record: dict[str, Any]) -> None:
        trial, status = record["trial"], record.get("status", "")
        run_id = self._trial_run(trial)  # a trial that failed before it started gets its run now
        self._log(run_id, metrics={f"result.{key}": record.get(key) for key in RESULT_KEYS},
                  step=int(record.get("epochs") or 0),
                  tags={"automl.status": status, "automl.reason": str(record.get("reason") or "")[:5000]})
        self._client.set_terminated(run_id, status="FAILED" if status == "failed" else "FINISHED")
        del self._trial_runs[trial]

    @hookimpl
    def automl_search_finished(self, leaderboard: list[dict[str, Any]], stopped_because: str) -> None:
        for run_id in self._trial_runs.values():  # trials cut short by an interruption
            self._client.set_terminated(run_id, status="KILLED")
        self._trial_runs.clear()
        best = next((row for row in leaderboard if row.get("rank") == 1), None)
        tags = {"automl.stopped_because": stopped_because, "automl.trials": str(len(leaderboard))}
        metrics = {}
        if best is not None:
            tags["automl.best_trial"] = str(best["trial"])
            metrics = {f"best.{key}": best.get(key) for key in ("objective", "val_accuracy", "test_accuracy")}
        self._log(self._search_run, metrics=metrics, tags=tags)
        self._client.set_terminated(self._search_run, status="KILLED" if stopped_because == "interrupted" else "FINISHED")

    # --- helpers -------------------------------------------------------------------------------------------
    def _trial_run(self, trial: int) -> str:
        if trial not in self._trial_runs:
            run = self._client.create_run(self._experiment_id, run_name=f"trial_{trial:04d}",
                                          tags={"mlflow.parentRunId": self._search_run, "automl.trial": str(trial)})
            self._trial_runs[trial] = run.info.run_id
        return self._trial_runs[trial]

    def _log(self, run_id: str, *, params: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
             step: int = 0, tags: dict[str, str] | None = None) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self._client.log_batch(
            run_id,
            metrics=[Metric(key, float(value), now, step) for key, value in sorted((metrics or {}).items())
                     if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)],
            params=[Param(key, str(value)[:MAX_PARAM_LENGTH]) for key, value in sorted((params or {}).items())],
            tags=[RunTag(key, value) for key, value in sorted((tags or {}).items())],
        )


@hookimpl
def automl_register_loggers():
    return [MLflowLogger()]
