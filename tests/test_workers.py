"""Worker processes and the fault policy: a worker that is killed, aborts, runs out of memory or hangs costs
one failed trial (retried where that makes sense), never the search. Real processes, real signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import AUTOML, ENV, TINY_MLP_SPACE, leaderboard_rows, run_cli, sigkill_after_trials

from automl.run_dir import RunDirectory

# Each fault fires once — a marker file remembers it — so the retry (or the next trial) runs normally.
FAULTS = '''
import os, signal, time
from pathlib import Path
from automl import Architecture, hookimpl

MARKERS = Path(os.environ["AUTOML_TEST_MARKERS"])


def once(name):
    marker = MARKERS / name
    try:
        marker.touch(exist_ok=False)
        return True
    except FileExistsError:
        return False


class Faulty(Architecture):
    tasks = ("image", "tabular")
    fault = ""

    def space(self, hp):
        return {"units": hp.int("units", 8, 16)}

    def build(self, inputs, params, context):
        from keras import layers

        if once(self.name):
            self.fail()
        return layers.Dense(params["units"], activation="relu")(layers.Flatten()(inputs))


class Abort(Faulty):
    name = "aborts"

    def fail(self):
        os.abort()


class Killed(Faulty):
    name = "killed"

    def fail(self):
        os.kill(os.getpid(), signal.SIGKILL)


class Hangs(Faulty):
    name = "hangs"

    def fail(self):
        time.sleep(3600)


class Greedy(Faulty):
    name = "greedy"

    def fail(self):
        hoard = []
        while True:  # allocates (and touches) 64 MB at a time until the allocation fails
            hoard.append(bytearray(64 * 1024 * 1024))


@hookimpl
def automl_register_architectures():
    return [Abort(), Killed(), Hangs(), Greedy()]
'''


def finished(rows) -> list[dict]:
    return [r for r in rows if r["status"] in ("complete", "pruned")]


def summary(rows) -> list:
    return [(r["trial"], r["status"], r["architecture"], r["reason"], r["retry_of"]) for r in rows]


@pytest.fixture
def faults(tmp_path) -> tuple[Path, dict]:
    plugins, markers = tmp_path / "plugins", tmp_path / "markers"
    plugins.mkdir()
    markers.mkdir()
    (plugins / "faults.py").write_text(FAULTS)
    return plugins, {**ENV, "AUTOML_TEST_MARKERS": str(markers)}


def fault_space(tmp_path: Path, architecture: str) -> Path:
    path = tmp_path / f"{architecture}.yaml"
    path.write_text(f"""
architectures: [{architecture}]
augmentations: [none]
optimizers:
  adam: {{learning_rate: 0.005, schedule: constant}}
training: {{batch_size: 64, max_epochs: 2, patience: 2}}
""")
    return path


# --- acceptance: two workers, exact count ----------------------------------------------------------------
def test_two_workers_finish_exactly_the_requested_trials(tmp_path):
    run_dir = tmp_path / "run2"
    run_cli("search", "builtin:digits", "--space", "quick", "--trials", 8, "--workers", 2, "--out", run_dir,
            "--seed", 2, "--quiet")
    rows = leaderboard_rows(run_dir)
    assert len(finished(rows)) == 8, summary(rows)
    assert len({r["trial"] for r in rows}) == len(rows)
    assert (RunDirectory(run_dir).best / "model.keras").is_file()


@pytest.mark.slow  # ~90 s; test_search's SIGKILL + rerun covers resuming a worker-run search by default
def test_sigkill_of_the_whole_search_then_rerun_resumes_exactly(tmp_path):
    run_dir = tmp_path / "run"
    args = ["search", "builtin:digits", "--space", "quick", "--trials", 10, "--out", run_dir, "--seed", 1, "--quiet"]
    done = sigkill_after_trials(args, 3)  # the search and its worker, mid-way through the next trial
    assert done >= 3
    run_cli(*args)
    rows = leaderboard_rows(run_dir)
    assert len(finished(rows)) == 10, summary(rows)
    assert len({r["trial"] for r in rows}) == len(rows)


# --- one worker dies: its trial fails, the search goes on ------------------------------------------------
@pytest.mark.parametrize("architecture, signal_name", [
    ("killed", "SIGKILL"), pytest.param("aborts", "SIGABRT", marks=pytest.mark.slow)])
def test_a_worker_killed_or_aborting_mid_trial_fails_that_trial_and_it_is_retried(tmp_path, faults, architecture,
                                                                                   signal_name):
    plugins, env = faults
    run_dir = tmp_path / "run"
    run_cli("search", "builtin:digits", "--space", fault_space(tmp_path, architecture), "--trials", 3, "--out",
            run_dir, "--plugins-dir", plugins, "--quiet", "--pruner", "none", env=env)
    rows = leaderboard_rows(run_dir)
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and signal_name in failed[0]["reason"], summary(rows)
    retries = [r for r in rows if r["retry_of"] == failed[0]["trial"]]
    assert len(retries) == 1 and retries[0]["status"] == "complete", summary(rows)  # retried once, then fine
    assert len(finished(rows)) == 3


def test_a_trial_that_allocates_until_it_fails_costs_only_that_trial(tmp_path, faults):
    plugins, env = faults
    run_dir = tmp_path / "run"
    run_cli("search", "builtin:digits", "--space", fault_space(tmp_path, "greedy"), "--trials", 2, "--out", run_dir,
            "--plugins-dir", plugins, "--quiet", "--pruner", "none", "--worker-memory-limit", 3000, env=env)
    rows = leaderboard_rows(run_dir)
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1, summary(rows)
    assert "MemoryError" in failed[0]["reason"] or "SIGABRT" in failed[0]["reason"] or "SIGKILL" in failed[0]["reason"]
    assert len(finished(rows)) == 2


def test_a_hung_trial_is_killed_at_the_trial_timeout_and_not_retried(tmp_path, faults):
    plugins, env = faults
    run_dir = tmp_path / "run"
    started = time.monotonic()
    run_cli("search", "builtin:digits", "--space", fault_space(tmp_path, "hangs"), "--trials", 2, "--out", run_dir,
            "--plugins-dir", plugins, "--quiet", "--trial-timeout", "12s", env=env)
    rows = leaderboard_rows(run_dir)
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and "--trial-timeout" in failed[0]["reason"], summary(rows)
    assert not any(r["retry_of"] == failed[0]["trial"] for r in rows)  # it would hang again
    assert len(finished(rows)) == 2
    assert time.monotonic() - started < 600


@pytest.mark.slow  # the killed-worker case is covered by default by the [killed-SIGKILL] test above
def test_sigkill_of_one_worker_from_outside_mid_trial(tmp_path):
    """Kill a worker process (not the search) while it trains; its trial fails and is retried, the search ends."""
    space = tmp_path / "space.yaml"
    space.write_text(TINY_MLP_SPACE.replace("max_epochs: 2", "max_epochs: 60").replace("patience: 2", "patience: 60"))
    run_dir = tmp_path / "run"
    args = ["search", "builtin:digits", "--space", space, "--trials", 4, "--out", run_dir, "--quiet", "--workers", 2,
            "--pruner", "none"]
    proc = subprocess.Popen([*AUTOML, *map(str, args)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    victim, deadline = None, time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        # Once a trial has finished, both workers are busy: one with its next trial, the other mid-way.
        if RunDirectory(run_dir).leaderboard_csv.exists():
            workers = [pid for pid in _children(proc.pid) if b"spawn_main" in _cmdline(pid)]
            victim = workers[0] if workers else None
    assert victim is not None, f"no worker found while the search ran (exit {proc.poll()})"
    time.sleep(1.0)  # well inside a trial
    os.kill(victim, signal.SIGKILL)
    assert proc.wait(timeout=600) == 0
    rows = leaderboard_rows(run_dir)
    assert len(finished(rows)) == 4, summary(rows)
    assert len({r["trial"] for r in rows}) == len(rows)
    killed = [r for r in rows if r["status"] == "failed"]
    assert len(killed) == 1 and "SIGKILL" in killed[0]["reason"], summary(rows)
    assert [r["status"] for r in rows if r["retry_of"] == killed[0]["trial"]] == ["complete"], summary(rows)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_worker_options_are_checked_before_anything_runs(tmp_path):
    for args, needle in ((["--workers", -1], "--workers"), (["--trial-timeout", "0"], "trial-timeout"),
                         (["--backend", "kerastuner", "--workers", 2], "optuna backend"),
                         (["--storage", "ftp://host/x"], "not a database URL"), (["--study", "../x"], "--study")):
        proc = run_cli("search", "builtin:digits", "--out", tmp_path / "never", *args, check=False)
        assert proc.returncode == 2 and needle in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "never").exists()
    proc = run_cli("worker", "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}", "--study", "../escape", check=False)
    assert proc.returncode == 2 and "--study" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path.parent / "escape").exists() and not Path("runs/../escape").exists()


def test_an_interrupted_trial_resumes_from_its_last_checkpointed_epoch(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(TINY_MLP_SPACE.replace("max_epochs: 2", "max_epochs: 40").replace("patience: 2", "patience: 40"))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([*AUTOML, "search", "builtin:digits", "--space", str(space), "--trials", "1", "--out",
                             str(run_dir), "--quiet", "--pruner", "none", "--checkpoint-every", "0"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state, deadline, epoch = RunDirectory(run_dir).checkpoint(0) / "state.json", time.monotonic() + 300, 0
    while epoch < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        try:
            epoch = json.loads(state.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            continue
    workers = [pid for pid in _children(proc.pid) if b"spawn_main" in _cmdline(pid)]
    assert epoch >= 5 and workers, f"no checkpoint reached epoch 5 (exit {proc.poll()})"
    os.kill(workers[0], signal.SIGKILL)
    assert proc.wait(timeout=600) == 0
    rows = leaderboard_rows(run_dir)
    killed = [r for r in rows if r["status"] == "failed"]
    assert len(killed) == 1 and "SIGKILL" in killed[0]["reason"], summary(rows)
    retry = next(r for r in rows if r["retry_of"] == killed[0]["trial"])
    assert retry["status"] == "complete" and "resumed from epoch" in retry["reason"], summary(rows)
    resumed_at = int(retry["reason"].split("resumed from epoch ")[1].split()[0])
    assert resumed_at >= 5
    assert retry["epochs"] == 40  # the epochs before the kill count: it did not start again from zero
    assert not RunDirectory(run_dir).checkpoint(0).exists()  # removed once the trial had its result
