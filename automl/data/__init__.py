"""Loading, checking and splitting the data for a search.

`load_dataset` turns a data source into a `Dataset` with stratified train/validation/test splits:

* ``builtin:digits``, ``builtin:breast_cancer``, ``builtin:wine`` -- small sets shipped with scikit-learn;
* a folder of images with one sub-folder per class (``.png .jpg .jpeg .bmp .gif``);
* a ``.csv`` file plus the name of its target column;
* an ``.npz`` file with arrays ``x`` (samples) and ``y`` (labels).

Every problem that would otherwise surface deep inside training (a missing column, a corrupt image, a class
too small to split, ...) is found first and raised as one of the named `automl.errors.DataError`
subclasses, with a message that says what was found, what was expected and how to fix it.

The arrays keep raw units: images hold pixel values (0..255 for image files), tables hold the encoded but
unstandardised features. An image folder is decoded once, at the target size, into a uint8 cache that later
loads and every worker process memory-map (`automl.data.cache`); its splits are views of that cache. The
JSON-serialisable ``Dataset.preprocessing`` dict records how to bring *new* raw inputs to the same form
(`encode_table`, `load_images`); it has one of these forms::

    {"kind": "image", "image_size": [H, W], "color_mode": "grayscale" | "rgb",
     "scale": 1/pixel_max,    # the model input is raw * scale, i.e. in [0, 1]
     "pixel_max": 255.0}      # raw units: 16 for builtin:digits, 255 for image files

    {"kind": "tabular", "columns": [input columns, in order], "numeric": [numeric columns],
     "categorical": {column: [levels seen in the training split, sorted]},
     "encoded_columns": ["age", "age=(missing)", "colour=blue", "colour=red", ...],  # the model's inputs, in order
     "target": "label",
     "missing": {"medians": {numeric column: median in the training split},
                 "indicators": [numeric columns with an empty cell in the training split],
                 "models": [{"column": an indicator column, "intercept": b, "weights": [one per numeric column],
                             "low": training minimum, "high": training maximum}, ...],
                 "level": "(missing)"}}

    {"kind": "tabular", "n_features": F,    # an .npz file with a 2-D x: the columns are used as they are
     "missing": {"medians": [F medians], "indicators": [column numbers], "models": [as above, by column number]}}

Missing values (empty CSV cells, NaN in a table's x) are imputed from the training split alone. A numeric cell of a
column that had empty cells among the training rows is predicted from the row's other numeric columns (their own
empty cells taken as their medians) by a ridge regression fitted on the training rows, clipped to the column's
training range (`tables.regression_imputation`; the median where the table is too small or too wide for one); any
other numeric cell takes its column's training median. Each numeric column with an empty cell among the training
rows gets a 0/1 column ``column=(missing)`` (after its column; for .npz, appended after x's columns). A numeric
column whose empty cells are all in validation, test or new rows gets the median but no indicator column, so the
encoding keeps its width. An empty text cell is the category ``(missing)``: a level of its own where training rows had
one, otherwise all zeros like any level unseen in training. Empty target cells, infinite values and columns empty
in every row are refused. Cards written before imputation lack ``missing``; their empty cells are refused.

The package's modules: `images` (folders: preflight, default size, decoding), `cache` (the decoded-pixel
cache and its views), `tables` (CSV), `arrays` (built-in sets, .npz), `split` (labels, the split, the
fingerprint) and `dataset` (the `Dataset` they all fill). TensorFlow and Keras are deliberately not imported
here so the command line starts fast; pandas, PIL and scikit-learn are imported where they are needed.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import numpy as np

from automl.data.arrays import BUILTIN_DATASETS, load_builtin, load_npz, reject_image_options
from automl.data.cache import CachedImages, cache_root, join_inputs
from automl.data.dataset import Dataset, finish
from automl.data.images import (
    COLOR_MODES,
    IMAGE_EXTENSIONS,
    image_files,
    load_image_folder,
    load_images,
    scaled_image_size,
)
from automl.data.tables import encode_table, impute_array, load_csv
from automl.errors import ConfigError, DataError, DataNotFoundError

__all__ = [
    "BUILTIN_DATASETS",
    "COLOR_MODES",
    "IMAGE_EXTENSIONS",
    "CachedImages",
    "Dataset",
    "DatasetsBySize",
    "cache_root",
    "encode_table",
    "image_files",
    "impute_array",
    "join_inputs",
    "load_dataset",
    "load_run_data",
    "load_images",
    "scaled_image_size",
]

_SUPPORTED_SOURCES = (
    "builtin:NAME (" + ", ".join(BUILTIN_DATASETS) + "), a folder of images with one sub-folder per class, "
    "a .csv file (with a target column) or an .npz file with arrays x and y"
)


def load_dataset(
    source: str,
    *,
    target: str | None = None,
    image_size: tuple[int, int] | None = None,
    color_mode: str | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    skip_corrupt: bool = False,
    progress: Any = None,
    task: str | None = None,
) -> Dataset:
    """Load `source`, check it, and split it into stratified train/validation/test parts.

    `target` names the class column of a CSV file (and must be None for other sources). `image_size`
    ``(height, width)`` resizes images (default for a folder: chosen from the data, see
    `automl.data.images.default_image_size`; the array's own size otherwise); `color_mode` forces
    ``"grayscale"`` or ``"rgb"`` (default: detected). Each class is split on its own:
    ``round(n * test_fraction)`` samples go to test, ``round(n * val_fraction)`` to validation and the rest
    to training, shuffled with `seed`; every class needs ``n * fraction >= 1`` for both fractions and one
    sample left for training (else `TooFewSamplesError`). With `skip_corrupt`, unreadable image files are left out and
    listed in ``Dataset.skipped`` instead of raising
    `CorruptImageError`. `progress` (an object with ``stage(description, total)``, such as the search's
    display) shows the preflight and the decoding of image folders.

    `task` is ``"classification"``, ``"regression"`` or None: detected from the target (a CSV's column, an .npz's
    y; `automl.data.split.detect_problem`): numbers with a non-integer value, or more than 20 distinct values, are a
    regression target; anything else, images and the built-in sets are classification. A regression target is
    split stratified by its quantiles (`automl.data.split.quantile_bins`) and kept in its units (float32 ``y_*``).

    Raises a `DataError` subclass for unusable data and `ConfigError` for invalid options.
    """
    source_text = str(source)
    _check_fractions(val_fraction, test_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}.")
    image_size = _check_image_size(image_size)
    if task is not None and task not in ("classification", "regression"):
        raise ConfigError(f"task must be classification or regression (or unset to detect it), got {task!r}.")
    if color_mode is not None and color_mode not in COLOR_MODES:
        raise ConfigError(
            f"color_mode must be one of {', '.join(COLOR_MODES)} (or unset to detect it), got {color_mode!r}."
        )

    if source_text.startswith("builtin:"):
        _reject_target(target, source_text)
        _reject_regression(task, source_text)
        loaded = load_builtin(source_text[len("builtin:"):], image_size, color_mode)
    else:
        path = Path(source_text).expanduser()
        if not path.exists():
            raise DataNotFoundError(
                f"Data path '{source_text}' does not exist. Expected {_SUPPORTED_SOURCES}; check the path."
            )
        suffix = path.suffix.lower()
        if path.is_dir():
            _reject_target(target, source_text)
            _reject_regression(task, source_text)
            loaded = load_image_folder(path, image_size, color_mode, skip_corrupt, progress)
        elif suffix == ".csv":
            reject_image_options(image_size, color_mode, source_text)
            loaded = load_csv(path, target, task)
        elif suffix == ".npz":
            _reject_target(target, source_text)
            loaded = load_npz(path, image_size, color_mode, task)
        else:
            raise DataNotFoundError(
                f"Data path '{source_text}' is a '{suffix or 'extension-less'}' file, which is not a supported "
                f"data source. Supported: {_SUPPORTED_SOURCES}."
            )
    return finish(source_text, loaded, float(val_fraction), float(test_fraction), int(seed))


def load_run_data(config: dict, source: str | None = None, progress: Any = None) -> Dataset:
    """The data of a run, loaded with the options its ``config.yaml`` records (`source` replaces its path).

    Images are loaded at the size the search decoded them at (``data_image_size``, the chosen default
    when no size was given), so every worker, the export and a resume see the same inputs.
    """
    size = config.get("image_size") or config.get("data_image_size")
    return load_dataset(source or config["data"], target=config.get("target"),
                        image_size=tuple(size) if size else None, color_mode=config.get("color_mode"),
                        val_fraction=config.get("val_fraction", 0.15), test_fraction=config.get("test_fraction", 0.15),
                        seed=config.get("seed", 0), skip_corrupt=bool(config.get("skip_corrupt")), progress=progress,
                        # the problem the search found (or --task): a resume, a worker and the export see the same
                        task=config.get("problem") or config.get("task"))


class DatasetsBySize:
    """The run's dataset, and the same files at the input sizes a space's ``training.image_size`` lists.

    A trial whose candidate names a long side gets the run's images at that size: loaded once per process,
    from its own entry of the shared cache (decoded by the first process that needs it, memory-mapped by
    every other), with the very same split — checked, since the rows must be the same samples.
    """

    def __init__(self, config: dict, dataset: Dataset, source: str | None = None) -> None:
        self.config, self.dataset, self.source = config, dataset, source
        self._loaded: dict[tuple[int, int], Dataset] = {}

    def image_size_of(self, candidate: Any) -> tuple[int, int] | None:
        """The (height, width) a candidate trains at; None for tables."""
        if self.dataset.task != "image":
            return None
        run_size = tuple(self.dataset.preprocessing["image_size"])
        long_side = getattr(candidate, "image_size", None)
        return run_size if long_side is None else scaled_image_size(run_size, long_side)

    def for_candidate(self, candidate: Any) -> Dataset:
        return self._at(self.image_size_of(candidate))

    def sizes(self, long_sides: Any) -> list[tuple[int, int]]:
        """The (height, width) of each long side a space's ``training.image_size`` lists (none for tables)."""
        if self.dataset.task != "image" or long_sides is None:
            return []
        run_size = tuple(self.dataset.preprocessing["image_size"])
        return [scaled_image_size(run_size, side) for side in (long_sides if isinstance(long_sides, list)
                                                                else [long_sides])]

    def preload(self, long_sides: Any, progress: Any = None) -> None:
        """Decode every size of ``training.image_size`` now (with progress), not inside the first trial of each."""
        for size in self.sizes(long_sides):
            self._at(size, progress)

    def _at(self, size: tuple[int, int] | None, progress: Any = None) -> Dataset:
        if size is None or size == tuple(self.dataset.preprocessing["image_size"]):
            return self.dataset
        if size not in self._loaded:
            resized = load_run_data({**self.config, "image_size": list(size)}, self.source, progress)
            same = (resized.class_names == self.dataset.class_names
                    and all(np.array_equal(getattr(resized, f"y_{part}"), getattr(self.dataset, f"y_{part}"))
                            for part in ("train", "val", "test")))
            if not same:
                raise DataError(f"the data at {self.source or self.config['data']!r} loaded at {size[0]}x{size[1]} "
                                "do not give the same samples and split as at the run's own size; the files changed "
                                "during the run. Re-run the search on a folder that is not being written to.")
            self._loaded[size] = resized
        return self._loaded[size]


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
            raise ConfigError(f"{name} must be a number strictly between 0 and 1, got {value!r}.")
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"val_fraction + test_fraction must be below 1 to leave data for training, got "
            f"{val_fraction} + {test_fraction} = {val_fraction + test_fraction:g}; lower them (e.g. 0.15 each)."
        )


def _check_image_size(image_size: Any) -> tuple[int, int] | None:
    if image_size is None:
        return None
    try:
        height, width = image_size
        valid = all(not isinstance(v, bool) and int(v) == v and v > 0 for v in (height, width))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ConfigError(f"image_size must be two positive integers (height, width), got {image_size!r}.")
    return int(height), int(width)


def _reject_regression(task: str | None, source: str) -> None:
    if task == "regression":
        raise ConfigError(f"task regression was given, but '{source}' is a built-in set or an image folder, which are "
                          "classification data; regression takes a .csv or an .npz with a 2-D x (image regression is "
                          "not supported yet). Leave the task unset.")


def _reject_target(target: str | None, source: str) -> None:
    if target is not None:
        raise ConfigError(
            f"A target column ('{target}') was given, but '{source}' is not a CSV file; the target applies to "
            "CSV data only (image folders take classes from sub-folders, .npz files from y). Leave it unset."
        )
