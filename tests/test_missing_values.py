"""Missing values in features: empty CSV cells and NaN in an .npz table are imputed from the training split.

Real data throughout: scikit-learn's breast_cancer written as a CSV with 10 % of its feature cells blanked at
random (seed 0) and a text column with blanks; one tiny search through the real command line (two trials of
a one-layer MLP), then `automl predict` and the Python API on new rows with blanks.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import TINY_MLP_SPACE, run_cli
from sklearn.datasets import load_breast_cancer

from automl.data import encode_table, load_dataset
from automl.errors import TargetColumnError
from automl.export import CARD_FILE
from automl.predict import array_inputs
from automl.run_dir import RunDirectory

BLANK_SHARE = 0.10
MISSING = "(missing)"


def breast_cancer_with_blanks(seed: int = 0) -> pd.DataFrame:
    """breast_cancer with a text column 'size' (small/large), 10 % of all feature cells emptied, target 'y'."""
    bunch = load_breast_cancer()
    df = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names])
    df["size"] = np.where(df["mean area"] > df["mean area"].median(), "large", "small")
    blank = np.random.default_rng(seed).random(df.shape) < BLANK_SHARE
    df = df.astype(object).mask(blank)
    df["y"] = np.asarray(bunch.target_names)[bunch.target]
    return df


@pytest.fixture(scope="module")
def blank_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blanks") / "cancer.csv"
    breast_cancer_with_blanks().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def blank_run(blank_csv: Path) -> tuple[Path, str]:
    """A two-trial search on the CSV with blanks: (run directory, what the search printed)."""
    space = blank_csv.parent / "space.yaml"
    space.write_text(TINY_MLP_SPACE)
    run_dir = blank_csv.parent / "run"
    proc = run_cli("search", blank_csv, "--target", "y", "--space", space, "--trials", 2, "--seed", 0,
                   "--out", run_dir, "--quiet")
    return run_dir, proc.stdout + proc.stderr


def test_search_on_a_csv_with_blanks_finishes_and_says_what_it_imputed(blank_run, blank_csv):
    run_dir, printed = blank_run
    df = pd.read_csv(blank_csv)
    n_empty = int(df.drop(columns=["y"]).isna().sum().sum())
    assert f"missing values: imputed {n_empty} empty feature cell(s) in 31 column(s)" in printed
    card = json.loads((RunDirectory(run_dir).best / CARD_FILE).read_text())
    assert card["metrics"]["test"]["accuracy"] > 0.8


def test_the_model_card_records_the_imputation(blank_run):
    run_dir, _ = blank_run
    card = json.loads((RunDirectory(run_dir).best / CARD_FILE).read_text())
    prep = card["preprocessing"]
    numeric = [str(c) for c in load_breast_cancer().feature_names]
    assert prep["numeric"] == numeric and set(prep["missing"]["medians"]) == set(numeric)
    assert prep["missing"]["indicators"] == numeric  # 10 % blanks: every column has some in its training rows
    assert prep["missing"]["level"] == MISSING and prep["categorical"] == {"size": [MISSING, "large", "small"]}
    encoded = prep["encoded_columns"]
    assert encoded[:2] == ["mean radius", "mean radius=(missing)"]  # each indicator follows its column
    assert encoded[-3:] == ["size=(missing)", "size=large", "size=small"]
    assert card["input"]["shape"] == [None, len(encoded)] == [None, 2 * 30 + 3]


def test_predict_fills_blanks_in_new_rows(blank_run, tmp_path):
    run_dir, _ = blank_run
    bunch = load_breast_cancer()
    rows = pd.DataFrame(bunch.data[:6], columns=[str(c) for c in bunch.feature_names]).astype(object)
    rows["size"] = ["large", "small", None, "large", "small", None]
    rows.iloc[0, 0:5] = None  # a few empty numeric cells
    rows.iloc[1, :] = None  # a row with no value at all
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)

    printed = list(csv.DictReader(run_cli("predict", run_dir, path).stdout.splitlines()))
    assert [r["input"] for r in printed] == [str(i) for i in range(6)]
    assert all(r["prediction"] in bunch.target_names for r in printed)
    assert all(0.0 <= float(r["probability"]) <= 1.0 for r in printed)

    import automl

    predictor = automl.load_predictor(run_dir)
    probabilities = predictor.predict_proba(rows)  # the Python API on a DataFrame with blanks
    assert probabilities.shape == (6, 2) and np.isfinite(probabilities).all()
    assert list(predictor.predict_arrays(array_inputs(rows, predictor.card, "rows"), range(6))["prediction"]) \
        == [r["prediction"] for r in printed]


def test_medians_come_from_the_training_split_only(tmp_path):
    # The user's own split: training rows hold 0..59, validation and test rows 1000 and up, so a median that
    # saw them would be far off. 'late' has blanks only in validation and test rows, 'colour' only in test rows.
    n_train, n_other = 60, 30
    split = ["train"] * n_train + ["val"] * (n_other // 2) + ["test"] * (n_other // 2)
    height = np.concatenate([np.arange(n_train), 1000 + np.arange(n_other)]).astype(float)
    height[[3, 10, 70]] = np.nan  # two training rows, one validation row
    late = np.concatenate([np.arange(n_train) * 2.0, 1000 + np.arange(n_other)])
    late[[65, 80]] = np.nan
    colour = np.asarray(["red", "blue"] * ((n_train + n_other) // 2), dtype=object)
    colour[85] = None
    df = pd.DataFrame({"height": height, "late": late, "colour": colour,
                       "label": ["a", "b", "c"] * ((n_train + n_other) // 3), "automl_split": split})
    path = tmp_path / "split.csv"
    df.to_csv(path, index=False)

    ds = load_dataset(str(path), target="label")
    prep = ds.preprocessing
    train_height = np.delete(np.arange(n_train, dtype=float), [3, 10])
    assert prep["missing"]["medians"] == {"height": float(np.median(train_height)), "late": float(np.median(late[:60]))}
    assert prep["missing"]["indicators"] == ["height"]  # 'late' had no blank in training rows: no indicator column
    assert prep["categorical"] == {"colour": ["blue", "red"]}  # nor a '(missing)' level for 'colour'
    assert prep["encoded_columns"] == ["height", "height=(missing)", "late", "colour=blue", "colour=red"]
    assert "'height' (3), 'late' (2), 'colour' (1)" in ds.notes[0]

    # 'height' (blanks in training rows) is regressed on 'late' (twice it there) over the training rows alone;
    # 'late' has no model: its blanks take the median.
    [model] = prep["missing"]["models"]
    assert model["column"] == "height" and (model["low"], model["high"]) == (0.0, 59.0)
    assert model["weights"][0] == 0.0 and model["weights"][1] == pytest.approx(0.5, rel=0.05)

    x = encode_table(df, prep)  # the encoding of every row, as the dataset's splits hold it
    assert x[3, 0] == pytest.approx(3.0, abs=0.5) and x[10, 0] == pytest.approx(10.0, abs=0.5)  # from 'late'
    # a blank validation height: 'late' 1010 would say 505, clipped to the training range's top
    assert x[70].tolist() == [59.0, 1.0, 1010.0, 0.0, 1.0]
    assert x[65, 2] == x[80, 2] == np.float32(np.median(late[:60]))  # imputed, no indicator: the training width
    assert x[85, 3:].tolist() == [0.0, 0.0]  # a blank category unseen in training: all zeros
    assert np.array_equal(ds.x_val, x[60:75]) and np.array_equal(ds.x_test, x[75:])  # the given rows, in order


def test_random_split_medians_ignore_validation_and_test_rows(blank_csv):
    ds = load_dataset(str(blank_csv), target="y")
    prep = ds.preprocessing
    encoded = prep["encoded_columns"]
    whole = pd.read_csv(blank_csv)
    differs = 0
    for column, median in prep["missing"]["medians"].items():
        j = encoded.index(column)
        observed = ds.x_train[ds.x_train[:, encoded.index(f"{column}={MISSING}")] == 0, j]
        assert np.isclose(np.median(observed), median, rtol=1e-5), column
        differs += not np.isclose(whole[column].median(), median, rtol=1e-5)
    assert differs > 0  # the whole file's medians are not the training split's


def test_an_empty_target_cell_is_still_a_named_error(tmp_path):
    df = breast_cancer_with_blanks()
    df.loc[[4, 9], "y"] = None
    path = tmp_path / "target.csv"
    df.to_csv(path, index=False)
    with pytest.raises(TargetColumnError) as err:
        load_dataset(str(path), target="y")
    message = str(err.value)
    assert "'y'" in message and "2 empty value(s)" in message and "data row(s) 5, 10" in message
    assert "fill or delete those rows" in message


def test_npz_table_with_nan_is_imputed_and_new_arrays_too(tmp_path):
    bunch = load_breast_cancer()
    x = bunch.data.copy()
    x[np.random.default_rng(0).random(x.shape) < BLANK_SHARE] = np.nan
    path = tmp_path / "table.npz"
    np.savez(path, x=x, y=bunch.target)
    ds = load_dataset(str(path))
    missing = ds.preprocessing["missing"]
    assert missing["indicators"] == list(range(30)) and len(missing["medians"]) == 30
    assert ds.input_shape == (60,) and not np.isnan(ds.x_train).any()
    assert "imputed" in ds.notes[0] and "NaN" in ds.notes[0]
    card = {"preprocessing": ds.preprocessing, "input": {"shape": [None, *ds.input_shape]}}
    new = array_inputs(x[:3], card, "x")
    assert new.shape == (3, 60)
    assert np.array_equal(new[:, 30:], np.isnan(x[:3]))
    every_row = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    # filled as the training encoding filled them (float32 from the file there, float64 here: to float32 precision)
    assert all(np.isclose(every_row, row, rtol=1e-6).all(axis=1).any() for row in new)
    # Regressed on the other columns, a blank lands far nearer the truth than the median does.
    truth, blank = bunch.data, np.isnan(x)
    encoded = array_inputs(x, card, "x")[:, :30]
    spread = truth.std(axis=0)
    by_median = np.where(blank, np.asarray(missing["medians"]), truth)
    error = float(np.sqrt(np.mean(((encoded - truth) / spread)[blank] ** 2)))
    median_error = float(np.sqrt(np.mean(((by_median - truth) / spread)[blank] ** 2)))
    print(f"imputation error in standard deviations: regression {error:.3f}, median {median_error:.3f}")
    assert error < 0.6 * median_error


def test_the_api_resumes_a_run_on_arrays_with_nan(tmp_path):
    from automl.api import write_arrays
    from automl.errors import RunDirectoryError

    bunch = load_breast_cancer()
    x = bunch.data.copy()
    x[0, 0] = np.nan
    path = tmp_path / "data.npz"
    write_arrays(path, x, bunch.target, None, None, None)
    write_arrays(path, x.copy(), bunch.target, None, None, None)  # the same data again: NaN equals NaN
    x[1, 1] = np.nan
    with pytest.raises(RunDirectoryError, match="different experiment"):
        write_arrays(path, x, bunch.target, None, None, None)
