"""Hook specifications: the only way plugins — built-in or third-party — extend automl.

A plugin is a module (or object) with functions decorated by :data:`automl.hookimpl` and named like the
specs below. Third-party packages expose it through an entry point in the group ``automl``::

    [project.entry-points.automl]
    efficientnet = "automl_efficientnet"

or a single ``.py`` file is dropped into a folder passed with ``--plugins-dir``. Later families (exporters,
data loaders) get their own ``automl_*`` hooks here.

Two kinds of hooks:

* **registration hooks** (``automl_register_*``), implemented as module-level functions, return plugin objects;
* **trial lifecycle hooks** (:data:`LIFECYCLE_HOOKS`), implemented as ``@hookimpl`` methods of an
  :class:`automl.plugin.Logger` returned by ``automl_register_loggers``. A run calls them only on the loggers it
  selects by name (``--log NAME``, ``log: [NAME]``), in the process that receives the trial events: the search
  process (for trials run in it or in its ``--workers``) or an ``automl worker`` (for the trials it runs). Their
  arguments are plain data (numbers, strings, lists, dicts, a :class:`pathlib.Path`) — never TensorFlow objects.
  A lifecycle hook that raises is reported once and its logger is switched off for the rest of the run; it
  never stops the search. Their return values are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from automl.plugin import Architecture, Augmentation, Logger, Optimizer, Plugin

PROJECT_NAME = "automl"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# A hookspec only declares its hook's signature: pluggy never runs its body. The registration specs, which
# return a list, therefore ignore mypy's empty-body check (a docstring alone does not satisfy it).
@hookspec
def automl_register_architectures() -> list[Architecture]:  # type: ignore[empty-body]  # a spec: never run
    """Return the architecture plugins this plugin provides: network bodies a search space lists under
    ``architectures:``.

    Called once when the plugin manager is built. Each item is an :class:`automl.plugin.Architecture` instance
    with a ``name`` no other installed architecture has; for each trial that selects it, automl calls its
    ``space(hp)`` and then ``build(inputs, params, context)``, and adds the scaling before and the head after.
    """


@hookspec
def automl_register_augmentations() -> list[Augmentation]:  # type: ignore[empty-body]  # a spec: never run
    """Return the augmentation plugins this plugin provides (``augmentations:`` in a space; images only by default).

    Each item, an :class:`automl.plugin.Augmentation` named uniquely among the installed augmentations, returns
    Keras preprocessing layers from ``layers(params, context)``; they run in training only, so an exported model
    never augments. Called once, when the plugin manager is built.
    """


@hookspec
def automl_register_optimizers() -> list[Optimizer]:  # type: ignore[empty-body]  # a spec: never run
    """Return the optimizer plugins this plugin provides (``optimizers:`` in a space).

    An :class:`automl.plugin.Optimizer` item builds a configured ``keras.optimizers.Optimizer``, learning-rate
    schedule included, from ``build(params, context)`` (``context.steps_per_epoch`` and ``context.epochs`` size
    the schedule). Its ``name`` must differ from every other installed optimizer's. Called once, when the plugin
    manager is built.
    """


@hookspec
def automl_register_loggers() -> list[Logger]:  # type: ignore[empty-body]  # a spec: never run
    """Return the logger plugins this plugin provides.

    Called once when the plugin manager is built. Each item is an :class:`automl.plugin.Logger` instance whose
    ``name`` is unique among all installed loggers; a run selects it with ``--log NAME``. Its ``@hookimpl``
    methods named like the lifecycle hooks below receive that run's events.
    """


@hookspec
def automl_register_backends() -> list[Plugin]:  # type: ignore[empty-body]  # a spec: never run
    """Return the search backend plugins this plugin provides.

    Called once when the plugin manager is built. Each item is an :class:`automl.backends.SearchBackend` instance
    whose ``name`` is unique among all installed backends; a run chooses one with ``--backend NAME`` (the
    built-ins ``optuna`` and ``kerastuner`` are registered here too). It samples the candidates and keeps the
    trials; automl trains them.
    """


# --- trial lifecycle: implemented as @hookimpl methods of a Logger ---------------------------------------
LIFECYCLE_HOOKS = ("automl_search_started", "automl_trial_started", "automl_trial_epoch", "automl_trial_finished",
                   "automl_search_finished")


@hookspec
def automl_search_started(run_dir: Path, config: dict[str, Any]) -> None:
    """The search (or an ``automl worker`` joining one) is about to run trials.

    ``run_dir`` is the run directory (for an ``automl worker``, its ``--out``); ``config`` is the run's resolved
    experiment as in ``RUN/config.yaml`` (no password), plus ``target_trials`` and ``deadline``. Called once,
    before any other lifecycle hook of the run.
    """


@hookspec
def automl_trial_started(run_dir: Path, trial: int, candidate: dict[str, Any]) -> None:
    """Trial number ``trial`` starts training ``candidate``.

    ``candidate`` is a dict with ``architecture``, ``augmentation``, ``optimizer``, ``params`` (every
    hyperparameter, e.g. ``{"cnn.filters": 32}``), ``batch_size``, ``max_epochs`` and ``patience``. With several
    workers, trials run concurrently: events of different trials interleave.
    """


@hookspec
def automl_trial_epoch(run_dir: Path, trial: int, epoch: int, logs: dict[str, float]) -> None:
    """Trial ``trial`` finished epoch ``epoch`` (0-based, as in Keras callbacks).

    ``logs`` holds Keras' epoch logs as floats: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` and
    ``learning_rate`` when the optimizer reports it; with an objective scored from predictions (``--objective
    val_f1_macro``…) also ``val_balanced_accuracy``, ``val_f1_macro`` and ``val_auc``. A trial resumed from a
    checkpoint or continuing a Hyperband round starts at the epoch it continues from, not at 0.
    """


@hookspec
def automl_trial_finished(run_dir: Path, record: dict[str, Any]) -> None:
    """A trial has finished: ``record`` is its leaderboard record.

    It holds ``trial``, ``status`` (``complete``, ``pruned`` or ``failed``), ``reason``, and for a trial that
    trained ``objective``, ``val_accuracy``, ``val_loss`` (and the objectives scored from predictions, as in
    ``automl_trial_epoch``), ``epochs``, ``best_epoch``, ``train_seconds``,
    ``param_count``, ``history`` (per-epoch lists) and ``candidate``. A trial that failed before training (its
    sampling failed, or its worker died) may arrive here without an ``automl_trial_started`` call, and with
    only ``trial``, ``status`` and ``reason``.
    """


@hookspec
def automl_search_finished(run_dir: Path, leaderboard: list[dict[str, Any]], stopped_because: str) -> None:
    """The search (or this ``automl worker``) has stopped running trials; the last lifecycle hook of the run.

    ``leaderboard`` is the run's leaderboard as JSON-ready rows, best first (the rows of ``automl leaderboard
    --json``); ``stopped_because`` says why, e.g. ``"trials reached"``, ``"time budget used"`` or
    ``"interrupted"`` (Ctrl-C: called before the search exits). Close files and end remote runs here.
    """
