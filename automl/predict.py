"""Predicting with an exported model on new files: image files or folders, a CSV, or an ``.npz``.

The inputs are read exactly as the training data were — image size, colour mode and pixel units, or the
table's columns, category levels and the training medians that fill empty cells — from the ``preprocessing``
recorded in the model card; nothing is re-guessed from the new files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.data import IMAGE_EXTENSIONS, encode_table, image_files, impute_array, load_images
from automl.errors import ArrayFormatError, ConfigError, DataNotFoundError, FeatureColumnError, RunDirectoryError
from automl.export import CARD_FILE, FORMATS, read_card
from automl.run_dir import RunDirectory

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TABLE_SUFFIXES = (".csv", ".npz")


@dataclass
class Predictor:
    """An exported model with its card: ``predict(inputs)`` → a DataFrame, one row per input."""

    export_dir: Path
    card: dict[str, Any]
    format: str
    _predict: Any

    @property
    def class_names(self) -> list[str]:
        return list(self.card["class_names"])

    @property
    def is_regression(self) -> bool:
        return self.card.get("problem") == "regression"

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities for an array shaped like the training inputs, a DataFrame with the training
        columns, or a list of image / .csv / .npz paths (read as `predict` reads them)."""
        if self.is_regression:
            raise ConfigError("this model is a regression model: it predicts values, not class probabilities; use "
                              "predict_values (SearchResult.predict).")
        return self._outputs(x)

    def predict_values(self, x: Any) -> np.ndarray:
        """A regression model's predicted values, shape (N,), in the target's units; ``x`` as for `predict_proba`."""
        if not self.is_regression:
            raise ConfigError("this model is a classification model; use predict_proba (or predict for class names).")
        return self._outputs(x).reshape(-1)

    def _outputs(self, x: Any) -> np.ndarray:
        import numpy as np

        if isinstance(x, (str, Path)) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], (str, Path))):
            _, x = read_inputs([x] if isinstance(x, (str, Path)) else list(x), self.card)
        else:
            x = array_inputs(x, self.card, "x")
        return np.asarray(self._predict(x)) if len(x) else np.zeros((0, self._width), np.float32)

    @property
    def _width(self) -> int:
        return 1 if self.is_regression else len(self.class_names)

    def predict(self, inputs: Sequence[str | Path], top_k: int = 1) -> pd.DataFrame:
        names, x = read_inputs(inputs, self.card)
        return self.predict_arrays(x, names, top_k)

    def predict_arrays(self, x: np.ndarray, names: Sequence[Any], top_k: int = 1) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        if self.is_regression:  # one number per input, in the target's units
            if top_k != 1:
                raise ConfigError("--top-classes applies to classification models; this one predicts values.")
            values = np.asarray(self._predict(x)).reshape(-1) if len(x) else np.zeros(0, np.float32)
            return pd.DataFrame({"input": list(names), "prediction": values.astype(float)})
        classes = len(self.class_names)
        if not 1 <= top_k <= classes:
            raise ConfigError(f"--top-classes must be between 1 and the number of classes ({classes}); got {top_k}.")
        probabilities = np.asarray(self._predict(x)) if len(x) else np.zeros((0, classes), np.float32)
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
        frame = pd.DataFrame({"input": list(names)})
        for k in range(top_k):
            suffix = "" if k == 0 else f"_{k + 1}"
            frame[f"prediction{suffix}"] = [self.class_names[i] for i in order[:, k]]
            frame[f"probability{suffix}"] = probabilities[np.arange(len(x)), order[:, k]].astype(float)
        return frame


def load_predictor(path: str | Path, format: str = "keras") -> Predictor:
    """Open a run directory (its ``best/`` export) or an export folder for prediction."""
    from automl.plugin_manager import build_registry

    path = Path(path)
    run = RunDirectory(path)
    export_dir = run.best if not (path / CARD_FILE).exists() and run.is_run() else path
    if not (export_dir / CARD_FILE).exists():
        raise RunDirectoryError(
            f"{path} holds no exported model ({CARD_FILE} not found); pass a run directory whose search finished, "
            "or a folder written by automl export."
        )
    card = read_card(export_dir)
    if format not in FORMATS:
        raise ConfigError(f"unknown model format {format!r}; choose one of: {', '.join(FORMATS)}.")
    available = card.get("formats", {})
    if format not in available:
        raise ConfigError(f"{export_dir} has no {format} export (it has: {', '.join(available) or 'none'}); "
                          f"write it with: automl export RUN_DIR --format {format}.")
    from automl.keras_backend import import_tensorflow_quietly

    import_tensorflow_quietly()
    build_registry()  # plugins register their custom Keras layers on load
    fmt = FORMATS[format]
    return Predictor(export_dir, card, format, fmt.load(export_dir / available[format]["path"]))


def read_inputs(inputs: Sequence[str | Path], card: dict[str, Any]) -> tuple[list[Any], np.ndarray]:
    """(names, model input array) for image files/folders (image models) or CSV/.npz files."""
    import numpy as np

    if not inputs:
        raise ConfigError("predict needs at least one INPUT: image files or folders, a .csv or an .npz file.")
    paths = [Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise DataNotFoundError(f"input(s) not found: {', '.join(missing)}. Check the paths.")
    preprocessing = card["preprocessing"]
    tables = [p for p in paths if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES]
    if tables:
        if len(tables) != len(paths):
            raise ConfigError("mix of table files (.csv/.npz) and other inputs; predict on one kind at a time.")
        names: list[Any] = []
        arrays = []
        for table in tables:
            x = _read_table(table, card)
            names += list(range(len(x))) if len(tables) == 1 else [f"{table}:{i}" for i in range(len(x))]
            arrays.append(x)
        return names, np.concatenate(arrays)
    if preprocessing.get("kind") != "image":
        raise ConfigError(f"this model was trained on a table; pass a .csv (with the columns "
                          f"{preprocessing.get('columns', '…')}) or an .npz, not {', '.join(map(str, paths))}.")
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = image_files(path)
            if not found:
                raise DataNotFoundError(f"folder {path} holds no {'/'.join(IMAGE_EXTENSIONS)} images (searched "
                                        "recursively).")
            files += found
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            files.append(path)
        else:
            raise ConfigError(f"{path} is not an image ({'/'.join(IMAGE_EXTENSIONS)}), a folder, a .csv or an .npz.")
    return [str(f) for f in files], load_images(files, preprocessing)


def _read_table(path: Path, card: dict[str, Any]) -> np.ndarray:
    import numpy as np

    preprocessing = card["preprocessing"]
    if path.suffix.lower() == ".csv":
        import pandas as pd

        if preprocessing.get("kind") != "tabular" or "columns" not in preprocessing:
            raise ConfigError(f"{path} is a CSV but this model was trained on "
                              f"{'images' if preprocessing.get('kind') == 'image' else 'an .npz array'}; "
                              "pass inputs of that kind.")
        return encode_table(pd.read_csv(path), preprocessing)
    try:
        with np.load(path, allow_pickle=False) as data:
            key = "x" if "x" in data.files else (data.files[0] if len(data.files) == 1 else None)
            if key is None:
                raise ArrayFormatError(f"{path} holds arrays {data.files}; expected one named 'x'.")
            x = data[key]
    except ValueError:  # object arrays would need pickle, which is never enabled
        raise ArrayFormatError(
            f"{path} holds pickled Python objects (an object array); automl never loads pickled data, because "
            "unpickling a file can run any code in it. Save x as a numeric array: "
            "np.savez(path, x=np.asarray(x, dtype=np.float32))."
        ) from None
    return array_inputs(x, card, str(path))


def array_inputs(x: Any, card: dict[str, Any], where: str) -> np.ndarray:
    """The model input for in-memory data: a DataFrame with the training columns (encoded as they were), or
    an array shaped like the training inputs ((N, H, W) is taken as one-channel images)."""
    import numpy as np

    preprocessing = card["preprocessing"]
    if hasattr(x, "columns") and hasattr(x, "iloc"):  # a pandas DataFrame
        if preprocessing.get("kind") != "tabular" or "columns" not in preprocessing:
            raise ConfigError(f"{where} is a DataFrame, but this model was trained on "
                              f"{'images' if preprocessing.get('kind') == 'image' else 'an array'}; pass an array "
                              "shaped like the training inputs.")
        return encode_table(x, preprocessing)
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ArrayFormatError(f"{where} has dtype {x.dtype}; expected numbers shaped like the training inputs.")
    expected = tuple(card["input"]["shape"][1:])
    if preprocessing.get("kind") == "tabular" and "n_features" in preprocessing and x.ndim == 2 \
            and x.shape[1] == int(preprocessing["n_features"]):  # an .npz table's columns: NaN filled as in training
        x = impute_array(x, preprocessing, where)
    if x.ndim == len(expected) and len(expected) == 3:  # (N, H, W) grayscale
        x = x[..., None]
    if tuple(x.shape[1:]) != expected:
        raise FeatureColumnError(f"{where}: x has shape {x.shape}, but the model expects (N, "
                                 f"{', '.join(map(str, expected))}); pass arrays shaped like the training data.")
    return x.astype(np.float32)
