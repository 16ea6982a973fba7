"""Several machines on one study: a real PostgreSQL server (tests/postgres_server.py), real worker processes.

The search runs 4 local workers and 4 more join it with `automl worker`, as other machines would: 8 processes
share one study over TCP. The database password travels only in $AUTOML_STORAGE_PASSWORD.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from helpers import AUTOML, ENV, TINY_MLP_SPACE

from automl.run_dir import RunDirectory


def _wait_for_study(sqlalchemy_url: str, study: str, timeout: float = 240) -> None:
    import optuna

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "automl_config" in optuna.load_study(study_name=study, storage=sqlalchemy_url).user_attrs:
                return
        except KeyError:
            pass
        time.sleep(1)
    raise AssertionError(f"the search did not create study {study!r} in {timeout} s")


@pytest.mark.slow  # ~2 min; the password test below runs a search on the same real PostgreSQL by default
def test_eight_workers_on_postgresql_finish_the_exact_count_without_leaking_the_password(postgres, tmp_path,
                                                                                        tiny_mlp_space):
    import optuna
    from optuna.trial import TrialState

    db = postgres.new_database()
    env = {**ENV, "AUTOML_STORAGE_PASSWORD": db.password}
    run_dir = tmp_path / "shared_run"
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, *args) -> subprocess.Popen:
        return subprocess.Popen([*AUTOML, *map(str, args)], env=env, stdout=(logs / f"{name}.out").open("w"),
                                stderr=(logs / f"{name}.err").open("w"))

    search = start("search", "search", "builtin:digits", "--space", tiny_mlp_space, "--trials", 40, "--workers", 4,
                   "--out", run_dir, "--storage", db.url, "--quiet", "--seed", 4)
    _wait_for_study(db.sqlalchemy_url, "shared_run")
    joiners = [start(f"worker{i}", "worker", "--storage", db.url, "--study", "shared_run", "--out",
                     tmp_path / f"node{i}") for i in range(4)]
    for proc in (search, *joiners):
        assert proc.wait(timeout=900) == 0, (logs / "search.err").read_text()[-3000:]

    study = optuna.load_study(study_name="shared_run", storage=db.sqlalchemy_url)
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    assert TrialState.RUNNING not in states
    assert sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states) == 40
    # The joiners really ran trials (not just the search's own workers).
    joined = sum(sum(1 for line in (logs / f"worker{i}.err").read_text().splitlines() if line.startswith("trial "))
                 for i in range(4))
    print(f"{len(trials)} trials, {joined} run by the 4 joining workers")
    assert joined >= 1

    rows = json.loads(subprocess.run([*AUTOML, "leaderboard", run_dir, "--json"], env=env, capture_output=True,
                                     text=True, check=True).stdout)
    assert sum(r["status"] in ("complete", "pruned") for r in rows) == 40

    # The password is nowhere: not in any output, not in any file the run or the workers wrote.
    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and db.password.encode() in p.read_bytes()]
    assert leaks == []
    assert f"postgresql://automl@127.0.0.1:{db.port}/" in RunDirectory(run_dir).config.read_text()  # as typed


def test_a_password_typed_in_the_url_is_never_written_or_shown(postgres, tmp_path, tiny_mlp_space):
    db = postgres.new_database()
    run_dir = tmp_path / "run"
    # A wrong URL first (nobody listens on port 9): a named error, and nothing written that would refuse the
    # corrected command on the same --out as "a different experiment".
    wrong = db.url_with_password.replace(f":{db.port}/", ":9/")
    proc = subprocess.run([*AUTOML, "search", "builtin:digits", "--space", str(tiny_mlp_space), "--trials", "2",
                           "--out", str(run_dir), "--storage", wrong, "--quiet"], env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "could not open the storage" in proc.stderr, proc.stderr[-2000:]
    assert db.password not in proc.stdout + proc.stderr and not run_dir.exists()
    # Then the README's URL form (no driver named), with the password typed in it.
    proc = subprocess.run([*AUTOML, "search", "builtin:digits", "--space", str(tiny_mlp_space), "--trials", "2",
                           "--out", str(run_dir), "--storage", db.url_with_password, "--quiet"], env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert db.password not in proc.stdout + proc.stderr
    leaks = [str(p) for p in run_dir.rglob("*") if p.is_file() and db.password.encode() in p.read_bytes()]
    assert leaks == []
    # A wrong password is an error that names the storage without any password.
    bad = db.url_with_password.replace(db.password, "not-the-password-x1")
    proc = subprocess.run([*AUTOML, "leaderboard", str(run_dir)], env={**ENV, "AUTOML_STORAGE_PASSWORD": "also-wrong-x2"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "also-wrong-x2" not in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([*AUTOML, "worker", "--storage", bad, "--study", "run"], env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "not-the-password-x1" not in proc.stdout + proc.stderr and "***" in proc.stderr


@pytest.mark.slow  # ~4 min: 60 trials of the default space; the password test above covers the URL by default
def test_the_readme_multi_machine_example_runs_verbatim(postgres, tmp_path):
    """The README's two commands, as printed there, with only the database's address put in."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("**Several machines**", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    db = postgres.new_database()
    block = block.replace("db.example:5432/automl", f"{db.host}:{db.port}/{db.database}")
    commands = [line.split("  #", 1)[0].strip() for line in block.replace("\\\n", " ").splitlines()
                if line.startswith("automl ")]
    assert [c.split()[1] for c in commands] == ["search", "worker"], block
    env = {**ENV, "AUTOML_STORAGE_PASSWORD": db.password,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    search = subprocess.Popen(commands[0], shell=True, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=(tmp_path / "search.err").open("w"))
    _wait_for_study(db.sqlalchemy_url, "digits")
    worker = subprocess.run(commands[1], shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=1200)
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert search.wait(timeout=1200) == 0, (tmp_path / "search.err").read_text()[-3000:]
    trials = int(commands[0].split("--trials")[1].split()[0])
    rows = json.loads(subprocess.run([*AUTOML, "leaderboard", str(tmp_path / "runs" / "digits"), "--json"], env=env,
                                     capture_output=True, text=True, check=True).stdout)
    assert sum(r["status"] in ("complete", "pruned") for r in rows) == trials
    # The search exports the best model when it holds the best trials' models; a trial the other machine ran keeps
    # its model there (README: each worker keeps the models of top trials in its own --out).
    said = (tmp_path / "search.err").read_text()
    exported = RunDirectory(tmp_path / "runs" / "digits").best / "model.keras"
    assert exported.is_file() or "run automl export" in said, said[-2000:]
    print(f"{trials} trials; the joining worker ran "
          f"{sum(line.startswith('trial ') for line in worker.stderr.splitlines())}")


@pytest.mark.slow  # ~1 min; SIGTERM of a search (the same runner code) is in the default suite (test_faults)
def test_sigterm_of_a_joining_worker_interrupts_its_trial_and_the_search_retries_it(postgres, tmp_path):
    import signal

    db = postgres.new_database()
    env = {**ENV, "AUTOML_STORAGE_PASSWORD": db.password}
    space = tmp_path / "space.yaml"
    space.write_text(TINY_MLP_SPACE.replace("max_epochs: 2, patience: 2", "max_epochs: 40, patience: 40"))
    search = subprocess.Popen([*AUTOML, "search", "builtin:digits", "--space", str(space), "--trials", "6", "--out",
                               str(tmp_path / "run"), "--storage", db.url, "--quiet", "--pruner", "none"], env=env,
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / "search.err").open("w"))
    _wait_for_study(db.sqlalchemy_url, "run")
    worker = subprocess.Popen([*AUTOML, "worker", "--storage", db.url, "--study", "run", "--out", str(tmp_path / "node")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in worker.stderr:  # one line per trial it finished
        if line.startswith("trial "):
            break
    time.sleep(2)  # inside its next trial
    worker.send_signal(signal.SIGTERM)
    said = worker.stderr.read()
    assert worker.wait(timeout=60) == 143 and "stopped by SIGTERM" in said, said[-2000:]
    assert search.wait(timeout=900) == 0, (tmp_path / "search.err").read_text()[-3000:]
    rows = json.loads(subprocess.run([*AUTOML, "leaderboard", str(tmp_path / "run"), "--json"], env=env,
                                     capture_output=True, text=True, check=True).stdout)
    interrupted = [r for r in rows if r["status"] == "interrupted"]
    assert len(interrupted) == 1 and "SIGTERM" in interrupted[0]["reason"], rows
    assert sum(r["status"] in ("complete", "pruned") for r in rows) == 6
    assert [r["retry_of"] for r in rows if r["retry_of"] is not None] == [interrupted[0]["trial"]]
