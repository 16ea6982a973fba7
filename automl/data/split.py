"""Labels, the stratified train/validation/test split, and the fingerprint of a split data set."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence

import numpy as np

from automl.data.messages import listed
from automl.errors import DataError, TooFewSamplesError

# Bumped whenever the bytes that go into the fingerprint change meaning.
FINGERPRINT_VERSION = 1

# A numeric target with more distinct values than this (or any non-integer value) is a regression target; fewer
# integers are class labels. --task (Python: task=) overrides it either way.
MAX_CLASS_VALUES = 20
# A regression target is split stratified by quantile: its values are cut into at most this many equal-count bins
# (fewer where a bin would be too small to give validation and test a sample each), each split on its own.
MAX_QUANTILE_BINS = 10
TASK_HINT = "--task classification|regression (Python: task=) overrides the detection"


def detect_problem(values: np.ndarray, requested: str | None, what: str, error: type[DataError],
                   images: bool = False) -> tuple[str, str]:
    """(problem, why) of a target: ``"regression"`` for numbers with a non-integer value or more than
    `MAX_CLASS_VALUES` distinct values, else ``"classification"``; ``requested`` (``--task``) decides when given.
    Images are classification (image regression is not supported); a text target cannot be regression."""
    values = np.asarray(values)
    numeric = values.dtype.kind in "iuf"
    if requested == "regression":
        if images:
            raise error(f"--task regression was given, but {what} labels images; image regression is not supported "
                        "yet. Leave --task unset (classification).")
        if not numeric:
            raise error(f"--task regression was given, but the {what} holds text (dtype {values.dtype}); a regression "
                        "target must be numbers. Leave --task unset for classification.")
        return "regression", f"--task regression: {what} is a regression target"
    if requested == "classification" or images or not numeric:
        return "classification", ""
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    distinct = len(np.unique(finite))
    if values.dtype.kind == "f" and not np.all(finite == np.round(finite)):
        return "regression", (f"{what} holds non-integer numbers ({distinct} distinct values): a regression task "
                              f"({TASK_HINT})")
    if distinct > MAX_CLASS_VALUES:
        return "regression", (f"{what} holds {distinct} distinct numbers (more than {MAX_CLASS_VALUES}): a regression "
                              f"task ({TASK_HINT})")
    return "classification", ""


def regression_target(values: np.ndarray, what: str, error: type[DataError]) -> np.ndarray:
    """The target of a regression task as float32; refuses non-finite and constant targets."""
    y = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(y)
    if bad.any():
        raise error(f"The {what} holds {int(bad.sum())} infinite or NaN value(s), in data row(s) "
                    f"{listed([str(i + 1) for i in np.flatnonzero(bad)])}; a regression target needs a finite number in "
                    "every row. Fix or drop those rows.")
    if len(y) and np.all(y == y[0]):
        raise error(f"The {what} holds one value ({y[0]:g}) in every row; there is nothing to learn. Check the column.")
    return y.astype(np.float32)


def quantile_bins(y: np.ndarray, val_fraction: float, test_fraction: float) -> np.ndarray:
    """Strata for a regression target: equal-count bins of its sorted values (ties kept in row order), as many as
    `MAX_QUANTILE_BINS` allows with every bin big enough for a validation and a test sample. Raises
    `TooFewSamplesError` when even one bin (all samples) is too small."""
    n = len(y)
    bins = next((b for b in range(MAX_QUANTILE_BINS, 0, -1) if split_possible(n // b, val_fraction, test_fraction)),
                None)
    if bins is None:
        needed = next((k for k in range(3, 1_000_000) if split_possible(k, val_fraction, test_fraction)), None)
        raise TooFewSamplesError(
            f"Too few samples to split with val_fraction={val_fraction} and test_fraction={test_fraction}: {n} "
            f"sample(s), but train, validation and test each need one or more (at least {needed} samples). Add data, "
            "or adjust the fractions.")
    strata = np.empty(n, dtype=np.int64)
    strata[np.argsort(y, kind="stable")] = np.arange(n) * bins // n
    return strata


def encode_labels(values: np.ndarray, what: str, error: type[DataError]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class indices and names: the sorted unique label values (numbers sort numerically), as strings."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            example = next(v for v in values if not (np.isfinite(v) and v == round(v)))
            raise error(
                f"The {what} holds non-integer numbers (e.g. {example}), but the task is classification (--task "
                "classification). Expected class labels (integers or text); leave --task unset for regression."
            )
        values = values.astype(np.int64)
    elif values.dtype.kind not in "biu":
        values = values.astype(str)  # text, bytes, mixed objects: compare as text
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), tuple(str(u) for u in uniques)


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def class_split_sizes(count: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, val, test) sizes for one class of `count` samples."""
    n_test = _round_half_up(count * test_fraction)
    n_val = _round_half_up(count * val_fraction)
    return count - n_test - n_val, n_val, n_test


def split_possible(count: int, val_fraction: float, test_fraction: float) -> bool:
    """A class can be split if its share of validation and test is a whole sample and training keeps one.

    Requiring ``count * fraction >= 1`` (not merely that it rounds to 1) keeps each split's share of a
    small class close to the requested fraction. The tolerance absorbs float error in the products.
    """
    n_train, _, _ = class_split_sizes(count, val_fraction, test_fraction)
    tolerance = 1e-9
    return count * val_fraction >= 1 - tolerance and count * test_fraction >= 1 - tolerance and n_train >= 1


def check_split_sizes(counts: np.ndarray, class_names: Sequence[str], val_fraction: float, test_fraction: float) -> None:
    """Every class needs at least one sample in each of train, validation and test."""
    small = [
        f"'{name}' ({int(n)})"
        for name, n in zip(class_names, counts)
        if not split_possible(int(n), val_fraction, test_fraction)
    ]
    if not small:
        return
    needed = next((n for n in range(3, 1_000_000) if split_possible(n, val_fraction, test_fraction)), None)
    need = f"at least {needed} samples per class" if needed else "far more samples per class"
    raise TooFewSamplesError(
        f"Too few samples to split with val_fraction={val_fraction} and test_fraction={test_fraction}: every class "
        f"needs one sample or more in each of train, validation and test ({need}), but these classes are smaller "
        f"(sample counts in brackets): {listed(small)}. Add data for those classes; otherwise adjust the fractions "
        "(raise them when a class gets no validation or test sample, lower them when it gets no training sample)."
    )


def stratified_split(
    y: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train, val and test: each class is shuffled and split on its own.

    Splitting per class (rather than with sklearn's train_test_split, whose rounding can leave a small class
    out of the validation split) guarantees the one-sample-per-split minimum that the preflight promises.
    """
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for cls in range(int(y.max()) + 1):
        rows = rng.permutation(np.flatnonzero(y == cls))
        _, n_val, n_test = class_split_sizes(len(rows), val_fraction, test_fraction)
        test.append(rows[:n_test])
        val.append(rows[n_test : n_test + n_val])
        train.append(rows[n_test + n_val :])
    # Shuffle each split so that classes are interleaved rather than in blocks.
    return tuple(rng.permutation(np.concatenate(part)) for part in (train, val, test))  # type: ignore[return-value]


def fingerprint(parts: dict[str, tuple[object, np.ndarray]], settings: dict) -> str:
    """sha256 over the settings (as canonical JSON) and the contents, dtypes and shapes of every split.

    In-memory arrays contribute their bytes. A split of a cached image folder contributes the cache's own
    digest of its pixels and the rows it takes, which identifies the same bytes without reading them all.
    """
    from automl.data.cache import CachedImages

    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, arrays in parts.items():
        for label, arr in zip(("x", "y"), arrays):
            if isinstance(arr, CachedImages):
                digest.update(f"{name}.{label}:cached:{arr.digest}:{arr.shape}".encode())
                digest.update(np.ascontiguousarray(arr.rows, dtype=np.int64).tobytes())
                continue
            arr = np.ascontiguousarray(arr)
            digest.update(f"{name}.{label}:{arr.dtype.str}:{arr.shape}".encode())
            digest.update(arr.tobytes())
    return digest.hexdigest()


# Per-sample codes of an explicit split (an .npz file's ``split`` array, a CSV's SPLIT_COLUMN): the validation
# and test rows given by the user; the other rows are training rows, from which a split not given is drawn.
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def explicit_split(y: np.ndarray, codes: np.ndarray, class_names: Sequence[str], val_fraction: float,
                   test_fraction: float, seed: int, classes: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train, val and test when some rows were given as validation and/or test rows.

    A part not given (no row has its code) is drawn from the training rows, stratified, at its fraction.
    Every class needs a training sample, and each part at least one sample. With ``classes=False`` (regression:
    ``y`` holds quantile bins) only the last is checked.
    """
    codes = np.asarray(codes)
    given_val, given_test = np.flatnonzero(codes == 1), np.flatnonzero(codes == 2)
    pool = np.flatnonzero(codes == 0)
    draw_val = val_fraction if len(given_val) == 0 else 0.0
    draw_test = test_fraction if len(given_test) == 0 else 0.0
    counts = np.bincount(y[pool], minlength=len(class_names))
    for fraction, part in ((draw_val, "validation"), (draw_test, "test")):
        if classes and fraction and any(c and c * fraction < 1 for c in counts):
            small = [f"'{n}' ({int(c)})" for n, c in zip(class_names, counts) if c and c * fraction < 1]
            raise TooFewSamplesError(f"the {part} split is drawn from the training rows at {fraction}, but these "
                                     f"classes are too small for one {part} sample each: {listed(small)}. Give the "
                                     f"{part} rows yourself, or raise the fraction.")
    train, val, test = stratified_split(y[pool], draw_val, draw_test, seed) if len(pool) else ([], [], [])
    train = pool[np.asarray(train, dtype=np.int64)]
    val = given_val if len(given_val) else pool[np.asarray(val, dtype=np.int64)]
    test = given_test if len(given_test) else pool[np.asarray(test, dtype=np.int64)]
    untrained = sorted(set(np.unique(y[np.concatenate([val, test])]).tolist()) - set(np.unique(y[train]).tolist()))
    if untrained and classes:
        raise TooFewSamplesError(f"the classes {listed([repr(class_names[c]) for c in untrained])} have validation or "
                                 "test samples but no training sample; add training samples for them.")
    for rows, part in ((train, "training"), (val, "validation"), (test, "test")):
        if not len(rows):
            raise TooFewSamplesError(f"the {part} split is empty; give it rows or more data.")
    return train, val, test
