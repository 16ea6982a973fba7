"""End-to-end searches: real TensorFlow on sklearn's small data sets, through the real CLI."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import BROKEN_ARCHITECTURE_PLUGIN, TINY_CNN_SPACE, leaderboard_rows, run_cli, sigkill_after_trials

from automl.run_dir import RunDirectory


def write_space(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the acceptance run: quick space, 12 trials ---------------------------------------------------------
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("quick") / "run"
    run_cli("search", "builtin:digits", "--space", "quick", "--trials", 12, "--out", run_dir, "--seed", 0, "--quiet")
    return run_dir


def test_quick_search_reaches_the_acceptance_bar(quick_run):
    rows = leaderboard_rows(quick_run)
    assert len(rows) == 12
    statuses = [r["status"] for r in rows]
    assert statuses.count("pruned") >= 1, statuses
    assert all(s in ("complete", "pruned", "failed") for s in statuses)
    best_test = max(r["test_accuracy"] for r in rows if r["test_accuracy"] is not None)
    print(f"best test_accuracy {best_test:.4f}")
    assert best_test >= 0.97


def test_leaderboard_rows_have_the_documented_keys(quick_run):
    rows = leaderboard_rows(quick_run)
    required = {"rank", "trial", "status", "reason", "architecture", "augmentation", "optimizer", "val_accuracy",
                "objective", "test_accuracy", "param_count", "epochs", "train_seconds", "plugin_versions", "seed",
                "data_fingerprint"}
    for row in rows:
        assert required <= set(row), required - set(row)
    ranked = [r for r in rows if r["rank"] is not None]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert all(r["status"] == "complete" for r in ranked)
    assert len({r["trial"] for r in rows}) == len(rows)
    # Hyperparameters keep their sampled types, namespaced by plugin.
    cnn = [r for r in rows if r["architecture"] == "cnn"]
    assert cnn and all(isinstance(r["cnn.filters"], int) for r in cnn)
    assert rows[0]["plugin_versions"][rows[0]["architecture"]].startswith("built-in")


def test_run_directory_holds_config_storage_and_best_model(quick_run):
    import keras

    run = RunDirectory(quick_run)
    for path in (run.config, run.journal, run.leaderboard_csv, run.leaderboard_md, run.test_metrics,
                 run.best / "model.keras", run.best / "model_card.json", run.best / "candidate.json"):
        assert path.is_file(), path
    kept = sorted(p.name for p in run.trials.iterdir())
    assert len(kept) == 3, kept  # only the top-k models are kept
    card = json.loads((run.best / "model_card.json").read_text())
    assert card["class_names"] == [str(i) for i in range(10)]
    assert set(card["formats"]) == {"keras", "saved_model"}  # exported at the end of every search
    assert (run.best / "saved_model" / "saved_model.pb").is_file()
    model = keras.saving.load_model(run.best / "model.keras", safe_mode=True)
    from automl.data import load_dataset

    data = load_dataset("builtin:digits", seed=0)
    accuracy = float(np.mean(model.predict(data.x_test, verbose=0).argmax(1) == data.y_test))
    assert accuracy == pytest.approx(card["metrics"]["test"]["accuracy"], abs=1e-6)
    ranked = sorted((r for r in leaderboard_rows(quick_run) if r["rank"]), key=lambda r: r["rank"])
    assert card["trial"] == ranked[0]["trial"]
    # The default export averages the best three trials (--ensemble 3), each member recorded in the card.
    assert card["ensemble"]["trials"] == [r["trial"] for r in ranked[:3]]
    assert [m["candidate"]["architecture"] for m in card["ensemble"]["members"]] == \
        [r["architecture"] for r in ranked[:3]]


def test_rerunning_a_finished_run_adds_nothing(quick_run):
    before = leaderboard_rows(quick_run)
    run_cli("search", "builtin:digits", "--space", "quick", "--trials", 12, "--out", quick_run, "--seed", 0, "--quiet")
    assert len(leaderboard_rows(quick_run)) == len(before)


def test_a_different_experiment_in_the_same_run_directory_is_refused(quick_run):
    proc = run_cli("search", "builtin:digits", "--space", "quick", "--trials", 12, "--out", quick_run, "--seed", 5,
                   "--quiet", check=False)
    assert proc.returncode == 2
    assert "seed" in proc.stderr and "different experiment" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- other data sources ---------------------------------------------------------------------------------
@pytest.mark.slow  # an image-folder search runs by default in test_bad_input (--skip-corrupt)
def test_search_on_an_image_folder(tmp_path, tiny_cnn_space):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path / "images"
    for label in (0, 1, 2):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == label][:40]):
            Image.fromarray((image * 255 / 16).astype("uint8")).resize((16, 16)).save(folder / f"{i}.png")
    run_dir = tmp_path / "run"
    run_cli("search", root, "--space", tiny_cnn_space, "--trials", 2, "--out", run_dir, "--quiet")
    rows = leaderboard_rows(run_dir)
    assert len(rows) == 2 and {r["status"] for r in rows} <= {"complete", "pruned"}
    card = json.loads((RunDirectory(run_dir).best / "model_card.json").read_text())
    assert card["class_names"] == ["class_0", "class_1", "class_2"]
    assert card["input"]["shape"] == [None, 16, 16, 1]


@pytest.mark.slow  # CSV searches run by default in test_export (wine) and test_bad_input
def test_search_on_a_csv_reaches_095_on_breast_cancer(tmp_path):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    csv = tmp_path / "cancer.csv"
    frame.to_csv(csv, index=False)
    space = write_space(tmp_path / "tabular.yaml", """
architectures:
  mlp: {layers: [1, 2], units: {low: 32, high: 128}, batch_norm: false}
augmentations: [none]
optimizers:
  adam: {learning_rate: {low: 0.001, high: 0.01}}
training: {batch_size: 32, max_epochs: 30, patience: 5}
""")
    run_dir = tmp_path / "run"
    run_cli("search", csv, "--target", "target", "--space", space, "--trials", 3, "--out", run_dir, "--quiet",
            "--pruner", "none")
    rows = leaderboard_rows(run_dir)
    best_test = max(r["test_accuracy"] for r in rows if r["test_accuracy"] is not None)
    print(f"breast_cancer best test_accuracy {best_test:.4f}")
    assert best_test >= 0.95


# --- failures inside trials -----------------------------------------------------------------------------
EXPLOSIVE_PLUGIN = '''
from automl import Optimizer, hookimpl


class Explosive(Optimizer):
    """A learning rate far too high: the loss becomes NaN or infinite."""

    name = "explosive"

    def space(self, hp):
        return {"learning_rate": hp.float("learning_rate", 1e8, 1e9, log=True)}

    def build(self, params, context):
        import keras

        return keras.optimizers.SGD(params["learning_rate"])


@hookimpl
def automl_register_optimizers():
    return [Explosive()]
'''


def faulty_plugins(tmp_path: Path) -> Path:
    """A --plugins-dir with the architecture "broken" (helpers.BROKEN_ARCHITECTURE_PLUGIN) and the optimizer
    "explosive"."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(BROKEN_ARCHITECTURE_PLUGIN)
    (plugins / "explosive.py").write_text(EXPLOSIVE_PLUGIN)
    return plugins


def test_failing_plugin_and_nan_loss_are_failed_rows_and_the_search_goes_on(tmp_path):
    plugins = faulty_plugins(tmp_path)
    space = write_space(tmp_path / "space.yaml", """
architectures: [broken, mlp]
augmentations: [none]
optimizers: [explosive, adam]
training: {batch_size: 64, max_epochs: 3, patience: 2}
""")
    run_dir = tmp_path / "run"
    run_cli("search", "builtin:digits", "--space", space, "--trials", 3, "--out", run_dir, "--quiet",
            "--plugins-dir", plugins, "--sampler", "random", "--pruner", "none", "--max-consecutive-failures", 30)
    rows = leaderboard_rows(run_dir)
    finished = [r for r in rows if r["status"] in ("complete", "pruned")]
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(finished) == 3
    reasons = " | ".join(r["reason"] for r in failed)
    assert any(r["architecture"] == "broken" and "broken on purpose" in r["reason"] for r in failed), reasons
    assert any(r["optimizer"] == "explosive" and "non-finite" in r["reason"] for r in failed), reasons
    assert all(r["rank"] is None for r in failed)
    assert all(r["architecture"] == "mlp" and r["optimizer"] == "adam" for r in rows if r["rank"] is not None)


def test_consecutive_failure_limit_stops_the_search(tmp_path):
    plugins = faulty_plugins(tmp_path)
    space = write_space(tmp_path / "space.yaml", "architectures: [broken]\naugmentations: [none]\noptimizers: [adam]\n")
    run_dir = tmp_path / "run"
    proc = run_cli("search", "builtin:digits", "--space", space, "--trials", 5, "--out", run_dir, "--quiet",
                   "--plugins-dir", plugins, "--max-consecutive-failures", 3, "--json", check=False)
    assert proc.returncode == 1, proc.stderr  # a search without a usable result is an error for a script
    assert "3 trials failed in a row" in proc.stderr and "ended without a usable result" in proc.stderr
    summary = json.loads(proc.stdout)  # --json: stdout holds the summary alone
    assert summary["stopped_because"] == "3 trials failed in a row" and summary["trials"] == {"failed": 3}
    assert summary["best_trial"] is None and summary["best_model"] is None
    assert [r["status"] for r in leaderboard_rows(run_dir)] == ["failed"] * 3
    # --quiet logs hold automl's lines, not TensorFlow's C++ start-up chatter (search process and worker).
    assert not re.search(r"cudart|oneDNN|absl|cuInit", proc.stderr), proc.stderr


# --- interruption and budget ----------------------------------------------------------------------------
def test_sigkill_then_rerun_finishes_the_exact_count(tmp_path, tiny_cnn_space):
    run_dir = tmp_path / "run"
    args = ["search", "builtin:digits", "--space", tiny_cnn_space, "--trials", 6, "--out", run_dir, "--seed", 3,
            "--quiet", "--pruner", "none"]
    finished = sigkill_after_trials(args, 3)  # mid-way through the next trial
    assert finished >= 3
    run_cli(*args)
    rows = leaderboard_rows(run_dir)
    done = [r for r in rows if r["status"] in ("complete", "pruned")]
    assert len(done) == 6, [(r["trial"], r["status"], r["reason"]) for r in rows]
    assert len({r["trial"] for r in rows}) == len(rows)
    retried = [r["retry_of"] for r in rows if r["retry_of"] is not None]
    assert len(retried) == len(set(retried)) <= 1  # the interrupted trial is re-run at most once


def test_time_budget_stops_cleanly(tmp_path, tiny_cnn_space):
    run_dir = tmp_path / "run"
    started = time.monotonic()
    proc = run_cli("search", "builtin:digits", "--space", tiny_cnn_space, "--time-budget", "8s", "--out", run_dir,
                   "--quiet", check=False)
    assert "time budget used" in proc.stdout and "Traceback" not in proc.stderr
    assert time.monotonic() - started < 120
    completed = [r for r in leaderboard_rows(run_dir) if r["status"] == "complete"]
    # Exit 0 with a completed trial; a budget too short for any is exit 1 and says so (a loaded machine).
    assert proc.returncode == (0 if completed else 1), proc.stderr
    assert bool(completed) == (RunDirectory(run_dir).best / "model.keras").is_file()


CONTINUED_SPACE = TINY_CNN_SPACE.replace("training: {batch_size: 32, max_epochs: 4, patience: 2}",
                                           "training: {batch_size: 32, max_epochs: 3, patience: 2, continue_best: 0.5}")


def test_the_end_of_a_time_budget_continues_the_best_trial(tmp_path):
    import re

    assert "continue_best" in CONTINUED_SPACE
    space = write_space(tmp_path / "space.yaml", CONTINUED_SPACE)
    run_dir = tmp_path / "run"
    run_cli("search", "builtin:digits", "--space", space, "--time-budget", "40s", "--out", run_dir, "--quiet")
    rows = leaderboard_rows(run_dir)
    continued = [r for r in rows if "continued from" in (r["reason"] or "")]
    assert len(continued) == 1, [(r["trial"], r["reason"]) for r in rows]  # once per run
    row = continued[0]
    epoch, source = map(int, re.match(r"continued from epoch (\d+) of trial (\d+)", row["reason"]).groups())
    source_row = next(r for r in rows if r["trial"] == source)
    assert source_row["status"] == "complete" and source_row["epochs"] == epoch
    assert row["status"] == "complete" and row["epochs"] > epoch  # trained further than the space's max_epochs
    assert row["trial"] > source and row["cnn.filters"] == source_row["cnn.filters"]
    assert row["adam.learning_rate"] == source_row["adam.learning_rate"]
    # It starts from the source's best weights and early stopping from its best val_loss: never worse.
    assert row["val_loss"] <= source_row["val_loss"] + 1e-9
    # The space's constant learning rate becomes a decay over the continuation.
    assert "its constant learning rate decayed over the continuation (cosine)" in row["reason"], row["reason"]


def test_a_trial_that_never_left_chance_is_not_continued(tmp_path):
    """Digits with their labels shuffled: no network can leave chance, so the end of the budget goes to new
    trials, not to training one of them further; every row says it never left chance."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    data = tmp_path / "shuffled.npz"
    np.savez(data, x=digits.images.astype("float32"), y=np.random.default_rng(0).permutation(digits.target))
    space = write_space(tmp_path / "space.yaml", CONTINUED_SPACE)
    run_dir = tmp_path / "run"
    proc = run_cli("search", data, "--space", space, "--time-budget", "25s", "--out", run_dir, "--quiet", check=False)
    rows = [r for r in leaderboard_rows(run_dir) if r["status"] in ("complete", "pruned")]
    assert rows, proc.stderr
    assert not [r for r in rows if "continued from" in (r["reason"] or "")], [(r["trial"], r["reason"]) for r in rows]
    assert all("never left chance level" in (r["reason"] or "") for r in rows), [r["reason"] for r in rows]


# --- initial trials -------------------------------------------------------------------------------------
INITIAL_TRIAL_SPACE = TINY_CNN_SPACE + """
initial_trials:
  - {architecture: cnn, augmentation: none, optimizer: adam, params: {cnn.filters: 12, adam.learning_rate: 0.005}}
"""


def is_the_initial_trial(row: dict) -> bool:
    return row["cnn.filters"] == 12 and row["adam.learning_rate"] == 0.005


def test_initial_trials_run_first_and_once_across_a_resume(tmp_path):
    space = write_space(tmp_path / "space.yaml", INITIAL_TRIAL_SPACE)
    run_dir = tmp_path / "run"
    args = ["search", "builtin:digits", "--space", space, "--out", run_dir, "--quiet", "--seed", 0]
    proc = run_cli(*args, "--trials", 2)
    assert "starting with 1 known-good configuration" in proc.stdout + proc.stderr
    rows = sorted(leaderboard_rows(run_dir), key=lambda r: r["trial"])
    assert is_the_initial_trial(rows[0]) and rows[0]["status"] == "complete", rows[0]
    run_cli(*args, "--trials", 3)  # the resumed run finds the configuration in the study: not queued again
    rows = leaderboard_rows(run_dir)
    assert len(rows) == 3 and sum(map(is_the_initial_trial, rows)) == 1

    plain = tmp_path / "plain"
    run_cli("search", "builtin:digits", "--space", space, "--out", plain, "--quiet", "--trials", 1,
            "--no-initial-trials")
    assert not is_the_initial_trial(leaderboard_rows(plain)[0])
    proc = run_cli(*args[:4], "--out", plain, "--trials", 1, check=False)  # the option is part of the experiment
    assert proc.returncode == 2 and "space" in proc.stderr


def test_initial_trials_are_queued_once_and_never_pruned(tmp_path):
    import yaml

    from automl.backends import open_backend
    from automl.plugin_manager import build_registry
    from automl.search_space import SearchSpace
    from automl.trainer import COMPLETE, TrialResult

    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict(yaml.safe_load(INITIAL_TRIAL_SPACE), registry)
    [(candidate, sampled)] = space.initial_candidates(registry, "image")
    # The median pruner stops a trial below the median of the finished ones from step 3 on.
    backend = open_backend("optuna", tmp_path, space, registry, "image", sampler="random", pruner="median",
                           seed=0, expected_trials=None)

    def run_trial(handle, value: float) -> list[bool]:
        verdicts = [handle.reporter.report(epoch, value) for epoch in range(4)]
        backend.tell(handle, TrialResult(COMPLETE, objective=value), {"trial": handle.number, "status": COMPLETE})
        return verdicts

    for _ in range(3):
        assert not any(run_trial(backend.ask(), 0.9))
    assert backend.enqueue_initial([sampled]) == 1
    assert backend.enqueue_initial([sampled]) == 0  # already queued
    initial = backend.ask()
    assert initial.candidate == candidate
    assert not any(run_trial(initial, 0.1))  # far below the median, but an initial trial runs to its end
    assert backend.enqueue_initial([sampled]) == 0  # already run
    assert any(run_trial(backend.ask(), 0.1))  # the same scores stop a sampled trial


# --- ensembles ------------------------------------------------------------------------------------------
def test_search_with_ensemble_exports_the_average_of_the_best_trials(tmp_path, tiny_cnn_space):
    run_dir = tmp_path / "run"
    args = ["search", "builtin:digits", "--space", tiny_cnn_space, "--trials", 3, "--out", run_dir, "--quiet",
            "--pruner", "none", "--ensemble", 2]
    proc = run_cli(*args)
    ranked = sorted((r for r in leaderboard_rows(run_dir) if r["rank"]), key=lambda r: r["rank"])
    card_path = RunDirectory(run_dir).best / "model_card.json"
    card = json.loads(card_path.read_text())
    assert card["ensemble"]["trials"] == [r["trial"] for r in ranked[:2]]
    assert f"average of trials {ranked[0]['trial']}, {ranked[1]['trial']}" in proc.stdout
    assert {"keras", "saved_model"} <= set(card["verification"])
    written = card_path.stat().st_mtime_ns
    run_cli(*args)  # a finished run with the same best trials is not exported again
    assert card_path.stat().st_mtime_ns == written


def test_ensemble_larger_than_the_kept_models_is_refused_up_front(tmp_path):
    proc = run_cli("search", "builtin:digits", "--ensemble", 4, "--top-k", 3, "--out", tmp_path / "run", check=False)
    assert proc.returncode == 2 and "--ensemble" in proc.stderr and "--top-k (3" in proc.stderr
    assert not (tmp_path / "run").exists()


# --- preflight through the CLI, and the Python API -------------------------------------------------------
def test_missing_data_is_a_named_error_without_traceback(tmp_path):
    proc = run_cli("search", tmp_path / "nope", "--out", tmp_path / "run", check=False)
    assert proc.returncode == 2
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()  # nothing is created before the preflight passes


def test_unknown_plugin_in_space_lists_installed_names(tmp_path):
    space = write_space(tmp_path / "space.yaml", "architectures: [cnnn]\n")
    proc = run_cli("search", "builtin:digits", "--space", space, "--out", tmp_path / "run", check=False)
    assert proc.returncode == 2
    assert "cnnn" in proc.stderr and "cnn" in proc.stderr and "mlp" in proc.stderr


def test_python_api_matches_the_cli(tmp_path, tiny_cnn_space):
    import automl

    result = automl.search("builtin:digits", out=str(tmp_path / "run"), space=str(tiny_cnn_space), trials=2, seed=1)
    frame = result.leaderboard_
    assert len(frame) == 2 and list(frame.columns[:4]) == ["rank", "trial", "status", "reason"]
    assert result.best_trial_ == int(frame.loc[frame["rank"] == 1, "trial"].iloc[0])
    predictions = result.best_model_.predict(result.dataset.x_test[:5], verbose=0)
    assert predictions.shape == (5, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_the_default_ensemble_never_exceeds_the_kept_models():
    from automl.search_engine import DEFAULT_ENSEMBLE, Experiment

    default, single = Experiment("builtin:digits"), Experiment("builtin:digits", top_k=1)
    default.validate()
    single.validate()
    assert (default.ensemble, single.ensemble) == (DEFAULT_ENSEMBLE, 1)
