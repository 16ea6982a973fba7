"""The objective the user names (--objective) and imbalanced classes (--class-weight, the preflight's warning):
automl.objectives, automl.class_weights and their way through the trainer, the leaderboard and the search."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from helpers import TINY_MLP_SPACE, run_cli

from automl import class_weights, leaderboard
from automl.errors import ConfigError, SearchSpaceError
from automl.objectives import OBJECTIVES, check_objective, direction, objective_names, prediction_scores
from automl.run_dir import RunDirectory


def imbalanced_blobs(path, majority=400, minority=20, seed=0):
    """Two overlapping Gaussian classes in 2-D, ``majority`` : ``minority`` samples, written as an .npz."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0.0, 1.0, (majority, 2)), rng.normal(1.0, 1.0, (minority, 2))]).astype(np.float32)
    y = np.array([0] * majority + [1] * minority)
    np.savez(path, x=x, y=y)
    return path


def imbalanced_digits(path, keep=0.1, seed=0):
    """builtin:digits with only ``keep`` of the samples of classes 0-4 (the acceptance data, smaller here)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    mask = np.ones(len(digits.target), bool)
    for label in range(5):
        rows = np.flatnonzero(digits.target == label)
        mask[rng.permutation(rows)[int(round(keep * len(rows))):]] = False
    np.savez(path, x=digits.images[mask].astype(np.float32), y=digits.target[mask])
    return path


# --- the table -------------------------------------------------------------------------------------------
def test_prediction_scores_are_scikit_learns():
    from sklearn import metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    p = rng.dirichlet(np.ones(4), 200) * 0.5 + np.eye(4)[y] * 0.5  # better than chance, rows sum to 1
    scores = prediction_scores(y, p)
    assert scores["val_balanced_accuracy"] == pytest.approx(metrics.balanced_accuracy_score(y, p.argmax(1)))
    assert scores["val_f1_macro"] == pytest.approx(metrics.f1_score(y, p.argmax(1), average="macro"))
    assert scores["val_auc"] == pytest.approx(metrics.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    binary = rng.integers(0, 2, 100)
    q = rng.dirichlet(np.ones(2), 100)
    assert prediction_scores(binary, q, prefix=False)["auc"] == pytest.approx(metrics.roc_auc_score(binary, q[:, 1]))
    assert all(math.isnan(v) for v in prediction_scores(y, np.full_like(p, np.nan)).values())  # a diverged model


def test_every_objective_has_a_direction_and_a_wrong_name_lists_them():
    assert objective_names() == ["val_loss", "val_accuracy", "val_balanced_accuracy", "val_f1_macro", "val_auc"]
    assert direction("val_loss") == "minimize" and direction("val_f1_macro") == "maximize"
    with pytest.raises(ConfigError) as caught:
        check_objective("val_f1", "--objective", ConfigError)
    message = str(caught.value)
    assert "'val_f1'" in message and all(name in message for name in objective_names())
    assert "val_loss (minimised" in message and "val_auc (maximised" in message
    # regression's rows: listed for a regression target, not for classes
    assert "val_rmse" not in message and objective_names("regression") == ["val_loss", "val_rmse", "val_mae"]
    assert set(objective_names(None)) == set(OBJECTIVES) and direction("val_rmse") == direction("val_mae") == "minimize"


# --- the trainer -----------------------------------------------------------------------------------------
def test_per_epoch_scores_in_the_logs_are_scikit_learns_on_the_same_predictions():
    """The callback's values, as the epoch logs hand them to early stopping and the pruner, are scikit-learn's
    on the model's predictions of the validation split at that epoch."""
    import keras
    from sklearn import metrics

    from automl.data import load_dataset
    from automl.trainer import tf_dataset, validation_metrics_class

    dataset = load_dataset("builtin:digits", seed=0)
    x_val, y_val = np.asarray(dataset.x_val) / 16.0, dataset.y_val
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []

    class Check(keras.callbacks.Callback):  # after the validation metrics, as early stopping is
        def on_epoch_end(self, epoch, logs=None):
            predicted = self.model.predict(x_val, verbose=0)
            seen.append((dict(logs), metrics.f1_score(y_val, predicted.argmax(1), average="macro"),
                         metrics.balanced_accuracy_score(y_val, predicted.argmax(1)),
                         metrics.roc_auc_score(y_val, predicted, multi_class="ovr")))

    validation = validation_metrics_class()(tf_dataset(x_val, y_val, 64), y_val, "classification")
    history = model.fit(np.asarray(dataset.x_train) / 16.0, dataset.y_train, epochs=3, verbose=0,
                        validation_data=(x_val, y_val), callbacks=[validation, Check()]).history
    assert len(seen) == 3
    for logs, f1, balanced, auc in seen:
        assert logs["val_f1_macro"] == pytest.approx(f1, abs=1e-9)
        assert logs["val_balanced_accuracy"] == pytest.approx(balanced, abs=1e-9)
        assert logs["val_auc"] == pytest.approx(auc, abs=1e-6)
    assert history["val_f1_macro"] == [logs["val_f1_macro"] for logs, *_ in seen]  # in the history too


def test_a_trial_searched_by_f1_reports_it_and_keeps_it_in_its_record(tmp_path):
    from sklearn import metrics

    from automl.data import load_dataset
    from automl.hp import FixedDriver
    from automl.plugin_manager import build_registry
    from automl.search_space import SearchSpace
    from automl.trainer import COMPLETE, train_candidate

    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict({**yaml.safe_load(TINY_MLP_SPACE), "objective": "val_f1_macro",
                                   "training": {"batch_size": 64, "max_epochs": 3, "patience": 2}}, registry)
    candidate = space.sample(FixedDriver({"architecture": "mlp", "augmentation": "none", "optimizer": "adam"},
                                         fill_defaults=True), registry, "image")
    dataset = load_dataset(str(imbalanced_digits(tmp_path / "imb.npz")), seed=0)
    reported = []

    class Reporter:
        def report(self, epoch, value):
            reported.append(value)
            return False

    result = train_candidate(dataset, candidate, registry, seed=0, objective="val_f1_macro", reporter=Reporter())
    assert result.status == COMPLETE and reported == result.history["val_f1_macro"]
    record = result.record()
    best = result.best_epoch - 1
    assert record["objective"] == record["val_f1_macro"] == result.history["val_f1_macro"][best]
    assert record["val_auc"] == result.history["val_auc"][best] and "val_metrics" not in record
    # The model holds that epoch's weights: its predictions give the recorded score.
    predicted = result.model.predict(np.asarray(dataset.x_val), verbose=0).argmax(1)
    assert record["val_f1_macro"] == pytest.approx(metrics.f1_score(dataset.y_val, predicted, average="macro"))


def test_balanced_class_weights_reach_fit_and_raise_the_minority_recall(tmp_path):
    """20 : 1 overlapping classes: unweighted, the model all but ignores the small class; balanced, it finds most
    of it."""
    from dataclasses import replace

    from automl.data import load_dataset
    from automl.hp import FixedDriver
    from automl.plugin_manager import build_registry
    from automl.search_space import SearchSpace
    from automl.trainer import train_candidate

    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict({"architectures": {"mlp": {"layers": 1, "units": 32, "dropout": 0.0}},
                                   "augmentations": ["none"],
                                   "optimizers": {"adam": {"learning_rate": 0.01, "schedule": "constant"}}},
                                  registry)
    candidate = space.sample(FixedDriver({"architecture": "mlp", "augmentation": "none", "optimizer": "adam"},
                                         fill_defaults=True), registry, "tabular")
    candidate = replace(candidate, batch_size=32, max_epochs=15, patience=15)
    dataset = load_dataset(str(imbalanced_blobs(tmp_path / "blobs.npz")), seed=0)
    weights = class_weights.resolve("balanced", dataset.y_train, dataset.class_names)
    assert weights is not None and weights[1] / weights[0] == pytest.approx(20.0, rel=0.1)
    x = np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test])
    y = np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test])
    recall = {}
    for name, setting in (("unweighted", None), ("balanced", weights)):
        result = train_candidate(dataset, candidate, registry, seed=0, class_weight=setting)
        predicted = result.model.predict(x, verbose=0).argmax(1)
        recall[name] = float(np.mean(predicted[y == 1] == 1))
        # The validation loss (early stopping's, and the row's) is weighed as the training loss is.
        probabilities = result.model.predict(dataset.x_val, verbose=0)
        cross_entropy = -np.log(probabilities[np.arange(len(dataset.y_val)), dataset.y_val])
        sample_weights = np.ones(len(cross_entropy)) if setting is None else \
            np.array([setting[label] for label in dataset.y_val])
        assert result.val_loss == pytest.approx(float(np.mean(sample_weights * cross_entropy)), rel=1e-3), name
    print(recall)
    assert recall["unweighted"] <= 0.35 and recall["balanced"] >= recall["unweighted"] + 0.3, recall


# --- class weights and the imbalance warning ----------------------------------------------------------
def test_balanced_weights_are_scikit_learns_and_labels_are_names():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 90 + [1] * 10 + [2] * 5)
    balanced = class_weights.resolve("balanced", y, ("a", "b", "c"))
    assert balanced is not None
    assert list(balanced.values()) == pytest.approx(list(compute_class_weight("balanced", classes=np.arange(3), y=y)))
    assert class_weights.resolve({"b": 5.0}, y, ("a", "b", "c")) == {0: 1.0, 1: 5.0, 2: 1.0}
    # YAML's {0: 1.0, 1: 5.0} names the labels "0" and "1", as the data write them
    setting = class_weights.check_class_weight({0: 1.0, 1: 5}, "training.class_weight", SearchSpaceError)
    assert class_weights.resolve(setting, y, ("0", "1", "2")) == {0: 1.0, 1: 5.0, 2: 1.0}
    with pytest.raises(ConfigError, match=r"unknown class label\(s\) \['dog'\]; the data's classes are 'a', 'b'"):
        class_weights.resolve({"dog": 2.0}, y, ("a", "b", "c"))
    for wrong in ("heavy", {"a": -1.0}, {"a": "x"}, {}):
        with pytest.raises(SearchSpaceError, match="expected balanced, none, or a mapping"):
            class_weights.check_class_weight(wrong, "s.yaml: training.class_weight", SearchSpaceError)
    assert class_weights.check_class_weight("none", "x", ConfigError) is None


def test_the_imbalance_warning_suggests_what_is_not_chosen_yet():
    names = ("big", "small")
    y = np.array([0] * 100 + [1] * 10)
    warning = class_weights.imbalance_warning(y, names, None, "val_accuracy")
    assert warning is not None and "'big', has 100 samples, 10x the smallest, 'small' (10)" in warning
    assert "--class-weight balanced" in warning and "--objective val_balanced_accuracy" in warning
    chosen = class_weights.imbalance_warning(y, names, "balanced", "val_f1_macro")
    assert chosen is not None and "consider" not in chosen
    assert class_weights.imbalance_warning(np.array([0] * 90 + [1] * 10), names, None, "val_accuracy") is None


# --- the leaderboard -------------------------------------------------------------------------------------
def record(trial, f1, loss, accuracy):
    return {"trial": trial, "status": "complete", "objective": f1, "val_f1_macro": f1, "val_loss": loss,
            "val_accuracy": accuracy, "candidate": {"architecture": "mlp", "params": {}}}


def test_the_leaderboard_ranks_by_the_objective_in_its_direction():
    records = [record(0, 0.60, 0.20, 0.95), record(1, 0.80, 0.40, 0.90), record(2, 0.70, 0.30, 0.93)]
    frame = leaderboard.build(records, direction("val_f1_macro"), {1: {"accuracy": 0.9, "f1_macro": 0.77}},
                              "val_f1_macro")
    assert list(frame["trial"]) == [1, 2, 0] and list(frame["rank"]) == [1, 2, 3]
    assert frame["test_f1_macro"].iloc[0] == 0.77 and math.isnan(frame["test_f1_macro"].iloc[1])
    shown = leaderboard.summary_columns(frame)
    assert shown[3:6] == ["val_accuracy", "val_f1_macro", "test_accuracy"] and "test_f1_macro" in shown
    assert "val_auc" not in shown
    by_loss = [{**r, "objective": r["val_loss"]} for r in records]
    assert [r["trial"] for r in leaderboard.ranked(by_loss, direction("val_loss"))] == [0, 2, 1]


# --- the search ------------------------------------------------------------------------------------------
def test_a_search_by_f1_with_balanced_weights_ranks_tests_and_records_them(tmp_path):
    """The Python API: the space's objective and class weights replaced, the warning, the leaderboard ranked by
    val_f1_macro, the top trials' test F1, and a resume with another objective refused."""
    import automl
    from automl.errors import RunDirectoryError
    from automl.progress import QuietProgress

    data = imbalanced_digits(tmp_path / "imb.npz")
    space = tmp_path / "space.yaml"
    space.write_text(TINY_MLP_SPACE + "objective: val_loss\n")
    messages = []

    class Progress(QuietProgress):
        def message(self, text):
            messages.append(text)

    out = tmp_path / "run"
    result = automl.search(str(data), out=out, space=space, trials=3, top_k=2, workers=0, objective="val_f1_macro",
                           class_weight="balanced", progress=Progress())
    warning = next(m for m in messages if m.startswith("warning: the classes are imbalanced"))
    assert "consider" not in warning  # both remedies are chosen already
    config = RunDirectory(out).read_config()
    assert config["objective"] == config["space"]["objective"] == "val_f1_macro"
    assert config["class_weight"] == config["space"]["training"]["class_weight"] == "balanced"
    frame = result.leaderboard_
    complete = frame[frame["status"] == "complete"]
    assert list(complete["objective"]) == list(complete["val_f1_macro"])
    assert list(complete["val_f1_macro"]) == sorted(complete["val_f1_macro"], reverse=True)
    tests = json.loads((out / "test_metrics.json").read_text())
    best = str(int(frame["trial"].iloc[0]))
    assert frame["test_f1_macro"].iloc[0] == pytest.approx(tests[best]["f1_macro"])
    assert set(tests[best]) >= {"accuracy", "loss", "balanced_accuracy", "f1_macro", "auc"}
    assert "val_f1_macro" in (out / "leaderboard.md").read_text()
    with pytest.raises(RunDirectoryError, match=r"holds a different experiment: objective differ"):
        automl.search(str(data), out=out, space=space, trials=3, top_k=2, workers=0, objective="val_auc",
                      class_weight="balanced", progress=Progress())


def test_a_wrong_objective_is_refused_before_anything_runs(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("search", "builtin:digits", "--objective", "val_f1", "--out", out, expect=2)
    assert "--objective must be one of the objectives for classification" in proc.stderr
    assert "val_balanced_accuracy (maximised" in proc.stderr and "got 'val_f1'" in proc.stderr
    assert not out.exists()
    proc = run_cli("search", "builtin:digits", "--class-weight", "heavy", "--out", out, expect=2)
    assert "expected balanced, none, or a mapping" in proc.stderr and not out.exists()
