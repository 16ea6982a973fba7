"""Search backends: the plugins that sample candidates and store trials; the trainer never knows which one ran.

Two objects make a backend:

* :class:`SearchBackend`, the **plugin** registered on ``automl_register_backends`` (the built-ins ``optuna``
  and ``kerastuner`` register there exactly as a third-party package would). It names the backend's samplers
  and pruners, says what it supports (a shared ``--storage`` database, trials in ``--workers`` processes),
  opens a run's storage, and reads a finished run's trial records back for the leaderboard, the report and the
  export.
* :class:`Backend`, the **open storage of one run** that :meth:`SearchBackend.open` returns: ask / tell and the
  trial bookkeeping the runner and the workers need.

``records()`` returns the trial records the leaderboard is built from; they have the same keys whichever
backend produced them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from automl.errors import ConfigError
from automl.plugin import BACKEND, Plugin

if TYPE_CHECKING:
    from automl.plugin_manager import Registry
    from automl.search_space import Candidate, SearchSpace
    from automl.trainer import TrialReporter, TrialResult

DEFAULT_BACKEND = "optuna"
STUDY_NAME = "automl"  # the study a run directory's own storage holds (a shared database may hold several)


class SamplingFailed(Exception):
    """The candidate of trial ``number`` could not be sampled; the trial is already recorded as failed."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(reason)
        self.number, self.reason = number, reason


@dataclass
class TrialHandle:
    """A trial a backend handed out, as the runner reads it. A backend subclasses it (as a dataclass whose own
    fields have defaults) to keep what its ``tell`` needs."""

    number: int
    candidate: Candidate
    reporter: TrialReporter  # per-epoch reports; report() returning True prunes the trial (NoPruning never does)
    retry_of: int | None = None  # the trial this one runs again after an interruption or a crash
    continues: int | None = None  # the trial whose weights this one trains on from (a promotion, continue_best)
    may_be_continued: bool = False  # keep its weights when it completes: a later trial may continue it


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

    def release(self, handle: HandleT) -> None:
        """The trial stops without a ``tell`` (it was interrupted and ``fail_trial`` records it): let go of what
        the handle holds, such as a heartbeat thread."""

    def ask_continuation(self, source: dict[str, Any], max_epochs: int, patience: int) -> HandleT | None:
        """A trial that continues trial ``source`` from its weights (``training.continue_best``); None where
        the backend cannot, or already did."""
        return None


@dataclass(frozen=True)
class BackendOptions:
    """What a search (or a worker joining it) hands :meth:`SearchBackend.open`."""

    run_dir: Path
    space: SearchSpace
    registry: Registry
    task: str  # "image" or "tabular"
    sampler: str  # one of the plugin's samplers
    pruner: str  # one of the plugin's pruners
    seed: int
    expected_trials: int | None  # --trials (None: bounded by --time-budget only)
    storage_url: str | None = None  # --storage: only for a plugin with shared_storage
    study_name: str = STUDY_NAME
    seed_offset: int = 0  # the worker's index: each worker draws its own random stream
    max_retries: int = 1  # --max-retries: how often an interrupted or crashed trial is run again


class SearchBackend(Plugin):
    """A search backend plugin: who samples the candidates and keeps the trials (``--backend NAME``).

    Return an instance from ``automl_register_backends``. Subclass it, name the samplers and pruners, and
    implement :meth:`open` (a :class:`Backend` on the run's storage) and :meth:`read_records`; the methods
    under "optional" have working defaults. automl trains every candidate itself, with early stopping and
    pruning through the handle's ``reporter``.
    """

    family = BACKEND
    # The --sampler names it accepts; the first is the default.
    samplers: ClassVar[tuple[str, ...]] = ("default",)
    # The --pruner names it accepts; the first is the default ("none": it never stops a trial early).
    pruners: ClassVar[tuple[str, ...]] = ("none",)
    # Why a --pruner is refused, appended to the message (e.g. "its hyperband sampler already stops ...").
    pruner_note: ClassVar[str] = ""
    # The --sampler names that search the second objective of --objectives beside the first; the others search the
    # first alone, and the second is only measured and marked on the leaderboard's Pareto front.
    trade_off_samplers: ClassVar[tuple[str, ...]] = ()
    # Whether it can keep a study in a database several machines share (--storage URL, automl worker).
    shared_storage: ClassVar[bool] = False
    # Whether trials may train in --workers processes that open the same storage at once; if not, trials train in
    # the search process and --workers above 1 is refused.
    worker_processes: ClassVar[bool] = False

    def open(self, options: BackendOptions) -> Backend[Any]:
        """Create or resume the run's storage (``options.run_dir``, or ``options.storage_url``)."""
        raise NotImplementedError

    def read_records(self, run_dir: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
        """The trial records of a finished or running run, read-only (``config`` is the run's configuration)."""
        raise NotImplementedError

    # --- optional ----------------------------------------------------------------------------------------
    def records_source(self, run_dir: Path, config: dict[str, Any]) -> str:
        """Where :meth:`read_records` reads from, as the report shows it (never with a password)."""
        return str(run_dir)

    def repair(self, run_dir: Path) -> str | None:
        """Mend what a killed process left in the run directory's storage, before :meth:`open` and under the
        run's lock; a sentence saying what was mended (None: nothing)."""
        return None

    def distributions(self, run_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
        """The exact distributions (``optuna.distributions``) of the run's parameters by name, for the report's
        parameter importance; empty: the report infers them from the values."""
        return {}

    def dashboard_storage(self, run_dir: Path, config: dict[str, Any]) -> tuple[Any, str, str]:
        """(an Optuna storage, the study name, where it is as shown) for ``automl dashboard``."""
        raise ConfigError(
            f"{run_dir} was searched with the {self.name} backend, which keeps no Optuna study; optuna-dashboard "
            f"shows Optuna studies only, so it needs a run of the optuna backend (automl search ... --backend "
            f"optuna). For plots and a leaderboard page of this run use: automl report {run_dir}")

    # --- checks ------------------------------------------------------------------------------------------
    def check_choice(self, sampler: str | None, pruner: str | None) -> tuple[str, str]:
        """Validate the sampler and pruner names and fill in this backend's defaults."""
        sampler = sampler or self.samplers[0]
        pruner = pruner or self.pruners[0]
        if sampler not in self.samplers:
            raise ConfigError(f"--sampler {sampler!r} is not a {self.name} sampler; choose one of: "
                              f"{', '.join(self.samplers)}.")
        if pruner not in self.pruners:
            note = f" ({self.pruner_note})" if self.pruner_note else ""
            raise ConfigError(f"--pruner {pruner!r} does not apply to the {self.name} backend; choose one of: "
                              f"{', '.join(self.pruners)}{note}.")
        return sampler, pruner

    def check_run(self, *, workers: int, storage_url: str | None) -> None:
        """Refuse the options this backend cannot serve, before anything is written."""
        if storage_url is not None and not self.shared_storage:
            raise ConfigError(f"--storage (a shared database) works with a backend that supports one, such as the "
                              f"optuna backend; the {self.name} backend keeps its state in files in the run directory.")
        if workers > 1 and not self.worker_processes:
            raise ConfigError(f"--workers {workers} needs a backend whose storage several processes share, such as the "
                              f"optuna backend; the {self.name} backend keeps its state in one process. Use --backend "
                              "optuna, or --workers 1.")


def find_backend(registry: Registry, name: str) -> SearchBackend:
    """The installed backend plugin named ``name``."""
    entries = registry.family(BACKEND)
    if name not in entries:
        raise ConfigError(f"unknown backend {name!r}; installed backends: {', '.join(sorted(entries)) or 'none'} "
                          "(a third-party backend is a plugin: see automl plugins).")
    plugin = entries[name].plugin
    assert isinstance(plugin, SearchBackend)  # the registry checked the family's base class
    return plugin


def run_backend(config: dict[str, Any]) -> SearchBackend:
    """The backend plugin a run was searched with (``config`` is its configuration), loaded with the run's own
    plugins."""
    from automl.plugin_manager import build_registry

    name = config.get("backend") or DEFAULT_BACKEND
    registry = build_registry(plugins_dir=config.get("plugins_dir"), plugins=config.get("plugins") or ())
    if name not in registry.family(BACKEND):
        raise ConfigError(f"the run was searched with the backend {name!r}, which is not installed here; install the "
                          f"package that provides it (installed backends: {', '.join(registry.names(BACKEND))}).")
    return find_backend(registry, name)


def open_backend(name: str, run_dir: Path, space: SearchSpace, registry: Registry, task: str, *, sampler: str,
                 pruner: str, seed: int, expected_trials: int | None, storage_url: str | None = None,
                 study_name: str | None = None, seed_offset: int = 0, max_retries: int = 1) -> Backend[Any]:
    """Open (create or resume) the storage of the backend plugin ``name``: the run directory's, or
    ``storage_url``'s database."""
    plugin = find_backend(registry, name)
    sampler, pruner = plugin.check_choice(sampler, pruner)
    plugin.check_run(workers=0, storage_url=storage_url)
    return plugin.open(BackendOptions(Path(run_dir), space, registry, task, sampler=sampler, pruner=pruner, seed=seed,
                                      expected_trials=expected_trials, storage_url=storage_url,
                                      study_name=study_name or STUDY_NAME, seed_offset=seed_offset,
                                      max_retries=max_retries))


def read_records(config: dict[str, Any], run_dir: Path) -> list[dict[str, Any]]:
    """The trial records of a finished or running run (``config`` is its configuration), read-only."""
    return run_backend(config).read_records(Path(run_dir), config)
