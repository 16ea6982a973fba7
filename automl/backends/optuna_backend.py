"""The Optuna backend: a study in the run directory's Journal file (safe for several local processes).

Each trial is asked with ``study.ask()``, turned into a backend-neutral :class:`Candidate` through
:class:`automl.hp.OptunaDriver`, and told its outcome; the trial record (everything the leaderboard shows)
is stored as the user attribute ``automl`` so the storage alone can rebuild the leaderboard.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.backends import PRUNERS as _PRUNERS
from automl.backends import SAMPLERS as _SAMPLERS
from automl.backends import SamplingFailed
from automl.errors import ConfigError
from automl.hp import OptunaDriver
from automl.plugin_manager import Registry
from automl.search_space import Candidate, SearchSpace
from automl.trainer import COMPLETE, FAILED, PRUNED, TrialResult

STORAGE_FILE = "study.journal"
STUDY_NAME = "automl"
RECORD_ATTR = "automl"
RETRY_ATTR = "retry_of"
SAMPLERS = _SAMPLERS["optuna"]
PRUNERS = _PRUNERS["optuna"]


def make_sampler(name: str, seed: int, expected_trials: int | None):
    import optuna

    if name == "tpe":
        startup = 10 if expected_trials is None else min(10, max(4, expected_trials // 3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # group=True models each plugin's conditional parameters separately; constant_liar keeps
            # parallel workers from sampling the same point.
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, group=True,
                                              constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("--sampler cmaes needs the 'cmaes' package: pip install cmaes") from None
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ConfigError("--sampler gp needs PyTorch (Optuna's GPSampler uses it): pip install torch") from None
        return optuna.samplers.GPSampler(seed=seed)
    raise ConfigError(f"unknown Optuna sampler {name!r}; choose one of: {', '.join(SAMPLERS)}.")


def make_pruner(name: str, max_epochs: int):
    import optuna

    # One epoch says little about a network that is still warming up; judge after two when there is room.
    min_resource = 2 if max_epochs >= 6 else 1
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=min_resource, max_resource=max_epochs, reduction_factor=3)
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}; choose one of: {', '.join(PRUNERS)}.")


def read_records(storage_path: Path) -> list[dict[str, Any]]:
    """The trial records of a run's storage, for reading a finished (or running) run."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=STUDY_NAME, storage=JournalStorage(JournalFileBackend(str(storage_path))))
    return [t.user_attrs[RECORD_ATTR] for t in study.get_trials(deepcopy=False) if RECORD_ATTR in t.user_attrs]


class _Reporter:
    def __init__(self, trial: Any, backend: OptunaBackend) -> None:
        self.trial, self.backend = trial, backend

    def report(self, epoch: int, value: float) -> bool:
        started = time.perf_counter()
        self.trial.report(value, step=epoch + 1)  # step = epochs trained = Hyperband's resource
        prune = self.trial.should_prune()
        self.backend.bookkeeping_seconds += time.perf_counter() - started
        return prune


@dataclass
class OptunaTrial:
    number: int
    candidate: Candidate
    reporter: _Reporter
    retry_of: int | None
    trial: Any


class OptunaBackend:
    """Ask / tell over an Optuna study; storage is a Journal file or any Optuna storage URL."""

    def __init__(self, storage_path: Path, space: SearchSpace, registry: Registry, task: str, *,
                 sampler: str = "tpe", pruner: str = "hyperband", seed: int = 0,
                 expected_trials: int | None = None) -> None:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space, self.registry, self.task = space, registry, task
        self.storage = JournalStorage(JournalFileBackend(str(storage_path)))
        self.bookkeeping_seconds = 0.0
        existing = len(self._existing_trials())
        # A resumed run gets a fresh sampler seed, or it would replay the same random start-up points.
        sampler_obj = make_sampler(sampler, seed + existing, expected_trials)
        self.study = optuna.create_study(
            storage=self.storage, study_name=STUDY_NAME, load_if_exists=True, direction=space.direction,
            sampler=sampler_obj, pruner=make_pruner(pruner, space.training["max_epochs"]),
        )

    def _existing_trials(self) -> list:
        try:
            study_id = self.storage.get_study_id_from_name(STUDY_NAME)
        except KeyError:
            return []
        return self.storage.get_all_trials(study_id, deepcopy=False)

    # --- bookkeeping -----------------------------------------------------------------------------------
    def finished_count(self) -> int:
        from optuna.trial import TrialState

        states = (TrialState.COMPLETE, TrialState.PRUNED)
        return len(self.study.get_trials(deepcopy=False, states=states))

    def recover_interrupted(self) -> list[int]:
        """Fail trials left RUNNING by a killed process and queue each once more (at most once).

        Only call this while holding the run's lock: then no live process can own a RUNNING trial.
        """
        from optuna.trial import TrialState

        recovered = []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            record = {"trial": trial.number, "status": FAILED, "reason": "interrupted (the process running it stopped)",
                      RETRY_ATTR: trial.user_attrs.get(RETRY_ATTR)}
            self.storage.set_trial_user_attr(trial._trial_id, RECORD_ATTR, record)
            self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            if trial.user_attrs.get(RETRY_ATTR) is None and trial.params:
                self.study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
            recovered.append(trial.number)
        return recovered

    def records(self) -> list[dict[str, Any]]:
        """One record per trial that has one (running trials without a record are left out)."""
        return [t.user_attrs[RECORD_ATTR] for t in self.study.get_trials(deepcopy=False)
                if RECORD_ATTR in t.user_attrs]

    # --- ask / tell ------------------------------------------------------------------------------------
    def ask(self) -> OptunaTrial:
        started = time.perf_counter()
        trial = self.study.ask()
        try:
            candidate = self.space.sample(OptunaDriver(trial), self.registry, self.task)
        except Exception as exc:  # noqa: BLE001 - a plugin's space() raised: this trial fails, the search goes on
            from optuna.trial import TrialState

            reason = f"sampling failed: {type(exc).__name__}: {exc}"
            trial.set_user_attr(RECORD_ATTR, {"trial": trial.number, "status": FAILED, "reason": reason})
            self.study.tell(trial, state=TrialState.FAIL)
            raise SamplingFailed(trial.number, reason) from exc
        self.bookkeeping_seconds += time.perf_counter() - started
        return OptunaTrial(trial.number, candidate, _Reporter(trial, self), trial.user_attrs.get(RETRY_ATTR), trial)

    def tell(self, handle: OptunaTrial, result: TrialResult, record: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        started = time.perf_counter()
        handle.trial.set_user_attr(RECORD_ATTR, record)
        if result.status == COMPLETE:
            self.study.tell(handle.trial, result.objective)
        elif result.status == PRUNED:
            self.study.tell(handle.trial, state=TrialState.PRUNED)
        else:
            self.study.tell(handle.trial, state=TrialState.FAIL)
        self.bookkeeping_seconds += time.perf_counter() - started
