"""Imbalanced classes: weighting each class in the training loss, and the preflight's warning.

The weighting is the space's ``training.class_weight`` — or ``--class-weight``, which replaces it:

``balanced``
    each training sample of class *c* weighs ``n_samples / (n_classes * count_c)``, counted on the training
    split (scikit-learn's ``compute_class_weight("balanced")``): every class weighs as much in the loss.
``{label: weight, ...}`` (the space or the Python API)
    a weight per class, by its label as the data name it — the class folder's name, the CSV's or .npz's label
    value; numbers are read as that text, so ``{0: 1.0, 1: 5.0}`` weighs the samples labelled ``1`` five times
    those labelled ``0``. A class left out weighs 1; an unknown label is refused, listing the classes.
``none`` (or leaving it out)
    every sample weighs the same.

The weights reach ``model.fit(class_weight=...)`` in every trial (and the ``--refit`` of an export, with
``balanced`` counted on train + validation). The validation loss is weighed the same way, so early stopping keeps
the epoch best by the loss the network is trained on; the validation metrics (accuracy, F1, ...) stay unweighted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

BALANCED, NONE = "balanced", "none"
# The preflight warns when the largest class has at least this many times the samples of the smallest.
IMBALANCE_RATIO = 10.0

ClassWeight = str | dict[str, float] | None  # "balanced", a weight per label name, or None (equal weights)


def check_class_weight(value: Any, where: str, error: type[Exception]) -> ClassWeight:
    """The form of a class weight setting (labels are checked against the data by :func:`resolve`): ``balanced``,
    ``None`` for ``none`` / null, or a mapping of labels (as text) to positive numbers."""
    if value is None or value == NONE:
        return None
    if value == BALANCED:
        return BALANCED
    if isinstance(value, Mapping) and value:
        weights: dict[str, float] = {}
        for label, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                    or weight <= 0 or isinstance(label, (bool, float)) or not isinstance(label, (str, int)):
                break
            weights[str(label)] = float(weight)
        else:
            return weights
    raise error(f"{where}: expected balanced, none, or a mapping of class labels to positive weights (e.g. "
                f"{{0: 1.0, 1: 5.0}} or {{cat: 1.0, dog: 5.0}}); got {value!r}.")


def resolve(setting: ClassWeight, y_train: Any, class_names: Sequence[str],
            where: str = "training.class_weight") -> dict[int, float] | None:
    """The ``class_weight`` for ``model.fit``: class index → weight, from ``setting`` and the training labels
    ``y_train`` (class indices into ``class_names``); None for equal weights. An unknown label is a ConfigError."""
    import numpy as np

    from automl.errors import ConfigError

    if setting is None:
        return None
    if setting == BALANCED:
        counts = np.bincount(np.asarray(y_train).astype(np.int64).ravel(), minlength=len(class_names))
        present = counts > 0
        weights = np.where(present, len(y_train) / (int(present.sum()) * np.maximum(counts, 1)), 1.0)
        return {index: float(weight) for index, weight in enumerate(weights)}
    assert isinstance(setting, Mapping)
    unknown = sorted(set(setting) - set(class_names))
    if unknown:
        raise ConfigError(f"{where}: unknown class label(s) {unknown}; the data's classes are "
                          f"{', '.join(map(repr, class_names))} (numbers are read as text).")
    return {index: float(setting.get(name, 1.0)) for index, name in enumerate(class_names)}


def imbalance_warning(labels: Any, class_names: Sequence[str], class_weight: ClassWeight, objective: str) -> str | None:
    """The preflight's warning when the largest class has at least :data:`IMBALANCE_RATIO` times the samples of
    the smallest, with what to do about it that the search does not do yet; None for balanced enough data."""
    import numpy as np

    counts = np.bincount(np.asarray(labels).astype(np.int64).ravel(), minlength=len(class_names))
    if len(counts) < 2 or counts.min() == 0:
        return None
    largest, smallest = int(np.argmax(counts)), int(np.argmin(counts))
    ratio = counts[largest] / counts[smallest]
    if ratio < IMBALANCE_RATIO:
        return None
    advice = []
    if class_weight is None:
        advice.append("--class-weight balanced (each class weighs the same in the loss)")
    if objective in ("val_accuracy", "val_loss"):
        advice.append("--objective val_balanced_accuracy (or val_f1_macro: a model that ignores the small classes "
                      "ranks low)")
    return (f"warning: the classes are imbalanced: the largest, {class_names[largest]!r}, has {counts[largest]} "
            f"samples, {ratio:.0f}x the smallest, {class_names[smallest]!r} ({counts[smallest]})"
            + (f"; consider {' and '.join(advice)}" if advice else "") + ".")
