"""Search backends: the plugins that sample candidates and store trials; the trainer never knows which one ran.

Two objects make a backend, both defined with the other plugin base classes in :mod:`automl.plugin`:

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

from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import ConfigError
from automl.plugin import (
    BACKEND,
    DEFAULT_BACKEND,
    STUDY_NAME,
    Backend,
    BackendOptions,
    SamplingFailed,
    SearchBackend,
    TrialHandle,
)

if TYPE_CHECKING:
    from automl.plugin_manager import Registry
    from automl.search_space import SearchSpace

__all__ = ["BACKEND", "DEFAULT_BACKEND", "STUDY_NAME", "Backend", "BackendOptions", "SamplingFailed", "SearchBackend",
           "TrialHandle", "find_backend", "open_backend", "read_records", "run_backend"]


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
