"""Where a study lives (automl.storage): the run's Journal file or a database URL shown without its password,
and the repair of a Journal file that a killed process left with a torn last line. Real Optuna journals."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import optuna
import pytest
from filelock import FileLock, Timeout
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from automl.errors import StorageError, StorageRepairedWarning
from automl.run_dir import RunDirectory
from automl.storage import PASSWORD_ENV, StorageSpec, engine_url, redact, repair_journal, scrub, slot_lock

optuna.logging.set_verbosity(optuna.logging.WARNING)


def journal_study(path: Path, trials: int = 3) -> bytes:
    """A real Optuna study of ``trials`` trials in the Journal file ``path``; returns the file's bytes."""
    study = optuna.create_study(study_name="automl", storage=JournalStorage(JournalFileBackend(str(path))))
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=trials)
    return path.read_bytes()


def last_line(data: bytes) -> tuple[bytes, bytes]:
    """(everything before the last line, the last line without its newline)."""
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    return data[:start], data[start:].rstrip(b"\n")


def finished_trials(path: Path) -> int:
    study = optuna.load_study(study_name="automl", storage=JournalStorage(JournalFileBackend(str(path))))
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def append_a_trial(path: Path) -> None:
    study = optuna.load_study(study_name="automl", storage=JournalStorage(JournalFileBackend(str(path))))
    study.tell(study.ask(), 0.5)


# --- which storage, and how it is shown ------------------------------------------------------------------
def test_a_run_without_a_url_uses_its_journal_file_on_this_machine(tmp_path):
    spec = StorageSpec.for_run(tmp_path / "run", None)
    assert spec.url is None and spec.journal == RunDirectory(tmp_path / "run").journal
    assert spec.shown == str(spec.journal) and not spec.shared


def test_a_database_url_is_shared_and_shown_without_its_password(monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    spec = StorageSpec.for_run(Path("run"), "postgresql://automl:s3cret@db.example:5432/studies")
    assert spec.shared and spec.journal is None
    assert spec.url == "postgresql://automl:s3cret@db.example:5432/studies"  # what the driver connects with
    assert spec.shown == "postgresql://automl:***@db.example:5432/studies"
    assert "s3cret" not in scrub("could not connect to postgresql://automl:s3cret@db.example:5432/studies "
                                 "(password s3cret rejected)", spec.url)


def test_the_password_comes_from_the_environment_into_a_url_that_has_none(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "p@ss/w:rd")
    spec = StorageSpec.for_run(Path("run"), "postgresql://automl@db.example/studies")
    assert spec.url == "postgresql://automl:p%40ss%2Fw%3Ard@db.example/studies"  # quoted: one URL part
    assert spec.shown == "postgresql://automl:***@db.example/studies"
    # A password typed in the URL wins; a URL without a user gets none.
    assert StorageSpec.for_run(Path("run"), "postgresql://automl:typed@db/s").url == "postgresql://automl:typed@db/s"
    assert StorageSpec.for_run(Path("run"), "sqlite:///study.db").url == "sqlite:///study.db"


def test_a_url_automl_cannot_use_is_refused_without_showing_its_password():
    with pytest.raises(StorageError, match=r"--storage 'http://me:\*\*\*@host/db' is not a database URL") as info:
        StorageSpec.for_run(Path("run"), "http://me:hunter2@host/db")
    assert "hunter2" not in str(info.value)
    assert redact(None) is None and redact("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is None, reason="needs psycopg2, the preferred driver")
def test_a_url_without_a_driver_gets_the_installed_one_and_a_missing_named_driver_is_named():
    assert engine_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert engine_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"  # the Heroku-style name
    assert engine_url("sqlite:///x.db") == "sqlite:///x.db"
    if importlib.util.find_spec("psycopg") is None:
        with pytest.raises(StorageError, match=r"names the driver 'psycopg', which is not installed: pip install "
                                               r"'psycopg\[binary\]'"):
            engine_url("postgresql+psycopg://u:pw@h/db")


# --- a Journal file after a torn write -------------------------------------------------------------------
def test_a_sound_journal_an_empty_one_or_none_needs_no_repair(tmp_path):
    journal = tmp_path / "j.log"
    assert repair_journal(journal) is None and not journal.exists()  # a missing file is not created
    journal.write_bytes(b"")
    assert repair_journal(journal) is None
    data = journal_study(journal)
    assert repair_journal(journal) is None and journal.read_bytes() == data


def test_a_torn_last_operation_is_dropped_and_the_study_reads_and_appends_again(tmp_path):
    journal = tmp_path / "j.log"
    head, last = last_line(journal_study(journal))
    journal.write_bytes(head + last[:25])  # the kill came 25 bytes into Optuna's last write
    note = repair_journal(journal)
    line = len(head.splitlines()) + 1
    assert note == f"repaired {journal} after a torn write: line {line}: dropped 25 bytes of an operation a torn " \
                   "write cut short"
    assert journal.read_bytes() == head
    before = finished_trials(journal)
    append_a_trial(journal)  # without the repair the append would fuse with the fragment
    assert finished_trials(journal) == before + 1 and repair_journal(journal) is None


def test_a_whole_last_operation_that_lost_only_its_newline_is_kept(tmp_path):
    journal = tmp_path / "j.log"
    data = journal_study(journal)
    head, last = last_line(data)
    journal.write_bytes(head + last)
    assert "restored the newline a torn write cut off" in repair_journal(journal)
    assert journal.read_bytes() == data and finished_trials(journal) == 3


def test_a_fragment_an_earlier_append_fused_with_a_whole_operation_is_cut_off(tmp_path):
    journal = tmp_path / "j.log"
    data = journal_study(journal)
    head, last = last_line(data)
    journal.write_bytes(head + last[:40] + last + b"\n")  # what Optuna did after a torn write without the repair
    assert finished_trials(journal) == 2  # the fused line reads as a torn one: the last trial's end is lost
    assert "dropped the 40-byte fragment of a torn write before an operation" in repair_journal(journal)
    assert journal.read_bytes() == data and finished_trials(journal) == 3
    append_a_trial(journal)
    assert finished_trials(journal) == 4


def test_opening_an_idle_run_repairs_its_journal_but_not_while_a_search_holds_the_run(tmp_path):
    run = RunDirectory(tmp_path)
    head, last = last_line(journal_study(run.journal))
    torn = head + last[:30]
    run.journal.write_bytes(torn)
    spec = StorageSpec.for_run(tmp_path, None)
    with FileLock(str(run.lock)):  # a running search holds the run: its file is not touched
        with warnings.catch_warnings():
            warnings.simplefilter("error", StorageRepairedWarning)
            spec.open()
        assert run.journal.read_bytes() == torn
    with pytest.warns(StorageRepairedWarning, match="dropped 30 bytes"):
        storage = spec.open()
    assert run.journal.read_bytes() == head
    assert len(optuna.load_study(study_name="automl", storage=storage).trials) == 3


def test_the_slot_lock_of_a_journal_run_excludes_every_other_holder(tmp_path):
    spec = StorageSpec.for_run(tmp_path, None)
    beside = FileLock(str(spec.journal) + ".slots.lock")
    with slot_lock(spec, None, "automl"), pytest.raises(Timeout):
        beside.acquire(timeout=0)
    with beside.acquire(timeout=0):  # released on leaving
        pass
