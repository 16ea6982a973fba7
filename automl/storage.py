"""Where a study lives: the run directory's Journal file, or a database shared by several machines.

* no ``--storage``: ``RUN/study.journal``, Optuna's Journal file storage — safe for several processes on
  one machine, nothing to set up.
* ``--storage postgresql://user@host:5432/db`` (or ``mysql://…``, ``sqlite:///file.db``): Optuna's RDB
  storage, for workers on several machines (``automl worker``). A database password is taken from the URL
  or, better, from the environment variable ``AUTOML_STORAGE_PASSWORD`` so it never reaches a shell history.
  Workers send a heartbeat; a trial whose worker stops beating for ``grace`` seconds is failed and retried.

A URL is only ever shown, logged or written in its redacted form (``postgresql://user:***@host/db``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.errors import StorageError

JOURNAL_FILE = "study.journal"
PASSWORD_ENV = "AUTOML_STORAGE_PASSWORD"
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60

_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<user>[^:@/]*)(?::(?P<password>[^@/]*))?@)?(?P<rest>.*)$",
                  re.IGNORECASE)
_SCHEMES = ("postgresql", "postgresql+psycopg2", "postgres", "mysql", "mysql+pymysql", "sqlite")


def redact(url: str | None) -> str | None:
    """The URL with any password replaced by ``***``."""
    return _replace_password(url, ":***")


def without_password(url: str | None) -> str | None:
    """The URL with its password removed (what config.yaml keeps; the password comes from the environment)."""
    return _replace_password(url, "")


def _replace_password(url: str | None, replacement: str) -> str | None:
    match = _URL.match(url) if url is not None else None
    if match is None or match.group("password") is None:
        return url
    return f"{match.group('scheme')}://{match.group('user')}{replacement}@{match.group('rest')}"


def scrub(text: str, url: str | None) -> str:
    """``text`` with the URL's password (and the URL itself) removed, for error messages from drivers."""
    if not url:
        return text
    password = _password_of(url)
    text = text.replace(url, redact(url) or "")
    return text.replace(password, "***") if password else text


def _password_of(url: str) -> str | None:
    match = _URL.match(url)
    return match.group("password") if match else None


def with_password(url: str) -> str:
    """Insert the password from ``AUTOML_STORAGE_PASSWORD`` into a URL that has none."""
    password = os.environ.get(PASSWORD_ENV)
    match = _URL.match(url)
    if not password or not match or match.group("password") is not None or not match.group("user"):
        return url
    from urllib.parse import quote

    return f"{match.group('scheme')}://{match.group('user')}:{quote(password, safe='')}@{match.group('rest')}"


@dataclass
class StorageSpec:
    """Which storage a run uses. ``url`` may hold a password: never print it, use :attr:`shown`."""

    url: str | None  # None: the run directory's Journal file
    journal: Path | None = None

    @property
    def shown(self) -> str:
        return redact(self.url) if self.url else str(self.journal)

    @property
    def shared(self) -> bool:
        """True for a database several machines reach: stale trials are found by heartbeat, not by a lock."""
        return self.url is not None

    @classmethod
    def for_run(cls, run_dir: Path, url: str | None) -> StorageSpec:
        if url is None:
            return cls(None, Path(run_dir) / JOURNAL_FILE)
        match = _URL.match(url)
        if not match or match.group("scheme").lower() not in _SCHEMES:
            raise StorageError(f"--storage {redact(url)!r} is not a database URL automl can use; expected e.g. "
                               "postgresql://user@host:5432/dbname (password in $AUTOML_STORAGE_PASSWORD), or "
                               "leave --storage out to use the run directory's Journal file.")
        return cls(with_password(url))

    def open(self, stale_trial_callback: Any = None):
        """The Optuna storage object (a database connection is tried now, so a bad URL fails early)."""
        import optuna
        from optuna.storages import JournalStorage, RDBStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if self.url is None:
            assert self.journal is not None
            return JournalStorage(JournalFileBackend(str(self.journal)))
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(self.url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                                  heartbeat_stale_trial_callback=stale_trial_callback,
                                  engine_kwargs={"pool_pre_ping": True})
        except Exception as exc:  # sqlalchemy / driver errors may quote the URL: scrub before showing
            raise StorageError(f"could not open the storage {self.shown}: {scrub(str(exc), self.url)} "
                               f"(check the host, the database and the password in ${PASSWORD_ENV})") from None


@contextlib.contextmanager
def slot_lock(spec: StorageSpec, storage: Any, study_name: str) -> Iterator[None]:
    """Serialise "count the trials, then ask for one" across every worker of a study.

    Without it two workers can both see one missing trial and both start it, overshooting ``--trials``.
    A Journal file run uses a lock file beside the journal; PostgreSQL an advisory lock on the study's
    name; other databases a lock file beside an SQLite file (MySQL: GET_LOCK).
    """
    if spec.url is None or spec.url.lower().startswith("sqlite"):
        from filelock import FileLock

        path = spec.journal if spec.journal is not None else Path(spec.url.split("///", 1)[-1])  # type: ignore[union-attr]
        with FileLock(str(path) + ".slots.lock"):
            yield
        return
    from sqlalchemy import text

    key = int.from_bytes(hashlib.sha256(f"automl:{study_name}".encode()).digest()[:8], "big", signed=True)
    postgres = spec.url.lower().startswith("postgres")
    with storage.engine.connect() as connection:
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        else:
            connection.execute(text("SELECT GET_LOCK(:name, 600)"), {"name": f"automl:{study_name}"[:64]})
        try:
            yield
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            else:
                connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": f"automl:{study_name}"[:64]})
            connection.commit()
