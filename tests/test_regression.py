"""Regression (issue 19, point 1): detection and --task, the target standardised inside the model, the quantile
split, and a tiny end-to-end search on scikit-learn's diabetes whose every export predicts the same values."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from automl.data import load_dataset
from automl.errors import ConfigError, TargetColumnError

FORMATS = ("keras", "saved_model", "litert", "onnx")
FORMAT_MODULES = {"litert": ("ai_edge_litert",), "onnx": ("tf2onnx", "onnx", "onnxruntime")}
INSTALLED = [f for f in FORMATS if all(importlib.util.find_spec(m) for m in FORMAT_MODULES.get(f, ()))]
# Predicted values are float32 in the target's units (diabetes: 25..346), where one float32 step is ~3e-5: formats
# are compared relative to the largest predicted value.
RELATIVE_TOLERANCE = 1e-5


def _csv(tmp_path: Path, y, name: str = "data.csv", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=len(y)), "b": rng.normal(size=len(y)), "y": y})
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


# --- detection and --task ------------------------------------------------------------------------------
def test_a_numeric_target_with_fractions_or_many_values_is_regression_and_few_integers_are_classes(tmp_path):
    rng = np.random.default_rng(0)
    floats = load_dataset(str(_csv(tmp_path, rng.normal(50, 10, 200), "f.csv")), target="y")
    assert floats.problem == "regression" and floats.class_names == () and floats.y_train.dtype == np.float32
    assert any("regression" in note for note in floats.notes)  # printed at the start of the search
    many = load_dataset(str(_csv(tmp_path, rng.integers(0, 300, 200), "many.csv")), target="y")
    assert many.problem == "regression"
    few = load_dataset(str(_csv(tmp_path, np.arange(200) % 3, "few.csv")), target="y")
    assert few.problem == "classification" and few.num_classes == 3
    whole_floats = load_dataset(str(_csv(tmp_path, (np.arange(200) % 2).astype(float), "wf.csv")), target="y")
    assert whole_floats.problem == "classification"  # 0.0 / 1.0: class labels, as before regression


def test_task_overrides_the_detection_either_way(tmp_path):
    codes = np.repeat(np.arange(25), 10)  # 25 integer-coded classes: detected as regression
    path = _csv(tmp_path, codes, "codes.csv")
    assert load_dataset(str(path), target="y").problem == "regression"
    classes = load_dataset(str(path), target="y", task="classification")
    assert classes.problem == "classification" and classes.num_classes == 25
    three = _csv(tmp_path, np.arange(200) % 3, "three.csv")
    values = load_dataset(str(three), target="y", task="regression")
    assert values.problem == "regression" and set(np.unique(values.y_train)) <= {0.0, 1.0, 2.0}
    text = tmp_path / "text.csv"
    pd.DataFrame({"a": range(60), "y": ["cat", "dog"] * 30}).to_csv(text, index=False)
    with pytest.raises(TargetColumnError, match="regression target must be numbers"):
        load_dataset(str(text), target="y", task="regression")
    with pytest.raises(ConfigError, match="image regression is not supported"):
        load_dataset("builtin:digits", task="regression")
    with pytest.raises(ConfigError, match="classification or regression"):
        load_dataset(str(three), target="y", task="ranking")


def test_a_float_y_in_an_npz_is_regression(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "arrays.npz"
    np.savez(path, x=rng.normal(size=(120, 4)).astype(np.float32), y=rng.normal(size=120))
    assert load_dataset(str(path)).problem == "regression"


def test_the_regression_split_is_stratified_by_quantiles_and_reproducible(tmp_path):
    y = np.random.default_rng(2).lognormal(3, 1, 400)  # skewed: a random split could miss the tail
    path = _csv(tmp_path, y)
    first, again = load_dataset(str(path), target="y"), load_dataset(str(path), target="y")
    assert first.fingerprint == again.fingerprint and np.array_equal(first.y_test, again.y_test)
    assert (len(first.y_train), len(first.y_val), len(first.y_test)) == (280, 60, 60)
    everything = np.concatenate([first.y_train, first.y_val, first.y_test])  # float32, as the splits hold it
    deciles = np.quantile(everything, np.linspace(0, 1, 11))
    for part in (first.y_val, first.y_test):  # every decile of the target is in validation and test, 6 each
        counts = np.histogram(part, bins=deciles)[0]
        assert counts.tolist() == [6] * 10, counts


# --- the target standardised inside the model ------------------------------------------------------------
def test_the_model_learns_a_standardised_target_and_outputs_the_targets_units(tmp_path):
    import keras

    from automl.hp import FixedDriver
    from automl.plugin_manager import build_registry
    from automl.search_space import SearchSpace
    from automl.trainer import COMPLETE, train_candidate

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 2))
    y = 5000.0 + 800.0 * x[:, 0] - 300.0 * x[:, 1]  # far from zero, far from unit scale
    path = tmp_path / "linear.csv"
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y}).to_csv(path, index=False)
    dataset = load_dataset(str(path), target="y")
    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict({"architectures": {"mlp": {"layers": 1, "units": 32, "dropout": 0.0}},
                                   "augmentations": ["none"], "objective": "val_rmse",
                                   "optimizers": {"adam": {"learning_rate": 0.01, "schedule": "constant"}},
                                   "training": {"batch_size": 32, "max_epochs": 30, "patience": 30}}, registry)
    candidate = space.sample(FixedDriver({"architecture": "mlp", "augmentation": "none", "optimizer": "adam"},
                                         fill_defaults=True), registry, "tabular")
    result = train_candidate(dataset, candidate, registry, seed=0, objective="val_rmse")
    assert result.status == COMPLETE, result.reason
    # val_rmse / val_mae are scored every epoch; val_loss is the squared error of the standardised target
    assert len(result.history["val_rmse"]) == len(result.history["val_mae"]) == result.epochs
    assert result.objective == result.history["val_rmse"][result.best_epoch - 1]
    predicted = result.model.predict(dataset.x_test, verbose=0).reshape(-1)
    rmse = float(np.sqrt(np.mean((predicted - dataset.y_test) ** 2)))
    assert rmse < 0.1 * float(np.std(dataset.y_test)), rmse  # values in the target's units, learnt well
    std, mean = float(np.std(dataset.y_train)), float(np.mean(dataset.y_train))
    assert result.val_loss == pytest.approx(result.history["val_rmse"][result.best_epoch - 1] ** 2 / std ** 2, rel=1e-3)
    rescale = result.model.get_layer("network").get_layer("predictions")
    assert isinstance(rescale, keras.layers.Rescaling)  # serialisable, no Lambda
    assert rescale.scale == pytest.approx(std) and rescale.offset == pytest.approx(mean)
    path = tmp_path / "model.keras"
    result.model.save(path)  # the rescaling travels with the model
    reloaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert np.allclose(reloaded.predict(dataset.x_test, verbose=0).reshape(-1), predicted, rtol=1e-6)


def test_the_huber_loss_is_that_of_the_standardised_target_with_delta_one():
    """training.loss: huber. The model's loss, on values in the target's units, equals the Huber loss (delta 1)
    of the standardised target: quadratic within one standard deviation of the truth, linear beyond."""
    import keras

    from automl.hp import FixedDriver
    from automl.model import compile_model
    from automl.plugin import BuildContext
    from automl.plugin_manager import build_registry
    from automl.search_space import SearchSpace

    mean, std = 150.0, 40.0
    inputs = keras.Input(shape=(1,))
    model = keras.Model(inputs, keras.layers.Rescaling(std, offset=mean)(inputs))  # predicts mean + std * x
    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict({"architectures": ["mlp"], "augmentations": ["none"], "optimizers": ["sgd"],
                                   "training": {"loss": "huber"}}, registry)
    candidate = space.sample(FixedDriver({"architecture": "mlp", "augmentation": "none", "optimizer": "sgd"},
                                         fill_defaults=True), registry, "tabular")
    assert candidate.loss == "huber"
    context = BuildContext(task="tabular", input_shape=(1,), num_classes=1, problem="regression")
    compile_model(model, candidate, registry, context, target={"mean": mean, "std": std})
    z_predicted = np.array([[0.0], [0.5], [-1.0], [2.0]], dtype=np.float32)
    z_true = np.array([0.2, -0.5, 1.5, 2.0])  # errors 0.2 and 1.0 (quadratic), 2.5 (linear), 0
    errors = np.abs(z_predicted.ravel() - z_true)
    huber = np.where(errors <= 1, 0.5 * errors ** 2, errors - 0.5).mean()
    loss = model.evaluate(z_predicted, (mean + std * z_true).astype(np.float32), verbose=0)
    assert loss == pytest.approx(huber, rel=1e-5)


# --- end to end: diabetes ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def diabetes(tmp_path_factory) -> tuple[Path, Path]:
    """scikit-learn's diabetes as a CSV (target column y), and the same rows without the target."""
    from sklearn.datasets import load_diabetes

    folder = tmp_path_factory.mktemp("diabetes")
    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "y"})
    frame.to_csv(folder / "diabetes.csv", index=False)
    frame.drop(columns="y").to_csv(folder / "features.csv", index=False)
    return folder / "diabetes.csv", folder / "features.csv"


@pytest.fixture(scope="module")
def diabetes_run(diabetes, tmp_path_factory) -> tuple[Path, str]:
    import helpers

    folder = tmp_path_factory.mktemp("run")
    space = folder / "space.yaml"
    space.write_text(helpers.TINY_MLP_SPACE)
    run = folder / "run"
    # no pruner: both trials complete, whatever the order of floating-point sums on a loaded machine
    proc = run_cli("search", diabetes[0], "--target", "y", "--trials", 2, "--space", space, "--out", run,
                   "--pruner", "none")
    return run, " ".join((proc.stdout + proc.stderr).split())  # the display may wrap a long line anywhere


def test_a_regression_search_ranks_by_val_rmse_and_reports_test_rmse_and_mae(diabetes_run):
    run, said = diabetes_run
    assert "task: regression" in said and "214 distinct numbers" in said
    rows = json.loads(run_cli("leaderboard", run, "--json").stdout)
    ranked = [r for r in rows if r["rank"] is not None]
    assert len(ranked) == 2 and [r["rank"] for r in ranked] == [1, 2]
    assert ranked[0]["val_rmse"] <= ranked[1]["val_rmse"]  # ascending: minimised
    assert all(r["objective"] == r["val_rmse"] and r["val_mae"] > 0 and r["val_accuracy"] is None for r in ranked)
    assert all(r["test_rmse"] > 0 and r["test_mae"] > 0 for r in ranked)
    tested = json.loads((run / "test_metrics.json").read_text())
    assert set(tested[str(ranked[0]["trial"])]) >= {"rmse", "mae"}
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["problem"] == "regression" and config["objective"] == "val_rmse"
    card = json.loads((run / "best" / "model_card.json").read_text())
    assert card["problem"] == "regression" and card["class_names"] == [] and card["output"]["shape"] == [None, 1]
    assert card["target"]["name"] == "y" and card["metrics"]["test"]["rmse"] > 0
    assert "test RMSE" in said
    assert (run / "report" / "report.html").exists() or run_cli("report", run).returncode == 0


def test_every_export_format_and_automl_predict_give_the_keras_models_values(diabetes_run, diabetes):
    from automl import load_run

    run, _ = diabetes_run
    run_cli("export", run, "--format", ",".join(INSTALLED))
    features = pd.read_csv(diabetes[1])
    result = load_run(run)
    expected = result.best_model_.predict(features.to_numpy(np.float32), verbose=0).reshape(-1)
    api = result.predict(features)
    assert api.dtype.kind == "f" and api.shape == (len(features),)
    assert np.allclose(api, expected, rtol=0, atol=RELATIVE_TOLERANCE * np.abs(expected).max())
    card = json.loads((run / "best" / "model_card.json").read_text())
    assert set(card["verification"]) == set(INSTALLED)
    for fmt in INSTALLED:
        out = run / f"predicted_{fmt}.csv"
        run_cli("predict", run, diabetes[1], "--format", fmt, "--out", out)
        predicted = pd.read_csv(out)
        assert list(predicted.columns) == ["input", "prediction"] and predicted["prediction"].dtype.kind == "f"
        difference = float(np.abs(predicted["prediction"].to_numpy() - expected).max()) / float(np.abs(expected).max())
        print(f"{fmt}: max relative difference {difference:.2e}")
        assert difference <= RELATIVE_TOLERANCE, fmt
        assert card["verification"][fmt]["max_relative_difference"] <= RELATIVE_TOLERANCE, fmt


def test_task_classification_and_class_weights_are_checked_against_the_target(diabetes, tmp_path):
    proc = run_cli("search", diabetes[0], "--target", "y", "--task", "classification", "--trials", 1,
                   "--out", tmp_path / "c", check=False)
    assert proc.returncode != 0 and "Too few samples" in proc.stderr  # 214 'classes', most with one row
    proc = run_cli("search", diabetes[0], "--target", "y", "--class-weight", "balanced", "--trials", 1,
                   "--out", tmp_path / "w", check=False)
    assert proc.returncode != 0 and "regression (no classes)" in proc.stderr
    proc = run_cli("search", diabetes[0], "--target", "y", "--objective", "val_accuracy", "--trials", 1,
                   "--out", tmp_path / "o", check=False)
    assert proc.returncode != 0 and "val_rmse" in proc.stderr


def test_the_python_api_searches_float_arrays_as_regression_and_predicts_numbers(tmp_path, tiny_mlp_space):
    import automl

    rng = np.random.default_rng(4)
    x = rng.normal(size=(160, 3)).astype(np.float32)
    y = 10.0 + 3.0 * x[:, 0] + rng.normal(scale=0.1, size=160)
    result = automl.search(x, y, out=str(tmp_path / "api"), trials=1, space=str(tiny_mlp_space), ensemble=1, top_k=1)
    predicted = result.predict(x[:5])
    assert predicted.dtype.kind == "f" and predicted.shape == (5,)
    assert np.allclose(predicted, result.best_model_.predict(x[:5], verbose=0).reshape(-1))
    assert result.leaderboard_["val_rmse"].notna().all() and result.class_names_ == []
    with pytest.raises(ConfigError, match="regression model"):
        result.predict_proba(x[:5])
