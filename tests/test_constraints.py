"""Deployment limits (--max-params, --max-latency-ms): a trial over a limit is pruned with the reason, and the
export meets the limit, an averaged ensemble included."""

from __future__ import annotations

import json

import pytest
from helpers import TINY_MLP_SPACE, leaderboard_rows, run_cli

from automl.errors import SearchSpaceError
from automl.export import CARD_FILE, ensemble_members
from automl.plugin_manager import build_registry
from automl.run_dir import RunDirectory
from automl.search_space import Constraints, SearchSpace

# A one-layer MLP on the 8x8 digits whose width is searched: 64 -> units -> 10 has 75 * units + 10 parameters,
# so a limit of 3,000 parameters admits up to 39 units and refuses the rest of 16..128.
WIDTH_SPACE = TINY_MLP_SPACE.replace("units: 32", "units: {low: 16, high: 128}")


def test_a_trial_over_max_params_is_pruned_before_training_and_the_export_meets_the_limit(tmp_path):
    """A generous latency limit beside it: every complete trial has its latency measured and recorded."""
    space = tmp_path / "space.yaml"
    space.write_text(WIDTH_SPACE)
    run = tmp_path / "run"
    proc = run_cli("search", "builtin:digits", "--space", space, "--out", run, "--trials", 6, "--max-params", 3000,
                   "--max-latency-ms", 1000, "--sampler", "random", "--no-initial-trials")
    assert "deployment limit: at most 3,000 parameters and 1000 ms a prediction" in proc.stdout + proc.stderr
    rows = leaderboard_rows(run)
    complete = [r for r in rows if r["status"] == "complete"]
    over = [r for r in rows if r["param_count"] and r["param_count"] > 3000]
    assert complete and over, rows  # the seed samples both kinds: the test sees each
    assert all(r["param_count"] <= 3000 and 0 < r["latency_ms"] < 1000 for r in complete)
    for row in over:
        assert row["status"] == "pruned" and row["epochs"] == 0
        assert row["reason"] == f"params {row['param_count']:,} > 3,000 (--max-params)"
    card = json.loads((RunDirectory(run).best / CARD_FILE).read_text())
    members = (card.get("ensemble") or {}).get("trials") or [card["trial"]]
    params = {r["trial"]: r["param_count"] for r in rows}
    assert sum(params[m] for m in members) <= 3000  # an average of several would add their parameters up


def test_a_latency_limit_prunes_after_the_first_epoch_and_records_the_latency(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(TINY_MLP_SPACE)
    run = tmp_path / "run"
    proc = run_cli("search", "builtin:digits", "--space", space, "--out", run, "--trials", 2, "--max-latency-ms",
                   0.0001, "--workers", 0, expect=1)
    assert "no trial completed" in proc.stderr
    rows = leaderboard_rows(run)
    assert [r["status"] for r in rows] == ["pruned", "pruned"]
    for row in rows:
        assert row["epochs"] == 1 and row["latency_ms"] > 0.0001 and row["val_accuracy"] > 0.1  # its epoch's scores
        assert row["reason"] == f"latency {row['latency_ms']:.2f} ms > 0.0001 ms (--max-latency-ms)"
    assert not (RunDirectory(run).best / CARD_FILE).exists()  # no trial met the limit: nothing is exported


def test_an_ensemble_stops_before_the_member_that_would_break_a_limit():
    ranked = [{"trial": n, "val_accuracy": 0.9, "param_count": 1000, "latency_ms": 1.0, "candidate": {}}
              for n in range(3)]
    assert [m["trial"] for m in ensemble_members(ranked, 3)] == [0, 1, 2]
    assert [m["trial"] for m in ensemble_members(ranked, 3, Constraints(max_params=2500))] == [0, 1]
    assert [m["trial"] for m in ensemble_members(ranked, 3, Constraints(max_latency_ms=1.5))] == [0]


@pytest.mark.parametrize(("training", "message"), [
    ({"max_params": 0}, "max_params: expected the most parameters"),
    ({"max_params": 1.5}, "max_params: expected the most parameters"),
    ({"max_latency_ms": -1}, "max_latency_ms: expected the longest batch-1 prediction"),
])
def test_a_wrong_limit_in_the_space_is_named(training, message):
    with pytest.raises(SearchSpaceError, match=message):
        SearchSpace.from_dict({"training": training}, build_registry(autoload=False))


def test_a_limit_on_the_command_line_must_be_positive(tmp_path):
    proc = run_cli("search", "builtin:digits", "--max-params", 0, "--out", tmp_path / "run", expect=2)
    assert "--max-params must be positive; got 0" in proc.stderr


def test_two_objectives_mark_a_pareto_front_that_the_report_draws(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(WIDTH_SPACE)
    run = tmp_path / "run"
    # Five trials with four random start-up ones: the fifth is proposed by the two-objective TPE.
    proc = run_cli("search", "builtin:digits", "--space", space, "--out", run, "--trials", 5, "--objectives",
                   "val_accuracy,latency_ms", "--no-initial-trials", "--pruner", "none")
    shown = " ".join((proc.stdout + proc.stderr).split())  # the display may wrap a long line anywhere
    assert ("objectives: val_accuracy and latency_ms (both searched by the tpe sampler; pruned on val_accuracy only "
            "when a trial with no higher latency_ms did better)") in shown
    rows = leaderboard_rows(run)
    complete = [r for r in rows if r["status"] == "complete"]
    assert all(r["latency_ms"] > 0 for r in complete)  # measured for every trial, without a limit
    front = [r for r in complete if r["pareto"]]
    assert front and front[0]["rank"] == 1  # the first-ranked trial (the export's) is always on the front
    for row in complete:  # on the front exactly when no better-ranked trial is at most as slow
        dominated = any(o["rank"] < row["rank"] and o["latency_ms"] <= row["latency_ms"] for o in complete)
        assert row["pareto"] is (not dominated)
    run_cli("report", run)
    assert (RunDirectory(run).report / "pareto_front.png").stat().st_size > 10_000


def test_objectives_name_a_second_objective_that_is_measured(tmp_path):
    proc = run_cli("search", "builtin:digits", "--objectives", "val_accuracy,val_loss", "--out", tmp_path / "run",
                   expect=2)
    assert "--objectives takes two names, OBJECTIVE,SECOND, with SECOND one of latency_ms, param_count" in proc.stderr


def test_the_pareto_front_of_records():
    from automl.leaderboard import pareto_front

    records = [{"trial": n, "status": "complete", "objective": acc, "val_loss": 0.3, "latency_ms": ms}
               for n, (acc, ms) in enumerate([(0.9, 2.0), (0.95, 3.0), (0.85, 1.0), (0.88, 2.5), (0.95, 3.5)])]
    assert pareto_front(records, "maximize", "latency_ms") == {0, 1, 2}
    # A tie on the objective goes to the lower val_loss, as on the leaderboard: trial 4 ranks first and stays on
    # the front although trial 1 is as accurate and faster.
    records[4]["val_loss"] = 0.2
    assert pareto_front(records, "maximize", "latency_ms") == {0, 1, 2, 4}
