"""The leaderboard keeps each hyperparameter as it was sampled, in every output (CSV, Markdown, JSON rows)."""

from __future__ import annotations

import csv
import io
import json

from automl import leaderboard
from automl.run_dir import RunDirectory


def record(trial: int, architecture: str, params: dict, objective: float | None = 0.9, status: str = "complete"):
    return {"trial": trial, "status": status, "objective": objective, "val_accuracy": objective, "val_loss": 0.3,
            "epochs": 4, "best_epoch": 3, "param_count": 1000, "train_seconds": 1.5, "seed": trial,
            "plugin_versions": {architecture: "automl-sepnet==0.3.0" if architecture == "sepnet" else "built-in 0.1.0"},
            "candidate": {"architecture": architecture, "augmentation": "none", "optimizer": "adam",
                          "batch_size": 32, "params": params}}


RECORDS = [
    record(0, "sepnet", {"sepnet.kernel_size": 3, "sepnet.blocks": 2, "sepnet.head": "pool", "sepnet.dense": True,
                         "adam.learning_rate": 0.001}),
    record(1, "mlp", {"mlp.units": 128, "mlp.dropout": 0.25, "adam.learning_rate": 0.002}, objective=0.95),
    record(2, "sepnet", {"sepnet.kernel_size": 5, "sepnet.blocks": 1, "sepnet.head": "dense", "sepnet.dense": False,
                         "adam.learning_rate": 0.003}, status="pruned"),
]


def test_integer_hyperparameters_stay_integers_beside_missing_values(tmp_path):
    frame = leaderboard.build(RECORDS, "maximize")
    leaderboard.write(frame, tmp_path)
    with open(RunDirectory(tmp_path).leaderboard_csv) as handle:
        rows = {row["trial"]: row for row in csv.DictReader(handle)}
    assert (rows["0"]["sepnet.kernel_size"], rows["2"]["sepnet.kernel_size"], rows["1"]["sepnet.kernel_size"]) == \
        ("3", "5", "")
    assert rows["1"]["mlp.units"] == "128" and rows["1"]["mlp.dropout"] == "0.25"
    assert rows["0"]["sepnet.dense"] == "True" and rows["2"]["sepnet.head"] == "dense"
    assert json.loads(rows["0"]["plugin_versions"]) == {"sepnet": "automl-sepnet==0.3.0"}

    json_rows = {row["trial"]: row for row in leaderboard.to_records(frame)}
    assert json_rows[0]["sepnet.kernel_size"] == 3 and isinstance(json_rows[0]["sepnet.kernel_size"], int)
    assert json_rows[1]["sepnet.kernel_size"] is None and json_rows[0]["sepnet.dense"] is True
    assert "| 1 | 1 | complete |" in RunDirectory(tmp_path).leaderboard_md.read_text()


def test_ranking_puts_complete_trials_first_by_objective():
    frame = leaderboard.build(RECORDS, "maximize")
    assert list(frame["trial"]) == [1, 0, 2] and list(frame["rank"].astype("object")[:2]) == [1, 2]
    assert frame["rank"].isna().iloc[2]  # pruned: not ranked
    text = io.StringIO()
    frame.to_csv(text, index=False)
    assert ",3.0," not in text.getvalue() and ",5.0," not in text.getvalue()
