"""The run directory's layout (automl.run_dir): the one module that spells its file names."""

from __future__ import annotations

import json

import pytest

from automl.errors import RunDirectoryError
from automl.run_dir import RunDirectory, read_config, read_test_metrics


def test_every_path_of_a_run_lies_inside_it_under_the_documented_name(tmp_path):
    run = RunDirectory(tmp_path / "run")
    assert run.root == tmp_path / "run" and RunDirectory(str(tmp_path / "run")) == run
    named = {run.config: "config.yaml", run.journal: "study.journal", run.leaderboard_csv: "leaderboard.csv",
             run.leaderboard_md: "leaderboard.md", run.test_metrics: "test_metrics.json", run.lock: ".lock",
             run.best: "best", run.trials: "trials", run.report: "report", run.exports: "exports"}
    for path, name in named.items():
        assert path == run.root / name
    assert run.trial_model(7) == run.root / "trials" / "0007" / "model.keras"
    assert run.checkpoint(12) == run.root / "checkpoints" / "0012"
    assert run.warm_start(3) == run.root / "checkpoints" / "warm" / "0003.weights.h5"
    # A pending model is outside every trial's folder, and two processes never share one.
    assert run.pending_model(7).parent == run.pending and run.pending.parent == run.trials
    assert run.pending_model(7).name.startswith("0007.") and run.pending_model(7).suffix == ".keras"


def test_a_folder_without_config_is_not_a_run_and_says_what_to_pass(tmp_path):
    run = RunDirectory(tmp_path)
    assert not run.is_run()
    with pytest.raises(RunDirectoryError, match=r"is not an automl run directory \(it has no config\.yaml\); pass "
                                                r"the --out folder"):
        read_config(tmp_path)
    run.config.write_text("- just\n- a list\n")
    with pytest.raises(RunDirectoryError, match=r"config\.yaml holds a list, not an experiment"):
        run.read_config()
    run.config.write_text("data: builtin:digits\ntrials: 3\n")
    assert run.is_run() and read_config(tmp_path) == {"data": "builtin:digits", "trials": 3}


def test_test_metrics_are_read_by_trial_number_and_none_before_the_end(tmp_path):
    run = RunDirectory(tmp_path)
    assert read_test_metrics(tmp_path) == {}
    run.test_metrics.write_text(json.dumps({"4": {"accuracy": 0.9}, "11": {"accuracy": 0.8}}))
    assert run.read_test_metrics() == {4: {"accuracy": 0.9}, 11: {"accuracy": 0.8}}


def test_kept_trials_are_the_trial_folders_holding_a_model(tmp_path):
    run = RunDirectory(tmp_path)
    assert run.kept_trials() == []
    for number in (12, 3):
        run.trial_model(number).parent.mkdir(parents=True)
        run.trial_model(number).write_bytes(b"model")
    (run.trials / "0005").mkdir()  # a folder whose model was removed: not kept
    assert run.kept_trials() == [3, 12]
