"""Tests for automl.data: loading, preflight errors, splits and the preprocessing round trip.

Everything runs on real data: scikit-learn's bundled sets and PNG files written with PIL into tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits

from automl.data import Dataset, encode_table, load_dataset, load_images
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

REPO = Path(__file__).resolve().parents[1]
DIGITS = load_digits()


# --- helpers -------------------------------------------------------------------------------------------
def digit_pixels(digit: int, count: int) -> list[np.ndarray]:
    """`count` 8x8 uint8 images (0..240) of one digit from sklearn's digits."""
    images = DIGITS.images[DIGITS.target == digit][:count]
    return [(img * 15).astype(np.uint8) for img in images]


def write_image_folder(
    root: Path, classes: dict[str, int], per_class: int = 20, rgb: bool = False, suffix: str = ".png"
) -> dict[str, list[np.ndarray]]:
    """One sub-folder per class holding digit images; returns the pixels written, per class."""
    written = {}
    for name, digit in classes.items():
        folder = root / name
        folder.mkdir(parents=True)
        written[name] = []
        for i, pixels in enumerate(digit_pixels(digit, per_class)):
            if rgb:  # a tint, so the channels differ
                pixels = np.stack([pixels, pixels // 2, 255 - pixels], axis=-1)
            Image.fromarray(pixels).save(folder / f"{i:03d}{suffix}")
            written[name].append(pixels)
    return written


def rows(x: np.ndarray) -> Counter:
    """The rows of `x` as a multiset, to compare data sets regardless of order."""
    return Counter(r.tobytes() for r in np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1))


def all_x(ds: Dataset) -> np.ndarray:
    return np.concatenate([ds.x_train, ds.x_val, ds.x_test])


def grayscale_8x8(pixel_max: float) -> dict:
    """The preprocessing record of 8x8 grayscale images whose pixel values go up to ``pixel_max``."""
    return {"kind": "image", "image_size": [8, 8], "color_mode": "grayscale", "scale": 1 / pixel_max,
            "pixel_max": pixel_max}


def breast_cancer_frame() -> pd.DataFrame:
    """breast_cancer with text labels, a categorical text column and a boolean column."""
    bunch = load_breast_cancer()
    df = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    rng = np.random.default_rng(0)
    df.insert(3, "site", rng.choice(["left", "right", "both"], size=len(df)))
    df["screened"] = rng.random(len(df)) < 0.5
    df["diagnosis"] = np.asarray(bunch.target_names)[bunch.target]
    return df


@pytest.fixture
def digit_folder(tmp_path: Path) -> Path:
    root = tmp_path / "digits"
    write_image_folder(root, {"zero": 0, "one": 1, "two": 2})
    return root


# --- builtin sets --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, n, task, input_shape, class_names",
    [
        ("digits", 1797, "image", (8, 8, 1), tuple(str(d) for d in range(10))),
        ("breast_cancer", 569, "tabular", (30,), ("malignant", "benign")),
        ("wine", 178, "tabular", (13,), ("class_0", "class_1", "class_2")),
    ],
)
def test_builtin_sets_load_with_stratified_disjoint_splits(name, n, task, input_shape, class_names):
    ds = load_dataset(f"builtin:{name}")
    assert (ds.source, ds.task, ds.input_shape, ds.class_names) == (f"builtin:{name}", task, input_shape, class_names)
    assert ds.num_classes == len(class_names)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == n
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == (len(y), *input_shape)
        # stratified: every class appears in every split
        assert set(np.unique(y)) == set(range(len(class_names)))

    # The splits partition the original samples (as a multiset of rows, since digits has duplicate images).
    from sklearn import datasets

    original = getattr(datasets, f"load_{name}")().data.astype(np.float32)
    assert rows(all_x(ds)) == rows(original)

    # Class proportions in the test split follow the whole set.
    whole = np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test])) / n
    test = np.bincount(ds.y_test, minlength=ds.num_classes) / len(ds.y_test)
    assert np.abs(whole - test).max() < 0.05

    assert json.loads(json.dumps(ds.preprocessing)) == ds.preprocessing
    assert name in ds.summary() and str(len(ds.y_train)) in ds.summary()


def test_digits_keep_raw_pixel_values():
    ds = load_dataset("builtin:digits")
    assert all_x(ds).min() == 0 and all_x(ds).max() == 16
    assert ds.preprocessing == grayscale_8x8(16.0)


def test_builtin_tabular_preprocessing_names_the_features():
    ds = load_dataset("builtin:breast_cancer")
    names = list(load_breast_cancer().feature_names)
    assert ds.preprocessing["columns"] == names == ds.preprocessing["encoded_columns"]
    assert ds.preprocessing["categorical"] == {}


def test_split_fractions_are_honoured():
    ds = load_dataset("builtin:digits", val_fraction=0.1, test_fraction=0.2)
    assert abs(len(ds.y_test) / 1797 - 0.2) < 0.01
    assert abs(len(ds.y_val) / 1797 - 0.1) < 0.01


# --- determinism and fingerprint -----------------------------------------------------------------------
def test_same_seed_same_split_and_fingerprint_other_seed_differs():
    first, again = load_dataset("builtin:wine", seed=3), load_dataset("builtin:wine", seed=3)
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, part), getattr(again, part))
    assert first.fingerprint == again.fingerprint
    assert len(first.fingerprint) == 64 and int(first.fingerprint, 16) >= 0

    other = load_dataset("builtin:wine", seed=4)
    assert other.fingerprint != first.fingerprint
    assert not np.array_equal(other.y_test, first.y_test) or not np.array_equal(other.x_test, first.x_test)
    assert load_dataset("builtin:wine", seed=3, test_fraction=0.2).fingerprint != first.fingerprint


def test_fingerprint_is_stable_across_processes():
    code = "from automl.data import load_dataset; print(load_dataset('builtin:wine', seed=7).fingerprint)"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == load_dataset("builtin:wine", seed=7).fingerprint


def test_data_module_does_not_import_tensorflow():
    code = "import sys, automl.data; print(any(m in sys.modules for m in ('tensorflow', 'keras')))"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- image folders -------------------------------------------------------------------------------------
def test_image_folder_grayscale(digit_folder: Path):
    ds = load_dataset(str(digit_folder))
    assert ds.task == "image"
    assert ds.class_names == ("one", "two", "zero")  # sorted folder names
    assert ds.input_shape == (8, 8, 1)
    assert ds.preprocessing == grayscale_8x8(255.0)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 60
    assert {len(np.flatnonzero(ds.y_test == c)) for c in range(3)} == {3}  # 20 * 0.15 per class
    # Raw pixel values, unchanged: the images written for "zero" are exactly the samples of class 2.
    x, y = all_x(ds), np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    assert rows(x[y == 2]) == rows(np.stack(digit_pixels(0, 20))[..., None])
    assert ds.skipped == ()


def test_image_folder_rgb_detection_and_override(tmp_path: Path):
    write_image_folder(tmp_path / "pics", {"a": 3, "b": 4}, rgb=True, suffix=".bmp")
    ds = load_dataset(str(tmp_path / "pics"))
    assert ds.input_shape == (8, 8, 3) and ds.preprocessing["color_mode"] == "rgb"
    assert not np.array_equal(ds.x_train[..., 0], ds.x_train[..., 2])

    gray = load_dataset(str(tmp_path / "pics"), color_mode="grayscale", image_size=(16, 12))
    assert gray.input_shape == (16, 12, 1)
    assert gray.preprocessing["image_size"] == [16, 12] and gray.preprocessing["color_mode"] == "grayscale"


def test_image_folder_mixed_sizes_use_most_common_size(tmp_path: Path):
    root = tmp_path / "mixed"
    write_image_folder(root, {"a": 1, "b": 2})
    Image.fromarray(np.zeros((20, 10), np.uint8)).save(root / "a" / "big.png")  # 20 high, 10 wide
    Image.new("RGB", (8, 8), (255, 0, 0)).save(root / "b" / "red.jpg")  # one colour image -> rgb
    (root / "a" / "notes.txt").write_text("not an image")
    ds = load_dataset(str(root))
    assert ds.input_shape == (8, 8, 3)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 42


def test_load_images_matches_training_encoding(digit_folder: Path):
    ds = load_dataset(str(digit_folder))
    files = sorted((digit_folder / "zero").glob("*.png"))
    x = load_images(files, json.loads(json.dumps(ds.preprocessing)))
    assert x.dtype == np.float32 and x.shape == (20, 8, 8, 1)
    assert rows(x) == rows(np.stack(digit_pixels(0, 20))[..., None])


def test_load_images_resizes_and_converts_to_training_form(tmp_path: Path):
    path = tmp_path / "big.png"
    Image.new("RGB", (32, 24), (200, 100, 50)).save(path)
    x = load_images([path], {"kind": "image", "image_size": [8, 8], "color_mode": "grayscale", "scale": 1 / 255})
    assert x.shape == (1, 8, 8, 1)
    np.testing.assert_allclose(x, np.full((1, 8, 8, 1), round(200 * 0.299 + 100 * 0.587 + 50 * 0.114)), atol=1)

    # A model trained on builtin:digits (raw units 0..16) gets file pixels in those units.
    digits = load_dataset("builtin:digits").preprocessing
    x = load_images([path], digits)
    assert x.shape == (1, 8, 8, 1) and 0 < x.max() <= 16


# --- CSV files -----------------------------------------------------------------------------------------
def test_csv_with_categorical_column_round_trips_through_encode_table(tmp_path: Path):
    df = breast_cancer_frame()
    path = tmp_path / "cancer.csv"
    df.to_csv(path, index=False)
    ds = load_dataset(str(path), target="diagnosis")
    assert ds.task == "tabular"
    assert ds.class_names == ("benign", "malignant")  # sorted text labels
    prep = ds.preprocessing
    assert prep["target"] == "diagnosis"
    assert prep["categorical"] == {"site": ["both", "left", "right"], "screened": ["False", "True"]}
    assert prep["columns"] == [c for c in df.columns if c != "diagnosis"]
    assert prep["numeric"] == list(load_breast_cancer().feature_names)
    assert prep["encoded_columns"][3:6] == ["site=both", "site=left", "site=right"]
    assert prep["encoded_columns"][-2:] == ["screened=False", "screened=True"]
    assert ds.input_shape == (35,)
    # Encoded, not standardised: the raw feature values are kept.
    assert all_x(ds)[:, 0].max() == pytest.approx(df["mean radius"].max())

    # Re-reading the CSV and encoding it with the recorded (JSON round-tripped) preprocessing reproduces the data.
    again = encode_table(pd.read_csv(path), json.loads(json.dumps(prep)))
    assert again.dtype == np.float32
    assert rows(again) == rows(all_x(ds))


def test_encode_table_unknown_level_is_all_zeros_and_columns_are_found_by_name():
    prep = {
        "kind": "tabular",
        "columns": ["size", "colour"],
        "numeric": ["size"],
        "categorical": {"colour": ["blue", "red"]},
        "encoded_columns": ["size", "colour=blue", "colour=red"],
        "target": "label",
    }
    new = pd.DataFrame({"colour": ["red", "green", "blue"], "extra": [0, 0, 0], "size": [1.5, 2, 3]})
    np.testing.assert_array_equal(encode_table(new, prep), [[1.5, 0, 1], [2, 0, 0], [3, 1, 0]])


def test_encode_table_missing_column_names_it_and_lists_expected():
    prep = load_dataset("builtin:wine").preprocessing
    df = pd.DataFrame(load_dataset("builtin:wine").x_test, columns=prep["columns"]).drop(columns=["proline"])
    with pytest.raises(FeatureColumnError) as err:
        encode_table(df, prep)
    assert "'proline'" in str(err.value) and "'alcohol'" in str(err.value)


def test_encode_table_of_a_semicolon_separated_file_says_so(tmp_path: Path):
    prep = load_dataset("builtin:wine").preprocessing
    path = tmp_path / "new.csv"
    pd.DataFrame(np.ones((2, 13)), columns=prep["columns"]).to_csv(path, index=False, sep=";")
    with pytest.raises(FeatureColumnError) as err:
        encode_table(pd.read_csv(path), prep)
    assert "'alcohol'" in str(err.value) and "table looks semicolon-separated" in str(err.value)


def test_encode_table_rejects_text_in_numeric_column_and_imputes_empty_cells():
    prep = load_dataset("builtin:wine").preprocessing
    df = pd.DataFrame(np.ones((2, 13)), columns=prep["columns"])
    df["hue"] = ["high", 1.0]
    df["ash"] = [np.nan, 1.0]
    with pytest.raises(FeatureColumnError) as err:
        encode_table(df, prep)
    assert "'hue'" in str(err.value) and "'high'" in str(err.value) and "'ash'" not in str(err.value)
    df["hue"] = 1.0
    ash = prep["columns"].index("ash")
    assert encode_table(df, prep)[:, ash].tolist() == [np.float32(prep["missing"]["medians"]["ash"]), 1.0]


def test_encode_table_refuses_empty_cells_for_a_card_without_imputation():
    prep = {k: v for k, v in load_dataset("builtin:wine").preprocessing.items() if k != "missing"}  # an old card
    df = pd.DataFrame(np.ones((2, 13)), columns=prep["columns"])
    df["ash"] = [np.nan, 1.0]
    with pytest.raises(FeatureColumnError) as err:
        encode_table(df, prep)
    assert "'ash' (1 empty cells)" in str(err.value) and "records no imputation" in str(err.value)


def test_encode_table_refuses_image_preprocessing():
    with pytest.raises(DataError, match="image"):
        encode_table(pd.DataFrame({"a": [1]}), load_dataset("builtin:digits").preprocessing)


# --- .npz files ----------------------------------------------------------------------------------------
def test_npz_images_with_string_labels(tmp_path: Path):
    names = np.array(["zero", "one", "two"])
    keep = DIGITS.target < 3
    path = tmp_path / "digits.npz"
    np.savez(path, x=DIGITS.images[keep], y=names[DIGITS.target[keep]])  # (N, 8, 8): channel is added
    ds = load_dataset(str(path))
    assert ds.task == "image" and ds.input_shape == (8, 8, 1)
    assert ds.class_names == ("one", "two", "zero")
    assert ds.preprocessing["color_mode"] == "grayscale" and ds.preprocessing["pixel_max"] == 255.0
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    assert np.bincount(y).tolist() == [int((DIGITS.target == d).sum()) for d in (1, 2, 0)]


def test_npz_table(tmp_path: Path):
    bunch = load_breast_cancer()
    path = tmp_path / "table.npz"
    np.savez(path, x=bunch.data, y=bunch.target)
    ds = load_dataset(str(path))
    assert ds.task == "tabular" and ds.input_shape == (30,) and ds.class_names == ("0", "1")
    assert {k: v for k, v in ds.preprocessing.items() if k != "missing"} == {"kind": "tabular", "n_features": 30}
    assert ds.preprocessing["missing"]["indicators"] == [] and len(ds.preprocessing["missing"]["medians"]) == 30
    again = encode_table(pd.DataFrame(bunch.data), ds.preprocessing)
    assert rows(again) == rows(all_x(ds))


# --- preflight errors: paths and options ---------------------------------------------------------------
def test_missing_path(tmp_path: Path):
    missing = tmp_path / "nowhere" / "data.csv"
    with pytest.raises(DataNotFoundError, match="nowhere"):
        load_dataset(str(missing), target="y")


def test_unknown_builtin_lists_known_ones():
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("builtin:mnist")
    assert "mnist" in str(err.value)
    assert all(name in str(err.value) for name in ("builtin:digits", "builtin:breast_cancer", "builtin:wine"))


def test_unsupported_file_type(tmp_path: Path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(DataNotFoundError) as err:
        load_dataset(str(path))
    assert ".parquet" in str(err.value) and ".csv" in str(err.value) and ".npz" in str(err.value)


@pytest.mark.parametrize(
    "options",
    [
        {"val_fraction": 0.0},
        {"test_fraction": 1.0},
        {"val_fraction": 0.5, "test_fraction": 0.5},
        {"seed": -1},
        {"image_size": (8,)},
        {"color_mode": "cmyk"},
        {"target": "label"},
    ],
)
def test_invalid_options(options):
    with pytest.raises(ConfigError):
        load_dataset("builtin:digits", **options)


def test_image_options_are_refused_for_tables():
    with pytest.raises(ConfigError, match="image"):
        load_dataset("builtin:wine", image_size=(8, 8))


# --- preflight errors: image folders -------------------------------------------------------------------
def test_folder_without_images(tmp_path: Path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "readme.txt").write_text("no images here")
    with pytest.raises(NoImagesError) as err:
        load_dataset(str(tmp_path))
    assert str(tmp_path) in str(err.value) and ".png" in str(err.value)


def test_folder_with_loose_images_but_no_class_folders(tmp_path: Path):
    Image.fromarray(digit_pixels(0, 1)[0]).save(tmp_path / "0.png")
    with pytest.raises(NoImagesError, match="no class sub-folders"):
        load_dataset(str(tmp_path))


def test_empty_class_folder_is_named(digit_folder: Path):
    (digit_folder / "three").mkdir()
    (digit_folder / "four").mkdir()
    with pytest.raises(EmptyClassFolderError) as err:
        load_dataset(str(digit_folder))
    assert "'three'" in str(err.value) and "'four'" in str(err.value) and "'zero'" not in str(err.value)


def test_single_class_image_folder(tmp_path: Path):
    write_image_folder(tmp_path, {"only_cats": 5})
    with pytest.raises(SingleClassError, match="only_cats"):
        load_dataset(str(tmp_path))


def write_corrupt_files(folder: Path) -> list[str]:
    """A truncated PNG, random bytes named .png, and an empty .jpg."""
    good = folder / "000.png"
    data = good.read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "noise.png").write_bytes(np.random.default_rng(0).bytes(300))
    (folder / "empty.jpg").write_bytes(b"")
    return ["truncated.png", "noise.png", "empty.jpg"]


def test_corrupt_images_are_listed(digit_folder: Path):
    bad = write_corrupt_files(digit_folder / "one")
    with pytest.raises(CorruptImageError) as err:
        load_dataset(str(digit_folder))
    message = str(err.value)
    assert "3 image file(s)" in message
    assert "pass --skip-corrupt (skip_corrupt=True in Python) to leave them out" in message  # CLI and API users
    assert all(name in message for name in bad)


def test_many_corrupt_images_are_summarised(digit_folder: Path):
    for i in range(25):
        (digit_folder / "two" / f"broken{i:02d}.png").write_bytes(b"")
    with pytest.raises(CorruptImageError) as err:
        load_dataset(str(digit_folder))
    assert "broken00.png" in str(err.value) and "and 5 more" in str(err.value)
    assert "broken24.png" not in str(err.value)


def test_skip_corrupt_lists_skipped_files(digit_folder: Path):
    bad = write_corrupt_files(digit_folder / "one")
    ds = load_dataset(str(digit_folder), skip_corrupt=True)
    assert sorted(Path(p).name for p in ds.skipped) == sorted(bad)
    assert all(Path(p).exists() for p in ds.skipped)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 60
    assert "3 corrupt files skipped" in ds.summary()


def test_class_emptied_by_skipped_files_is_named(digit_folder: Path):
    (digit_folder / "bad").mkdir()
    (digit_folder / "bad" / "x.png").write_bytes(b"junk")
    with pytest.raises(EmptyClassFolderError, match="'bad'"):
        load_dataset(str(digit_folder), skip_corrupt=True)


def test_too_few_images_in_a_class(digit_folder: Path):
    write_image_folder(digit_folder, {"rare": 7}, per_class=3)
    with pytest.raises(TooFewSamplesError) as err:
        load_dataset(str(digit_folder))
    message = str(err.value)
    assert "'rare' (3)" in message and "'zero'" not in message
    assert "val_fraction=0.15" in message and "test_fraction=0.15" in message
    # Larger fractions give the small class a validation and a test sample.
    assert load_dataset(str(digit_folder), val_fraction=0.34, test_fraction=0.34).num_classes == 4


def test_load_images_names_unreadable_and_missing_files(digit_folder: Path, tmp_path: Path):
    prep = load_dataset(str(digit_folder)).preprocessing
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(CorruptImageError, match="broken.png"):
        load_images([digit_folder / "one" / "000.png", broken], prep)
    with pytest.raises(DataNotFoundError, match="absent.png"):
        load_images([tmp_path / "absent.png"], prep)


# --- preflight errors: CSV files -----------------------------------------------------------------------
@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    """A CSV with 3 balanced classes of 20 rows, a numeric and a text feature."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "height": rng.normal(size=60).round(3),
            "colour": rng.choice(["red", "blue"], size=60),
            "label": np.repeat(["a", "b", "c"], 20),
        }
    )
    path = tmp_path / "small.csv"
    df.to_csv(path, index=False)
    return path


def test_csv_loads_small_table(small_csv: Path):
    ds = load_dataset(str(small_csv), target="label")
    assert ds.class_names == ("a", "b", "c") and ds.input_shape == (3,)


def test_csv_without_target_lists_columns(small_csv: Path):
    with pytest.raises(TargetColumnError) as err:
        load_dataset(str(small_csv))
    assert all(f"'{c}'" in str(err.value) for c in ("height", "colour", "label"))


def test_csv_unknown_target_lists_columns_and_suggests(small_csv: Path):
    with pytest.raises(TargetColumnError) as err:
        load_dataset(str(small_csv), target="labels")
    message = str(err.value)
    assert "'labels'" in message and "'height'" in message and "Did you mean 'label'" in message


def test_csv_empty_target_cells_give_rows(small_csv: Path):
    df = pd.read_csv(small_csv)
    df.loc[[4, 9], "label"] = np.nan
    df.to_csv(small_csv, index=False)
    with pytest.raises(TargetColumnError) as err:
        load_dataset(str(small_csv), target="label")
    assert "2 empty value(s)" in str(err.value) and "5, 10" in str(err.value)


def test_csv_empty_feature_cells_are_imputed_and_noted(small_csv: Path):
    df = pd.read_csv(small_csv)
    df.loc[3, "colour"] = np.nan
    df.to_csv(small_csv, index=False)
    ds = load_dataset(str(small_csv), target="label")
    assert len(ds.notes) == 1 and "imputed 1 empty feature cell(s) in 1 column(s): 'colour' (1)" in ds.notes[0]
    assert "'height'" not in ds.notes[0]


def refused_columns(df: pd.DataFrame, path: Path) -> str:
    """Write ``df`` to ``path`` as a CSV and load it with target ``label``: the FeatureColumnError's message."""
    df.to_csv(path, index=False)
    with pytest.raises(FeatureColumnError) as err:
        load_dataset(str(path), target="label")
    return str(err.value)


def test_csv_identifier_column_is_refused(small_csv: Path):
    df = pd.read_csv(small_csv)
    df["patient_id"] = [f"P{i:04d}" for i in range(len(df))]
    message = refused_columns(df, small_csv)  # 60 distinct values in 60 rows: all unique.
    assert "'patient_id' (60 distinct values in 60 rows, e.g. 'P0000', 'P0001', 'P0002')" in message
    assert "Drop" in message and "'colour'" not in message


def test_csv_identifier_column_in_a_small_table_is_refused(small_csv: Path):
    df = pd.read_csv(small_csv).iloc[::2]  # 30 rows, 10 per class
    df["patient_id"] = [f"P{i:04d}" for i in range(len(df))]
    assert "'patient_id' (30 distinct values in 30 rows" in refused_columns(df, small_csv)


@pytest.mark.parametrize("n_levels", [3, 10, 15])
def test_csv_small_categorical_columns_are_one_hot_encoded(small_csv: Path, n_levels: int):
    # 60 rows: 3 or 10 levels (at most MIN_IDENTIFIER_LEVELS) or 15 (a quarter of the rows) are categories.
    df = pd.read_csv(small_csv)
    df["city"] = [f"city{i % n_levels:02d}" for i in range(len(df))]
    df.to_csv(small_csv, index=False)
    ds = load_dataset(str(small_csv), target="label")
    assert 1 <= len(ds.preprocessing["categorical"]["city"]) <= n_levels
    assert ds.input_shape == (3 + len(ds.preprocessing["categorical"]["city"]),)


def test_csv_categorical_column_with_more_levels_than_half_the_rows_is_refused(small_csv: Path):
    df = pd.read_csv(small_csv).iloc[::3]  # 20 rows
    df["city"] = [f"city{i % 11:02d}" for i in range(len(df))]  # 11 cities, 9 of them twice
    message = refused_columns(df, small_csv)
    assert "'city' (11 distinct values in 20 rows" in message and "merge rare values" in message


@pytest.mark.parametrize("n_rows", [60, 300])
def test_csv_numeric_column_with_text_cells_names_cells_and_rows(tmp_path: Path, n_rows: int):
    rng = np.random.default_rng(2)
    height = [f"{v:.3f}" for v in rng.normal(size=n_rows)]
    height[4], height[9], height[11] = "1,5", "n.a.", "1,5"
    df = pd.DataFrame({"height": height, "label": np.repeat(["a", "b", "c"], n_rows // 3)})
    message = refused_columns(df, tmp_path / "typos.csv")
    assert "'height' ('1,5', 'n.a.' in data row(s) 5, 10, 12)" in message
    assert "decimal point" in message and "identifiers" not in message


def test_csv_text_column_with_a_few_numbers_stays_categorical(small_csv: Path):
    df = pd.read_csv(small_csv)
    df.loc[:5, "colour"] = "7"  # 6 of 60 cells are numbers: a category, not a numeric column with typos
    df.to_csv(small_csv, index=False)
    ds = load_dataset(str(small_csv), target="label")
    assert "colour=7" in ds.preprocessing["encoded_columns"]


@pytest.mark.parametrize("separator, name", [(";", "semicolon"), ("\t", "tab")])
@pytest.mark.parametrize("target", ["label", None])
def test_csv_with_other_separator_says_so(small_csv: Path, separator: str, name: str, target: str | None):
    pd.read_csv(small_csv).to_csv(small_csv, index=False, sep=separator)
    with pytest.raises(TargetColumnError) as err:
        load_dataset(str(small_csv), target=target)
    message = str(err.value)
    assert f"looks {name}-separated" in message and "comma-separated" in message


def test_csv_unknown_target_without_separator_problem_has_no_separator_hint(small_csv: Path):
    with pytest.raises(TargetColumnError) as err:
        load_dataset(str(small_csv), target="class")
    assert "separated" not in str(err.value)


def test_csv_single_class_is_named(small_csv: Path):
    df = pd.read_csv(small_csv)
    df["label"] = "same"
    df.to_csv(small_csv, index=False)
    with pytest.raises(SingleClassError, match="'same'"):
        load_dataset(str(small_csv), target="label")


def test_csv_too_few_samples_names_classes(small_csv: Path):
    df = pd.read_csv(small_csv).iloc[:44]  # class "c" keeps 4 rows
    df.to_csv(small_csv, index=False)
    with pytest.raises(TooFewSamplesError) as err:
        load_dataset(str(small_csv), target="label")
    assert "'c' (4)" in str(err.value) and "'a'" not in str(err.value)


def test_csv_continuous_target_is_regression_and_refused_as_classes(small_csv: Path):
    assert load_dataset(str(small_csv), target="height").problem == "regression"  # tests/test_regression.py
    with pytest.raises(TargetColumnError, match="non-integer numbers .* the task is classification"):
        load_dataset(str(small_csv), target="height", task="classification")


# --- preflight errors: .npz files ----------------------------------------------------------------------
def test_npz_without_y(tmp_path: Path):
    path = tmp_path / "x_only.npz"
    np.savez(path, x=np.zeros((10, 3)), labels=np.zeros(10))
    with pytest.raises(ArrayFormatError) as err:
        load_dataset(str(path))
    assert "'labels'" in str(err.value) and "y" in str(err.value)


def test_npz_length_mismatch(tmp_path: Path):
    path = tmp_path / "mismatch.npz"
    np.savez(path, x=np.zeros((10, 3)), y=np.zeros(9, dtype=int))
    with pytest.raises(ArrayFormatError) as err:
        load_dataset(str(path))
    assert "10 samples" in str(err.value) and "9 labels" in str(err.value)


def test_npz_that_is_not_an_archive(tmp_path: Path):
    path = tmp_path / "fake.npz"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(ArrayFormatError, match="fake.npz"):
        load_dataset(str(path))


@pytest.mark.parametrize("form", ["object-array", "pickle-file"])
def test_npz_with_pickled_data_explains_why_it_is_refused(tmp_path: Path, form: str):
    import pickle

    path = tmp_path / "objects.npz"
    x = np.array([[1.0, "a"], [2.0, "b"]], dtype=object)
    if form == "object-array":
        np.savez(path, x=x, y=np.array([0, 1]))
    else:
        path.write_bytes(pickle.dumps({"x": x, "y": [0, 1]}))
    with pytest.raises(ArrayFormatError) as err:
        load_dataset(str(path))
    message = str(err.value)
    assert "objects.npz" in message and "never loads pickled data" in message and "run any code" in message
    assert "np.savez(path, x=np.asarray(x, dtype=np.float32)" in message
    assert "trust the file" not in message and "allow_pickle" not in message


def test_npz_single_class(tmp_path: Path):
    path = tmp_path / "one.npz"
    np.savez(path, x=np.zeros((10, 3)), y=np.array(["cat"] * 10))
    with pytest.raises(SingleClassError, match="'cat'"):
        load_dataset(str(path))
