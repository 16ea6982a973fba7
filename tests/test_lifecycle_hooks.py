"""Trial lifecycle hooks and logger plugins (``--log NAME``): real searches on tiny data, through the real CLI.

The hooks are ``automl_register_loggers`` (a plugin's Logger objects) and the lifecycle hooks a Logger
implements as methods: ``automl_search_started``, ``automl_trial_started``, ``automl_trial_epoch``,
``automl_trial_finished`` and ``automl_search_finished``. A third-party logger is a plugin file dropped into
``--plugins-dir`` that records every call, with the calling process id, to ``RUN/lifecycle.jsonl``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import helpers
import pytest
import yaml
from helpers import AUTOML, leaderboard_rows

from automl.errors import ConfigError
from automl.lifecycle import normalize_logger_names
from automl.plugin_manager import build_registry
from automl.run_dir import RunDirectory

# MLFLOW_* from the calling shell would send the mlflow test's runs elsewhere.
ENV = {k: v for k, v in helpers.ENV.items() if not k.startswith("MLFLOW_")}
CORE_SCALARS = ("loss", "accuracy", "val_loss", "val_accuracy")

# The smallest search that trains: a one-layer MLP on the 8x8 digits, 3 epochs, no early stop, no pruning.
TINY_SPACE = """
architectures:
  mlp: {layers: 1, units: 32, dropout: 0.0, batch_norm: false}
augmentations: [none]
optimizers:
  adam: {learning_rate: {low: 0.003, high: 0.01}, schedule: constant}
training: {batch_size: 64, max_epochs: 3, patience: 3}
"""

RECORDER = '''\
"""Third-party loggers used by the tests: ``recorder`` writes every lifecycle call to RUN/lifecycle.jsonl;
``raiser`` fails in its epoch hook."""
import json
import os
import time
from pathlib import Path

from automl import Logger, hookimpl


class Recorder(Logger):
    name = "recorder"
    description = "Writes every lifecycle call to RUN/lifecycle.jsonl."

    def _write(self, run_dir, *fields):
        with open(Path(run_dir) / "lifecycle.jsonl", "a") as file:
            file.write(json.dumps([*fields, os.getpid()]) + "\\n")

    @hookimpl
    def automl_search_started(self, run_dir, config):
        self._write(run_dir, "search_started", config["log"])

    @hookimpl
    def automl_trial_started(self, run_dir, trial, candidate):
        self._write(run_dir, "trial_started", trial, candidate["architecture"])

    @hookimpl
    def automl_trial_epoch(self, run_dir, trial, epoch, logs):
        self._write(run_dir, "trial_epoch", trial, epoch, sorted(logs))
        # Lets a test hold this process's trial until another process has finished one.
        wait_for, deadline = os.environ.get("RECORDER_WAIT_FOR"), time.time() + 240
        while wait_for and time.time() < deadline and "trial_finished" not in _text(wait_for):
            time.sleep(0.2)

    @hookimpl
    def automl_trial_finished(self, run_dir, record):
        self._write(run_dir, "trial_finished", record["trial"], record["status"], record.get("epochs"))

    @hookimpl
    def automl_search_finished(self, run_dir, leaderboard, stopped_because):
        self._write(run_dir, "search_finished", sorted(row["trial"] for row in leaderboard), stopped_because)


class Raiser(Logger):
    name = "raiser"

    @hookimpl
    def automl_trial_epoch(self, trial, epoch):
        raise RuntimeError(f"raiser breaks on purpose in trial {trial}, epoch {epoch}")


def _text(path):
    return Path(path).read_text() if Path(path).exists() else ""


@hookimpl
def automl_register_loggers():
    return [Recorder(), Raiser()]
'''


# --- helpers -------------------------------------------------------------------------------------------
def run_cli(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    """helpers.run_cli in this file's environment, which ``env`` adds to (it does not replace it)."""
    return helpers.run_cli(*args, env={**ENV, **(env or {})}, **kwargs)


@pytest.fixture
def space(tmp_path) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture
def plugins(tmp_path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "recorder.py").write_text(RECORDER)
    return folder


def tiny_search(run_dir: Path, space: Path, *args, trials: int = 2, workers: int = 0, **kwargs):
    return run_cli("search", "builtin:digits", "--space", space, "--trials", trials, "--out", run_dir, "--quiet",
                   "--workers", workers, "--pruner", "none", *args, **kwargs)


def recorded_calls(run_dir: Path) -> list[list]:
    path = run_dir / "lifecycle.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check_lifecycle(calls: list[list], rows: list[dict], trials: list[int], *, whole_leaderboard=True) -> None:
    """One search's calls: search_started first, search_finished last (with the leaderboard), and per trial
    started → every epoch in order → finished, with the epochs and status the leaderboard reports."""
    names = [call[0] for call in calls]
    assert names[0] == "search_started" and names[-1] == "search_finished", names
    assert names.count("search_started") == names.count("search_finished") == 1, names
    if whole_leaderboard:
        assert calls[-1][1] == sorted(row["trial"] for row in rows)
    assert set(trials) <= set(calls[-1][1])
    by_trial = {row["trial"]: row for row in rows}
    assert sorted({call[1] for call in calls if call[0] == "trial_started"}) == trials
    for trial in trials:
        own = [call for call in calls if call[0].startswith("trial_") and call[1] == trial]
        epochs = by_trial[trial]["epochs"]
        assert [c[0] for c in own] == ["trial_started"] + ["trial_epoch"] * epochs + ["trial_finished"], own
        assert [c[2] for c in own[1:-1]] == list(range(epochs))
        assert set(CORE_SCALARS) <= set(own[1][3])
        assert own[-1][2:4] == [by_trial[trial]["status"], epochs]


# --- the built-in TensorBoard logger -------------------------------------------------------------------
def test_tensorboard_logger_writes_epoch_scalars_hparams_and_result(tmp_path, space):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    run_dir = tmp_path / "run"
    proc = tiny_search(run_dir, space, "--log", "tensorboard")
    assert "warning" not in proc.stderr, proc.stderr
    assert RunDirectory(run_dir).read_config()["log"] == ["tensorboard"]
    rows = leaderboard_rows(run_dir)
    assert sorted(p.name for p in (run_dir / "tensorboard").iterdir()) == [f"trial_{r['trial']:04d}" for r in
                                                                           sorted(rows, key=lambda r: r["trial"])]
    for row in rows:
        events = EventAccumulator(str(run_dir / "tensorboard" / f"trial_{row['trial']:04d}"),
                                  size_guidance={"scalars": 0, "tensors": 0})
        events.Reload()
        tags = events.Tags()
        assert set(CORE_SCALARS) <= set(tags["scalars"]), tags
        for tag in CORE_SCALARS:  # one point per epoch, at steps 0..epochs-1
            assert [event.step for event in events.Scalars(tag)] == list(range(row["epochs"])), tag
        assert events.Scalars("val_loss")[-1].value == pytest.approx(row["val_loss"], rel=1e-5)  # no early stop
        assert events.Scalars("result/objective")[0].value == pytest.approx(row["objective"], rel=1e-5)
        # the HParams session: the candidate's hyperparameters, as sampled
        content = events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
        hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
        assert hparams["architecture"].string_value == "mlp"
        assert hparams["adam.learning_rate"].number_value == pytest.approx(row["adam.learning_rate"])
        assert "_hparams_/session_end_info" in tags["tensors"]
        summary = events.Tensors("summary")[0].tensor_proto.string_val[0].decode()
        assert f"trial {row['trial']}: complete" in summary and "adam.learning_rate" in summary


# --- a third-party logger on the same hooks ------------------------------------------------------------
def test_third_party_logger_from_yaml_gets_the_lifecycle_in_order_and_a_resume_keeps_it(tmp_path, space, plugins):
    run_dir = tmp_path / "run"
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(yaml.safe_dump({"data": "builtin:digits", "space": str(space), "trials": 1, "workers": 0,
                                          "pruner": "none", "plugins_dir": str(plugins), "log": ["recorder"]}))
    proc = run_cli("search", "--config", experiment, "--out", run_dir, "--quiet")
    first = recorded_calls(run_dir)
    check_lifecycle(first, leaderboard_rows(run_dir), trials=[0])
    assert first[0][1] == ["recorder"] and {call[-1] for call in first} == {proc.pid}

    # Resumed without --log: the run's recorded logger goes on.
    proc = tiny_search(run_dir, space, "--plugins-dir", plugins, trials=2)
    assert "logging with the run's loggers: recorder" in proc.stderr
    check_lifecycle(recorded_calls(run_dir)[len(first):], leaderboard_rows(run_dir), trials=[1])

    # Loggers are not the run's identity: a resume may turn them off.
    before = len(recorded_calls(run_dir))
    tiny_search(run_dir, space, "--plugins-dir", plugins, "--log", "none", trials=2)
    assert RunDirectory(run_dir).read_config()["log"] == []
    assert len(recorded_calls(run_dir)) == before


@pytest.mark.slow  # ~30 s; the hooks' order and a raising logger run by default in one process
def test_with_two_workers_the_search_process_calls_the_hooks_and_a_raising_logger_stops_nothing(
        tmp_path, space, plugins):
    run_dir = tmp_path / "run"
    proc = tiny_search(run_dir, space, "--plugins-dir", plugins, "--log", "raiser", "--log", "recorder", workers=2)
    rows = leaderboard_rows(run_dir)
    assert [row["status"] for row in rows] == ["complete", "complete"]
    calls = recorded_calls(run_dir)
    check_lifecycle(calls, rows, trials=[0, 1])  # the logger beside the raising one saw everything
    assert {call[-1] for call in calls} == {proc.pid}  # the workers send their events to the search process
    # the raising logger: reported once, naming it and where it raised, then switched off
    warnings = [line for line in proc.stderr.splitlines() if "logger 'raiser'" in line]
    assert len(warnings) == 1, proc.stderr
    assert "automl_trial_epoch" in warnings[0] and "breaks on purpose in trial" in warnings[0]
    assert "recorder.py" in warnings[0] and "switched off" in warnings[0]


@pytest.mark.slow  # a separate `automl worker` process next to a search
def test_an_automl_worker_calls_the_hooks_for_its_own_trials(tmp_path, space, plugins):
    """`automl worker` has no search process in front: it calls its loggers itself, writing under its --out."""
    run_dir, worker_out = tmp_path / "run", tmp_path / "worker"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    # The search holds its first trial at epoch 0 until the worker has finished one, so both run a trial.
    search = subprocess.Popen(
        [*AUTOML, "search", "builtin:digits", "--space", str(space), "--trials", "2", "--out", str(run_dir), "--quiet",
         "--workers", "0", "--pruner", "none", "--storage", storage, "--plugins-dir", str(plugins), "--log", "recorder"],
        env={**ENV, "RECORDER_WAIT_FOR": str(worker_out / "lifecycle.jsonl")}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not any(call[0] == "trial_started" for call in recorded_calls(run_dir)):
            assert search.poll() is None and time.time() < deadline, search.communicate()[1][-3000:]
            time.sleep(0.5)
        worker = run_cli("worker", run_dir, "--out", worker_out, "--trials", 1)
        _, search_err = search.communicate(timeout=600)
    finally:
        search.kill()
    assert search.returncode == 0, search_err[-3000:]
    rows = leaderboard_rows(run_dir)
    search_calls, worker_calls = recorded_calls(run_dir), recorded_calls(worker_out)
    check_lifecycle(search_calls, rows, trials=[0])
    # the worker left while the search's trial may still have been running: its leaderboard may lack it
    check_lifecycle(worker_calls, rows, trials=[1], whole_leaderboard=False)
    assert worker_calls[0][1] == ["recorder"]  # the search's loggers, from the study
    assert worker_calls[-1][2] == "--trials reached", worker.stderr
    assert {c[-1] for c in search_calls}.isdisjoint({c[-1] for c in worker_calls})


# --- choosing loggers -----------------------------------------------------------------------------------
def test_an_unknown_logger_fails_before_anything_runs(tmp_path):
    run_dir = tmp_path / "run"
    started = time.perf_counter()
    proc = run_cli("search", "builtin:digits", "--out", run_dir, "--log", "tensorboard", "--log", "nosuch",
                   check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "unknown logger 'nosuch'" in proc.stderr and "installed loggers: mlflow, tensorboard" in proc.stderr
    assert "--log none" in proc.stderr and "Traceback" not in proc.stderr
    assert not run_dir.exists()
    assert time.perf_counter() - started < 60  # no data loaded, no TensorFlow


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("tensorboard", ["tensorboard"]), ("tensorboard, mlflow", ["tensorboard", "mlflow"]),
    (["mlflow", "mlflow"], ["mlflow"]), (["none"], []), ([], []),
])
def test_logger_names_are_normalized(value, expected):
    assert normalize_logger_names(value) == expected


@pytest.mark.parametrize("value", [["none", "tensorboard"], [3], {"tensorboard": True}])
def test_bad_logger_option_is_a_config_error(value):
    with pytest.raises(ConfigError, match="log"):
        normalize_logger_names(value)


def test_loggers_are_listed_as_plugins_and_bad_ones_are_load_problems(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "recorder.py").write_text(RECORDER)
    (folder / "module_level.py").write_text(textwrap.dedent('''\
        from automl import hookimpl

        @hookimpl
        def automl_trial_finished(run_dir, record):
            pass
        '''))
    (folder / "bad_signature.py").write_text(textwrap.dedent('''\
        from automl import Logger, hookimpl

        class Bad(Logger):
            name = "bad_signature"

            @hookimpl
            def automl_trial_epoch(self, trial, epoch, weights):
                pass

        @hookimpl
        def automl_register_loggers():
            return [Bad()]
        '''))
    (folder / "undecorated.py").write_text(textwrap.dedent('''\
        from automl import Logger, hookimpl

        class Forgot(Logger):
            name = "forgot"

            def automl_trial_finished(self, record):
                pass

        @hookimpl
        def automl_register_loggers():
            return [Forgot()]
        '''))
    registry = build_registry(plugins_dir=folder, autoload=False)
    loggers = {entry.name: entry for entry in registry.logger_entries()}
    assert set(loggers) == {"mlflow", "tensorboard", "recorder", "raiser"}
    assert loggers["recorder"].source.startswith("file:") and loggers["tensorboard"].source == "built-in"
    assert not {"recorder", "raiser", "tensorboard"} & {entry.name for entry in registry.all_entries()}
    problems = {problem.name: problem.error for problem in registry.problems}
    assert set(problems) == {"module_level", "bad_signature", "undecorated"}
    assert "automl_trial_finished" in problems["module_level"] and "automl_register_loggers" in problems["module_level"]
    assert "weights" in problems["bad_signature"]
    assert "without the @automl.hookimpl decorator" in problems["undecorated"]


# --- the optional MLflow logger ------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SQLAlchemy's, from MLflow's store
@pytest.mark.slow  # MLflow is an optional extra
def test_mlflow_logger_records_a_run_per_trial_in_the_run_directory(tmp_path, space):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    run_dir = tmp_path / "run"
    tiny_search(run_dir, space, "--log", "mlflow")
    rows = {row["trial"]: row for row in leaderboard_rows(run_dir)}
    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(run_dir.resolve().name)
    runs = client.search_runs([experiment.experiment_id])
    search_run = next(run for run in runs if "mlflow.parentRunId" not in run.data.tags)
    assert search_run.info.status == "FINISHED"
    assert search_run.data.tags["automl.stopped_because"] == "trials reached"
    trial_runs = {int(run.data.tags["automl.trial"]): run for run in runs if run.info.run_id != search_run.info.run_id}
    assert set(trial_runs) == set(rows) and len(runs) == 3
    for trial, run in trial_runs.items():
        assert run.data.tags["mlflow.parentRunId"] == search_run.info.run_id
        assert run.info.status == "FINISHED" and run.data.tags["automl.status"] == "complete"
        assert float(run.data.params["adam.learning_rate"]) == pytest.approx(rows[trial]["adam.learning_rate"])
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert sorted(metric.step for metric in history) == list(range(rows[trial]["epochs"]))
        assert run.data.metrics["result.objective"] == pytest.approx(rows[trial]["objective"], rel=1e-6)


def test_mlflow_logger_without_mlflow_says_how_to_install_it(tmp_path):
    # sys.modules[name] = None makes `import mlflow` fail as it does where MLflow is not installed.
    script = ("import sys; sys.modules['mlflow'] = None; from automl.cli import main; "
              f"sys.argv = ['automl', 'search', 'builtin:digits', '--out', {str(tmp_path / 'run')!r}, '--log', 'mlflow'];"
              " main()")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "automl[mlflow]"' in proc.stderr and "logger" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()
