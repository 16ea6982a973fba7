"""The fault suite: what a killed process, a torn write, a signal, an unreadable input, a full or read-only disk
and a plugin whose models cannot be reloaded do to a run. Each case is injected for real (real searches through
the CLI, real signals, real file systems); none may lose finished work or end in a traceback.

Kept passing elsewhere: kill -9 of a search mid-trial (test_search), of a worker (test_workers), of an export
(test_export, slow), a failure mid-export (test_export), a hung or memory-hungry trial (test_workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from helpers import AUTOML, ENV, TINY_CNN_SPACE, leaderboard_rows, run_cli

from automl.run_dir import CONFIG_FILE, RunDirectory


def finished(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["status"] in ("complete", "pruned")]


def tree_hashes(folder: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def search_args(space: Path, run_dir: Path, trials: int, *extra) -> list:
    return ["search", "builtin:digits", "--space", space, "--trials", trials, "--out", run_dir, "--quiet",
            "--seed", 5, *extra]


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("space") / "space.yaml"
    path.write_text(TINY_CNN_SPACE)
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, space) -> Path:
    """A finished 3-trial search (trials in the search process): copy it before changing anything."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    run_cli(*search_args(space, run_dir, 3, "--workers", 0))
    return run_dir


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target


@contextlib.contextmanager
def small_tmpfs(tmp_path: Path, size: str, *, read_only: bool = False):
    """A real file system of ``size`` (a tmpfs), read-only if asked; skipped where this machine cannot mount."""
    mount_point = tmp_path / f"fs-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {proc.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


# --- 1. a torn write at the end of the study's journal file ---------------------------------------------
def _journal_lines(path: Path) -> tuple[bytes, bytes]:
    """(everything before the last line, the last line with its newline)."""
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    return data[:start], data[start:]


def _load_trials(journal: Path) -> list:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.load_study(study_name="automl", storage=storage).get_trials(deepcopy=False)


def test_a_torn_last_line_is_repaired_at_every_byte_offset(finished_run, tmp_path):
    """Cut the journal's last line at every byte; after the repair Optuna reads it, appends to it and reads it
    again (before the repair the append fused with the fragment and every later read failed)."""
    import optuna

    from automl.storage import repair_journal

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    head, last = _journal_lines(RunDirectory(finished_run).journal)
    whole = len(_load_trials(RunDirectory(finished_run).journal))
    journal = RunDirectory(tmp_path).journal
    for cut in range(len(last)):  # keep 0 .. len-1 bytes of the last line: len-1 loses only its newline
        journal.write_bytes(head + last[:cut])
        note = repair_journal(journal)
        assert (note is None) == (cut == 0), cut
        assert journal.read_bytes().endswith(b"\n"), cut
        if cut == len(last) - 1:
            assert "restored the newline" in note and journal.read_bytes() == head + last
        elif cut:
            assert f"dropped {cut} bytes" in note and journal.read_bytes() == head, cut
        trials = _load_trials(journal)
        study = optuna.load_study(study_name="automl", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(journal))))
        study.tell(study.ask(), 0.5)  # an append after the repair ...
        assert len(_load_trials(journal)) == len(trials) + 1 == whole + 1, cut  # ... reads back whole
        assert repair_journal(journal) is None


def test_a_search_resumes_to_the_exact_count_after_a_torn_write(finished_run, space, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    journal = RunDirectory(run_dir).journal
    head, last = _journal_lines(journal)
    journal.write_bytes(head + last[: len(last) // 2])  # a kill -9 in the middle of Optuna's last write
    proc = run_cli(*search_args(space, run_dir, 3, "--workers", 0))
    assert "repaired" in proc.stderr and "torn write" in proc.stderr, proc.stderr
    rows = leaderboard_rows(run_dir)  # a second read: the repaired journal stays readable
    assert len(finished(rows)) == 3, [(r["trial"], r["status"], r["reason"]) for r in rows]
    assert len({r["trial"] for r in rows}) == len(rows)


def test_a_journal_an_earlier_version_fused_is_repaired_by_a_reader(finished_run, tmp_path):
    """Optuna appended right after a torn line (what automl did before the repair existed): `automl leaderboard`
    repairs the file (no search holds the run) instead of failing with JSONDecodeError."""
    from optuna.storages.journal import JournalFileBackend

    run_dir = copy_run(finished_run, tmp_path)
    journal = RunDirectory(run_dir).journal
    head, last = _journal_lines(journal)
    journal.write_bytes(head + last[:40])
    JournalFileBackend(str(journal)).append_logs([json.loads(last)])  # lands right after the fragment
    assert b'{"op_code"' in journal.read_bytes().splitlines()[-1][1:]
    proc = run_cli("leaderboard", run_dir, "--json")
    assert "dropped the 40-byte fragment" in proc.stderr, proc.stderr
    assert len(finished(json.loads(proc.stdout))) == 3


# --- 2 and 3. the storage URL users type; a storage that does not open writes nothing --------------------
def test_a_plain_postgresql_url_gets_the_installed_driver():
    from automl.errors import StorageError
    from automl.storage import engine_url

    assert engine_url("postgresql://automl@db:5432/automl") == "postgresql+psycopg2://automl@db:5432/automl"
    assert engine_url("postgres://automl:pw@db/automl") == "postgresql+psycopg2://automl:pw@db/automl"
    assert engine_url("postgresql+psycopg2://automl@db/automl") == "postgresql+psycopg2://automl@db/automl"
    assert engine_url("sqlite:///runs/study.db") == "sqlite:///runs/study.db"
    with pytest.raises(StorageError, match=r"pip install 'psycopg\[binary\]'") as info:
        engine_url("postgresql+psycopg://automl:secret-pw@db/automl")  # psycopg 3 is not installed here
    assert "secret-pw" not in str(info.value)
    with pytest.raises(StorageError, match=r"mysql driver and none is installed: pip install 'PyMySQL'"):
        engine_url("mysql://automl@db/automl")


def test_a_postgresql_url_without_a_driver_names_the_extra_before_anything_runs(tmp_path):
    """The driver is the extra automl[postgres]: where it is missing (sys.modules[name] = None makes the import
    fail as it does there), the search says what to install and writes no run directory."""
    script = ("import sys; sys.modules['psycopg2'] = sys.modules['psycopg'] = None; from automl.cli import main; "
              f"sys.argv = ['automl', 'search', 'builtin:digits', '--out', {str(tmp_path / 'run')!r}, "
              "'--storage', 'postgresql://automl@127.0.0.1:9/automl']; main()")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "needs a postgresql driver and none is installed: pip install 'automl[postgres]'" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


def test_a_storage_that_cannot_be_opened_leaves_nothing_behind(space, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(*search_args(space, run_dir, 2, "--storage", "postgresql://automl@127.0.0.1:9/automl"),
                   check=False, timeout=120)
    assert proc.returncode == 2 and "could not open the storage" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not run_dir.exists()  # so the corrected command is not refused as "a different experiment"


# --- 4. SIGTERM (kill, systemd, Slurm, docker stop) and SIGINT ------------------------------------------
def _signal_mid_trial(args: list, sig: int, after_trials: int = 2) -> subprocess.CompletedProcess:
    """Start the search, wait for ``after_trials`` finished trials and a moment into the next, send ``sig`` to
    the search process alone (as `kill PID` does), and return what it printed and its exit status."""
    proc = subprocess.Popen([*AUTOML, *map(str, args)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    lines, deadline = [], time.monotonic() + 300
    for line in proc.stderr:  # --quiet: one line per finished trial
        lines.append(line)
        if sum(entry.startswith("trial ") for entry in lines) >= after_trials or time.monotonic() > deadline:
            break
    time.sleep(1.5)  # inside the next trial's epochs
    proc.send_signal(sig)
    try:
        stdout, rest = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    result = subprocess.CompletedProcess(args, proc.returncode, stdout, "".join(lines) + rest)
    result.pid = proc.pid
    return result


# Trials of a few seconds each, so that the signal lands inside one.
LONGER_TRIALS = TINY_CNN_SPACE.replace("max_epochs: 4, patience: 2", "max_epochs: 12, patience: 12")


@pytest.mark.parametrize("sig, status, workers", [
    (signal.SIGTERM, 143, 1), (signal.SIGTERM, 143, 0),
    pytest.param(signal.SIGINT, 130, 1, marks=pytest.mark.slow),  # Ctrl+C takes the same path as SIGTERM
], ids=["sigterm-worker", "sigterm-in-process", "sigint-worker"])
def test_a_signal_mid_trial_stops_cleanly_and_the_resume_retries_the_trial(tmp_path, sig, status, workers):
    space = tmp_path / "space.yaml"
    space.write_text(LONGER_TRIALS)
    run_dir = tmp_path / "run"
    args = search_args(space, run_dir, 3, "--workers", workers, "--pruner", "none")
    stopped = _signal_mid_trial(args, sig, after_trials=1)
    name = signal.Signals(sig).name
    assert stopped.returncode == status, stopped.stderr[-3000:]
    assert f"stopped by {name}" in stopped.stderr and "re-run the same command to resume" in stopped.stderr
    assert "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    assert not _group_outlives(stopped.pid, 15), "a worker outlived its search (they share its process group)"
    rows = leaderboard_rows(run_dir)
    interrupted = [r for r in rows if r["status"] == "interrupted"]
    assert len(interrupted) == 1 and name in interrupted[0]["reason"], rows
    assert not [r for r in rows if r["status"] == "failed"], rows  # not "failed BrokenPipeError"

    run_cli(*args)
    rows = leaderboard_rows(run_dir)
    assert len(finished(rows)) == 3, [(r["trial"], r["status"], r["reason"]) for r in rows]
    assert [r["retry_of"] for r in rows if r["retry_of"] is not None] == [interrupted[0]["trial"]]


def _group_outlives(group: int, seconds: float) -> bool:
    """Whether a process of ``group`` is still there after ``seconds`` (multiprocessing's resource tracker
    leaves a moment after its parent)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.2)
    return True


# --- 5. inputs the user names that cannot be read, parsed or written -----------------------------------
def test_unreadable_inputs_are_named_errors_without_a_traceback(finished_run, tmp_path):
    binary = tmp_path / "space.yaml"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    bad_yaml = tmp_path / "experiment.yaml"
    bad_yaml.write_text("trials: [3\nseed: 1\n")
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    damaged_run = copy_run(finished_run, tmp_path)
    RunDirectory(damaged_run).config.write_text("data: [builtin:digits\n")
    cases = {
        "binary --space": (["search", "builtin:digits", "--space", binary, "--out", tmp_path / "r1"],
                           "is not a UTF-8 text file"),
        "folder as --space": (["search", "builtin:digits", "--space", tmp_path, "--out", tmp_path / "r2"],
                              "is a folder"),
        "invalid --config": (["search", "--config", bad_yaml, "--out", tmp_path / "r3"],
                             "is not valid YAML at line 2"),
        f"damaged {CONFIG_FILE}": (["leaderboard", damaged_run], "is not valid YAML at line 2"),
        "export --out under a file": (["export", finished_run, "--out", not_a_folder / "deploy"], "cannot write"),
        "--out under a file": (["search", "builtin:digits", "--out", not_a_folder / "run"], "a-file"),
    }
    for case, (args, message) in cases.items():
        proc = run_cli(*args, check=False, timeout=300)
        assert proc.returncode == 2, (case, proc.stderr[-2000:])
        assert message in proc.stderr and "Traceback" not in proc.stderr, (case, proc.stderr[-2000:])
    assert not any((tmp_path / name).exists() for name in ("r1", "r2", "r3"))


def test_an_export_to_a_read_only_file_system_is_a_named_error(finished_run, tmp_path):
    with small_tmpfs(tmp_path, "1m", read_only=True) as read_only:
        proc = run_cli("export", finished_run, "--out", read_only / "deploy", check=False, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Read-only file system" in proc.stderr and "Traceback" not in proc.stderr


def test_an_export_onto_a_full_disk_fails_cleanly_and_leaves_nothing(finished_run, tmp_path):
    with small_tmpfs(tmp_path, "200k") as tiny:
        proc = run_cli("export", finished_run, "--out", tiny / "deploy", "--format", "keras,saved_model",
                       check=False, timeout=300)
        left = sorted(p.name for p in tiny.iterdir())
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert left == [".deploy.lock"] or left == [], left  # no half-written export


# --- 6. a plugin whose models cannot be reloaded ---------------------------------------------------------
SHEAR_PLUGIN = '''
from automl import Augmentation, hookimpl


class Shear(Augmentation):
    """keras.layers.RandomShear: a model holding it does not load back from its .keras file (Keras 3.15)."""

    name = "shear"
    description = "Random shear."

    def space(self, hp):
        return {"factor": hp.float("factor", 0.1, 0.3, default=0.2)}

    def layers(self, params, context):
        from keras import layers

        return [layers.RandomShear(x_factor=params["factor"], y_factor=params["factor"], seed=context.seed)]


@hookimpl
def automl_register_augmentations():
    return [Shear()]
'''


def test_a_plugin_whose_model_cannot_be_reloaded_fails_its_trials_and_the_search_goes_on(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "shear.py").write_text(SHEAR_PLUGIN)
    space = tmp_path / "space.yaml"
    space.write_text(TINY_CNN_SPACE.replace("augmentations: [none]", "augmentations: [shear, none]") + """
initial_trials:
  - {architecture: cnn, augmentation: shear, optimizer: adam}
  - {architecture: cnn, augmentation: none, optimizer: adam}
""")
    run_dir = tmp_path / "run"
    proc = run_cli(*search_args(space, run_dir, 3, "--plugins-dir", plugins, "--pruner", "none", "--workers", 0))
    from automl.export import exported_trials

    rows = leaderboard_rows(run_dir)
    sheared = [r for r in rows if r["augmentation"] == "shear"]
    assert sheared and all(r["status"] == "failed" and "cannot be loaded back" in r["reason"] for r in sheared), rows
    assert len(finished(rows)) == 3
    members = exported_trials(json.loads((RunDirectory(run_dir).best / "model_card.json").read_text()))
    assert {r["augmentation"] for r in rows if r["trial"] in members} == {"none"}, proc.stderr[-2000:]


def test_a_kept_model_that_no_longer_loads_is_skipped_at_the_end(finished_run, space, tmp_path):
    from automl.export import exported_trials

    run_dir = copy_run(finished_run, tmp_path)
    run = RunDirectory(run_dir)
    first = json.loads((run.best / "model_card.json").read_text())["trial"]  # the best: it stays kept
    run.trial_model(first).write_bytes(b"PK\x03\x04 damaged")
    run.test_metrics.unlink()
    proc = run_cli(*search_args(space, run_dir, 4, "--workers", 0))
    assert f"trial {first}'s kept model cannot be loaded" in proc.stderr, proc.stderr[-3000:]
    members = exported_trials(json.loads((run.best / "model_card.json").read_text()))
    assert members and first not in members, proc.stderr[-3000:]


def test_a_stop_that_native_code_turns_into_its_own_error_interrupts_the_trial(digits):
    """A SIGTERM that lands inside TensorFlow while a trial trains can surface as TensorFlow's own error (pybind11
    replaces the exception being raised). The trial must be interrupted (and queued again by the search), not
    recorded as failed."""
    import keras

    from automl import Architecture
    from automl.errors import Interrupted
    from automl.hp import FixedDriver
    from automl.plugin_manager import build_registry
    from automl.search_space import SearchSpace
    from automl.signals import stop_on_signals
    from automl.trainer import train_candidate

    class SignalledWhileTracing(keras.layers.Layer):
        calls = 0

        def call(self, inputs):
            SignalledWhileTracing.calls += 1
            if SignalledWhileTracing.calls > 1:  # not while the model is built: while fit traces its step
                try:
                    os.kill(os.getpid(), signal.SIGTERM)  # the handler raises Interrupted here ...
                except Interrupted as stop:
                    raise RuntimeError("H of original and normalized active exception types") from stop  # replaced
            return inputs

    class Signalled(Architecture):
        name = "signalled"
        tasks = ("image",)

        def build(self, inputs, params, context):
            return keras.layers.Flatten()(inputs)

    registry = build_registry(autoload=False, plugins=[Signalled()])
    space = SearchSpace.from_dict({"architectures": ["signalled"], "augmentations": ["none"],
                                   "optimizers": ["adam"], "training": {"max_epochs": 1}}, registry)
    candidate = space.sample(FixedDriver({"architecture": "signalled", "augmentation": "none", "optimizer": "adam"},
                                         fill_defaults=True), registry, "image")
    original = Signalled.build
    Signalled.build = lambda self, inputs, params, context: SignalledWhileTracing()(original(self, inputs, params,
                                                                                             context))
    with stop_on_signals(), pytest.raises(Interrupted):
        train_candidate(digits, candidate, registry, seed=0)
    assert SignalledWhileTracing.calls == 2  # built, then stopped inside fit
