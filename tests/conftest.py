import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Keep TensorFlow quiet and single-process friendly in tests; real TF still runs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Tests must not pick up whatever third-party plugins happen to be installed on the machine.
os.environ.setdefault("AUTOML_DISABLE_PLUGIN_AUTOLOAD", "1")

# Decoded image folders go to a cache of this test session's own (inherited by the searches it starts), not to
# the user's ~/.cache/automl; tests that check the cache itself point AUTOML_CACHE_DIR at their tmp_path.
if "AUTOML_CACHE_DIR" not in os.environ:
    os.environ["AUTOML_CACHE_DIR"] = tempfile.mkdtemp(prefix="automl-test-cache-")
    atexit.register(shutil.rmtree, os.environ["AUTOML_CACHE_DIR"], ignore_errors=True)

# A throw-away PostgreSQL server for the multi-node tests (fixture `postgres`).
pytest_plugins = ["postgres_server"]


# --- tiny search spaces (their texts are in helpers.py; imported here when used, after the set-up above) ---
def _space_file(tmp_path: Path, name: str) -> Path:
    import helpers

    path = tmp_path / "space.yaml"
    path.write_text(getattr(helpers, name))
    return path


@pytest.fixture
def tiny_cnn_space(tmp_path) -> Path:
    """helpers.TINY_CNN_SPACE written to ``tmp_path / "space.yaml"``."""
    return _space_file(tmp_path, "TINY_CNN_SPACE")


@pytest.fixture
def tiny_mlp_space(tmp_path) -> Path:
    """helpers.TINY_MLP_SPACE written to ``tmp_path / "space.yaml"``."""
    return _space_file(tmp_path, "TINY_MLP_SPACE")


# --- shared module fixtures (a test module defines its own of the same name to get another) ---------------
@pytest.fixture(scope="module")
def registry():
    """The built-in plugins alone (no autoload), one registry per test module."""
    from automl.plugin_manager import build_registry

    return build_registry(autoload=False)


@pytest.fixture(scope="module")
def digits():
    """builtin:digits split with seed 0, loaded once per test module."""
    from automl.data import load_dataset

    return load_dataset("builtin:digits", seed=0)
