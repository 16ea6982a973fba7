"""In-memory arrays: the built-in scikit-learn sets and .npz files (images N x H x W [x C], or tables N x F)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from automl.data.dataset import Loaded
from automl.data.images import image_preprocessing
from automl.data.messages import listed, quoted, short_reason
from automl.data.split import SPLIT_CODES, detect_problem, encode_labels, regression_target
from automl.data.tables import (
    MISSING_LEVEL,
    impute_array,
    numeric_imputation,
    regression_imputation,
    tabular_preprocessing,
)
from automl.errors import ArrayFormatError, ConfigError, DataNotFoundError

BUILTIN_DATASETS = ("digits", "breast_cancer", "wine")


def reject_image_options(image_size, color_mode: str | None, source: str) -> None:
    if image_size is not None or color_mode is not None:
        raise ConfigError(
            f"image_size/color_mode were given, but '{source}' is tabular data; they apply to images only. "
            "Leave them unset."
        )


def load_builtin(name: str, image_size: tuple[int, int] | None, color_mode: str | None) -> Loaded:
    from sklearn import datasets

    given, name = name, name.strip().lower()
    if name not in BUILTIN_DATASETS:
        raise DataNotFoundError(
            f"Unknown builtin data set 'builtin:{given}'. Known: "
            + ", ".join(f"builtin:{n}" for n in BUILTIN_DATASETS)
            + "."
        )
    if name == "digits":
        bunch = datasets.load_digits()
        x = bunch.images.astype(np.float32)[..., None]  # (1797, 8, 8, 1), pixel values 0..16
        names = tuple(str(n) for n in bunch.target_names)
        return array_images(x, bunch.target.astype(np.int64), names, image_size, color_mode, pixel_max=16.0)

    reject_image_options(image_size, color_mode, f"builtin:{name}")
    bunch = datasets.load_breast_cancer() if name == "breast_cancer" else datasets.load_wine()
    columns = [str(c) for c in bunch.feature_names]
    x = bunch.data.astype(np.float32)

    def fit_encoding(train_rows: np.ndarray) -> tuple[np.ndarray, dict]:
        # No cell is empty; the training medians let the model's predict fill empty cells of new rows.
        medians, _ = numeric_imputation(x[train_rows].astype(np.float64))
        imputation = {"medians": dict(zip(columns, medians)), "indicators": [], "level": MISSING_LEVEL}
        return x, tabular_preprocessing(columns, {}, target="target", missing=imputation)

    return Loaded(
        task="tabular",
        y=bunch.target.astype(np.int64),
        # sklearn's order, so that class index i is target_names[i]
        class_names=tuple(str(n) for n in bunch.target_names),
        fit_encoding=fit_encoding,
    )


def array_images(
    x: np.ndarray,
    y: np.ndarray,
    class_names: tuple[str, ...],
    image_size: tuple[int, int] | None,
    color_mode: str | None,
    pixel_max: float,
) -> Loaded:
    """An image task from an NHWC float32 array, converted to the requested colour mode and size."""
    own_mode = "grayscale" if x.shape[-1] == 1 else "rgb"
    color_mode = color_mode or own_mode
    if color_mode != own_mode:
        if color_mode == "rgb":
            x = np.repeat(x, 3, axis=-1)
        else:  # ITU-R 601-2 luma, the weights PIL uses for RGB -> L
            x = (x @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    if image_size is not None and tuple(image_size) != x.shape[1:3]:
        x = _resize_arrays(x, image_size)
    return Loaded(
        task="image",
        x=x.astype(np.float32),
        y=y,
        class_names=class_names,
        preprocessing=image_preprocessing(x.shape[1:3], color_mode, pixel_max),
    )


def _resize_arrays(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float NHWC images, channel by channel (PIL's 'F' mode keeps the raw values)."""
    from PIL import Image

    height, width = size
    out = np.empty((x.shape[0], height, width, x.shape[-1]), dtype=np.float32)
    for i in range(x.shape[0]):
        for c in range(x.shape[-1]):
            channel = Image.fromarray(np.ascontiguousarray(x[i, :, :, c], dtype=np.float32))
            out[i, :, :, c] = np.asarray(channel.resize((width, height), Image.Resampling.BILINEAR))
    return out

def load_npz(path: Path, image_size: tuple[int, int] | None, color_mode: str | None,
             task: str | None = None) -> Loaded:
    import zipfile

    expected = ("arrays x (samples) and y (labels), saved with np.savez(path, x=x, y=y); optionally split, a code per "
                "sample (0 train, 1 validation, 2 test) replacing the random split")
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(getattr(data, "files", []))
            if "x" not in names or "y" not in names:
                raise ArrayFormatError(
                    f"'{path}' holds the arrays {quoted(names) if names else '(none)'}; expected {expected}."
                )
            x, y = data["x"], data["y"]
            split = data["split"] if "split" in names else None
    except ArrayFormatError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        # Object arrays (which would need pickle) and non-zip files end up here.
        if isinstance(exc, ValueError) and "pickle" in str(exc).lower():
            raise ArrayFormatError(
                f"'{path}' holds pickled Python objects (an object array, or a pickle file named .npz). automl never "
                "loads pickled data, because unpickling a file can run any code in it. Expected "
                f"{expected}, with numeric x and integer or string y (no object arrays); convert them first, e.g. "
                "np.savez(path, x=np.asarray(x, dtype=np.float32), y=np.asarray(y).astype(str))."
            ) from exc
        raise ArrayFormatError(
            f"'{path}' could not be read as an .npz file ({short_reason(exc)}). Expected {expected}, "
            "with numeric x and integer or string y (no object arrays)."
        ) from exc

    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ArrayFormatError(
            f"y in '{path}' has shape {y.shape}; expected one label per sample, shape (N,). "
            "Convert one-hot labels with y.argmax(axis=1)."
        )
    if len(x) != len(y):
        raise ArrayFormatError(
            f"x and y in '{path}' have different lengths: x has {len(x)} samples, y has {len(y)} labels. "
            "Expected one label per sample."
        )
    if len(x) == 0:
        raise ArrayFormatError(f"x and y in '{path}' are empty; expected at least one sample per class.")
    if x.dtype.kind not in "biuf":
        raise ArrayFormatError(f"x in '{path}' has dtype {x.dtype}; expected numbers (int or float).")
    x = x.astype(np.float32)
    n_inf, n_nan = int(np.isinf(x).sum()), int(np.isnan(x).sum())
    if n_inf or (n_nan and x.ndim != 2):
        what = f"{n_inf} infinite" if n_inf else f"{n_nan} NaN"
        raise ArrayFormatError(f"x in '{path}' holds {what} values; expected finite numbers (NaN, a missing value, "
                               "is imputed in tables, a 2-D x, but not in images).")
    problem, why = detect_problem(y, task, f"y in '{path}'", ArrayFormatError, images=x.ndim != 2)
    class_names: tuple[str, ...] = ()
    if problem == "regression":
        y_codes = regression_target(y, f"y in '{path}'", ArrayFormatError)
    else:
        y_codes, class_names = encode_labels(y, f"y in '{path}'", ArrayFormatError)
    if split is not None:
        split = np.asarray(split).reshape(-1)
        if len(split) != len(y) or split.dtype.kind not in "iu" or not np.isin(split, list(SPLIT_CODES.values())).all():
            raise ArrayFormatError(f"split in '{path}' must hold one code per sample: 0 train, 1 validation, 2 test "
                                   f"(got {split.dtype} values of shape {split.shape} for {len(y)} samples).")

    if x.ndim == 2:
        reject_image_options(image_size, color_mode, str(path))
        return Loaded(task="tabular", y=y_codes, class_names=class_names, fit_encoding=fit_array_encoding(x, path),
                      split=split, notes=((why,) if why else ()) + ((array_imputation_note(x),) if n_nan else ()),
                      problem=problem)
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W) grayscale -> NHWC
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ArrayFormatError(
            f"x in '{path}' has shape {x.shape}; expected (N, features) for tables, or (N, H, W), (N, H, W, 1) "
            "or (N, H, W, 3) for images."
        )
    # Pixel units are not stored in an .npz, so infer them: 0..1 floats, 0..255 bytes, or the data maximum.
    peak = float(x.max())
    pixel_max = 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else peak
    loaded = array_images(x, y_codes, class_names, image_size, color_mode, pixel_max=pixel_max)
    loaded.split = split
    return loaded


def fit_array_encoding(x: np.ndarray, path: Path) -> Callable[[np.ndarray], tuple[np.ndarray, dict]]:
    """The `Loaded.fit_encoding` of a 2-D .npz table: NaN cells are imputed as `automl.data.tables.impute_numbers`
    says (a regression on the other columns, else the median, both from the training rows), and each column with a
    NaN there gets a 0/1 indicator column, appended after the array's own columns."""

    def fit(train_rows: np.ndarray) -> tuple[np.ndarray, dict]:
        train = x[train_rows].astype(np.float64)
        medians, indicators = numeric_imputation(train)
        preprocessing = {"kind": "tabular", "n_features": int(x.shape[1]),
                         "missing": {"medians": medians, "indicators": indicators,
                                     "models": regression_imputation(train, medians, indicators)}}
        return impute_array(x, preprocessing, f"x in '{path}'"), preprocessing

    return fit


def array_imputation_note(x: np.ndarray) -> str:
    counts = np.isnan(x).sum(axis=0)
    per_column = listed((f"{j} ({int(n)})" for j, n in enumerate(counts) if n), limit=8)
    return (f"missing values: imputed {int(counts.sum())} NaN cell(s) of x in {int((counts > 0).sum())} column(s) "
            f"(counted from 0): {per_column}, predicted from the row's other columns by a linear model fitted on the "
            "training split (the column's training median where there is none), plus a 0/1 column appended per "
            "column with NaN in training rows.")
