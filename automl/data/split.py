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


def encode_labels(values: np.ndarray, what: str, error: type[DataError]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class indices and names: the sorted unique label values (numbers sort numerically), as strings."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            example = next(v for v in values if not (np.isfinite(v) and v == round(v)))
            raise error(
                f"The {what} holds non-integer numbers (e.g. {example}); that looks like a regression target, but "
                "automl does classification only. Expected class labels (integers or text)."
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
                   test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train, val and test when some rows were given as validation and/or test rows.

    A part not given (no row has its code) is drawn from the training rows, stratified, at its fraction.
    Every class needs a training sample, and each part at least one sample.
    """
    codes = np.asarray(codes)
    given_val, given_test = np.flatnonzero(codes == 1), np.flatnonzero(codes == 2)
    pool = np.flatnonzero(codes == 0)
    draw_val = val_fraction if len(given_val) == 0 else 0.0
    draw_test = test_fraction if len(given_test) == 0 else 0.0
    counts = np.bincount(y[pool], minlength=len(class_names))
    for fraction, part in ((draw_val, "validation"), (draw_test, "test")):
        if fraction and any(c and c * fraction < 1 for c in counts):
            small = [f"'{n}' ({int(c)})" for n, c in zip(class_names, counts) if c and c * fraction < 1]
            raise TooFewSamplesError(f"the {part} split is drawn from the training rows at {fraction}, but these "
                                     f"classes are too small for one {part} sample each: {listed(small)}. Give the "
                                     f"{part} rows yourself, or raise the fraction.")
    train, val, test = stratified_split(y[pool], draw_val, draw_test, seed) if len(pool) else ([], [], [])
    train = pool[np.asarray(train, dtype=np.int64)]
    val = given_val if len(given_val) else pool[np.asarray(val, dtype=np.int64)]
    test = given_test if len(given_test) else pool[np.asarray(test, dtype=np.int64)]
    untrained = sorted(set(np.unique(y[np.concatenate([val, test])]).tolist()) - set(np.unique(y[train]).tolist()))
    if untrained:
        raise TooFewSamplesError(f"the classes {listed([repr(class_names[c]) for c in untrained])} have validation or "
                                 "test samples but no training sample; add training samples for them.")
    for rows, part in ((train, "training"), (val, "validation"), (test, "test")):
        if not len(rows):
            raise TooFewSamplesError(f"the {part} split is empty; give it rows or more data.")
    return train, val, test
