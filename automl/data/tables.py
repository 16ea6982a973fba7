"""Tables: CSV files (with a target column) and the encoding of new rows exactly as the training rows were."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from automl.data.dataset import Loaded
from automl.data.messages import listed, quoted, require_kind, short_reason
from automl.data.split import SPLIT_CODES, detect_problem, encode_labels, regression_target
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
# The category an empty cell of a text column becomes; the name of the 0/1 column that marks a numeric column's
# empty cells is "column=(missing)", like a one-hot column.
MISSING_LEVEL = "(missing)"


def encode_table(df: pd.DataFrame, preprocessing: dict) -> np.ndarray:
    """Encode the rows of `df` exactly as the training table was encoded; returns float32 (rows, features).

    Columns are looked up by name (extra columns, such as the target, are ignored). Category levels not seen
    in training encode as all zeros. Empty cells are filled as the training split's were (see
    `missing_values`); a card that records no imputation (an older export) refuses them. Raises
    `FeatureColumnError` for missing columns, such empty cells, or non-numeric or infinite values in numeric
    columns.
    """
    import pandas as pd

    require_kind(preprocessing, "tabular")
    n_rows = len(df)
    if "columns" not in preprocessing:  # an .npz table: no names, the columns are taken in order
        expected = int(preprocessing["n_features"])
        if df.shape[1] != expected:
            raise FeatureColumnError(
                f"The table has {df.shape[1]} columns {quoted([str(c) for c in df.columns])}, but the model "
                f"expects {expected} numeric feature columns (in the order of the training array)."
                + separator_hint([str(c) for c in df.columns], what="table")
            )
        numbers = df.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = (df.notna().to_numpy() & ~np.isfinite(numbers)).any(axis=0)
        if bad.any():
            raise FeatureColumnError(
                f"Feature column(s) {listed(str(j) for j in np.flatnonzero(bad))} (counted from 0) hold non-numeric or "
                "infinite values; expected finite numbers or empty cells. Fix those cells."
            )
        return impute_array(numbers, preprocessing, "the table")
    columns = list(preprocessing["columns"])
    categorical = {c: list(levels) for c, levels in preprocessing["categorical"].items()}
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise FeatureColumnError(
            f"The table lacks the column(s) {quoted(missing)}. The model expects the columns "
            f"{quoted(columns, limit=None)}; add the missing ones (same names as in the training data)."
            + separator_hint([str(c) for c in df.columns], what="table")
        )
    imputation = preprocessing.get("missing")
    indicators = set(imputation["indicators"]) if imputation else set()
    filled: dict[str, np.ndarray] = {}  # numeric column -> its values with each empty cell imputed
    if imputation:
        numeric = [c for c in columns if c not in categorical]
        table = df[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        medians = [float(imputation["medians"][c]) for c in numeric]
        models = [{**model, "column": numeric.index(model["column"])} for model in imputation.get("models", [])]
        filled = dict(zip(numeric, impute_numbers(table, medians, models).T))

    blocks: list[np.ndarray] = []
    empty_cells: dict[str, int] = {}
    not_numeric: dict[str, str] = {}
    for column in columns:
        values = df[column]
        empty = values.isna().to_numpy()
        if empty.any() and imputation is None:
            empty_cells[str(column)] = int(empty.sum())
            continue
        if column in categorical:
            # Categories compare as text, so "True"/1 from a new file match what training saw; an empty cell is
            # the level MISSING_LEVEL (all zeros, as any unseen level, where training rows had no empty cell).
            text = values.astype(object).where(~empty, MISSING_LEVEL).astype(str)
            codes = pd.Index(categorical[column]).get_indexer(text)  # -1: unseen level
            block = np.zeros((n_rows, len(categorical[column])), dtype=np.float32)
            known = codes >= 0
            block[np.flatnonzero(known), codes[known]] = 1.0
        else:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isfinite(numbers) & ~empty
            if bad.any():
                examples = values[bad].astype(str).unique()[:3]
                not_numeric[str(column)] = ", ".join(repr(v) for v in examples)
                continue
            if empty.any():
                numbers = np.where(empty, filled[column], numbers)
            block = numbers.astype(np.float32)[:, None]
            if column in indicators:
                block = np.hstack([block, empty.astype(np.float32)[:, None]])
        blocks.append(block)

    problems = [f"'{c}' ({n} empty cells)" for c, n in empty_cells.items()]
    problems += [f"'{c}' (non-numeric or infinite values such as {v})" for c, v in not_numeric.items()]
    if problems:
        how = ("This model's card records no imputation (an export of an earlier automl version), so every cell "
               "needs a value; fill or fix those cells." if empty_cells else "Fix those cells, or leave them empty.")
        raise FeatureColumnError(
            f"Feature column(s) cannot be encoded: {'; '.join(problems)}. Expected finite numbers in numeric "
            f"columns. {how}"
        )
    return np.hstack(blocks) if blocks else np.zeros((n_rows, 0), dtype=np.float32)


def impute_array(x: np.ndarray, preprocessing: dict, where: str) -> np.ndarray:
    """An .npz-style table (N, n_features) with NaN cells, filled as the training split's were: float32
    (N, n_features + one 0/1 column per recorded indicator). Without a recorded imputation NaN is refused."""
    x = np.asarray(x, dtype=np.float64)
    empty = np.isnan(x)
    imputation = preprocessing.get("missing")
    if imputation is None:
        if empty.any():
            raise FeatureColumnError(f"{where} holds {int(empty.sum())} NaN value(s), but this model's card records "
                                     "no imputation (an export of an earlier automl version); fill them.")
        return x.astype(np.float32)
    filled = impute_numbers(x, imputation["medians"], imputation.get("models", []))
    indicators = empty[:, list(imputation["indicators"])]
    return np.hstack([filled, indicators]).astype(np.float32)


# Regression imputation needs enough rows to fit on, and its card entry grows with the square of the columns.
MIN_ROWS_TO_REGRESS = 20
MAX_COLUMNS_TO_REGRESS = 200
RIDGE_ALPHA = 1.0  # on standardised predictors: a mild penalty that keeps collinear columns' weights bounded


def impute_numbers(x: np.ndarray, medians: Sequence[float], models: Sequence[dict]) -> np.ndarray:
    """``x`` (rows, numeric columns; NaN where empty) with each empty cell imputed: by its column's regression
    model where the training split recorded one (`regression_imputation`: a linear function of the row's other
    columns, their own empty cells taken as the median, clipped to the training range), else by its median."""
    x = np.asarray(x, dtype=np.float64)
    empty = np.isnan(x)
    by_median = np.where(empty, np.asarray(medians, dtype=np.float64), x)
    result = by_median.copy()
    for model in models:
        j = int(model["column"])
        rows = empty[:, j]
        if rows.any():
            predicted = model["intercept"] + by_median[rows] @ np.asarray(model["weights"], dtype=np.float64)
            result[rows, j] = np.clip(predicted, model["low"], model["high"])
    return result


def regression_imputation(train: np.ndarray, medians: Sequence[float], columns: Sequence[int]) -> list[dict]:
    """For each of ``columns`` (those with an empty cell among the training rows ``train``): a ridge regression
    of its values on the row's other columns (median-filled, standardised), fitted on the training rows where it
    has a value, as ``{"column", "intercept", "weights" (one per column, in raw units; 0 for itself), "low",
    "high"}``. A correlated column then fills a blank far better than the median (10 % blank cells in
    breast_cancer: an error of 0.48 standard deviations instead of 1.15). Empty when the table is too small or
    too wide to fit one (`MIN_ROWS_TO_REGRESS`, `MAX_COLUMNS_TO_REGRESS`): the medians alone then."""
    train = np.asarray(train, dtype=np.float64)
    if train.shape[1] < 2 or train.shape[1] > MAX_COLUMNS_TO_REGRESS:
        return []
    filled = np.where(np.isnan(train), np.asarray(medians, dtype=np.float64), train)
    models = []
    for j in columns:
        observed = ~np.isnan(train[:, j])
        if observed.sum() < MIN_ROWS_TO_REGRESS:
            continue
        rows = filled[observed]
        mean, std = rows.mean(axis=0), rows.std(axis=0)
        predictors = std > 0
        predictors[j] = False
        if not predictors.any():
            continue
        z = (rows[:, predictors] - mean[predictors]) / std[predictors]
        target = train[observed, j]
        coefficients = np.linalg.solve(z.T @ z + RIDGE_ALPHA * np.eye(z.shape[1]), z.T @ (target - target.mean()))
        weights = np.zeros(train.shape[1])
        weights[predictors] = coefficients / std[predictors]
        models.append({"column": int(j), "intercept": float(target.mean() - weights @ mean),
                       "weights": [float(w) for w in weights], "low": float(target.min()), "high": float(target.max())})
    return models


def numeric_imputation(train: np.ndarray) -> tuple[list[float], list[int]]:
    """(median of each column over the training rows `train`, the columns holding a NaN there).

    A column without any value in the training rows gets 0.0 (its indicator column carries the information).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice encountered"
        medians = np.nanmedian(train, axis=0) if len(train) else np.full(train.shape[1], np.nan)
    medians = np.where(np.isnan(medians), 0.0, medians)
    return [float(m) for m in medians], [int(j) for j in np.flatnonzero(np.isnan(train).any(axis=0))]


def imputation_note(counts: dict[str, int]) -> str:
    """The search's message on the empty cells it imputes (`counts`: column -> empty cells, all rows)."""
    total = sum(counts.values())
    per_column = listed((f"'{c}' ({n})" for c, n in counts.items()), limit=8)
    return (f"missing values: imputed {total} empty feature cell(s) in {len(counts)} column(s): {per_column}. Numeric "
            f"cells are predicted from the row's other numeric columns by a linear model fitted on the training "
            f"split (the column's training median where there is none), plus a 0/1 column 'COLUMN={MISSING_LEVEL}' "
            f"where training rows had empty cells; text cells take the category '{MISSING_LEVEL}'.")


def load_csv(path: Path, target: str | None, task: str | None = None) -> Loaded:
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
    what = f"target column '{target}' in '{path}'"
    values = labels.to_numpy()
    problem, why = detect_problem(values, task, what, TargetColumnError)
    class_names: tuple[str, ...] = ()
    if problem == "regression":
        y = regression_target(values, what, TargetColumnError)
    else:
        y, class_names = encode_labels(values, what, TargetColumnError)

    features = df.drop(columns=[target])
    if features.shape[1] == 0:
        raise FeatureColumnError(
            f"CSV file '{path}' has no feature columns besides the target '{target}'; add input columns."
        )
    numeric = [c for c in features.columns if is_numeric(features[c])]
    categorical = [c for c in features.columns if c not in numeric]

    empty_counts = {str(c): int(n) for c, n in features.isna().sum().items() if n}
    blank = [c for c, n in empty_counts.items() if n == len(features)]
    if blank:
        raise FeatureColumnError(
            f"Feature column(s) {quoted(blank)} in '{path}' are empty in every row; drop them (a trailing comma "
            "in every line makes such a column)."
        )
    problems = []
    for column in numeric:
        n_inf = int(np.isinf(features[column].to_numpy(dtype=np.float64)).sum())
        if n_inf:
            problems.append(f"'{column}' ({n_inf} infinite)")
    if problems:
        raise FeatureColumnError(
            f"Feature column(s) in '{path}' hold infinite values: {', '.join(problems)}. Expected finite numbers "
            "(an empty cell is imputed); fix those cells, drop the rows, or drop the columns."
        )
    # A few text cells (a decimal comma, 'unknown', a typo) make pandas read a numeric column as text; one-hot
    # encoding it would silently turn every number into a category.
    mistyped = []
    for column in categorical:
        values = features[column]
        is_text = (pd.to_numeric(values, errors="coerce").isna() & values.notna()).to_numpy()
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
        values = features[column].fillna(MISSING_LEVEL).astype(str)
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
        # Levels, medians and indicator columns come from the training rows alone, never validation or test.
        train = features.iloc[train_rows]
        levels = {c: sorted(train[c].fillna(MISSING_LEVEL).astype(str).unique().tolist()) for c in categorical}
        values = train[numeric].to_numpy(dtype=np.float64)
        medians, indicators = numeric_imputation(values)
        models = [{**model, "column": numeric[model["column"]]}
                  for model in regression_imputation(values, medians, indicators)]
        imputation = {"medians": dict(zip(numeric, medians)), "indicators": [numeric[j] for j in indicators],
                      "models": models, "level": MISSING_LEVEL}
        preprocessing = tabular_preprocessing(list(features.columns), levels, target=target, missing=imputation)
        return encode_table(features, preprocessing), preprocessing

    notes = ((why,) if why else ()) + ((imputation_note(empty_counts),) if empty_counts else ())
    return Loaded(task="tabular", y=y, class_names=class_names, fit_encoding=fit_encoding, split=split, notes=notes,
                  problem=problem, target=target)


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


def tabular_preprocessing(columns: list[str], categorical: dict[str, list[str]], *, target: str,
                          missing: dict | None = None) -> dict:
    """The tabular preprocessing dict: one-hot columns are named 'column=level', in input-column order; each
    numeric column in ``missing["indicators"]`` is followed by its 0/1 column 'column=(missing)'."""
    indicators = set(missing["indicators"]) if missing else set()
    encoded: list[str] = []
    for column in columns:
        if column in categorical:
            encoded += [f"{column}={level}" for level in categorical[column]]
        else:
            encoded.append(column)
            if column in indicators:
                encoded.append(f"{column}={MISSING_LEVEL}")
    preprocessing = {
        "kind": "tabular",
        "columns": list(columns),
        "numeric": [c for c in columns if c not in categorical],
        "categorical": {c: list(levels) for c, levels in categorical.items()},
        "encoded_columns": encoded,
        "target": target,
    }
    if missing is not None:
        preprocessing["missing"] = missing
    return preprocessing
