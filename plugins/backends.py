"""Built-in search backends: ``optuna`` (the default) and ``kerastuner``.

They register on ``automl_register_backends`` like any third-party backend. Each class says what its backend
offers; the work is done in :mod:`automl.backends.optuna_backend` and :mod:`automl.backends.kerastuner`,
imported on first use so that loading the plugins stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automl import hookimpl
from automl.backends import Backend, BackendOptions, SearchBackend
from automl.errors import ConfigError


class OptunaSearch(SearchBackend):
    """Optuna's samplers and per-epoch pruners over a study in the run directory or a shared database."""

    name = "optuna"
    description = ("Optuna: TPE, random, CMA-ES or Gaussian-process sampling; Hyperband, successive-halving or "
                   "median pruning; a Journal file in the run directory or a shared database (--storage).")
    samplers = ("tpe", "random", "cmaes", "gp")
    pruners = ("hyperband", "successive-halving", "median", "none")
    trade_off_samplers = ("tpe",)  # as a two-objective TPE beside the study (optuna_backend.TradeOffProposer)
    shared_storage = True
    worker_processes = True
    # Samplers that need a package automl does not install.
    sampler_packages = {"cmaes": ("cmaes", "pip install cmaes"), "gp": ("torch", "pip install torch (Optuna's GPSampler "
                                                                                   "uses PyTorch)")}

    def check_choice(self, sampler: str | None, pruner: str | None) -> tuple[str, str]:
        import importlib.util

        sampler, pruner = super().check_choice(sampler, pruner)
        package, install = self.sampler_packages.get(sampler, (None, ""))
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(f"--sampler {sampler} needs the {package!r} package, which is not installed: {install}; "
                              "or choose another sampler.")
        return sampler, pruner

    def open(self, options: BackendOptions) -> Backend[Any]:
        from automl.backends.optuna_backend import open_run

        return open_run(options, search_trade_off=options.sampler in self.trade_off_samplers)

    def read_records(self, run_dir: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
        from automl.backends import STUDY_NAME
        from automl.backends.optuna_backend import read_records
        from automl.storage import StorageSpec

        return read_records(StorageSpec.for_run(run_dir, config.get("storage")), config.get("study") or STUDY_NAME)

    def records_source(self, run_dir: Path, config: dict[str, Any]) -> str:
        from automl.backends.optuna_backend import run_storage

        return run_storage(run_dir, config).shown

    def repair(self, run_dir: Path) -> str | None:
        from automl.run_dir import RunDirectory
        from automl.storage import repair_journal

        return repair_journal(RunDirectory(run_dir).journal)

    def distributions(self, run_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
        from automl.backends.optuna_backend import run_distributions

        return run_distributions(run_dir, config)

    def dashboard_storage(self, run_dir: Path, config: dict[str, Any]) -> tuple[Any, str, str]:
        from automl.backends.optuna_backend import dashboard_storage

        return dashboard_storage(run_dir, config)


class KerasTunerSearch(SearchBackend):
    """KerasTuner's oracles over a state file in the run directory; trials train in the search process."""

    name = "kerastuner"
    description = ("KerasTuner: Hyperband brackets, Bayesian optimisation or random search; one state file in the "
                   "run directory, trials in the search process.")
    samplers = ("hyperband", "bayesian", "random")
    pruners = ("none",)
    pruner_note = "its hyperband sampler already stops weak trials early"

    def open(self, options: BackendOptions) -> Backend[Any]:
        from automl.backends.kerastuner import open_run

        return open_run(options)

    def read_records(self, run_dir: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
        from automl.backends.kerastuner import read_records

        return read_records(run_dir)

    def records_source(self, run_dir: Path, config: dict[str, Any]) -> str:
        from automl.backends.kerastuner import state_path

        return str(state_path(run_dir))


@hookimpl
def automl_register_backends():
    return [OptunaSearch(), KerasTunerSearch()]
