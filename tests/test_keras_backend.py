"""Searching on the JAX Keras backend: trials train on JAX in the workers, the test evaluation runs, the best
model is exported (SavedModel included) by a TensorFlow-backend process, and `automl predict` / `automl export`
work on the run. Real Keras on both backends, through the real CLI; the search is tiny (2 trials of 2 epochs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import helpers
import numpy as np
import pytest
from helpers import AUTOML, ENV, TINY_CNN_SPACE

from automl.run_dir import RunDirectory

TINY_SPACE = TINY_CNN_SPACE.replace("max_epochs: 4", "max_epochs: 2")

# Makes jax and jaxlib look uninstalled to this one process (as a missing package does), then runs the CLI.
HIDE_JAX = """
import sys
class HideJax:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("jax", "jaxlib"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, HideJax())
from automl.cli import main
sys.argv = ["automl", *sys.argv[1:]]
main()
"""


def run_cli(*args, backend: str | None, check: bool = True, prefix=AUTOML) -> subprocess.CompletedProcess:
    """helpers.run_cli with KERAS_BACKEND set to ``backend`` (left unset for None)."""
    env = {k: v for k, v in ENV.items() if k != "KERAS_BACKEND"}
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return helpers.run_cli(*args, check=check, env=env, prefix=prefix)


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    pytest.importorskip("jax")
    folder = tmp_path_factory.mktemp("jax")
    (folder / "tiny.yaml").write_text(TINY_SPACE)
    run_dir = folder / "run"
    proc = run_cli("search", "builtin:digits", "--space", folder / "tiny.yaml", "--trials", 2, "--seed", 0,
                   "--out", run_dir, "--quiet", backend="jax")
    return run_dir, proc


@pytest.mark.slow  # JAX is opt-in; its search + TensorFlow export runs with the benchmarks
def test_a_search_on_jax_finishes_and_exports_best_from_tensorflow(jax_run):
    run_dir, proc = jax_run
    run = RunDirectory(run_dir)
    config = run.config.read_text()
    assert "keras_backend: jax" in config  # the run records the backend its trials trained on
    rows = json.loads(run_cli("leaderboard", run_dir, "--json", backend=None).stdout)
    assert len(rows) == 2 and all(r["status"] in ("complete", "pruned") for r in rows), rows
    best = next(r for r in rows if r["rank"] == 1)
    assert best["test_accuracy"] is not None and best["test_accuracy"] > 0.5  # the end-of-search test evaluation
    # The export left JAX for a TensorFlow-backend process, which wrote and verified both formats.
    assert "TensorFlow-backend process" in proc.stdout + proc.stderr
    assert (run.best / "model.keras").is_file()
    assert (run.best / "saved_model" / "saved_model.pb").is_file()
    card = json.loads((run.best / "model_card.json").read_text())
    assert set(card["formats"]) == {"keras", "saved_model"} and card["trial"] == best["trial"]
    assert card["verification"]["saved_model"]["argmax_agreement"] == 1.0
    # The default export averages the best (up to three) complete trials, in the TensorFlow process too.
    ranked = sorted((r for r in rows if r["rank"]), key=lambda r: r["rank"])
    assert ((card.get("ensemble") or {}).get("trials") or [card["trial"]]) == [r["trial"] for r in ranked[:3]]
    if len(ranked) == 1:
        assert card["metrics"]["test"]["accuracy"] == pytest.approx(best["test_accuracy"], abs=1e-6)


@pytest.mark.slow  # JAX is opt-in; its search + TensorFlow export runs with the benchmarks
def test_predict_on_a_jax_run_agrees_across_backends_and_formats(jax_run, tmp_path):
    from automl.data import load_dataset

    run_dir, _ = jax_run
    data = load_dataset("builtin:digits", seed=0)
    np.savez(tmp_path / "new.npz", x=data.x_test[:8])
    outputs = [run_cli("predict", run_dir, tmp_path / "new.npz", *fmt, backend=backend).stdout
               for backend, fmt in (("jax", ()), ("tensorflow", ()), ("jax", ("--format", "saved_model")))]
    predictions = [[line.split(",")[1] for line in text.strip().splitlines()[1:]] for text in outputs]
    assert len(predictions[0]) == 8
    assert predictions[0] == predictions[1] == predictions[2]


@pytest.mark.slow  # JAX is opt-in; its search + TensorFlow export runs with the benchmarks
def test_export_from_a_jax_process_reports_the_tensorflow_process_errors(jax_run):
    run_dir, _ = jax_run
    proc = run_cli("export", run_dir, "--format", "saved_model", "--trial", 99, backend="jax", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "trial 99 does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_python_api_refuses_jax_in_a_process_whose_keras_runs_on_tensorflow(tmp_path):
    pytest.importorskip("jax")
    import keras

    import automl
    from automl.errors import ConfigError

    if keras.backend.backend() != "tensorflow":
        pytest.skip("this test process's Keras does not run on TensorFlow")
    (tmp_path / "tiny.yaml").write_text(TINY_SPACE)
    with pytest.raises(ConfigError, match="already imported in this process with the tensorflow backend"):
        automl.search("builtin:digits", out=tmp_path / "run", space=str(tmp_path / "tiny.yaml"), trials=1, workers=0,
                      keras_backend="jax")


def test_jax_requested_but_not_installed_says_how_to_install(tmp_path):
    proc = run_cli("search", "builtin:digits", "--trials", 1, "--out", tmp_path / "run", backend="jax", check=False,
                   prefix=[sys.executable, "-c", HIDE_JAX])
    assert proc.returncode == 2, proc.stderr
    assert "KERAS_BACKEND=jax" in proc.stderr and 'pip install "jax[cpu]"' in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_an_unsupported_backend_is_refused_with_the_choices(tmp_path):
    proc = run_cli("search", "builtin:digits", "--trials", 1, "--out", tmp_path / "run", "--keras-backend", "torch",
                   backend=None, check=False)
    assert proc.returncode == 2
    assert "'torch'" in proc.stderr and "tensorflow, jax" in proc.stderr and "Traceback" not in proc.stderr
