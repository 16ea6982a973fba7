"""Search backends are plugins: a third-party one (tests/plugins/backend/json_random.py, written against the
public API only) runs a search end to end, and the backend rules are the plugin's, checked before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import leaderboard_rows, run_cli

from automl import SearchBackend
from automl.backends import find_backend
from automl.errors import ConfigError
from automl.export import CARD_FILE
from automl.plugin_manager import build_registry
from automl.run_dir import RunDirectory
from automl.search_engine import Experiment

BACKEND_PLUGINS = Path(__file__).parent / "plugins" / "backend"


def test_builtin_backends_are_registered_like_any_plugin():
    registry = build_registry(autoload=False)
    entries = {e.name: e for e in registry.backend_entries()}
    assert set(entries) == {"optuna", "kerastuner"}
    assert {e.source for e in entries.values()} == {"built-in"}
    assert find_backend(registry, "optuna").samplers[0] == "tpe"
    assert find_backend(registry, "kerastuner").pruners == ("none",)


def test_a_third_party_backend_runs_a_search_to_a_leaderboard_and_an_export(tmp_path, tiny_mlp_space):
    run = tmp_path / "run"
    args = ("search", "builtin:digits", "--backend", "json_random", "--plugins-dir", BACKEND_PLUGINS,
            "--space", tiny_mlp_space, "--out", run, "--top-k", "1", "--quiet")
    run_cli(*args, "--trials", "3")
    rows = leaderboard_rows(run)
    assert [row["status"] for row in rows] == ["complete"] * 3
    assert all(0.5 < row["val_accuracy"] <= 1 for row in rows)
    assert (RunDirectory(run).best / CARD_FILE).is_file()
    assert RunDirectory(run).read_config()["backend"] == "json_random"
    state = json.loads((run / "json_random.json").read_text())
    assert [t["status"] for t in state["trials"]] == ["complete"] * 3

    run_cli(*args, "--trials", "4")  # resumed by the same plugin: one more trial, the first three kept
    assert sorted(row["trial"] for row in leaderboard_rows(run)) == [0, 1, 2, 3]
    report = run_cli("report", run, "--json")
    assert json.loads(report.stdout)["finished"] == 4
    refused = run_cli("dashboard", run, expect=2)
    assert "json_random backend, which keeps no Optuna study" in refused.stderr


def test_automl_plugins_lists_a_backend_with_its_samplers_and_pruners():
    rows = json.loads(run_cli("plugins", "--json", "--plugins-dir", BACKEND_PLUGINS).stdout)
    backend = next(row for row in rows if row["name"] == "json_random")
    assert backend["family"] == "backend" and backend["samplers"] == ["random"] and backend["pruners"] == ["none"]


@pytest.mark.parametrize(("options", "message"), [
    ({"backend": "nope"}, "unknown backend 'nope'; installed backends: json_random, kerastuner, optuna"),
    ({"backend": "json_random", "sampler": "tpe"}, "--sampler 'tpe' is not a json_random sampler; choose one of: "
                                                   "random."),
    ({"backend": "json_random", "pruner": "median"}, "--pruner 'median' does not apply to the json_random backend"),
    ({"backend": "json_random", "workers": 2}, "--workers 2 needs a backend whose storage several processes share"),
    ({"backend": "json_random", "storage": "sqlite:///x.db"}, "the json_random backend keeps its state in files"),
])
def test_the_backend_refuses_what_it_cannot_serve(options, message):
    registry = build_registry(plugins_dir=BACKEND_PLUGINS, autoload=False)
    experiment = Experiment.from_options({"data": "builtin:digits", **options})
    experiment.validate()
    with pytest.raises(ConfigError) as caught:
        experiment.choose_backend(registry)
    assert message in str(caught.value)


def test_a_wrong_backend_name_fails_before_the_run_directory_is_written(tmp_path):
    proc = run_cli("search", "builtin:digits", "--backend", "optunaa", "--out", tmp_path / "run", expect=2)
    assert "unknown backend 'optunaa'" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_a_backend_plugin_without_samplers_is_reported_and_skipped(tmp_path):
    class NoSamplers(SearchBackend):
        name = "no_samplers"
        samplers = ()

    registry = build_registry(autoload=False, plugins=[NoSamplers()])
    assert "no_samplers" not in registry.names("backend")
    assert any("samplers ()" in str(problem) for problem in registry.problems)
