"""The trial lifecycle, told to the loggers a run selects (``--log NAME``; ``log: [NAME]`` in YAML).

:func:`select_loggers` turns the names into :class:`automl.plugin.Logger` objects before any training: an
unknown name, or a logger whose :meth:`~automl.plugin.Logger.check` fails (a package is missing), stops the
command with a named error. :class:`LifecycleHooks` then calls their hooks (:mod:`automl.hookspecs`) from the
process that receives the trial events — the search process, whether its trials run in it or in worker
processes, or an ``automl worker``. A logger hook that raises is reported once, naming the logger, and that
logger is switched off for the rest of the run (a tracking server that is down must not slow every later epoch
with its retries); the search goes on.
"""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from automl.errors import AutomlError, ConfigError, PluginError
from automl.events import TrialEpoch, TrialEvent, TrialFinished, TrialStarted
from automl.plugin import LOGGER, Logger
from automl.plugin_manager import PluginEntry, Registry, logger_plugin_manager

NO_LOGGERS = "none"  # `--log none`: no logger, not even the ones a resumed run had


def normalize_logger_names(value: Any) -> list[str] | None:
    """The ``log`` option as a list of unique names: ``None`` stays ``None`` (not given), ``"a,b"`` and
    ``["a", "b"]`` both give ``["a", "b"]``, and ``none`` gives ``[]``."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"log takes logger names (e.g. [tensorboard] in YAML, --log tensorboard on the command "
                          f"line); got {value!r}.")
    names = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    if NO_LOGGERS in names:
        if len(names) > 1:
            raise ConfigError(f"--log {NO_LOGGERS} turns every logger off and cannot be combined with others; got "
                              f"{names}.")
        return []
    return names


def select_loggers(registry: Registry, names: Sequence[str]) -> list[PluginEntry]:
    """The installed loggers named in ``names``, each checked; raises before anything is trained."""
    registry.check_installed(LOGGER, names, lambda unknown, installed: (
        f"unknown logger {unknown} (from --log or the experiment's 'log'); installed loggers: {installed}. Use one "
        f"of those, add a logger plugin (--plugins-dir, or a package with an 'automl' entry point), or --log "
        f"{NO_LOGGERS}."))
    entries = [registry.family(LOGGER)[name] for name in names]
    for entry in entries:
        try:
            cast(Logger, entry.plugin).check()  # the registry holds only Logger objects in this family
        except AutomlError:
            raise
        except Exception as exc:  # plugin code: name the logger rather than show a traceback
            raise PluginError(f"logger {entry.name!r} ({entry.source}) cannot start: {type(exc).__name__}: {exc}") \
                from None
    return entries


class LifecycleHooks:
    """Calls the lifecycle hooks of the selected loggers, in the order they were selected."""

    def __init__(self, loggers: Iterable[PluginEntry], run_dir: Path, report: Callable[[str], None]) -> None:
        self.entries = list(loggers)
        self.run_dir, self.report = Path(run_dir), report
        self.pm = logger_plugin_manager(entry.plugin for entry in self.entries)
        self.switched_off: set[str] = set()

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self.entries]

    def search_started(self, config: dict[str, Any]) -> None:
        self._call("automl_search_started", config=config)

    def __call__(self, event: TrialEvent) -> None:
        """One runner event (:mod:`automl.events`) → the matching hook."""
        if isinstance(event, TrialStarted):
            self._call("automl_trial_started", trial=event.trial, candidate=event.candidate)
        elif isinstance(event, TrialEpoch):
            self._call("automl_trial_epoch", trial=event.trial, epoch=event.epoch, logs=event.logs)
        elif isinstance(event, TrialFinished):
            self._call("automl_trial_finished", record=event.record)

    def search_finished(self, leaderboard: list[dict[str, Any]], stopped_because: str) -> None:
        self._call("automl_search_finished", leaderboard=leaderboard, stopped_because=stopped_because)

    def _call(self, hook_name: str, **arguments: Any) -> None:
        if not self.entries:
            return
        arguments["run_dir"] = self.run_dir
        impls = {impl.plugin_name: impl for impl in getattr(self.pm.hook, hook_name).get_hookimpls()}
        for entry in self.entries:
            impl = impls.get(f"{LOGGER}:{entry.name}")
            if impl is None or entry.name in self.switched_off:
                continue
            # Each logger gets its own copy: one that edits a record cannot change what the next one sees.
            try:
                impl.function(**{name: copy.deepcopy(arguments[name]) for name in impl.argnames})
            except Exception as exc:  # a logger must never stop the search
                self.switched_off.add(entry.name)
                self.report(f"warning: logger {entry.name!r} ({entry.source}) raised in {hook_name}"
                            f"{_trial_of(arguments)}: {type(exc).__name__}: {exc}{_where(exc)}; it is switched off "
                            "for the rest of this run, and the search goes on")


def leaderboard_rows(records: list[dict[str, Any]], direction: str,
                     test_metrics: dict[int, dict[str, float]] | None = None) -> list[dict[str, Any]]:
    """The leaderboard of ``records`` as the JSON-ready rows ``automl_search_finished`` receives."""
    from automl import leaderboard

    return leaderboard.to_records(leaderboard.build(records, direction, test_metrics))


def _trial_of(arguments: dict[str, Any]) -> str:
    trial = arguments.get("trial", (arguments.get("record") or {}).get("trial"))
    return f" (trial {trial})" if trial is not None else ""


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
