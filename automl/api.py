"""The Python API: ``automl.search`` on a path, numpy arrays or a pandas DataFrame, with plugins of its own.

In-memory data are written into the run directory first — ``RUN/data.npz`` (arrays ``x``, ``y`` and, for
``validation_data`` / ``test_data``, a ``split`` code per sample) or ``RUN/data.csv`` (with an ``automl_split``
column for a given split) — in formats read without pickle. From then on the run is a run on that file: a resume,
the worker processes, ``automl worker``, the fingerprint check, ``automl export`` and ``automl report`` see exactly
what they see for files the user wrote.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from automl.errors import ConfigError, RunDirectoryError
from automl.result import SearchResult
from automl.search_engine import Experiment, resolve_run_dir
from automl.search_engine import search as run_search

ARRAYS_FILE = "data.npz"
TABLE_FILE = "data.csv"


def search(data: Any = None, y: Any = None, *, target: str | None = None, validation_data: Any = None,
           test_data: Any = None, plugins: list[Any] | None = None, progress: Any = None, quiet: bool | None = None,
           **options: Any) -> SearchResult:
    """Run (or resume) a search and return its :class:`~automl.search_engine.SearchResult`.

    ``data`` is a path (image folder, .csv, .npz) or ``builtin:NAME``; or numpy arrays ``data, y`` (images
    N×H×W[×C] or tables N×F); or a pandas DataFrame with ``target=`` naming its label column (or with ``y``).
    ``validation_data=(x, y)`` and ``test_data=(x, y)`` (DataFrames: with the target column) replace the random
    split of in-memory data. ``plugins`` are plugin objects, classes or modules for this search only.
    Every other option is a search option, given as on the command line or as Python values:
    ``automl.search(x, y, out="runs/mine", trials=12, space="quick", trial_timeout="10m")``.
    The same call on the same ``out`` resumes the run. ``quiet=None`` shows the live display in a notebook or
    a terminal and one line per trial elsewhere.
    """
    plugin_objects, references = _plugins(plugins, options)
    if plugin_objects:
        options["plugins"] = references
    in_memory = not isinstance(data, (str, Path)) and data is not None
    if not in_memory and (y is not None or validation_data is not None or test_data is not None):
        raise ConfigError("y, validation_data and test_data go with in-memory data (numpy arrays or a DataFrame); "
                          f"for the file {data!r}, the labels come from the file and the split is drawn at "
                          "val_fraction / test_fraction.")
    if in_memory:
        name = "dataframe" if _is_frame(data) else "arrays"
        run_dir = resolve_run_dir(options.get("out") or Path("runs") / name)
        options["out"] = str(run_dir)
        writer = write_frame if _is_frame(data) else write_arrays
        path = run_dir / (TABLE_FILE if _is_frame(data) else ARRAYS_FILE)
        experiment = Experiment.from_options({**options, "data": str(path), "target": target})
        experiment.validate()  # options first: nothing is written for a mistyped one
        from automl.plugin_manager import build_registry

        # the backend's own rules too (its name, sampler, pruner, --workers): the search checks them again
        experiment.choose_backend(build_registry(plugins_dir=experiment.plugins_dir,
                                                 plugins=plugin_objects or experiment.plugins or ()))
        target = writer(path, data, y, target, validation_data, test_data)
        experiment.target = target
    else:
        experiment = Experiment.from_options({**options, "data": None if data is None else str(data),
                                              "target": target})
        experiment.validate()
    if progress is None and quiet is None:
        quiet = not _interactive()
    return run_search(experiment=experiment, progress=progress, quiet=bool(quiet), plugin_objects=plugin_objects)


def _interactive() -> bool:
    """A notebook or a terminal: the live display; a log file or a pipe: one line per trial."""
    try:
        from rich.console import Console

        console = Console(stderr=True)
        return console.is_jupyter or console.is_terminal
    except Exception:  # a display question must never stop a search
        return sys.stderr.isatty()


def _plugins(plugins: list[Any] | None, options: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """The plugin objects and their import references; a plugin no other process can import keeps the trials
    in this process (workers=0), which is said."""
    from automl.plugin_manager import plugin_reference

    if plugins is None:
        return [], []
    if not isinstance(plugins, (list, tuple)):
        plugins = [plugins]
    references, local = [], []
    for plugin in plugins:
        reference, why = plugin_reference(plugin)
        if reference is None:
            local.append(why)
        else:
            references.append(reference)
    if local and options.get("workers", 1) != 0:
        print(f"note: {local[0]}{f' (and {len(local) - 1} more)' if len(local) > 1 else ''}; the trials run in this "
              "process (workers=0). Define the plugin in a module (a .py file you import) to run them in worker "
              "processes.", file=sys.stderr)
        options["workers"] = 0
    return list(plugins), references


def _is_frame(data: Any) -> bool:
    return hasattr(data, "columns") and hasattr(data, "iloc")


def _labels(y: Any, what: str) -> np.ndarray:
    if y is None:
        raise ConfigError(f"{what}: the labels are missing; pass them as y (one per sample).")
    labels = np.asarray(y)
    if labels.dtype.kind == "O":  # text labels held as Python objects: saved as text, never pickled
        labels = labels.astype(str)
    return labels


def _pair(given: Any, what: str) -> tuple[Any, Any]:
    if not (isinstance(given, (list, tuple)) and len(given) == 2):
        raise ConfigError(f"{what} takes a pair (x, y); got {type(given).__name__}.")
    return given[0], given[1]


def write_arrays(path: Path, x: Any, y: Any, target: str | None, validation_data: Any, test_data: Any) -> None:
    """Write in-memory arrays (and the user's own validation / test parts) as the run's .npz data file."""
    if target is not None:
        raise ConfigError("target= names the label column of a DataFrame; for arrays pass the labels as y.")
    parts = [(x, y, "x, y", 0)]
    for given, code, what in ((validation_data, 1, "validation_data"), (test_data, 2, "test_data")):
        if given is not None:
            parts.append((*_pair(given, what), what, code))
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for x_part, y_part, what, code in parts:
        x_part = np.asarray(x_part)
        if x_part.dtype.kind not in "biuf":
            raise ConfigError(f"{what}: x holds {x_part.dtype} values; expected numbers (images N×H×W[×C] or tables "
                              "N×F).")
        y_part = _labels(y_part, what)
        if len(x_part) != len(y_part):
            raise ConfigError(f"{what}: x has {len(x_part)} samples but y has {len(y_part)} labels; expected one "
                              "label per sample.")
        if xs and x_part.shape[1:] != xs[0].shape[1:]:
            raise ConfigError(f"{what}: x has samples of shape {x_part.shape[1:]}, the training x "
                              f"{xs[0].shape[1:]}; they must match.")
        xs.append(x_part)
        ys.append(y_part)
        codes.append(np.full(len(x_part), code, dtype=np.int64))
    arrays = {"x": np.concatenate(xs), "y": np.concatenate(ys)}
    if len(parts) > 1:
        arrays["split"] = np.concatenate(codes)
    import io

    buffer = io.BytesIO()
    # NumPy's stubs match **arrays against savez's allow_pickle (a keyword only since NumPy 2.1, so not named here).
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    _write_once(path, buffer.getvalue(), lambda held: _same_arrays(held, arrays))


def _same_arrays(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    with np.load(path, allow_pickle=False) as held:
        # NaN features (missing values, imputed by the load) equal NaN, so such a run resumes too.
        return set(held.files) == set(arrays) and all(np.array_equal(held[k], v, equal_nan=v.dtype.kind in "fc")
                                                      for k, v in arrays.items())


def write_frame(path: Path, frame: Any, y: Any, target: str | None, validation_data: Any, test_data: Any) -> str:
    """Write a DataFrame (and the user's own validation / test parts) as the run's CSV; returns the target column."""
    import pandas as pd

    from automl.data.tables import SPLIT_COLUMN

    if y is not None:  # features and labels apart, as scikit-learn has them
        target = target or "target"
        if target in frame.columns:
            raise ConfigError(f"the DataFrame already has a column {target!r}; pass target={target!r} without y, or "
                              "name another target column for y.")
        frame = frame.assign(**{target: _labels(y, "y")})
    if target is None:
        raise ConfigError(f"a DataFrame needs target= naming its label column (its columns: "
                          f"{', '.join(map(str, list(frame.columns)[:20]))}), or the labels as y.")
    if target not in frame.columns:
        raise ConfigError(f"target {target!r} is not a column of the DataFrame; its columns: "
                          f"{', '.join(map(str, list(frame.columns)[:20]))}.")
    parts = [frame.assign(**{SPLIT_COLUMN: "train"})]
    for given, name, what in ((validation_data, "val", "validation_data"), (test_data, "test", "test_data")):
        if given is None:
            continue
        if not _is_frame(given):
            given_x, given_y = _pair(given, what)
            given = given_x.assign(**{target: _labels(given_y, what)}) if _is_frame(given_x) else None
        if given is None or target not in given.columns:
            raise ConfigError(f"{what} for a DataFrame search is a DataFrame with the column {target!r} (or a pair of "
                              "a feature DataFrame and its labels).")
        parts.append(given.assign(**{SPLIT_COLUMN: name}))
    table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else frame
    text = table.to_csv(index=False)
    _write_once(path, text.encode("utf-8"), lambda held: held.read_text(encoding="utf-8") == text)
    return target


def _write_once(path: Path, data: bytes, same) -> None:
    """Write the run's data file atomically; an existing one must hold the same data (the run is resumed)."""
    from automl.io import atomic_write_bytes

    if path.exists():
        if not same(path):
            raise RunDirectoryError(f"{path.parent} holds a different experiment: its {path.name} holds other data "
                                    "than the ones given now. Pass the same data to resume it, or a new out= for "
                                    "a new search.")
        return
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise RunDirectoryError(f"cannot write the data into the run directory {path.parent}: {exc.strerror}; pass "
                                "an out= folder you can write to.") from None
