"""Base classes for the three searched plugin families, for loggers and for search backends.

A plugin object is small: a ``name``, the ``tasks`` it supports, a ``space(hp)`` method that declares its
hyperparameters through :class:`automl.hp.PluginHP` and returns their values, and one method that does the
work. Built-in plugins (``automl_plugins``) subclass these exactly as a third party would.

A :class:`Logger` is not searched: a run selects it by name (``--log NAME``) and it receives that run's trial
lifecycle through ``@hookimpl`` methods (see :mod:`automl.hookspecs`). A :class:`SearchBackend` is not searched
either: a run chooses it (``--backend NAME``); it samples the candidates and keeps the trials, through the
:class:`Backend` it opens on the run's storage.

Keras is only imported inside the methods that build things, so listing plugins stays fast.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from automl.errors import ConfigError

if TYPE_CHECKING:
    import keras

    from automl.hp import PluginHP
    from automl.plugin_manager import Registry
    from automl.search_space import Candidate, SearchSpace
    from automl.trainer import TrialReporter, TrialResult

TASKS = ("image", "tabular")
FAMILIES = ("architecture", "augmentation", "optimizer")  # the families a search space samples from
LOGGER = "logger"  # the family of Logger plugins, selected per run and never searched
BACKEND = "backend"  # the family of SearchBackend plugins, chosen per run with --backend NAME
DEFAULT_BACKEND = "optuna"
STUDY_NAME = "automl"  # the study a run directory's own storage holds (a shared database may hold several)


@dataclass(frozen=True)
class BuildContext:
    """What a plugin may know about the problem when it builds."""

    task: str  # "image" or "tabular"
    input_shape: tuple[int, ...]  # per-sample shape, e.g. (8, 8, 1)
    num_classes: int
    seed: int = 0
    steps_per_epoch: int = 1  # for learning-rate schedules
    epochs: int = 1


class Plugin:
    """Common shape of every plugin object."""

    family: ClassVar[str]
    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]] = TASKS
    description: ClassVar[str] = ""
    # Short names of hyperparameters that do not change what build() / layers() returns because only the
    # training loop reads them; the contract kit expects every other one to change the built object.
    training_only: ClassVar[tuple[str, ...]] = ()

    def space(self, hp: PluginHP) -> dict[str, Any]:
        """Declare this plugin's hyperparameters with ``hp.int`` / ``hp.float`` / ``hp.choice`` and
        return ``{short_name: value}``. Called only when this plugin is selected for a trial."""
        return {}

    def __repr__(self) -> str:
        return f"<{self.family} plugin {self.name!r}>"


class Architecture(Plugin):
    """Builds the body of a network; automl adds input preprocessing before and the classifier head after."""

    family = "architecture"

    def build(self, inputs: keras.KerasTensor, params: dict[str, Any], context: BuildContext) -> keras.KerasTensor:
        """Return a ``(batch, features)`` tensor computed from ``inputs``; automl adds the classifier head.

        ``inputs`` are already scaled (images to [0, 1], tabular features standardised) and augmented; an image
        arrives as ``(batch, height, width, channels)``, a table row as ``(batch, features)``. End an image
        network with global pooling or a ``Flatten`` (automl flattens a higher rank, but the contract kit flags
        it: a forgotten pooling layer makes the head grow with the input). Draw every choice from ``params``,
        pass ``seed=context.seed`` to random layers (``Dropout``), and use only serialisable Keras layers (no
        ``Lambda``) so the model exports and reloads safely.
        """
        raise NotImplementedError


class Augmentation(Plugin):
    """Returns Keras preprocessing layers; they are active in training only (Keras' random layers are)."""

    family = "augmentation"
    tasks = ("image",)

    def layers(self, params: dict[str, Any], context: BuildContext) -> list[keras.layers.Layer]:
        """Return the layers to apply, in order (an empty list for no augmentation)."""
        raise NotImplementedError


class Optimizer(Plugin):
    """Returns a configured ``keras.optimizers.Optimizer``, learning-rate schedule included."""

    family = "optimizer"

    def build(self, params: dict[str, Any], context: BuildContext) -> keras.optimizers.Optimizer:
        raise NotImplementedError


class Logger(Plugin):
    """Receives the trial lifecycle of the runs that select it (``--log NAME``, ``log: [NAME]`` in YAML).

    Implement any of the lifecycle hooks of :mod:`automl.hookspecs` (``automl_search_started``,
    ``automl_trial_started``, ``automl_trial_epoch``, ``automl_trial_finished``, ``automl_search_finished``) as
    methods decorated with :data:`automl.hookimpl`; leave out the ones you do not need, and any argument you do
    not use. ``automl_register_loggers`` returns a fresh instance per run, so keeping state on ``self`` is fine.
    Import heavy packages inside the methods: ``automl plugins`` imports every plugin module.
    """

    family = LOGGER

    def check(self) -> None:
        """Raise :class:`automl.errors.PluginError` if this logger cannot work here (a package it needs is not
        installed, say), with a message that says how to fix it. Called when a run selects it, before any
        training; the default accepts."""


# --- search backends --------------------------------------------------------------------------------
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
            raise ConfigError(f"--storage (a shared database) works with a backend that supports one (optuna); "
                              f"the {self.name} backend keeps its state in files in the run directory.")
        if workers > 1 and not self.worker_processes:
            raise ConfigError(f"--workers {workers} needs a backend whose storage several processes share (optuna); "
                              f"the {self.name} backend keeps its state in one process. Use --backend optuna, or "
                              "--workers 1.")


# --- shared helpers for optimizer plugins ---------------------------------------------------------------
SCHEDULES = ("constant", "cosine", "warmup_cosine")


def learning_rate_space(hp: PluginHP, low: float, high: float, default: float) -> dict[str, Any]:
    """Declare the learning-rate parameters every optimizer shares: ``learning_rate`` and ``schedule``."""
    return {
        "learning_rate": hp.float("learning_rate", low, high, log=True, default=default),
        "schedule": hp.choice("schedule", SCHEDULES, default="constant"),
    }


def learning_rate(params: dict[str, Any], context: BuildContext) -> Any:
    """The learning rate (a float or a Keras schedule) described by ``learning_rate_space`` values."""
    import keras

    base = params["learning_rate"]
    schedule = params.get("schedule", "constant")
    total_steps = max(1, context.steps_per_epoch * context.epochs)
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(base, decay_steps=total_steps, alpha=0.05)
    if schedule == "warmup_cosine":
        warmup = max(1, min(context.steps_per_epoch, total_steps // 5))
        return keras.optimizers.schedules.CosineDecay(
            base * 0.1, decay_steps=max(1, total_steps - warmup), alpha=0.05,
            warmup_target=base, warmup_steps=warmup,
        )
    raise ValueError(f"schedule must be one of {SCHEDULES}; got {schedule!r}.")
