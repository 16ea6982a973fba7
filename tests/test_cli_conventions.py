"""Command-line conventions a script can rely on: help with defaults, --version, exit statuses, --json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from helpers import AUTOML

ENV = {**os.environ, "AUTOML_DISABLE_PLUGIN_AUTOLOAD": "1", "COLUMNS": "200"}
# Options whose absence is their default (a flag that is off, a value the user must choose).
NO_DEFAULT_NEEDED = {"--help", "-q", "--quiet", "--json", "--target"}


def automl(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*AUTOML, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout)


def option_help(text: str) -> dict[str, str]:
    """--option -> its help text, from click's plain help layout."""
    options: dict[str, str] = {}
    current = None
    for line in text.split("Options:", 1)[1].splitlines():
        match = re.match(r"\s{2}(-\S+)(.*)", line)
        if match:
            current = match.group(1).rstrip(",")
            options[current] = match.group(2)
        elif current and line.strip():
            options[current] += " " + line.strip()
    return options


def test_search_help_shows_every_default_and_flags_as_flags():
    proc = automl("search", "--help")
    assert proc.returncode == 0
    options = option_help(proc.stdout)
    assert len(options) > 30
    missing = [name for name, text in options.items()
               if "[default:" not in text and name not in NO_DEFAULT_NEEDED and "/--no-" not in text]
    assert not missing, missing
    assert "<bool>" not in proc.stdout  # flags take no value
    assert re.search(r"^\s+--json\s{2,}", proc.stdout, re.M)


def test_version_and_fast_help():
    proc = automl("--version")
    assert proc.returncode == 0 and re.fullmatch(r"automl \d+\.\d+\.\d+\n", proc.stdout)
    started = time.perf_counter()
    assert automl("--help").returncode == 0  # a fresh interpreter: never TensorFlow, pandas or Optuna
    print(f"automl --help: {time.perf_counter() - started:.2f} s")
    check = subprocess.run([sys.executable, "-c", "import sys, automl.cli; print(sorted(m for m in "
                            "('tensorflow', 'keras', 'pandas', 'optuna') if m in sys.modules))"],
                           capture_output=True, text=True, env=ENV, check=True)
    assert check.stdout.strip() == "[]"


@pytest.mark.parametrize("args, said", [
    (["search", "builtin:digits", "--trials", "many"], "Invalid value for '--trials'"),
    (["search", "builtin:digits", "--no-such-option"], "No such option"),
    (["leaderboard"], "Missing argument"),
    (["search", "builtin:digits", "--time-budget", "soon"], "time_budget (--time-budget) looks like 90"),
    (["search", "builtin:digits", "--image-size", "big"], "image_size (--image-size) takes HEIGHTxWIDTH"),
    (["search", "builtin:nope"], "Unknown builtin data set"),
])
def test_usage_mistakes_and_bad_input_exit_2_without_a_traceback(tmp_path, args, said):
    proc = automl(*args, "--out", tmp_path / "run") if args[0] == "search" else automl(*args)
    assert proc.returncode == 2, proc.stderr
    assert said in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["spaces", "--json"], ["plugins", "--json"]])
def test_json_listings_parse(command):
    proc = automl(*command)
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    assert rows and all("name" in row for row in rows)


def test_the_live_display_shows_each_running_trial_of_several_workers():
    from types import SimpleNamespace

    from automl.progress import RichProgress

    display = RichProgress()
    display.start(4, 0, None)
    candidate = SimpleNamespace(architecture="cnn", augmentation="none", optimizer="adam", max_epochs=5)
    display.trial_started(1, candidate, 0)
    display.trial_started(2, candidate, 0)
    display.epoch_end(0, 5, {"val_accuracy": 0.5}, trial=2)
    display.epoch_end(1, 5, {"val_accuracy": 0.6}, trial=2)
    display.epoch_end(0, 5, {"val_accuracy": 0.4}, trial=1)
    shown = {task.description: task.completed for task in display.progress.tasks if task.id in
             display.trial_tasks.values()}
    assert shown == {"trial 1": 1, "trial 2": 2}  # one bar per worker's trial, not one flipping between them
    display.trial_finished({"trial": 1, "status": "complete", "val_accuracy": 0.9}, 1, 0.9)
    assert list(display.trial_tasks) == [2]
    display.close()


def test_tensorflow_native_lines_are_filtered_and_real_errors_pass(capfd):
    from automl.keras_backend import native_logs_filtered

    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        "I0000 00:00:1796409323.497815   21075 port.cc:153] oneDNN custom operations are on.\n",
        "I0000 00:00:1796409323.498310   21075 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n",
        "E0000 00:00:1796409328.082425   21075 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n",
        "2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not find cuda\n",
    ]
    real = ["E0000 00:00:1796409328.1   21075 op_kernel.cc:1830] OP_REQUIRES failed: out of memory\n",
            "Traceback (most recent call last):\n"]
    with pytest.raises(RuntimeError), native_logs_filtered():
        for line in noise[:3] + real[:1] + noise[3:] + real[1:]:
            os.write(2, line.encode())
        raise RuntimeError("the block failed")  # what was written is still passed on
    assert capfd.readouterr().err == "".join(real)
