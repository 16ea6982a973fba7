"""The Python API: arrays, DataFrames, inline plugins, the result object, and one option parser for all."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ENV

import automl
from automl.errors import ConfigError, TooFewSamplesError

ROOT = Path(__file__).resolve().parent.parent


class InlineNet(automl.Architecture):
    """A plugin defined in a test module, passed to automl.search(plugins=[...]), not installed anywhere."""

    name = "inline_net"
    tasks = ("image", "tabular")
    description = "a flatten and one dense layer"

    def space(self, hp):
        return {"units": hp.int("units", 16, 48, default=32)}

    def build(self, inputs, params, context):
        import keras

        x = keras.layers.Flatten()(inputs)
        return keras.layers.Dense(params["units"], activation="relu")(x)


def readme_python_example() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("This example is run verbatim by the tests")
    block = text[text.index("```python\n", start) + len("```python\n"):]
    return block[: block.index("```\n")]


def test_the_readme_python_example_runs_verbatim(tmp_path):
    """Arrays (trials=4, predict, load_run), a DataFrame with an inline plugin, export and report."""
    (tmp_path / "example.py").write_text(readme_python_example())
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"\['\d' '\d' '\d' '\d' '\d' '\d' '\d' '\d' '\d' '\d'\]", proc.stdout), proc.stdout
    frame = automl.load_run(tmp_path / "runs" / "cancer-frame").leaderboard_
    assert set(frame["architecture"]) == {"tiny_mlp"}
    versions = [json.loads(v) if isinstance(v, str) else v for v in frame["plugin_versions"]]
    assert all(v["tiny_mlp"].startswith("inline:__main__") for v in versions), versions
    assert "the trials run in this process" in proc.stderr  # a class defined in the script itself
    assert (tmp_path / "runs" / "digits-arrays" / "data.npz").is_file()
    assert (tmp_path / "exports" / "digits" / "model.tflite").is_file()
    assert (tmp_path / "reports" / "digits" / "report.html").is_file()


def test_a_plugin_class_from_a_module_wins_trials_in_worker_processes(tmp_path):
    x, y = _digits()
    space = tmp_path / "space.yaml"
    space.write_text("architectures: [inline_net]\naugmentations: [none]\noptimizers: [adam]\n"
                     "training: {batch_size: 64, max_epochs: 2, patience: 2}\n")
    result = automl.search(x, y, out=tmp_path / "run", space=str(space), trials=2, workers=1, pruner="none",
                           plugins=[InlineNet()], quiet=True)
    frame = result.leaderboard_
    assert list(frame["status"]) == ["complete", "complete"] and set(frame["architecture"]) == {"inline_net"}
    sources = {json.loads(v)["inline_net"] if isinstance(v, str) else v["inline_net"] for v in frame["plugin_versions"]}
    # Trained in a worker process, which imported the class from this file: its path and version are recorded.
    assert sources == {f"inline:{Path(__file__).resolve()}:InlineNet local"}, sources
    predicted = result.predict(x[:10])
    assert predicted.shape == (10,) and set(predicted) <= set(result.class_names_)
    assert (automl.load_run(tmp_path / "run").predict(x[:10]) == predicted).all()
    # The same call resumes the run: same data, nothing re-trained.
    again = automl.search(x, y, out=tmp_path / "run", space=str(space), trials=2, workers=1, pruner="none",
                          plugins=[InlineNet()], quiet=True)
    assert len(again.leaderboard_) == 2


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x.reshape(-1, 8, 8) / 16.0, y


# --- errors before any work --------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda out: automl.search(np.zeros((20, 4)), out=out), "labels are missing"),
    (lambda out: automl.search(np.zeros((20, 4)), np.zeros(19), out=out), "20 samples but y has 19 labels"),
    (lambda out: automl.search(np.array([["a"]] * 20, dtype=object), np.zeros(20), out=out), "expected numbers"),
    (lambda out: automl.search("builtin:digits", trial_timeout="ten minutes", out=out), "trial_timeout"),
    (lambda out: automl.search("builtin:digits", trials="many", out=out), "trials (--trials) takes a whole number"),
    (lambda out: automl.search("builtin:digits", image_size="64by64", out=out), "HEIGHTxWIDTH"),
    (lambda out: automl.search("builtin:digits", epochs=3, out=out), "unknown search option(s) 'epochs'"),
    (lambda out: automl.search("builtin:digits", np.zeros(3), out=out), "go with in-memory data"),
    (lambda out: automl.search(np.zeros((20, 4)), np.zeros(20), out=out, validation_data=[1, 2, 3]), "a pair (x, y)"),
    (lambda out: automl.search(np.zeros((20, 4)), np.zeros(20), out=out, backend="optunaa"), "unknown backend 'optunaa'"),
    (lambda out: automl.search(np.zeros((20, 4)), np.zeros(20), out=out, backend="kerastuner", workers=2),
     "--workers 2 needs a backend whose storage several processes share"),
])
def test_bad_calls_are_named_errors_and_write_nothing(tmp_path, call, message):
    with pytest.raises(ConfigError) as error:
        call(tmp_path / "run")
    assert message in str(error.value)
    assert not (tmp_path / "run").exists()


def test_a_dataframe_needs_its_target_named(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"a": range(20), "label": [0, 1] * 10})
    with pytest.raises(ConfigError, match="target= naming its label column .*a, label"):
        automl.search(frame, out=tmp_path / "run")
    with pytest.raises(ConfigError, match="'lable' is not a column"):
        automl.search(frame, target="lable", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_other_data_in_an_existing_run_directory_are_refused_before_anything_is_overwritten(tmp_path):
    from automl.api import write_arrays
    from automl.errors import RunDirectoryError

    path = tmp_path / "run" / "data.npz"
    write_arrays(path, np.ones((6, 2)), np.array([0, 1] * 3), None, None, None)
    before = path.read_bytes()
    write_arrays(path, np.ones((6, 2)), np.array([0, 1] * 3), None, None, None)  # the same data: kept as it is
    with pytest.raises(RunDirectoryError, match="holds other data"):
        write_arrays(path, np.zeros((6, 2)), np.array([0, 1] * 3), None, None, None)
    assert path.read_bytes() == before


# --- one option parser for the CLI, YAML files and Python -----------------------------------------------------
def test_options_parse_the_same_from_text_and_python_values():
    from automl.search_engine import parse_options

    as_text = parse_options({"trial_timeout": "10m", "time_budget": "1h30m", "image_size": "64x48", "trials": "12",
                             "val_fraction": "0.2", "log": "tensorboard", "checkpoint_every": "0"})
    as_values = parse_options({"trial_timeout": 600, "time_budget": 5400.0, "image_size": (64, 48), "trials": 12.0,
                               "val_fraction": 0.2, "log": ["tensorboard"], "checkpoint_every": 0})
    assert as_text == as_values == {"trial_timeout": 600.0, "time_budget": 5400.0, "image_size": (64, 48),
                                    "trials": 12, "val_fraction": 0.2, "log": ["tensorboard"], "checkpoint_every": 0.0}
    assert parse_options(as_text) == as_text  # parsing parsed options changes nothing
    with pytest.raises(ConfigError, match=r"exp.yaml: workers \(--workers\) takes a whole number; got True"):
        parse_options({"workers": True}, where="exp.yaml")
    with pytest.raises(ConfigError, match="skip_corrupt .* is on or off"):
        parse_options({"skip_corrupt": "yes"})


def test_every_search_option_is_on_the_command_line():
    """The options are declared once (Experiment); the CLI must offer each, under its own name."""
    from automl.search_engine import Experiment

    proc = subprocess.run([sys.executable, "-m", "automl", "search", "--help"], capture_output=True, text=True,
                          env={**ENV, "COLUMNS": "200"}, check=True)
    offered = set(re.findall(r"--([a-z][a-z-]+)", proc.stdout))
    expected = {name.replace("_", "-") for name in Experiment.__dataclass_fields__} - {"data"}
    expected = {"plugin" if name == "plugins" else name for name in expected}
    assert expected <= offered, sorted(expected - offered)


# --- the user's own split -------------------------------------------------------------------------------------
def test_validation_and_test_data_replace_the_random_split(tmp_path):
    from automl.api import write_arrays, write_frame
    from automl.data import load_dataset

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 3)), np.array([0, 1, 2] * 20)
    xv, yv = rng.normal(size=(9, 3)), np.array([0, 1, 2] * 3)
    write_arrays(tmp_path / "a" / "data.npz", x, y, None, (xv, yv), None)
    data = load_dataset(str(tmp_path / "a" / "data.npz"), test_fraction=0.2)
    assert np.allclose(np.sort(data.x_val, axis=0), np.sort(xv.astype(np.float32), axis=0))
    assert len(data.y_val) == 9 and len(data.y_test) == 12 and len(data.y_train) == 48  # test drawn: 20 % of 60

    import pandas as pd

    frame = pd.DataFrame({"f": x[:, 0], "label": y})
    test = pd.DataFrame({"f": xv[:, 0], "label": yv})
    target = write_frame(tmp_path / "b" / "data.csv", frame, None, "label", None, test)
    data = load_dataset(str(tmp_path / "b" / "data.csv"), target=target, val_fraction=0.1)
    assert len(data.y_test) == 9 and len(data.y_val) == 6 and data.input_shape == (1,)

    with pytest.raises(TooFewSamplesError, match="no training sample"):
        write_arrays(tmp_path / "c" / "data.npz", x[y < 2], y[y < 2], None, (xv, yv), None)
        load_dataset(str(tmp_path / "c" / "data.npz"))


NOTEBOOK_CELL = """
import automl
from sklearn.datasets import load_digits

x, y = load_digits(return_X_y=True)
result = automl.search(x.reshape(-1, 8, 8) / 16.0, y, out="run", space="space.yaml", trials=3, pruner="none",
                       quiet=True)
print("finished", len(result.leaderboard_))
"""


@pytest.mark.slow  # ~35 s; the same pool path runs by default in test_faults' [sigterm-worker] through the CLI
def test_ctrl_c_stops_a_python_search_cleanly_and_the_same_call_resumes(tmp_path):
    import signal
    import time

    (tmp_path / "space.yaml").write_text("architectures: [mlp]\naugmentations: [none]\noptimizers: [adam]\n"
                                         "training: {batch_size: 64, max_epochs: 30, patience: 30}\n")
    (tmp_path / "cell.py").write_text(NOTEBOOK_CELL)
    proc = subprocess.Popen([sys.executable, "cell.py"], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    for line in proc.stderr:  # --quiet: one line per finished trial
        if line.startswith("trial ") or time.monotonic() > deadline:
            break
    time.sleep(1.5)  # inside the next trial
    proc.send_signal(signal.SIGINT)  # what a notebook's stop button sends to its kernel
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "stopped by Ctrl+C" in err, err[-2000:]
    again = subprocess.run([sys.executable, "cell.py"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0 and "finished" in again.stdout, again.stderr[-2000:]
    frame = automl.load_run(tmp_path / "run").leaderboard_
    assert (frame["status"] == "complete").sum() == 3
    interrupted = frame[frame["status"] == "interrupted"]
    assert len(interrupted) == 1 and list(frame["retry_of"].dropna().astype(int)) == list(interrupted["trial"])
