"""What the test files share: running the real CLI, reading a run's leaderboard, the tiny search spaces.

Test files import it as ``from helpers import ...``: pytest puts ``tests/`` on ``sys.path`` (the rootdir
conftest and the test modules are imported in its default "prepend" mode, as ``pytest_plugins =
["postgres_server"]`` relies on too). Import it from test modules, not at the top of conftest.py: ``ENV`` is a
copy of the environment taken at import, after conftest.py has set the test session's variables.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

AUTOML = [sys.executable, "-m", "automl"]
# The environment of the CLI processes the tests start: no third-party plugins, no TensorFlow C++ chatter.
ENV = {**os.environ, "AUTOML_DISABLE_PLUGIN_AUTOLOAD": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}

# The smallest image search worth its name: a one-block CNN on the 8x8 digits, up to 4 epochs.
TINY_CNN_SPACE = """
architectures:
  cnn: {blocks: 1, filters: {low: 8, high: 16}, dense_units: 32, convs_per_block: 1}
augmentations: [none]
optimizers:
  adam: {learning_rate: {low: 0.003, high: 0.01}, schedule: constant}
training: {batch_size: 32, max_epochs: 4, patience: 2}
"""

# A one-layer MLP on the digits, 2 epochs: trials of a second or two.
TINY_MLP_SPACE = """
architectures:
  mlp: {layers: 1, units: 32, dropout: 0.0, activation: relu, batch_norm: false}
augmentations: [none]
optimizers:
  adam: {learning_rate: {low: 0.003, high: 0.01}, schedule: constant}
training: {batch_size: 64, max_epochs: 2, patience: 2}
"""


# A plugin file (for --plugins-dir) whose architecture "broken" raises in build: every trial that draws it fails.
BROKEN_ARCHITECTURE_PLUGIN = '''
from automl import Architecture, hookimpl


class Broken(Architecture):
    name = "broken"
    tasks = ("image", "tabular")

    def build(self, inputs, params, context):
        raise RuntimeError("broken on purpose")


@hookimpl
def automl_register_architectures():
    return [Broken()]
'''


def run_cli(*args, check: bool = True, timeout: float = 600, env: Mapping[str, str] | None = None,
            cwd: Path | str | None = None, expect: int | None = None,
            prefix: Sequence[str] = AUTOML) -> subprocess.CompletedProcess:
    """Run ``automl ARGS`` (each argument through ``str``) to its end and return what it printed.

    It fails the test (AssertionError with the command, the exit status, stdout and stderr) unless the exit
    status is ``expect`` where that is given, else unless it is 0 where ``check`` is true. ``env`` replaces the
    whole environment (default ``ENV``); ``prefix`` replaces the command that runs the CLI. The result also has
    the process id (``.pid``), to tell its calls from others'.

    By default the command runs in this process (:func:`run_in_process`): the console entry point itself, with
    its error handling and exit statuses, minus a fresh interpreter's start — TensorFlow's import alone costs six
    seconds of CPU, paid once per test process instead of once per call. Any of ``env`` (``env=ENV`` for the
    default one), ``cwd`` and ``prefix`` starts ``python -m automl`` instead, as a user's shell would: for what
    only a process of its own shows (its environment, its working directory, its imports). A run in a process
    of its own past ``timeout`` seconds is killed and raises ``subprocess.TimeoutExpired``.
    """
    if env is not None or cwd is not None or prefix is not AUTOML:
        command = [*prefix, *map(str, args)]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV if env is None else dict(env), cwd=cwd) as popen:
            try:
                stdout, stderr = popen.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                raise
        proc = subprocess.CompletedProcess(command, popen.returncode, stdout, stderr)
        proc.pid = popen.pid
    else:
        proc = run_in_process(*args)
    wanted = expect if expect is not None else 0 if check else None
    if wanted is not None and proc.returncode != wanted:
        raise AssertionError(f"automl {' '.join(map(str, args))} exited {proc.returncode}, expected {wanted}\n"
                             f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    return proc


def run_in_process(*args) -> subprocess.CompletedProcess:
    """``automl ARGS`` through :func:`automl.cli.main`, the console entry point, in this process: its stdout and
    stderr captured, its exit status that of the ``SystemExit`` it ends with (an exception it lets escape is
    printed as the interpreter would, with its traceback, and is status 1)."""
    import contextlib
    import io
    import traceback
    import warnings

    from automl.cli import main

    command = ["automl", *map(str, args)]
    stdout, stderr = io.StringIO(), io.StringIO()
    saved_argv, saved_showwarning = sys.argv, warnings.showwarning  # main() replaces showwarning for its run
    sys.argv = command
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main()
                status = 0
            except SystemExit as exiting:
                if exiting.code is None or isinstance(exiting.code, int):
                    status = exiting.code or 0
                else:  # sys.exit("message"): printed to stderr, status 1, as the interpreter does
                    print(exiting.code, file=sys.stderr)
                    status = 1
            except Exception:
                traceback.print_exc()
                status = 1
    finally:
        sys.argv, warnings.showwarning = saved_argv, saved_showwarning
    proc = subprocess.CompletedProcess(command, status, stdout.getvalue(), stderr.getvalue())
    proc.pid = os.getpid()
    return proc


def leaderboard_rows(run_dir: Path) -> list[dict]:
    """The run's leaderboard as ``automl leaderboard RUN --json`` prints it: one dict per trial, ranked first;
    numbers as JSON numbers, missing values as ``None``."""
    return json.loads(run_cli("leaderboard", run_dir, "--json").stdout)


def sigkill_after_trials(args: Sequence, trials: int, pause: float = 0.0, timeout: float = 300) -> int:
    """Start ``automl ARGS`` (a search with ``--quiet``: one ``trial ...`` line on stderr per finished trial) in a
    process group of its own, wait for ``trials`` finished trials (or ``timeout`` seconds), ``pause`` seconds more,
    then SIGKILL the whole group (the search and its workers). Returns how many trials had finished."""
    proc = subprocess.Popen([*AUTOML, *map(str, args)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    done, deadline = 0, time.monotonic() + timeout
    assert proc.stderr is not None
    for line in proc.stderr:
        done += line.startswith("trial ")
        if done >= trials or time.monotonic() > deadline:
            break
    time.sleep(pause)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return done


def assert_real_png(path: Path, min_width: int = 300, min_height: int = 200) -> None:
    """A decodable PNG of a real plot: at least ``min_width`` x ``min_height``, not (nearly) one flat colour."""
    from PIL import Image

    assert path.is_file() and path.stat().st_size > 2_000, path
    with Image.open(path) as image:
        image.verify()  # checks the PNG structure and CRCs
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= min_width and height >= min_height, (path, image.size)
        low, high = image.convert("L").getextrema()
        assert high - low > 100, f"{path.name} is (nearly) one flat colour: {low}..{high}"
        colours = image.convert("RGB").getcolors(maxcolors=width * height)
        assert colours is not None and len(colours) > 20, f"{path.name} has only {len(colours or [])} colours"
