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
unstandardised features. The JSON-serialisable ``Dataset.preprocessing`` dict records how to bring *new*
raw inputs to the same form (`encode_table`, `load_images`); it has one of these forms::

    {"kind": "image", "image_size": [H, W], "color_mode": "grayscale" | "rgb",
     "scale": 1/pixel_max,    # the model input is raw * scale, i.e. in [0, 1]
     "pixel_max": 255.0}      # raw units: 16 for builtin:digits, 255 for image files

    {"kind": "tabular", "columns": [input columns, in order], "numeric": [numeric columns],
     "categorical": {column: [levels seen in the training split, sorted]},
     "encoded_columns": ["age", "colour=blue", "colour=red", ...],  # the model's input features, in order
     "target": "label"}

    {"kind": "tabular", "n_features": F}    # an .npz file with a 2-D x: the columns are used as they are

Missing values are not imputed: a CSV with empty feature cells is refused, naming the columns, so that the
user decides how to fill or drop them.

TensorFlow and Keras are deliberately not imported here so the command line starts fast; pandas, PIL and
scikit-learn are imported inside the functions that need them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from automl.errors import (
    ArrayFormatError,
    ConfigError,
    CorruptImageError,
    DataError,
    DataNotFoundError,
    EmptyClassFolderError,
    FeatureColumnError,
    NoImagesError,
    SingleClassError,
    TargetColumnError,
    TooFewSamplesError,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "BUILTIN_DATASETS",
    "COLOR_MODES",
    "IMAGE_EXTENSIONS",
    "Dataset",
    "encode_table",
    "image_files",
    "load_dataset",
    "load_images",
]

BUILTIN_DATASETS = ("digits", "breast_cancer", "wine")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
COLOR_MODES = ("grayscale", "rgb")

# A text column with more distinct values than half its rows, and more than this many, is an identifier or free
# text (small tables included): one-hot encoding it would only let the model memorise rows.
MIN_IDENTIFIER_LEVELS = 10
# A text column whose cells are at least this share numbers is a numeric column with typos, not a category.
NUMERIC_SHARE = 0.9
# Messages list at most this many offending items, then "and N more".
_MAX_LISTED = 20
# Bumped whenever the bytes that go into the fingerprint change meaning.
_FINGERPRINT_VERSION = 1
# PIL modes whose images are treated as grayscale when the colour mode is detected automatically.
_GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_SUPPORTED_SOURCES = (
    "builtin:NAME (" + ", ".join(BUILTIN_DATASETS) + "), a folder of images with one sub-folder per class, "
    "a .csv file (with a target column) or an .npz file with arrays x and y"
)


# --- the dataset ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A classification data set, split into train/validation/test parts.

    ``x_*`` are float32 in raw units (see the module docstring); images are NHWC. ``y_*`` are int64 class
    indices into ``class_names``. ``fingerprint`` identifies the data and the split settings.
    """

    source: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    preprocessing: dict
    fingerprint: str
    skipped: tuple[str, ...] = ()
    # The files behind the test split, in its order (image folders only): new data for `automl predict`.
    test_inputs: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> str:
        """One line: task, input shape, classes and split sizes."""
        shape = "x".join(str(d) for d in self.input_shape)
        text = (
            f"{self.task} data from {self.source}: inputs {shape}, {self.num_classes} classes, "
            f"{len(self.y_train)} train / {len(self.y_val)} val / {len(self.y_test)} test samples"
        )
        if self.skipped:
            text += f" ({len(self.skipped)} corrupt files skipped)"
        return text

    def __repr__(self) -> str:  # the default repr would print every array
        return f"Dataset({self.summary()}; fingerprint {self.fingerprint[:12]})"


@dataclass
class _Loaded:
    """What a source loader hands to the shared checks and the split."""

    task: str
    y: np.ndarray  # int64 class indices, one per sample
    class_names: tuple[str, ...]
    x: np.ndarray | None = None
    preprocessing: dict | None = None
    # CSV only: fits the encoding on the training rows and returns (x for all rows, preprocessing), so that
    # category levels are learnt from the training split alone.
    fit_encoding: Callable[[np.ndarray], tuple[np.ndarray, dict]] | None = None
    skipped: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # one file path per sample, for sources made of files


# --- public API ----------------------------------------------------------------------------------------
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
) -> Dataset:
    """Load `source`, check it, and split it into stratified train/validation/test parts.

    `target` names the class column of a CSV file (and must be None for other sources). `image_size`
    ``(height, width)`` resizes images (default: the most common size in an image folder, the array's size
    otherwise); `color_mode` forces ``"grayscale"`` or ``"rgb"`` (default: detected). Each class is split
    on its own: ``round(n * test_fraction)`` samples go to test, ``round(n * val_fraction)`` to validation
    and the rest to training, shuffled with `seed`; every class needs ``n * fraction >= 1`` for both
    fractions and one sample left for training (else `TooFewSamplesError`). With `skip_corrupt`,
    unreadable image files are left out and listed in ``Dataset.skipped`` instead of raising
    `CorruptImageError`.

    Raises a `DataError` subclass for unusable data and `ConfigError` for invalid options.
    """
    source_text = str(source)
    _check_fractions(val_fraction, test_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}.")
    image_size = _check_image_size(image_size)
    if color_mode is not None and color_mode not in COLOR_MODES:
        raise ConfigError(
            f"color_mode must be one of {', '.join(COLOR_MODES)} (or unset to detect it), got {color_mode!r}."
        )

    if source_text.startswith("builtin:"):
        _reject_target(target, source_text)
        loaded = _load_builtin(source_text[len("builtin:"):], image_size, color_mode)
    else:
        path = Path(source_text).expanduser()
        if not path.exists():
            raise DataNotFoundError(
                f"Data path '{source_text}' does not exist. Expected {_SUPPORTED_SOURCES}; check the path."
            )
        suffix = path.suffix.lower()
        if path.is_dir():
            _reject_target(target, source_text)
            loaded = _load_image_folder(path, image_size, color_mode, skip_corrupt)
        elif suffix == ".csv":
            _reject_image_options(image_size, color_mode, source_text)
            loaded = _load_csv(path, target)
        elif suffix == ".npz":
            _reject_target(target, source_text)
            loaded = _load_npz(path, image_size, color_mode)
        else:
            raise DataNotFoundError(
                f"Data path '{source_text}' is a '{suffix or 'extension-less'}' file, which is not a supported "
                f"data source. Supported: {_SUPPORTED_SOURCES}."
            )
    return _finish(source_text, loaded, float(val_fraction), float(test_fraction), int(seed))


def encode_table(df: pd.DataFrame, preprocessing: dict) -> np.ndarray:
    """Encode the rows of `df` exactly as the training table was encoded; returns float32 (rows, features).

    Columns are looked up by name (extra columns, such as the target, are ignored). Category levels not seen
    in training encode as all zeros. Raises `FeatureColumnError` for missing columns, empty cells or
    non-numeric values in numeric columns.
    """
    import pandas as pd

    _require_kind(preprocessing, "tabular")
    n_rows = len(df)
    if "columns" in preprocessing:
        columns = list(preprocessing["columns"])
        categorical = {c: list(levels) for c, levels in preprocessing["categorical"].items()}
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise FeatureColumnError(
                f"The table lacks the column(s) {_quoted(missing)}. The model expects the columns "
                f"{_quoted(columns, limit=None)}; add the missing ones (same names as in the training data)."
                + _separator_hint([str(c) for c in df.columns], what="table")
            )
    else:  # an .npz table: no names, the columns are taken in order
        expected = int(preprocessing["n_features"])
        if df.shape[1] != expected:
            raise FeatureColumnError(
                f"The table has {df.shape[1]} columns {_quoted([str(c) for c in df.columns])}, but the model "
                f"expects {expected} numeric feature columns (in the order of the training array)."
                + _separator_hint([str(c) for c in df.columns], what="table")
            )
        columns, categorical = list(df.columns), {}

    blocks: list[np.ndarray] = []
    empty_cells: dict[str, int] = {}
    not_numeric: dict[str, str] = {}
    for column in columns:
        values = df[column]
        n_empty = int(values.isna().sum())
        if n_empty:
            empty_cells[str(column)] = n_empty
            continue
        if column in categorical:
            # Categories compare as text, so "True"/1 from a new file match what training saw.
            codes = pd.Index(categorical[column]).get_indexer(values.astype(str))  # -1: unseen level
            block = np.zeros((n_rows, len(categorical[column])), dtype=np.float32)
            known = codes >= 0
            block[np.flatnonzero(known), codes[known]] = 1.0
        else:
            as_numbers = pd.to_numeric(values, errors="coerce")
            finite = np.isfinite(as_numbers.to_numpy(dtype=np.float64, na_value=np.nan))
            bad = as_numbers.isna().to_numpy() | ~finite
            if bad.any():
                examples = values[bad].astype(str).unique()[:3]
                not_numeric[str(column)] = ", ".join(repr(v) for v in examples)
                continue
            block = as_numbers.to_numpy(dtype=np.float64).astype(np.float32)[:, None]
        blocks.append(block)

    problems = [f"'{c}' ({n} empty cells)" for c, n in empty_cells.items()]
    problems += [f"'{c}' (non-numeric or infinite values such as {v})" for c, v in not_numeric.items()]
    if problems:
        raise FeatureColumnError(
            f"Feature column(s) cannot be encoded: {'; '.join(problems)}. Expected a value in every cell, "
            "and finite numbers in numeric columns (missing values are not imputed); fill or fix those cells."
        )
    return np.hstack(blocks) if blocks else np.zeros((n_rows, 0), dtype=np.float32)


def load_images(paths: Sequence[Path | str], preprocessing: dict) -> np.ndarray:
    """Decode image files to the training size and colour mode; returns float32 NHWC in raw units.

    Raw units are those of the training data (0..``pixel_max``; 0..255 for models trained on image files),
    so ``load_images(paths, p) * p["scale"]`` is always the model input. Raises `DataNotFoundError` for
    missing files and `CorruptImageError` naming every file that cannot be decoded.
    """
    _require_kind(preprocessing, "image")
    height, width = (int(v) for v in preprocessing["image_size"])
    color_mode = preprocessing["color_mode"]
    pixel_max = float(preprocessing.get("pixel_max", 255.0))
    paths = [Path(p) for p in paths]

    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"Image file(s) not found: {_quoted(missing)}. Check the paths.")
    arrays, corrupt = [], []
    for path in paths:
        try:
            decoded = _decode_image(path)
        except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
            corrupt.append(f"{path} ({_short_reason(exc)})")
            continue
        arrays.append(_to_model_array(decoded, (height, width), color_mode))
    if corrupt:
        raise CorruptImageError(
            f"{len(corrupt)} image file(s) could not be decoded: {_listed(corrupt)}. Expected readable "
            f"{'/'.join(IMAGE_EXTENSIONS)} images; replace or leave out those files."
        )
    channels = 1 if color_mode == "grayscale" else 3
    if not arrays:
        return np.zeros((0, height, width, channels), dtype=np.float32)
    x = np.stack(arrays).astype(np.float32)
    if pixel_max != 255.0:  # bring 0..255 file pixels to the training data's units
        x *= np.float32(pixel_max / 255.0)
    return x


# --- option checks -------------------------------------------------------------------------------------
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


def _reject_target(target: str | None, source: str) -> None:
    if target is not None:
        raise ConfigError(
            f"A target column ('{target}') was given, but '{source}' is not a CSV file; the target applies to "
            "CSV data only (image folders take classes from sub-folders, .npz files from y). Leave it unset."
        )


def _reject_image_options(image_size: Any, color_mode: str | None, source: str) -> None:
    if image_size is not None or color_mode is not None:
        raise ConfigError(
            f"image_size/color_mode were given, but '{source}' is tabular data; they apply to images only. "
            "Leave them unset."
        )


# --- builtin sets --------------------------------------------------------------------------------------
def _load_builtin(name: str, image_size: tuple[int, int] | None, color_mode: str | None) -> _Loaded:
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
        return _array_images(x, bunch.target.astype(np.int64), names, image_size, color_mode, pixel_max=16.0)

    _reject_image_options(image_size, color_mode, f"builtin:{name}")
    bunch = datasets.load_breast_cancer() if name == "breast_cancer" else datasets.load_wine()
    columns = [str(c) for c in bunch.feature_names]
    return _Loaded(
        task="tabular",
        x=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.int64),
        # sklearn's order, so that class index i is target_names[i]
        class_names=tuple(str(n) for n in bunch.target_names),
        preprocessing=_tabular_preprocessing(columns, {}, target="target"),
    )


# --- image folders -------------------------------------------------------------------------------------
def _load_image_folder(
    root: Path, image_size: tuple[int, int] | None, color_mode: str | None, skip_corrupt: bool
) -> _Loaded:
    class_dirs = sorted(
        (d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name
    )
    files = {d.name: image_files(d) for d in class_dirs}
    extensions = "/".join(IMAGE_EXTENSIONS)
    if sum(len(f) for f in files.values()) == 0:
        loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        found = (
            f"found {len(loose)} image(s) directly in it but no class sub-folders"
            if loose
            else f"found no {extensions} files in its {len(class_dirs)} sub-folder(s)"
        )
        raise NoImagesError(
            f"Image folder '{root}' holds no usable images: {found}. Expected one sub-folder per class holding "
            f"that class's images, e.g. '{root / 'cat' / '001.png'}' and '{root / 'dog' / '001.png'}'."
        )
    empty = [name for name, f in files.items() if not f]
    if empty:
        raise EmptyClassFolderError(
            f"Class folder(s) {_quoted(empty)} in '{root}' hold no {extensions} files. Every sub-folder is a "
            "class and needs images; add images to them or remove the folders."
        )

    decoded: list[np.ndarray] = []
    labels: list[int] = []
    inputs: list[str] = []
    corrupt: list[Path] = []
    reasons: list[str] = []
    for index, name in enumerate(files):
        for path in files[name]:
            try:
                decoded.append(_decode_image(path))
            except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
                corrupt.append(path)
                reasons.append(f"'{path.relative_to(root)}' ({_short_reason(exc)})")
                continue
            labels.append(index)
            inputs.append(str(path))
    if corrupt and not skip_corrupt:
        raise CorruptImageError(
            f"{len(corrupt)} image file(s) in '{root}' could not be decoded: {_listed(reasons)}. Expected readable "
            f"{extensions} images; replace or delete those files, or pass --skip-corrupt (skip_corrupt=True in "
            "Python) to leave them out."
        )
    y = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(y, minlength=len(files))
    emptied = [name for name, n in zip(files, counts) if n == 0]
    if emptied:
        raise EmptyClassFolderError(
            f"Class folder(s) {_quoted(emptied)} in '{root}' hold no readable images (all were skipped as "
            "corrupt). Add readable images to them or remove the folders."
        )

    if image_size is None:
        # Sorted file order makes the tie-break (first seen) deterministic.
        image_size = Counter(a.shape[:2] for a in decoded).most_common(1)[0][0]
    if color_mode is None:
        color_mode = "grayscale" if all(a.ndim == 2 for a in decoded) else "rgb"
    x = np.stack([_to_model_array(a, image_size, color_mode) for a in decoded]).astype(np.float32)
    return _Loaded(
        task="image",
        x=x,
        y=y,
        class_names=tuple(files),
        preprocessing=_image_preprocessing(image_size, color_mode, pixel_max=255.0),
        skipped=tuple(str(p) for p in corrupt),
        inputs=tuple(inputs),
    )


def image_files(folder: Path | str) -> list[Path]:
    """Image files anywhere under `folder`, sorted, skipping hidden files and folders (e.g. macOS '._x.png')."""
    folder = Path(folder)
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    )


def _decode_image(path: Path) -> np.ndarray:
    """Fully decode one image file into uint8: (H, W) for grayscale modes, (H, W, 3) otherwise.

    `load()` forces the whole file to be decoded, so truncated and garbage files fail here rather than later.
    """
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        mode = img.mode
        if mode.startswith("I") or mode == "F":
            # 16/32-bit grayscale: bring 16-bit ranges down to 0..255 instead of clipping them.
            arr = np.asarray(img, dtype=np.float64)
            if mode.startswith("I;16") or arr.max(initial=0.0) > 255:
                arr = arr / 257.0
            return np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        if mode in _GRAYSCALE_MODES:
            return np.array(img.convert("L"))
        return np.array(img.convert("RGB"))


def _to_model_array(decoded: np.ndarray, size: tuple[int, int], color_mode: str) -> np.ndarray:
    """Resize a decoded uint8 image to `size` (height, width) and `color_mode`; float32 (H, W, C) 0..255."""
    from PIL import Image

    img = Image.fromarray(decoded)
    wanted = "L" if color_mode == "grayscale" else "RGB"
    if img.mode != wanted:
        img = img.convert(wanted)
    height, width = size
    if img.size != (width, height):  # PIL sizes are (width, height)
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32)
    return arr[..., None] if arr.ndim == 2 else arr


def _image_preprocessing(size: tuple[int, int], color_mode: str, pixel_max: float) -> dict:
    return {
        "kind": "image",
        "image_size": [int(size[0]), int(size[1])],
        "color_mode": color_mode,
        "scale": 1.0 / float(pixel_max),
        "pixel_max": float(pixel_max),
    }


def _array_images(
    x: np.ndarray,
    y: np.ndarray,
    class_names: tuple[str, ...],
    image_size: tuple[int, int] | None,
    color_mode: str | None,
    pixel_max: float,
) -> _Loaded:
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
    return _Loaded(
        task="image",
        x=x.astype(np.float32),
        y=y,
        class_names=class_names,
        preprocessing=_image_preprocessing(x.shape[1:3], color_mode, pixel_max),
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


# --- CSV files -----------------------------------------------------------------------------------------
def _load_csv(path: Path, target: str | None) -> _Loaded:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"CSV file '{path}' could not be read ({_short_reason(exc)}). Expected a comma-separated UTF-8 file "
            "with a header row; check the file's format."
        ) from exc
    df.columns = [str(c) for c in df.columns]
    columns = list(df.columns)

    if target is None:
        raise TargetColumnError(
            f"'{path}' is a CSV file, so the target (class) column must be given. Its columns are: "
            f"{_quoted(columns, limit=None)}; pass one of them as the target.{_separator_hint(columns)}"
        )
    if target not in df.columns:
        same_but_case = [c for c in columns if c.lower() == target.lower()]
        close = same_but_case + [c for c in difflib.get_close_matches(target, columns, n=3) if c not in same_but_case]
        hint = (f" Did you mean {_quoted(close)}?" if close else "") + _separator_hint(columns)
        raise TargetColumnError(
            f"Target column '{target}' is not in '{path}'. Available columns: {_quoted(columns, limit=None)}.{hint}"
        )
    if df.empty:
        raise TooFewSamplesError(f"CSV file '{path}' has a header but no data rows; add samples.")

    labels = df[target]
    empty = labels.isna().to_numpy()
    if labels.dtype == object:
        empty |= labels.astype(str).str.strip().eq("").to_numpy()
    if empty.any():
        rows = [str(i + 1) for i in np.flatnonzero(empty)]
        raise TargetColumnError(
            f"Target column '{target}' in '{path}' has {len(rows)} empty value(s), in data row(s) {_listed(rows)} "
            "(row 1 is the first row after the header). Every row needs a class; fill or delete those rows."
        )
    y, class_names = _encode_labels(labels.to_numpy(), f"target column '{target}' in '{path}'", TargetColumnError)

    features = df.drop(columns=[target])
    if features.shape[1] == 0:
        raise FeatureColumnError(
            f"CSV file '{path}' has no feature columns besides the target '{target}'; add input columns."
        )
    numeric = [c for c in features.columns if _is_numeric(features[c])]
    categorical = [c for c in features.columns if c not in numeric]

    problems = [f"'{c}' ({int(n)} empty)" for c, n in features.isna().sum().items() if n]
    for column in numeric:
        n_inf = int(np.isinf(features[column].to_numpy(dtype=np.float64)).sum())
        if n_inf:
            problems.append(f"'{column}' ({n_inf} infinite)")
    if problems:
        raise FeatureColumnError(
            f"Feature column(s) in '{path}' hold missing or infinite values: {', '.join(problems)}. Missing values "
            "are not imputed; fill those cells, drop the rows, or drop the columns."
        )
    # A few text cells (a decimal comma, 'unknown', a typo) make pandas read a numeric column as text; one-hot
    # encoding it would silently turn every number into a category.
    mistyped = []
    for column in categorical:
        values = features[column]
        is_text = pd.to_numeric(values, errors="coerce").isna().to_numpy()
        if is_text.any() and (~is_text).sum() >= NUMERIC_SHARE * len(values):
            rows = [str(i + 1) for i in np.flatnonzero(is_text)]
            examples = ", ".join(repr(str(v)) for v in values[is_text].unique()[:3])
            mistyped.append(f"'{column}' ({examples} in data row(s) {_listed(rows, limit=5)})")
    if mistyped:
        raise FeatureColumnError(
            f"Numeric column(s) in '{path}' hold text cells: {'; '.join(mistyped)} (row 1 is the first row after the "
            "header). Expected a number in every cell of a numeric column, written with a decimal point, not a "
            "comma; fix those cells or drop those rows."
        )
    too_varied = []
    for column in categorical:
        values = features[column].astype(str)
        n_levels = values.nunique()
        if n_levels > MIN_IDENTIFIER_LEVELS and n_levels > 0.5 * len(features):
            examples = ", ".join(repr(v) for v in values.unique()[:3])
            too_varied.append(f"'{column}' ({n_levels} distinct values in {len(features)} rows, e.g. {examples})")
    if too_varied:
        raise FeatureColumnError(
            f"Text column(s) in '{path}' look like identifiers or free text: {'; '.join(too_varied)}. Expected "
            f"categories whose values repeat (at most {MIN_IDENTIFIER_LEVELS} distinct values, or at most half as "
            "many as rows): one-hot encoding a column of mostly unique values only lets the model memorise rows. "
            "Drop those columns, or merge rare values into broader groups."
        )

    def fit_encoding(train_rows: np.ndarray) -> tuple[np.ndarray, dict]:
        train = features.iloc[train_rows]
        levels = {c: sorted(train[c].astype(str).unique().tolist()) for c in categorical}
        preprocessing = _tabular_preprocessing(list(features.columns), levels, target=target)
        return encode_table(features, preprocessing), preprocessing

    return _Loaded(task="tabular", y=y, class_names=class_names, fit_encoding=fit_encoding)


def _separator_hint(columns: list[str], what: str = "file") -> str:
    """A hint when the header was read as a single column holding ';' or tabs: not a comma-separated file."""
    if len(columns) != 1:
        return ""
    for separator, name in ((";", "semicolon"), ("\t", "tab")):
        if separator in columns[0]:
            return (
                f" The {what} looks {name}-separated (its whole header was read as one column), but automl reads "
                "comma-separated CSV; save it with commas between columns and decimal points in numbers, e.g. "
                "pandas' df.to_csv(path, index=False)."
            )
    return ""


def _is_numeric(series: pd.Series) -> bool:
    from pandas.api import types

    return types.is_numeric_dtype(series) and not types.is_bool_dtype(series)


def _tabular_preprocessing(columns: list[str], categorical: dict[str, list[str]], *, target: str) -> dict:
    """The tabular preprocessing dict: one-hot columns are named 'column=level', in input-column order."""
    encoded: list[str] = []
    for column in columns:
        if column in categorical:
            encoded += [f"{column}={level}" for level in categorical[column]]
        else:
            encoded.append(column)
    return {
        "kind": "tabular",
        "columns": list(columns),
        "numeric": [c for c in columns if c not in categorical],
        "categorical": {c: list(levels) for c, levels in categorical.items()},
        "encoded_columns": encoded,
        "target": target,
    }


# --- .npz files ----------------------------------------------------------------------------------------
def _load_npz(path: Path, image_size: tuple[int, int] | None, color_mode: str | None) -> _Loaded:
    import zipfile

    expected = "arrays x (samples) and y (labels), saved with np.savez(path, x=x, y=y)"
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(getattr(data, "files", []))
            if "x" not in names or "y" not in names:
                raise ArrayFormatError(
                    f"'{path}' holds the arrays {_quoted(names) if names else '(none)'}; expected {expected}."
                )
            x, y = data["x"], data["y"]
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
            f"'{path}' could not be read as an .npz file ({_short_reason(exc)}). Expected {expected}, "
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
    n_bad = int((~np.isfinite(x)).sum())
    if n_bad:
        raise ArrayFormatError(f"x in '{path}' holds {n_bad} NaN or infinite values; expected finite numbers.")
    y_codes, class_names = _encode_labels(y, f"y in '{path}'", ArrayFormatError)

    if x.ndim == 2:
        _reject_image_options(image_size, color_mode, str(path))
        preprocessing = {"kind": "tabular", "n_features": int(x.shape[1])}
        return _Loaded(task="tabular", x=x, y=y_codes, class_names=class_names, preprocessing=preprocessing)
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
    return _array_images(x, y_codes, class_names, image_size, color_mode, pixel_max=pixel_max)


# --- labels, checks, split, fingerprint ----------------------------------------------------------------
def _encode_labels(values: np.ndarray, what: str, error: type[DataError]) -> tuple[np.ndarray, tuple[str, ...]]:
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


def _finish(source: str, loaded: _Loaded, val_fraction: float, test_fraction: float, seed: int) -> Dataset:
    """Shared checks, the split and the fingerprint."""
    counts = np.bincount(loaded.y, minlength=len(loaded.class_names))
    if len(loaded.class_names) < 2:
        only = loaded.class_names[0] if loaded.class_names else "(none)"
        raise SingleClassError(
            f"'{source}' has a single class, '{only}' ({len(loaded.y)} samples); classification needs at least "
            "two classes. Add data for other classes."
        )
    _check_split_sizes(counts, loaded.class_names, val_fraction, test_fraction)

    train, val, test = _stratified_split(loaded.y, val_fraction, test_fraction, seed)
    if loaded.fit_encoding is not None:
        x, preprocessing = loaded.fit_encoding(train)
    else:
        x, preprocessing = loaded.x, loaded.preprocessing
    assert x is not None and preprocessing is not None
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = loaded.y.astype(np.int64)
    parts = {name: (x[rows], y[rows]) for name, rows in (("train", train), ("val", val), ("test", test))}
    input_shape = tuple(int(d) for d in x.shape[1:])
    fingerprint = _fingerprint(
        parts,
        {
            "version": _FINGERPRINT_VERSION,
            "task": loaded.task,
            "class_names": list(loaded.class_names),
            "input_shape": list(input_shape),
            "preprocessing": preprocessing,
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
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
        fingerprint=fingerprint,
        skipped=loaded.skipped,
        test_inputs=tuple(loaded.inputs[i] for i in test) if loaded.inputs else (),
    )


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def _class_split_sizes(count: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, val, test) sizes for one class of `count` samples."""
    n_test = _round_half_up(count * test_fraction)
    n_val = _round_half_up(count * val_fraction)
    return count - n_test - n_val, n_val, n_test


def _split_possible(count: int, val_fraction: float, test_fraction: float) -> bool:
    """A class can be split if its share of validation and test is a whole sample and training keeps one.

    Requiring ``count * fraction >= 1`` (not merely that it rounds to 1) keeps each split's share of a
    small class close to the requested fraction. The tolerance absorbs float error in the products.
    """
    n_train, _, _ = _class_split_sizes(count, val_fraction, test_fraction)
    tolerance = 1e-9
    return count * val_fraction >= 1 - tolerance and count * test_fraction >= 1 - tolerance and n_train >= 1


def _check_split_sizes(
    counts: np.ndarray, class_names: Sequence[str], val_fraction: float, test_fraction: float
) -> None:
    """Every class needs at least one sample in each of train, validation and test."""
    small = [
        f"'{name}' ({int(n)})"
        for name, n in zip(class_names, counts)
        if not _split_possible(int(n), val_fraction, test_fraction)
    ]
    if not small:
        return
    needed = next((n for n in range(3, 1_000_000) if _split_possible(n, val_fraction, test_fraction)), None)
    need = f"at least {needed} samples per class" if needed else "far more samples per class"
    raise TooFewSamplesError(
        f"Too few samples to split with val_fraction={val_fraction} and test_fraction={test_fraction}: every class "
        f"needs one sample or more in each of train, validation and test ({need}), but these classes are smaller "
        f"(sample counts in brackets): {_listed(small)}. Add data for those classes; otherwise adjust the fractions "
        "(raise them when a class gets no validation or test sample, lower them when it gets no training sample)."
    )


def _stratified_split(
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
        _, n_val, n_test = _class_split_sizes(len(rows), val_fraction, test_fraction)
        test.append(rows[:n_test])
        val.append(rows[n_test : n_test + n_val])
        train.append(rows[n_test + n_val :])
    # Shuffle each split so that classes are interleaved rather than in blocks.
    return tuple(rng.permutation(np.concatenate(part)) for part in (train, val, test))  # type: ignore[return-value]


def _fingerprint(parts: dict[str, tuple[np.ndarray, np.ndarray]], settings: dict) -> str:
    """sha256 over the settings (as canonical JSON) and the bytes, dtypes and shapes of every split."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, arrays in parts.items():
        for label, arr in zip(("x", "y"), arrays):
            arr = np.ascontiguousarray(arr)
            digest.update(f"{name}.{label}:{arr.dtype.str}:{arr.shape}".encode())
            digest.update(arr.tobytes())
    return digest.hexdigest()


# --- helpers -------------------------------------------------------------------------------------------
def _require_kind(preprocessing: dict, kind: str) -> None:
    actual = preprocessing.get("kind") if isinstance(preprocessing, dict) else None
    if actual != kind:
        expects = {"image": "image files", "tabular": "a table (CSV)"}.get(str(actual), "other inputs")
        raise DataError(
            f"These inputs need {kind} preprocessing, but the model was trained on {actual or 'unknown'} data and "
            f"expects {expects}; give it inputs of that kind."
        )


def _short_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 100 else text[:97] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _listed(items: Iterable[str], limit: int | None = _MAX_LISTED) -> str:
    """'a, b, c' with at most `limit` items, then 'and N more'."""
    items = list(items)
    if limit is None or len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def _quoted(names: Iterable[str], limit: int | None = _MAX_LISTED) -> str:
    return _listed((f"'{n}'" for n in names), limit)
