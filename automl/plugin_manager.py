"""Building the plugin manager and the registry of plugin objects.

:func:`build_registry` runs the steps in a fixed order, each one visible in the code below:

1. hookspecs (:mod:`automl.hookspecs`);
2. built-ins (:mod:`automl_plugins`), registered on the same hooks as everything else;
3. entry points in the group ``automl`` — skipped when ``AUTOML_DISABLE_PLUGIN_AUTOLOAD=1``;
4. blocked names (``AUTOML_DISABLED_PLUGINS=a,b``) — a module name or a plugin object name;
5. local plugin files from ``--plugins-dir`` / ``AUTOML_PLUGINS_DIR``;
5b. the search's own plugins (``automl.search(..., plugins=[...])``, ``--plugin REF``): modules, plugin objects
    or classes, given as objects or as import references (:func:`plugin_reference`, :func:`import_plugin`);
6. validation: each hook is called per plugin module, objects are checked, duplicate names fail.

Loggers (``automl_register_loggers``) and search backends (``automl_register_backends``) are collected like the
searched families but are not searched: a run selects its loggers by name, and :mod:`automl.lifecycle` calls
their lifecycle hooks; it chooses one backend (``--backend NAME``), which samples the searched families.

A module that fails to import (or whose hook raises, or returns an invalid object) is reported as a
:class:`LoadProblem` and skipped; with ``strict=True`` it is fatal instead.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from automl import hookspecs
from automl.errors import DuplicatePluginError, PluginError, UnknownPluginError
from automl.plugin import BACKEND, FAMILIES, LOGGER, TASKS, Plugin

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
ENV_DISABLE_AUTOLOAD = "AUTOML_DISABLE_PLUGIN_AUTOLOAD"
ENV_DISABLED_PLUGINS = "AUTOML_DISABLED_PLUGINS"
ENV_PLUGINS_DIR = "AUTOML_PLUGINS_DIR"

BUILTIN_MODULES = ("automl_plugins.architectures", "automl_plugins.augmentations", "automl_plugins.optimizers",
                   "automl_plugins.tensorboard_logger", "automl_plugins.mlflow_logger", "automl_plugins.backends")
BUILTIN_SOURCE = "built-in"

HOOK_BY_FAMILY = {
    "architecture": "automl_register_architectures",
    "augmentation": "automl_register_augmentations",
    "optimizer": "automl_register_optimizers",
    LOGGER: "automl_register_loggers",
    BACKEND: "automl_register_backends",
}
BASE_CLASS_BY_FAMILY = {"architecture": "Architecture", "augmentation": "Augmentation", "optimizer": "Optimizer",
                        LOGGER: "Logger", BACKEND: "SearchBackend"}
HOOK_NAMES = sorted(name for name in vars(hookspecs) if name.startswith(f"{hookspecs.PROJECT_NAME}_"))
PLUGIN_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class PluginEntry:
    """One plugin object with its provenance."""

    plugin: Plugin
    family: str
    source: str  # "built-in", "dist==version", or "file:/path/to/file.py"
    version: str

    @property
    def name(self) -> str:
        return self.plugin.name

    @property
    def provenance(self) -> str:
        """Where the plugin comes from, with its version once: ``automl-sepnet==0.3.0``, ``built-in 0.1.0``."""
        return self.source if self.source.endswith(f"=={self.version}") else f"{self.source} {self.version}"


@dataclass(frozen=True)
class LoadProblem:
    """A plugin module that was skipped, and why."""

    name: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.name!r} skipped: {self.error}"


@dataclass
class Registry:
    """Every loaded plugin object, by family and name."""

    plugins: dict[str, dict[str, PluginEntry]] = field(default_factory=lambda: {f: {} for f in HOOK_BY_FAMILY})
    problems: list[LoadProblem] = field(default_factory=list)

    def family(self, family: str) -> dict[str, PluginEntry]:
        return self.plugins[family]

    def get(self, family: str, name: str) -> PluginEntry:
        entries = self.plugins[family]
        if name not in entries:
            raise UnknownPluginError(
                f"unknown {family} plugin {name!r}; installed {family} plugins: {', '.join(sorted(entries)) or 'none'}."
            )
        return entries[name]

    def names(self, family: str, task: str | None = None) -> list[str]:
        return sorted(n for n, e in self.plugins[family].items() if task is None or task in e.plugin.tasks)

    def check_installed(self, family: str, names: Iterable[str], message: Callable[[str, str], str]) -> None:
        """Raise :class:`UnknownPluginError` when a name in ``names`` is no installed ``family`` plugin. Its text
        is ``message(unknown, installed)``: the unknown names quoted, and the installed ones (or ``none``), each
        comma-separated; the caller words it for the option the names came from."""
        installed = self.names(family)
        unknown = [name for name in names if name not in installed]
        if unknown:
            raise UnknownPluginError(message(", ".join(map(repr, unknown)), ", ".join(installed) or "none"))

    def all_entries(self) -> list[PluginEntry]:
        """The searched families' plugins (architectures, augmentations, optimizers), not the loggers."""
        return [e for f in FAMILIES for _, e in sorted(self.plugins[f].items())]

    def logger_entries(self) -> list[PluginEntry]:
        return [e for _, e in sorted(self.plugins[LOGGER].items())]

    def backend_entries(self) -> list[PluginEntry]:
        return [e for _, e in sorted(self.plugins[BACKEND].items())]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUTHY


def _env_list(name: str) -> set[str]:
    return {part.strip() for part in os.environ.get(name, "").split(",") if part.strip()}


def build_registry(
    *,
    plugins_dir: str | Path | None = None,
    autoload: bool | None = None,
    disabled: Iterable[str] = (),
    strict: bool = False,
    plugins: Iterable[Any] = (),
) -> Registry:
    """Build the plugin manager in the documented order and collect the plugin objects.

    ``autoload=None`` follows ``AUTOML_DISABLE_PLUGIN_AUTOLOAD``; ``disabled`` adds to
    ``AUTOML_DISABLED_PLUGINS``; ``plugins_dir=None`` falls back to ``AUTOML_PLUGINS_DIR``. ``plugins`` are one
    search's own: modules, plugin objects or classes, or import references to them (strings).
    """
    from automl.keras_backend import native_logs_filtered

    with native_logs_filtered():  # a plugin module importing Keras starts TensorFlow, and its C++ lines
        return _build_registry(plugins_dir, autoload, disabled, strict, plugins)


def _build_registry(plugins_dir, autoload, disabled, strict, plugins) -> Registry:
    registry = Registry()
    sources: dict[str, tuple[str, str]] = {}  # pluggy plugin name -> (source, version)

    def problem(name: str, error: str) -> None:
        if strict:
            raise PluginError(f"plugin {name!r} failed to load (strict mode): {error}")
        registry.problems.append(LoadProblem(name, error))

    # 1. hookspecs
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)

    # 4 (applied early so blocked modules are never imported). pluggy skips blocked names on register.
    blocked = _env_list(ENV_DISABLED_PLUGINS) | set(disabled)
    for name in blocked:
        pm.set_blocked(name)

    # 2. built-ins, on the same hooks a third party uses
    from automl import __version__

    for module_name in BUILTIN_MODULES:
        # Registered under their dotted module names, which no entry point or plugin file can take.
        if pm.register(importlib.import_module(module_name), name=module_name) is not None:
            sources[module_name] = (BUILTIN_SOURCE, __version__)

    # 3. entry points, each loaded on its own so one broken package does not hide the rest
    if autoload is None:
        autoload = not _env_flag(ENV_DISABLE_AUTOLOAD)
    if autoload:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # any import error is the plugin's problem, reported
                problem(ep.name, _describe(exc))
                continue
            dist = ep.dist
            version = dist.version if dist is not None else "unknown"
            dist_name = dist.metadata["Name"] if dist is not None else ep.name
            if _register(pm, module, ep.name, problem):
                sources[ep.name] = (f"{dist_name}=={version}", version)

    # 5. local plugin files
    directory = plugins_dir if plugins_dir is not None else os.environ.get(ENV_PLUGINS_DIR) or None
    if directory is not None:
        for name, module, path in _load_directory(Path(directory), pm, problem):
            if _register(pm, module, name, problem):
                sources[name] = (f"file:{path}", "local")

    # 5b. the search's own plugins: a module is registered as it is; plugin objects are returned by a holder
    for given in plugins:
        try:
            found = import_plugin(given) if isinstance(given, str) else given
        except PluginError as exc:
            problem(given, str(exc))
            continue
        module_name = found.__name__ if inspect.ismodule(found) else getattr(found, "__module__", None) or "?"
        # The same name (and so the same leaderboard source) in the search process, which has the object, and in
        # a worker, which imported it by its reference.
        reference = given if isinstance(given, str) else plugin_reference(found)[0] or f"{module_name}:{_label(found)}"
        name = f"inline:{reference}"
        if pm.has_plugin(name):
            continue
        holder = found if inspect.ismodule(found) else _PluginHolder([_instance(found)])
        if _register(pm, holder, name, problem):
            sources[name] = (name, _module_version(module_name))

    # 6. validation: call each implementation separately to attribute results and isolate failures
    for family, hook_name in HOOK_BY_FAMILY.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            source, version = sources.get(impl.plugin_name, (impl.plugin_name, "unknown"))
            try:
                returned = impl.function()
                objects = _check_objects(returned, family, hook_name)
            except Exception as exc:
                problem(impl.plugin_name, _describe(exc))
                continue
            for obj in objects:
                if obj.name in blocked:
                    continue
                existing = registry.plugins[family].get(obj.name)
                if existing is not None:
                    raise DuplicatePluginError(
                        f"two {family} plugins are named {obj.name!r}: one from {existing.source}, "
                        f"one from {source}. Uninstall or block one (AUTOML_DISABLED_PLUGINS) or rename it."
                    )
                registry.plugins[family][obj.name] = PluginEntry(obj, family, source, version)
    return registry


def _register(pm: pluggy.PluginManager, module: Any, name: str, problem) -> bool:
    """Register one plugin module; a hook with a wrong signature or a misspelled ``automl_*`` name is
    that plugin's problem, reported like an import failure."""
    try:
        pm.register(module, name=name)
    except pluggy.PluginValidationError as exc:
        problem(name, _describe(exc))
        return False
    try:
        pm.check_pending()  # the modules registered before passed it, so a failure is this module's
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        problem(name, f"{exc}; automl's hooks are: {', '.join(HOOK_NAMES)}")
        return False
    misplaced = sorted(caller.name for caller in pm.get_hookcallers(module) or []
                       if caller.name in hookspecs.LIFECYCLE_HOOKS)
    if misplaced:  # it would be called in every run, and no run could opt out of it
        pm.unregister(name=name)
        problem(name, f"it implements {', '.join(misplaced)} as module-level function(s); lifecycle hooks are "
                      "@hookimpl methods of an automl.Logger returned by automl_register_loggers(), so that a run "
                      "selects the logger with --log NAME")
        return False
    return True


def _load_directory(directory: Path, pm: pluggy.PluginManager, problem) -> list[tuple[str, Any, Path]]:
    if not directory.is_dir():
        raise PluginError(
            f"plugins directory {str(directory)!r} does not exist or is not a folder; "
            "pass an existing folder of .py plugin files to --plugins-dir / AUTOML_PLUGINS_DIR."
        )
    loaded = []
    for path in sorted(directory.glob("*.py")):
        name = path.stem
        if name.startswith("_") or pm.is_blocked(name):
            continue
        module_name = f"automl_local_plugins.{name}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            problem(name, _describe(exc))
            continue
        if pm.has_plugin(name):
            raise DuplicatePluginError(
                f"plugin file {path} has the module name {name!r}, already used by another plugin; rename the file."
            )
        loaded.append((name, module, path.resolve()))
    return loaded


def _check_objects(returned: Any, family: str, hook_name: str) -> list[Plugin]:
    # Every base class sets its family, so the check needs only Plugin: the families' base classes live in the
    # layers that use them (automl.backends for SearchBackend), above this module.
    base = BASE_CLASS_BY_FAMILY[family]
    if returned is None:
        return []
    if not isinstance(returned, (list, tuple)):
        raise PluginError(f"{hook_name}() must return a list of {base} objects; got {type(returned).__name__}.")
    for obj in returned:
        if not isinstance(obj, Plugin) or obj.family != family:
            raise PluginError(f"{hook_name}() returned {obj!r}; expected instances of automl.{base} (subclass it).")
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not PLUGIN_NAME_RE.match(name):
            raise PluginError(
                f"{family} plugin {type(obj).__name__} has name {name!r}; names must match {PLUGIN_NAME_RE.pattern} "
                "(lowercase letters, digits, underscores) because they are used in parameter names and paths."
            )
        unknown = set(obj.tasks) - set(TASKS)
        if not obj.tasks or unknown:
            raise PluginError(f"{family} plugin {name!r} declares tasks {list(obj.tasks)}; allowed: {list(TASKS)}.")
        if family == LOGGER:
            logger_plugin_manager([obj])  # its hook methods' names and arguments, checked now rather than mid-run
        if family == BACKEND:
            for attribute in ("samplers", "pruners"):
                names = getattr(obj, attribute)
                if not isinstance(names, tuple) or not names or not all(isinstance(n, str) and n for n in names):
                    raise PluginError(f"backend plugin {name!r} has {attribute} {names!r}; give a non-empty tuple of "
                                      f"names, the default first (e.g. {attribute} = ('random',)).")
    return list(returned)


def logger_plugin_manager(loggers: Iterable[Plugin]) -> pluggy.PluginManager:
    """A plugin manager holding only ``loggers`` (Logger objects), to call their lifecycle hooks.

    Raises :class:`PluginError` naming the logger when one of its methods is not a valid lifecycle hook.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for logger in loggers:
        where = f"logger plugin {logger.name!r} ({type(logger).__name__})"
        undecorated = [attr for attr in hookspecs.LIFECYCLE_HOOKS
                       if callable(getattr(logger, attr, None)) and pm.parse_hookimpl_opts(logger, attr) is None]
        if undecorated:
            raise PluginError(f"{where} has method(s) {', '.join(undecorated)} without the @automl.hookimpl "
                              "decorator, so they would never be called; decorate them.")
        try:
            pm.register(logger, name=f"{LOGGER}:{logger.name}")
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"{where}: {exc}; its hook methods must be among {', '.join(hookspecs.LIFECYCLE_HOOKS)}"
                              ", each taking some of that hook's arguments.") from None
        other = sorted(caller.name for caller in pm.get_hookcallers(logger) or []
                       if caller.name not in hookspecs.LIFECYCLE_HOOKS)
        if other:
            raise PluginError(f"{where} implements {', '.join(other)} as a method; a logger implements only the "
                              f"lifecycle hooks ({', '.join(hookspecs.LIFECYCLE_HOOKS)}).")
    return pm


class _PluginHolder:
    """Registers plugin objects given directly (not through a module's hooks) on the same hooks."""

    def __init__(self, objects: list[Plugin]) -> None:
        self.objects = objects

    def _of(self, family: str) -> list[Plugin]:
        return [o for o in self.objects if o.family == family]

    @hookspecs.hookimpl
    def automl_register_architectures(self) -> list[Plugin]:
        return self._of("architecture")

    @hookspecs.hookimpl
    def automl_register_augmentations(self) -> list[Plugin]:
        return self._of("augmentation")

    @hookspecs.hookimpl
    def automl_register_optimizers(self) -> list[Plugin]:
        return self._of("optimizer")

    @hookspecs.hookimpl
    def automl_register_loggers(self) -> list[Plugin]:
        return self._of(LOGGER)

    @hookspecs.hookimpl
    def automl_register_backends(self) -> list[Plugin]:
        return self._of(BACKEND)


def _label(obj: Any) -> str:
    return obj.__qualname__ if inspect.isclass(obj) else f"{type(obj).__qualname__}({getattr(obj, 'name', '?')})"


def _instance(found: Any) -> Any:
    """A plugin object from an object or a class (called without arguments); anything else is refused."""
    if inspect.isclass(found) and issubclass(found, Plugin):
        try:
            return found()
        except Exception as exc:
            raise PluginError(f"plugin class {found.__qualname__} could not be created without arguments "
                              f"({_describe(exc)}); pass an object of it instead.") from None
    if isinstance(found, Plugin):
        return found
    raise PluginError(f"{found!r} is not a plugin: pass a module with automl_register_* hooks, or an object (or class) "
                      "of automl.Architecture, Augmentation, Optimizer, Logger or SearchBackend.")


def _module_version(module_name: str) -> str:
    """The version of the distribution that installed a module, else its ``__version__``, else "local"."""
    top = module_name.split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    module = sys.modules.get(module_name)
    return str(getattr(module, "__version__", None) or "local")


def plugin_reference(obj: Any) -> tuple[str | None, str]:
    """``(reference, why)``: the text another process imports ``obj`` (a module, a plugin object or class) with,
    or None and why it cannot (then its trials must run in this process).

    An installed module is referenced by name (``pkg.mod`` / ``pkg.mod:attr``); any other module by its file
    (``/path/mod.py:attr``), so a worker process or a later ``automl export`` finds it whatever its ``sys.path``.
    An object is referenced by the module attribute that holds it, else by its class (created without arguments).
    """
    module = obj if inspect.ismodule(obj) else sys.modules.get(getattr(obj, "__module__", None) or
                                                                 type(obj).__module__)
    what = obj.__name__ if inspect.ismodule(obj) else _label(obj)
    if module is None or module.__name__ in ("__main__", "__mp_main__") or not getattr(module, "__file__", None):
        where = getattr(module, "__name__", "a module that is gone")
        return None, (f"{what} is defined in {where} (a notebook, the running script, or a module without a file), "
                      "which another process cannot import")
    attribute = None
    if not inspect.ismodule(obj):
        attribute = next((name for name, value in vars(module).items() if value is obj), None)
        cls = obj if inspect.isclass(obj) else type(obj)
        if attribute is None and "<locals>" not in cls.__qualname__ and getattr(module, cls.__name__, None) is cls:
            try:  # the object must be what its class makes: a worker would otherwise train another plugin
                same = inspect.isclass(obj) or bool(vars(cls()) == vars(obj))
            except Exception:
                same = False
            attribute = cls.__name__ if same else None
        if attribute is None:
            return None, (f"{what} is neither held by a name in {module.__name__} nor an object its class makes "
                          "without arguments, so another process cannot rebuild it")
    assert module.__file__ is not None  # a module without a file returned above
    top = module.__name__.split(".")[0]
    installed = bool(metadata.packages_distributions().get(top))
    base = module.__name__ if installed else str(Path(module.__file__).resolve())
    return (base if attribute is None else f"{base}:{attribute}"), ""


def import_plugin(reference: str) -> Any:
    """The module, plugin object or class a :func:`plugin_reference` names (a ``.py`` path is loaded by path)."""
    base, _, attribute = reference.rpartition(":") if reference.rpartition(":")[2].isidentifier() and \
        ":" in reference else (reference, "", "")
    try:
        if base.endswith(".py"):
            path = Path(base)
            module_name = f"automl_inline_plugins.{re.sub(r'[^0-9A-Za-z_]', '_', str(path.with_suffix('')))}"
            module = sys.modules.get(module_name)
            if module is None:
                spec = importlib.util.spec_from_file_location(module_name, path)
                if spec is None or spec.loader is None or not path.is_file():
                    raise PluginError(f"plugin file {base} does not exist (from the reference {reference!r}).")
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(module_name, None)
                    raise
        else:
            module = importlib.import_module(base)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(f"plugin {reference!r} could not be imported: {_describe(exc)}") from None
    if not attribute:
        return module
    if not hasattr(module, attribute):
        raise PluginError(f"plugin {reference!r}: {base} has no attribute {attribute!r}.")
    return getattr(module, attribute)


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"
