"""The `Dataset` every loader fills, and the shared checks and split that turn a loader's output into one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from automl.data.cache import CachedImages
from automl.data.split import (
    FINGERPRINT_VERSION,
    check_split_sizes,
    explicit_split,
    fingerprint,
    quantile_bins,
    stratified_split,
)
from automl.errors import SingleClassError

# What the x_* of a Dataset hold: an in-memory array, or rows of a cached image folder read on demand.
Inputs = np.ndarray | CachedImages


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A classification or regression data set (``problem``), split into train/validation/test parts.

    ``x_*`` hold raw units (see `automl.data`): float32 arrays for built-in, CSV and .npz data, NHWC for
    images; for an image folder, `CachedImages` views of the uint8 pixel cache, which every process maps
    instead of holding a copy (index, slice or ``np.asarray`` them like arrays). ``y_*`` are int64 class
    indices into ``class_names`` — or, for regression, the float32 target values in their own units, with no
    class names. ``fingerprint`` identifies the data and the split settings.
    """

    source: str
    task: str
    x_train: Inputs
    y_train: np.ndarray
    x_val: Inputs
    y_val: np.ndarray
    x_test: Inputs
    y_test: np.ndarray
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    preprocessing: dict
    fingerprint: str
    skipped: tuple[str, ...] = ()
    # The files behind the test split, in its order (image folders only): new data for `automl predict`.
    test_inputs: tuple[str, ...] = ()
    # Things the user should know that did not stop the load (a chosen default size, an unreadable EXIF block).
    notes: tuple[str, ...] = ()
    problem: str = "classification"  # or "regression" (automl.objectives)
    target: str | None = None  # a CSV's target column

    @property
    def num_classes(self) -> int:
        """The classes; 1 (one output value) for regression."""
        return 1 if self.is_regression else len(self.class_names)

    @property
    def is_regression(self) -> bool:
        return self.problem == "regression"

    def summary(self) -> str:
        """One line: task, input shape, classes (or the regression target) and split sizes."""
        shape = "x".join(str(d) for d in self.input_shape)
        what = (f"regression of {self.target or 'y'} (training mean {float(np.mean(self.y_train)):.4g}, std "
                f"{float(np.std(self.y_train)):.4g})" if self.is_regression else f"{self.num_classes} classes")
        text = (
            f"{self.task} data from {self.source}: inputs {shape}, {what}, "
            f"{len(self.y_train)} train / {len(self.y_val)} val / {len(self.y_test)} test samples"
        )
        if self.skipped:
            text += f" ({len(self.skipped)} corrupt files skipped)"
        return text

    def __repr__(self) -> str:  # the default repr would print every array
        return f"Dataset({self.summary()}; fingerprint {self.fingerprint[:12]})"


@dataclass
class Loaded:
    """What a source loader hands to the shared checks and the split."""

    task: str
    y: np.ndarray  # int64 class indices, one per sample (regression: float32 target values)
    class_names: tuple[str, ...]
    x: Inputs | None = None
    preprocessing: dict | None = None
    # Tables: fits the encoding on the training rows and returns (x for all rows, preprocessing), so that
    # category levels and the medians that fill empty cells are learnt from the training split alone.
    fit_encoding: Callable[[np.ndarray], tuple[np.ndarray, dict]] | None = None
    skipped: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # one file path per sample, for sources made of files
    notes: tuple[str, ...] = ()
    # Per-sample split codes given by the user (automl.data.split.SPLIT_CODES), replacing the random split.
    split: np.ndarray | None = None
    problem: str = "classification"
    target: str | None = None


def finish(source: str, loaded: Loaded, val_fraction: float, test_fraction: float, seed: int) -> Dataset:
    """Shared checks, the split and the fingerprint."""
    if loaded.problem == "regression":
        return _finish(source, loaded, val_fraction, test_fraction, seed, *_regression_split(loaded, val_fraction,
                                                                                             test_fraction, seed))
    counts = np.bincount(loaded.y, minlength=len(loaded.class_names))
    if len(loaded.class_names) < 2:
        only = loaded.class_names[0] if loaded.class_names else "(none)"
        raise SingleClassError(
            f"'{source}' has a single class, '{only}' ({len(loaded.y)} samples); classification needs at least "
            "two classes. Add data for other classes."
        )
    if loaded.split is None:
        check_split_sizes(counts, loaded.class_names, val_fraction, test_fraction)
        train, val, test = stratified_split(loaded.y, val_fraction, test_fraction, seed)
    else:
        train, val, test = explicit_split(loaded.y, loaded.split, loaded.class_names, val_fraction, test_fraction,
                                          seed)
    return _finish(source, loaded, val_fraction, test_fraction, seed, train, val, test)


def _regression_split(loaded: Loaded, val_fraction: float, test_fraction: float,
                      seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regression target's split, stratified by its quantiles (`automl.data.split.quantile_bins`)."""
    if loaded.split is None:
        return stratified_split(quantile_bins(loaded.y, val_fraction, test_fraction), val_fraction, test_fraction,
                                seed)
    pool = np.flatnonzero(np.asarray(loaded.split) == 0)
    strata = np.zeros(len(loaded.y), dtype=np.int64)
    drawn = not (np.asarray(loaded.split) == 1).any() or not (np.asarray(loaded.split) == 2).any()
    if len(pool) and drawn:
        strata[pool] = quantile_bins(loaded.y[pool], val_fraction, test_fraction)
    return explicit_split(strata, loaded.split, (), val_fraction, test_fraction, seed, classes=False)


def _finish(source: str, loaded: Loaded, val_fraction: float, test_fraction: float, seed: int, train: np.ndarray,
            val: np.ndarray, test: np.ndarray) -> Dataset:
    regression = loaded.problem == "regression"
    x: Inputs | None
    preprocessing: dict | None
    if loaded.fit_encoding is not None:
        x, preprocessing = loaded.fit_encoding(train)
    else:
        x, preprocessing = loaded.x, loaded.preprocessing
    assert x is not None and preprocessing is not None
    if not isinstance(x, CachedImages):  # a cache stays on disk, shared; small arrays are copied per split
        x = np.ascontiguousarray(x, dtype=np.float32)
    y = loaded.y.astype(np.float32 if regression else np.int64)
    take = x.subset if isinstance(x, CachedImages) else x.__getitem__
    parts = {name: (take(rows), y[rows]) for name, rows in (("train", train), ("val", val), ("test", test))}
    input_shape = tuple(int(d) for d in x.shape[1:])
    digest = fingerprint(
        parts,
        {
            "version": FINGERPRINT_VERSION,
            "task": loaded.task,
            "class_names": list(loaded.class_names),
            "input_shape": list(input_shape),
            # The imputation's medians follow from the training rows (and the indicator columns are in the
            # encoding): left out, a table without empty cells keeps the fingerprint it had before imputation.
            "preprocessing": {k: v for k, v in preprocessing.items() if k != "missing"},
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
            # only for regression: a classification data set keeps the fingerprint it had before regression
            **({"problem": "regression"} if regression else {}),
        },
    )
    return Dataset(
        source=source,
        task=loaded.task,
        x_train=parts["train"][0],
        y_train=parts["train"][1],
        x_val=parts["val"][0],
        y_val=parts["val"][1],
        x_test=parts["test"][0],
        y_test=parts["test"][1],
        class_names=loaded.class_names,
        input_shape=input_shape,
        preprocessing=preprocessing,
        fingerprint=digest,
        skipped=loaded.skipped,
        test_inputs=tuple(loaded.inputs[i] for i in test) if loaded.inputs else (),
        notes=loaded.notes,
        problem=loaded.problem,
        target=loaded.target,
    )
