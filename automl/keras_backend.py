"""Which Keras backend trains the trials: TensorFlow (the default) or JAX.

Keras 3 picks its backend once per process, when it is first imported: from ``$KERAS_BACKEND``, else the
``backend`` key of ``$KERAS_HOME/keras.json`` (``~/.keras/keras.json``), else TensorFlow. A search records the
backend it resolved in its config.yaml (``keras_backend``) and each worker process sets it before Keras is
imported, so every trial of a run trains on the same backend whatever the worker's own environment says.

TensorFlow stays the backend of everything that writes TensorFlow graphs: the SavedModel, LiteRT and ONNX
exports of a run trained on JAX are written by a TensorFlow-backend process (:mod:`automl.export`), from the
backend-neutral ``.keras`` files the JAX trials saved.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

ENV = "KERAS_BACKEND"
DEFAULT = "tensorflow"
SUPPORTED = ("tensorflow", "jax")
JAX_INSTALL = 'pip install "jax[cpu]"  (or: pip install -e ".[jax]")'


def configured() -> str:
    """The backend Keras uses in this process (or will use when imported), without importing Keras."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    if os.environ.get(ENV):
        return os.environ[ENV].strip().lower()
    home = Path(os.environ["KERAS_HOME"]) if os.environ.get("KERAS_HOME") else Path.home() / ".keras"
    try:
        return str(json.loads((home / "keras.json").read_text()).get("backend") or DEFAULT).lower()
    except (OSError, ValueError, AttributeError):  # no file, or not a JSON mapping: Keras' default
        return DEFAULT


def resolve(requested: str | None = None) -> str:
    """The backend a search trains on: ``requested`` (``--keras-backend``), else :func:`configured`; checked."""
    from automl.errors import ConfigError

    if requested:
        source = f"keras_backend: {requested}"  # --keras-backend, the YAML key or the Python argument
    elif os.environ.get(ENV) and "keras" not in sys.modules:
        source = f"{ENV}={os.environ[ENV]}"
    else:
        source = "Keras' configuration"
    name = (requested or configured()).strip().lower()
    if name not in SUPPORTED:
        raise ConfigError(f"Keras backend {name!r} (from {source}) is not supported by automl; choose one of: "
                          f"{', '.join(SUPPORTED)} (e.g. --keras-backend jax or {ENV}=jax).")
    if name == "jax":
        missing = [module for module in ("jax", "jaxlib") if not _installed(module)]
        if missing:
            raise ConfigError(f"the JAX Keras backend was requested ({source}) but {' and '.join(missing)} "
                              f"{'is' if len(missing) == 1 else 'are'} not installed in {sys.prefix}. Install JAX "
                              f"with: {JAX_INSTALL}; or search on TensorFlow ({ENV}=tensorflow).")
    return name


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-removed install counts as missing
        return False


def activate(name: str) -> None:
    """Make this process's Keras run on ``name``; call before Keras is imported.

    Keras cannot switch backends once imported: if it already runs on another one, this raises.
    """
    from automl.errors import ConfigError

    name = resolve(name)
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        current = keras.backend.backend()
        if current != name:
            raise ConfigError(f"this run trains on the {name} Keras backend, but Keras is already imported in this "
                              f"process with the {current} backend (Keras picks it once, at import). Set "
                              f"{ENV}={name} before importing Keras, or run the trials in worker processes "
                              "(--workers 1 or more), which set it themselves.")
        return
    os.environ[ENV] = name  # read by Keras when this process (or a child it starts) first imports it


def is_tensorflow() -> bool:
    return configured() == "tensorflow"


# TensorFlow's C++ log lines: absl's pre-initialisation notice, INFO/WARNING records in absl's
# (``I0000 00:00:1796409323.497815   21075 port.cc:153] ...``) or TensorFlow's older
# (``2025-09-17 14:44:05.157831: I external/...``) format, the CPU-feature notice's second line, LiteRT's
# delegate notice, and the "no CUDA here" errors of a CPU machine. TF_CPP_MIN_LOG_LEVEL no longer silences them
# (tensorflow#100442), so they are filtered from file descriptor 2 where TensorFlow is known to write them.
_NATIVE_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] "
    r"|E\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] (?:failed call to cuInit|Unable to register cu\w+ factory)"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU"
)
_quietly_imported = False


@contextlib.contextmanager
def native_logs_filtered():
    """Run the block with TensorFlow's C++ log lines filtered out of file descriptor 2.

    Those lines are written by C++ straight to the descriptor, past Python's logging. Everything else written
    meanwhile — a real error, a Python traceback — is passed on unchanged, also when the block raises.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (e.g. a service without stderr): nothing to filter
        yield
        return
    import tempfile

    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not _NATIVE_NOISE.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and look for its devices without its C++ start-up lines (oneDNN, cudart_stub, cuInit on
    a machine without a GPU) on stderr.

    Called where a command or worker is about to need TensorFlow, so the start-up happens here and not in the
    middle of a display. Runs once per process; what the user's own code imported before is theirs.
    """
    global _quietly_imported
    if _quietly_imported or not _installed("tensorflow"):
        return
    _quietly_imported = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # still honoured by the Python-side logging
    # Also when a plugin module imported TensorFlow already: its devices (and their CUDA lines) start here.
    with native_logs_filtered():
        import tensorflow as tf

        tf.config.list_physical_devices()  # initialises the platforms: the CUDA lines come here
