"""What every benchmark script shares: the environment of the runs it starts, versions, and how a result is
stored in ``results.json``.

Every result is a dict with its key's ``value``, the ``goal`` it is measured against, whether it was
``met``, the ``command`` that produced it, the ``date``, ``versions`` and ``machine``, and the details the
script measured on the way.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_FILE = HERE / "results.json"
QUICK_RESULTS_FILE = HERE / "results-quick.json"
# Plugins of whatever else is installed must not change what is measured; TensorFlow's INFO lines are noise.
ENV = {**os.environ, "AUTOML_DISABLE_PLUGIN_AUTOLOAD": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}

# The goals of issue 7, each with the direction that meets it.
GOALS: dict[str, tuple[str, float]] = {
    "engine_speedup_vs_plain_fit": (">=", 1.5),
    "digits_test_accuracy_5min": (">=", 0.993),
    "time_to_target_ratio": ("<=", 0.3),
    "bookkeeping_share": ("<", 0.01),
    "rss_mb_per_trial": ("<=", 1.0),
    "trials_per_hour_2_workers": (">=", 1500.0),
    # Image folders (image_memory.py, image_pipeline.py).
    "image_memory_peak_gb_1_worker": ("<=", 3.0),
    "image_memory_peak_gb_2_workers": ("<=", 4.0),
    "image_memory_growth_vs_cache": ("<=", 1.0),
    "image_decode_speedup": (">=", 1.5),
    "image_cache_hit_share": ("<=", 0.10),
    # Photos (photos_quality.py): automl's mean held-out accuracy minus the better peer's.
    "photos_test_accuracy_margin": (">=", 0.03),
}


def versions() -> dict[str, str]:
    """Versions of what the figures depend on (imports TensorFlow: call it once the work is done)."""
    import keras
    import numpy
    import optuna
    import tensorflow

    import automl

    found = {"automl": automl.__version__, "tensorflow": tensorflow.__version__, "keras": keras.__version__,
             "optuna": optuna.__version__, "numpy": numpy.__version__, "python": platform.python_version()}
    try:
        import keras_tuner

        found["keras_tuner"] = keras_tuner.__version__
    except ImportError:
        pass
    return found


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}"


def automl_cli(*args: Any, env: dict[str, str] | None = None, timeout: float | None = None) -> str:
    """Run ``automl ARGS`` the way a user does (a new process), return its stdout; raise with its output."""
    proc = subprocess.run([sys.executable, "-m", "automl", *map(str, args)], env=env or ENV, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"automl {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-4000:]}")
    return proc.stdout


def leaderboard_rows(run_dir: Path) -> list[dict[str, Any]]:
    return json.loads(automl_cli("leaderboard", run_dir, "--json"))


def goal_met(key: str, value: float | None) -> bool | None:
    if key not in GOALS or value is None:
        return None
    op, goal = GOALS[key]
    return {">=": value >= goal, "<=": value <= goal, "<": value < goal}[op]


def result(key: str, value: float | None, command: str, **details: Any) -> dict[str, Any]:
    """One key's result, stamped with its goal, command, date, versions and machine."""
    op, goal = GOALS.get(key, (None, None))
    return {"value": value, "goal": f"{op} {goal}" if op else None, "met": goal_met(key, value),
            "command": command, "date": date.today().isoformat(), "versions": versions(), "machine": machine(),
            **details}


def store(results: dict[str, dict[str, Any]], *, quick: bool) -> Path:
    """Merge ``results`` (key → result) into the results file, atomically; other keys are kept."""
    path = QUICK_RESULTS_FILE if quick else RESULTS_FILE
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing.update(results)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    partial.replace(path)
    return path
