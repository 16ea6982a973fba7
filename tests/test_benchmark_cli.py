"""`automl benchmark optimizers|samplers` through the real CLI: real training, real searches, tiny sizes."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import time
from pathlib import Path

import pytest
from helpers import AUTOML, ENV, assert_real_png, run_cli

OPTIMIZERS = ["adam", "sgd", "rmsprop", "lion", "nadam"]
TINY_SPACE = """
architectures:
  mlp: {layers: 1, units: {low: 16, high: 64}}
augmentations: [none]
optimizers:
  adam: {learning_rate: {low: 0.003, high: 0.01}, schedule: constant}
training: {batch_size: 64, max_epochs: 3, patience: 2}
"""


def optimizer_command(out: Path, epochs: int = 2) -> list:
    return ["benchmark", "optimizers", "builtin:digits", "--architectures", "mlp", "--optimizers",
            ",".join(OPTIMIZERS), "--seeds", 3, "--epochs", epochs, "--out", out, "--quiet"]


@pytest.fixture(scope="module")
def optimizer_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, dict[str, int]]:
    """The benchmark killed (SIGKILL) after its first cells were stored, then the same command again."""
    out = tmp_path_factory.mktemp("benchmark") / "optimizers"
    first = subprocess.Popen([*AUTOML, *map(str, optimizer_command(out))], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=ENV)
    try:
        deadline = time.monotonic() + 400
        while len(list(out.glob("cells/*.json"))) < 4:
            assert first.poll() is None, "the benchmark ended before it could be interrupted"
            assert time.monotonic() < deadline, "no cell was stored in time"
            time.sleep(0.2)
    finally:
        first.kill()
        first.wait()
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("cells/*.json")}
    return out, run_cli(*optimizer_command(out)), kept


def test_optimizer_table_has_every_optimizer_with_rank_and_significance(optimizer_run):
    out, proc, _ = optimizer_run
    results = json.loads((out / "results.json").read_text())
    rows = results["tables"]["mlp"]
    assert sorted(r["name"] for r in rows) == sorted(OPTIMIZERS)
    assert all(r["n"] == 3 and len(r["values"]) == 3 for r in rows)
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows) and rows[0]["rank"] == 1
    assert all(1 <= r["rank"] <= 5 for r in rows)
    best = rows[0]
    assert best["is_best"] and best["p_value"] is None
    for row in rows:
        assert math.isclose(row["mean"], sum(row["values"]) / 3, rel_tol=1e-9)
        assert 0.0 <= row["min"] <= row["median"] <= row["max"] <= 1.0
        assert row["mean"] <= best["mean"]
    for row in rows[1:]:
        assert 0.0 <= row["p_value"] <= 1.0 and row["p_value"] <= row["p_holm"] <= 1.0
        assert row["significantly_worse"] == (row["p_value"] < 0.05 and row["mean"] < best["mean"])
    # Every optimizer ran at its plugin's default learning rate, and the report says so.
    defaults = {"adam": 1e-3, "sgd": 3e-2, "rmsprop": 1e-3, "lion": 1e-4, "nadam": 1e-3}
    assert {r["name"]: r["learning_rate"] for r in rows} == defaults
    with (out / "results.csv").open() as handle:
        cells = list(csv.DictReader(handle))
    assert sorted((c["optimizer"], c["seed"]) for c in cells) == sorted(
        (o, str(s)) for o in OPTIMIZERS for s in range(3))
    assert all(c["status"] == "complete" and c["epochs"] == "2" for c in cells)
    assert all(0.0 <= float(c["test_accuracy"]) <= 1.0 for c in cells)
    report = (out / "report.md").read_text()
    assert "default learning rate" in report and "early stopping **off**" in report
    assert "p vs best (welch)" in report and "significantly worse (p<0.05)" in report
    for row in rows:  # one row per optimizer in the architecture's table: rank, name, learning rate, n, ...
        assert f"| {row['rank']} | `{row['name']}` | {row['learning_rate']:.3g} | 3 | {row['mean']:.4f} ± " in report
    page = (out / "report.html").read_text()
    assert "<table>" in page and 'src="plots/curves_mlp.png"' in page and 'src="plots/scores_mlp.png"' in page
    assert "mean ± std" in proc.stdout


def test_an_interrupted_benchmark_continues_where_it_stopped(optimizer_run):
    out, proc, kept = optimizer_run
    assert 4 <= len(kept) < 15
    # The cells stored before the kill were reused, not trained again; only the missing ones ran.
    assert f"15 cells done: {15 - len(kept)} run now, {len(kept)} reused" in proc.stdout
    assert {name: (out / "cells" / name).stat().st_mtime_ns for name in kept} == kept
    assert len(list(out.glob("cells/*.json"))) == 15


def test_optimizer_plots_are_valid_non_empty_images(optimizer_run):
    out, _, _ = optimizer_run
    assert_real_png(out / "plots" / "curves_mlp.png", min_width=600)
    assert_real_png(out / "plots" / "scores_mlp.png")


def test_rerunning_a_finished_benchmark_trains_nothing(optimizer_run):
    out, _, _ = optimizer_run
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("cells/*.json")}
    proc = run_cli(*optimizer_command(out))
    assert "15 cells done: 0 run now, 15 reused" in proc.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("cells/*.json")} == before  # untouched
    assert len(json.loads((out / "results.json").read_text())["cells"]) == 15

    # Other data, epochs or batch size in the same folder are refused: its results stay comparable.
    proc = run_cli(*optimizer_command(out, epochs=3), expect=2)
    assert "holds a different benchmark" in proc.stderr and "epochs" in proc.stderr


@pytest.mark.parametrize("command, args, expected", [
    ("optimizers", ["--optimizers", "adam,adamx"], "unknown optimizer plugin(s) 'adamx'"),
    ("optimizers", ["--architectures", "transformer"], "unknown architecture plugin(s) 'transformer'"),
    ("optimizers", ["--seeds", "0"], "--seeds must be a whole number of at least 1; got 0"),
    ("optimizers", ["--epochs", "0"], "--epochs must be a whole number of at least 1; got 0"),
    ("optimizers", ["--lr-grid", "0,1"], "--lr-grid takes positive multipliers"),
    ("samplers", ["--samplers", "random"], "write optuna:random or kerastuner:random"),
    ("samplers", ["--samplers", "optuna:annealing"], "unknown sampler 'optuna:annealing'"),
    ("samplers", ["--seeds", "0"], "--seeds must be a whole number of at least 1; got 0"),
])
def test_bad_benchmark_input_is_a_named_error_before_any_training(tmp_path, command, args, expected):
    out = tmp_path / "out"
    proc = run_cli("benchmark", command, "builtin:digits", *args, "--out", out, expect=2)
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # nothing was started


@pytest.mark.slow  # five real searches; the optimizer benchmark's tests cover the plots and tables by default
def test_sampler_benchmark_draws_best_so_far_curves_and_a_table(tmp_path):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE)
    out = tmp_path / "samplers"
    proc = run_cli("benchmark", "samplers", "builtin:digits", "--samplers", "optuna:tpe,kerastuner:hyperband",
                   "--trials", 2, "--seeds", 1, "--space", space, "--out", out, "--quiet")
    assert "2 searches done: 2 run now" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert sorted(r["name"] for r in results["table"]) == ["kerastuner:hyperband", "optuna:tpe"]
    assert sorted(r["rank"] for r in results["table"])[0] == 1
    for run in results["runs"]:
        assert run["complete"] + run["pruned"] + run["failed"] == 2
        seconds = [e["seconds"] for e in run["events"]]
        assert seconds == sorted(seconds) and seconds[0] > 0
        assert 0.0 < run["final_best"] <= 1.0 and run["final_best"] == max(p[1] for p in run["points"])
        assert 0 < run["time_to_best"] <= run["last_trial_seconds"] <= run["search_seconds"]
    assert_real_png(out / "plots" / "best_so_far.png", min_width=500)
    report = (out / "report.md").read_text()
    assert "final best val_accuracy mean ± std" in report and "`optuna:tpe`" in report
    assert "`kerastuner:hyperband`" in report and "plots/best_so_far.png" in report
    assert (out / "report.html").is_file() and (out / "results.csv").is_file()

    proc = run_cli("benchmark", "samplers", "builtin:digits", "--samplers", "optuna:tpe,kerastuner:hyperband",
                   "--trials", 2, "--seeds", 1, "--space", space, "--out", out, "--quiet")
    assert "2 searches done: 0 run now, 2 reused" in proc.stdout
