"""The ``automl`` CLI's cheap commands: ``--help``, ``plugins`` and ``spaces``.

They run in real subprocesses; listing plugins must never import TensorFlow or Keras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from automl.plugin_manager import (
    BUILTIN_SOURCE,
    ENV_DISABLE_AUTOLOAD,
    ENV_DISABLED_PLUGINS,
    ENV_PLUGINS_DIR,
    build_registry,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED_SPACES = ("quick", "image_default", "tabular_default")
HEAVY_MODULES = ("tensorflow", "keras", "keras_tuner")


def clean_env(**updates: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in (ENV_DISABLE_AUTOLOAD, ENV_DISABLED_PLUGINS, ENV_PLUGINS_DIR, "PYTHONPATH")}
    env[ENV_DISABLE_AUTOLOAD] = "1"  # only the built-ins, whatever else is installed here
    env.update(updates)
    return env


def automl_command() -> list[str]:
    script = Path(sys.executable).with_name("automl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "automl"]


def run_automl(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*automl_command(), *args], env=clean_env(**env), capture_output=True, text=True,
                          timeout=120, cwd=REPO)


@pytest.fixture(scope="module")
def builtins() -> dict[str, str]:
    """Built-in plugin name -> family, from the registry itself (loggers and backends included: they are listed
    too)."""
    registry = build_registry(autoload=False)
    entries = registry.all_entries() + registry.logger_entries() + registry.backend_entries()
    return {entry.name: entry.family for entry in entries}


def test_help_is_fast():
    run_automl("--help")  # warm the file-system caches; the second run is what a user sees
    start = time.perf_counter()
    result = run_automl("--help")
    elapsed = time.perf_counter() - start
    print(f"\n`automl --help` took {elapsed:.3f} s")
    assert result.returncode == 0, result.stderr
    for command in ("search", "plugins", "spaces", "leaderboard"):
        assert command in result.stdout
    assert elapsed < 2.0, f"`automl --help` took {elapsed:.2f} s; it must not import the ML stack"


def test_help_and_plugins_do_not_import_tensorflow_or_keras():
    script = textwrap.dedent(f"""\
        import contextlib, io, json, sys
        from automl.cli import app

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                app(["--help"], standalone_mode=False)
            except SystemExit:
                pass
            app(["plugins"], standalone_mode=False)
            app(["plugins", "--json"], standalone_mode=False)
        text = out.getvalue()
        heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]
        print(json.dumps({{"heavy": heavy, "listed_cnn": "cnn" in text, "has_json": '"family"' in text}}))
        """)
    result = subprocess.run([sys.executable, "-c", script], env=clean_env(), capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"heavy": [], "listed_cnn": True, "has_json": True}


def test_importtime_of_plugins_command_excludes_tensorflow():
    """The same claim, seen by the interpreter: ``-X importtime`` logs every module imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "automl", "plugins", "--json"],
                            env=clean_env(), capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    # (modules loaded with importlib.import_module, like the built-in plugin modules, are not logged)
    assert {"automl.plugin_manager", "automl.hp"} <= imported, "the plugins command did not run"
    assert not {m for m in imported if m.split(".")[0] in HEAVY_MODULES}


def test_plugins_json_lists_every_builtin_with_its_fields(builtins):
    result = run_automl("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    for row in rows:
        assert {"name", "family", "source", "tasks", "hyperparameters"} <= set(row), row
        assert isinstance(row["tasks"], list) and row["tasks"]
        assert isinstance(row["hyperparameters"], dict)
    listed = {row["name"]: row for row in rows}
    assert {name: row["family"] for name, row in listed.items()} == builtins
    assert all(row["source"] == BUILTIN_SOURCE for row in rows)
    # the hyperparameters are the ones each plugin declares, described by the backend-neutral interface
    assert listed["cnn"]["hyperparameters"]["filters"].startswith("int [")
    assert listed["cnn"]["hyperparameters"]["filters"].endswith(" log")
    assert listed["adam"]["hyperparameters"]["learning_rate"].startswith("float [")
    assert listed["none"]["hyperparameters"] == {}
    assert listed["mlp"]["tasks"] == ["image", "tabular"] and listed["cnn"]["tasks"] == ["image"]
    families = [row["family"] for row in rows]
    assert sum(f == "architecture" for f in families) >= 4
    assert sum(f == "augmentation" for f in families) >= 6
    assert sum(f == "optimizer" for f in families) >= 5
    assert listed["tensorboard"]["family"] == listed["mlflow"]["family"] == "logger"
    assert listed["optuna"]["family"] == listed["kerastuner"]["family"] == "backend"
    assert listed["optuna"]["samplers"][0] == "tpe" and listed["kerastuner"]["pruners"] == ["none"]


def test_plugins_table_lists_every_builtin(builtins):
    result = run_automl("plugins", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    names, families = set(), set()
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 6:  # │ family │ name │ tasks │ source │ hyperparameters │
            families.add(cells[1])
            names.add(cells[2])
    names.discard("")
    names.discard("name")
    assert names == set(builtins)
    assert {"architecture", "augmentation", "optimizer"} <= families
    assert f"{len(builtins)} plugins" in result.stdout
    assert result.stderr == ""


def test_spaces_lists_every_shipped_space():
    result = run_automl("spaces")
    assert result.returncode == 0, result.stderr[-1500:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert set(SHIPPED_SPACES) <= {line.split()[0] for line in lines}
    # each line carries the file's description
    assert all(len(line.split()) > 3 for line in lines if line.split()[0] in SHIPPED_SPACES)
