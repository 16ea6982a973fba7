"""Tables: CSV files (with a target column) and the encoding of new rows exactly as the training rows were."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from automl.data.dataset import Loaded
from automl.data.messages import listed, quoted, require_kind, short_reason
from automl.data.split import SPLIT_CODES, encode_labels
from automl.errors import DataError, FeatureColumnError, TargetColumnError, TooFewSamplesError

# A CSV column of train / val / test per row: the user's own split (the Python API writes it for validation_data=).
SPLIT_COLUMN = "automl_split"

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

# A text column with more distinct values than half its rows, and more than this many, is an identifier or free
# text (small tables included): one-hot encoding it would only let the model memorise rows.
MIN_IDENTIFIER_LEVELS = 10
# A text column whose cells are at least this share numbers is a numeric column with typos, not a category.
NUMERIC_SHARE = 0.9


def encode_table(df: pd.DataFrame, preprocessing: dict) -> np.ndarray:
    """Encode the rows of `df` exactly as the training table was encoded; returns float32 (rows, features).

    Columns are looked up by name (extra columns, such as the target, are ignored). Category levels not seen
    in training encode as all zeros. Raises `FeatureColumnError` for missing columns, empty cells or
    non-numeric values in numeric columns.
    """
    import pandas as pd

    require_kind(preprocessing, "tabular")
    n_rows = len(df)
    if "columns" in preprocessing:
        columns = list(preprocessing["columns"])
        categorical = {c: list(levels) for c, levels in preprocessing["categorical"].items()}
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise FeatureColumnError(
                f"The table lacks the column(s) {quoted(missing)}. The model expects the columns "
                f"{quoted(columns, limit=None)}; add the missing ones (same names as in the training data)."
                + separator_hint([str(c) for c in df.columns], what="table")
            )
    else:  # an .npz table: no names, the columns are taken in order
        expected = int(preprocessing["n_features"])
        if df.shape[1] != expected:
            raise FeatureColumnError(
                f"The table has {df.shape[1]} columns {quoted([str(c) for c in df.columns])}, but the model "
                f"expects {expected} numeric feature columns (in the order of the training array)."
                + separator_hint([str(c) for c in df.columns], what="table")
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



def load_csv(path: Path, target: str | None) -> Loaded:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"CSV file '{path}' could not be read ({short_reason(exc)}). Expected a comma-separated UTF-8 file "
            "with a header row; check the file's format."
        ) from exc
    df.columns = [str(c) for c in df.columns]
    split = None
    if SPLIT_COLUMN in df.columns:  # the user's own validation / test rows, replacing the random split
        given = df.pop(SPLIT_COLUMN).astype(str).str.strip().str.lower()
        wrong = sorted(set(given) - set(SPLIT_CODES))
        if wrong:
            raise DataError(f"column '{SPLIT_COLUMN}' of '{path}' says which rows are train, val or test; it holds "
                            f"{quoted(wrong)}. Use only {quoted(list(SPLIT_CODES))}, or drop the column for a random "
                            "split.")
        split = given.map(SPLIT_CODES).to_numpy(dtype=np.int64)
    columns = list(df.columns)

    if target is None:
        raise TargetColumnError(
            f"'{path}' is a CSV file, so the target (class) column must be given. Its columns are: "
            f"{quoted(columns, limit=None)}; pass one of them as the target.{separator_hint(columns)}"
        )
    if target not in df.columns:
        same_but_case = [c for c in columns if c.lower() == target.lower()]
        close = same_but_case + [c for c in difflib.get_close_matches(target, columns, n=3) if c not in same_but_case]
        hint = (f" Did you mean {quoted(close)}?" if close else "") + separator_hint(columns)
        raise TargetColumnError(
            f"Target column '{target}' is not in '{path}'. Available columns: {quoted(columns, limit=None)}.{hint}"
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
            f"Target column '{target}' in '{path}' has {len(rows)} empty value(s), in data row(s) {listed(rows)} "
            "(row 1 is the first row after the header). Every row needs a class; fill or delete those rows."
        )
    y, class_names = encode_labels(labels.to_numpy(), f"target column '{target}' in '{path}'", TargetColumnError)

    features = df.drop(columns=[target])
    if features.shape[1] == 0:
        raise FeatureColumnError(
            f"CSV file '{path}' has no feature columns besides the target '{target}'; add input columns."
        )
    numeric = [c for c in features.columns if is_numeric(features[c])]
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
            mistyped.append(f"'{column}' ({examples} in data row(s) {listed(rows, limit=5)})")
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
        preprocessing = tabular_preprocessing(list(features.columns), levels, target=target)
        return encode_table(features, preprocessing), preprocessing

    return Loaded(task="tabular", y=y, class_names=class_names, fit_encoding=fit_encoding, split=split)


def separator_hint(columns: list[str], what: str = "file") -> str:
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


def is_numeric(series: pd.Series) -> bool:
    from pandas.api import types

    return types.is_numeric_dtype(series) and not types.is_bool_dtype(series)


def tabular_preprocessing(columns: list[str], categorical: dict[str, list[str]], *, target: str) -> dict:
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
