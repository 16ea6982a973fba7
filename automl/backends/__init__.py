"""Search backends: they sample candidates and store trials; the trainer never knows which one ran.

A backend is one small class with this interface (see :class:`Backend`), opened by :func:`open_backend`
on a run directory. ``records()`` returns the trial records the leaderboard is built from; they have the
same keys whichever backend produced them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from automl.errors import ConfigError

if TYPE_CHECKING:
    from automl.plugin_manager import Registry
    from automl.search_space import Candidate, SearchSpace
    from automl.trainer import TrialReporter, TrialResult

# backend → its sampler names (the first is the default) and the pruners it accepts (the first is the default).
SAMPLERS: dict[str, tuple[str, ...]] = {
    "optuna": ("tpe", "random", "cmaes", "gp"),
    "kerastuner": ("hyperband", "bayesian", "random"),
}
PRUNERS: dict[str, tuple[str, ...]] = {
    "optuna": ("hyperband", "successive-halving", "median", "none"),
    # KerasTuner has no per-epoch pruner; its Hyperband sampler schedules epochs in brackets instead.
    "kerastuner": ("none",),
}


class SamplingFailed(Exception):
    """The candidate of trial ``number`` could not be sampled; the trial is already recorded as failed."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(reason)
        self.number, self.reason = number, reason


class TrialHandle(Protocol):
    """What the runner reads of the trial a backend handed out (read-only: each backend's handle has more)."""

    @property
    def number(self) -> int: ...

    @property
    def candidate(self) -> Candidate: ...

    @property
    def reporter(self) -> TrialReporter: ...

    @property
    def retry_of(self) -> int | None: ...


# Each backend has its own kind of handle, and takes back in tell() only the handles its ask() gave.
HandleT = TypeVar("HandleT", bound=TrialHandle)


class Backend(Generic[HandleT]):
    """What the search, its workers and the runner need of a backend. A backend subclasses this; the methods
    under "optional" do nothing here, so a backend that has no such thing leaves them out (the callers never
    probe with hasattr)."""

    bookkeeping_seconds: float = 0.0
    # Whether enqueue_initial can queue the space's initial trials ahead of the sampler.
    queues_initial_trials: bool = False

    def ask(self) -> HandleT:
        """The next trial; raises :class:`SamplingFailed` (after recording the failure) if sampling failed."""
        raise NotImplementedError

    def tell(self, handle: HandleT, result: TrialResult, record: dict[str, Any]) -> None:
        """Store the outcome and the leaderboard record of a trial."""
        raise NotImplementedError

    def records(self) -> list[dict[str, Any]]:
        """One record per trial that has one."""
        raise NotImplementedError

    def finished_count(self) -> int:
        """Trials that count towards ``--trials``: complete and pruned ones."""
        raise NotImplementedError

    def recover_interrupted(self) -> list[int]:
        """Fail trials a killed process left running and queue each for a retry (at most ``max_retries``)."""
        raise NotImplementedError

    def counts(self) -> tuple[int, int]:
        """(finished, running) trials of the whole study, all workers together."""
        raise NotImplementedError

    def slot_lock(self) -> AbstractContextManager[Any]:
        """A context manager every worker holds while it counts trials and asks (exact ``--trials``)."""
        raise NotImplementedError

    def fail_trial(self, number: int, reason: str, *, retry: bool, interrupted: bool = False) -> bool:
        """Fail a RUNNING trial whose worker died or hung; False if it had already finished. ``interrupted``:
        SIGINT or SIGTERM stopped it (status ``interrupted``, always queued again)."""
        raise NotImplementedError

    # --- optional ----------------------------------------------------------------------------------------
    def fail_stale_trials(self) -> list[int]:
        """Fail trials of workers that stopped sending heartbeats (shared databases); their numbers."""
        return []

    def share_config(self, config: dict[str, Any]) -> None:
        """Store the run's experiment where ``automl worker --storage URL --study NAME`` reads it."""

    def enqueue_initial(self, params_list: list[dict[str, Any]]) -> int:
        """Queue the space's initial trials ahead of the sampler (see ``queues_initial_trials``); how many were
        queued (none on a resumed run)."""
        return 0

    def ask_continuation(self, source: dict[str, Any], max_epochs: int, patience: int) -> HandleT | None:
        """A trial that continues trial ``source`` from its weights (``training.continue_best``); None where
        the backend cannot, or already did."""
        return None


def check_choice(backend: str, sampler: str | None, pruner: str | None) -> tuple[str, str]:
    """Validate backend / sampler / pruner names and fill in the backend's defaults."""
    if backend not in SAMPLERS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(SAMPLERS)}.")
    sampler = sampler or SAMPLERS[backend][0]
    pruner = pruner or PRUNERS[backend][0]
    if sampler not in SAMPLERS[backend]:
        raise ConfigError(f"--sampler {sampler!r} is not a {backend} sampler; choose one of: "
                          f"{', '.join(SAMPLERS[backend])}.")
    if pruner not in PRUNERS[backend]:
        hint = " (its hyperband sampler already stops weak trials early)" if backend == "kerastuner" else ""
        raise ConfigError(f"--pruner {pruner!r} does not apply to the {backend} backend; choose one of: "
                          f"{', '.join(PRUNERS[backend])}{hint}.")
    return sampler, pruner


def open_backend(backend: str, run_dir: Path, space: SearchSpace, registry: Registry, task: str, *, sampler: str,
                 pruner: str, seed: int, expected_trials: int | None, storage_url: str | None = None,
                 study_name: str | None = None, seed_offset: int = 0, max_retries: int = 1) -> Backend[Any]:
    """Open (create or resume) the backend's storage: the run directory's, or ``storage_url``'s database."""
    if backend == "optuna":
        from automl.backends.optuna_backend import STUDY_NAME, OptunaBackend
        from automl.storage import StorageSpec

        return OptunaBackend(StorageSpec.for_run(run_dir, storage_url), space, registry, task,
                             study_name=study_name or STUDY_NAME, sampler=sampler, pruner=pruner, seed=seed,
                             expected_trials=expected_trials, max_retries=max_retries, seed_offset=seed_offset)
    if backend == "kerastuner":
        if storage_url is not None:
            raise ConfigError("--storage (a shared database) works with the optuna backend only; KerasTuner keeps "
                              "its state in files in the run directory.")
        from automl.backends.kerastuner_backend import KerasTunerBackend

        return KerasTunerBackend(run_dir, space, registry, task, sampler=sampler, seed=seed,
                                 expected_trials=expected_trials, max_retries=max_retries)
    raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(SAMPLERS)}.")


def read_records(config: dict[str, Any], run_dir: Path) -> list[dict[str, Any]]:
    """The trial records of a finished or running run (``config`` is its config.yaml), read-only."""
    backend = config.get("backend", "optuna")
    if backend == "optuna":
        from automl.backends.optuna_backend import STUDY_NAME
        from automl.backends.optuna_backend import read_records as read_optuna
        from automl.storage import StorageSpec

        return read_optuna(StorageSpec.for_run(run_dir, config.get("storage")), config.get("study") or STUDY_NAME)
    if backend == "kerastuner":
        from automl.backends.kerastuner_backend import read_records as read_kerastuner

        return read_kerastuner(run_dir)
    raise ConfigError(f"unknown backend {backend!r} in the run's configuration; choose one of: {', '.join(SAMPLERS)}.")
