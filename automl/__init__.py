"""automl: plugin-based AutoML search for Keras.

``automl.search(...)`` runs a search on a path, numpy arrays or a DataFrame and returns a result with
``leaderboard_``, ``best_model_``, ``predict``, ``predict_proba``, ``export`` and ``report``;
``automl.load_run(path)`` gives the same object for an existing run directory; ``export_run``,
``load_predictor`` and ``write_report`` are the export, predict and report commands as functions.

Importing this package is cheap: the functions below are imported on first use, and TensorFlow only when a
search, an export or a prediction actually runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from automl.hookspecs import hookimpl
from automl.plugin import Architecture, Augmentation, BuildContext, Logger, Optimizer

__version__ = "0.1.0"

# Public name -> (module, name in it), imported when first used.
_LAZY = {
    "search": ("automl.api", "search"),
    "load_run": ("automl.result", "load_run"),
    "SearchResult": ("automl.result", "SearchResult"),
    "Experiment": ("automl.search_engine", "Experiment"),
    "export_run": ("automl.export", "export_run"),  # not "export": that is the automl.export module
    "load_predictor": ("automl.predict", "load_predictor"),
    "write_report": ("automl.report", "write_report"),
    # A search backend plugin's base classes (see docs/plugins.md, "Search backends").
    "SearchBackend": ("automl.backends", "SearchBackend"),
    "Backend": ("automl.backends", "Backend"),
    "BackendOptions": ("automl.backends", "BackendOptions"),
    "TrialHandle": ("automl.backends", "TrialHandle"),
    "SamplingFailed": ("automl.backends", "SamplingFailed"),
}

__all__ = ["Architecture", "Augmentation", "BuildContext", "Logger", "Optimizer", "__version__", "hookimpl", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(import_module(module), attribute)
        globals()[name] = value  # once imported, a plain attribute
        return value
    raise AttributeError(f"module 'automl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
