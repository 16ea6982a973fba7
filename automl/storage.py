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
import importlib.util
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from automl.errors import StorageError
from automl.run_dir import RunDirectory

PASSWORD_ENV = "AUTOML_STORAGE_PASSWORD"
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60

_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<user>[^:@/]*)(?::(?P<password>[^@/]*))?@)?(?P<rest>.*)$",
                  re.IGNORECASE)
_SCHEMES = ("postgresql", "postgresql+psycopg2", "postgresql+psycopg", "postgres", "mysql", "mysql+pymysql",
            "mysql+mysqldb", "sqlite")
# The drivers automl can use for a scheme typed without one, in order of preference: (SQLAlchemy dialect+driver,
# the module it imports, the package that provides it). SQLAlchemy's own default differs between its versions
# (2.1 picks psycopg 3 for postgresql://, 2.0 psycopg2), so a URL as users type it names the installed driver.
_DRIVERS = {
    "postgresql": (("postgresql+psycopg2", "psycopg2", "psycopg2-binary"),
                   ("postgresql+psycopg", "psycopg", "psycopg[binary]")),
    "mysql": (("mysql+pymysql", "pymysql", "PyMySQL"), ("mysql+mysqldb", "MySQLdb", "mysqlclient")),
}
_ALIASES = {"postgres": "postgresql"}  # Heroku-style URLs; SQLAlchemy itself refuses the name
# The extra of automl that installs a dialect's preferred driver (a plain search needs none).
_EXTRAS = {"postgresql": "automl[postgres]"}


@overload
def redact(url: str) -> str: ...
@overload
def redact(url: None) -> None: ...
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
            return cls(None, RunDirectory(run_dir).journal)
        match = _URL.match(url)
        if not match or match.group("scheme").lower() not in _SCHEMES:
            raise StorageError(f"--storage {redact(url)!r} is not a database URL automl can use; expected e.g. "
                               "postgresql://user@host:5432/dbname (password in $AUTOML_STORAGE_PASSWORD), or "
                               "leave --storage out to use the run directory's Journal file.")
        return cls(with_password(url))

    def open(self, stale_trial_callback: Any = None):
        """The Optuna storage object (a database connection is tried now, so a bad URL fails early).

        A Journal file that no search is running on is first repaired if a torn write left it unreadable
        (:func:`repair_journal`); the search repairs its own when it takes the run's lock.
        """
        import optuna
        from optuna.storages import JournalStorage, RDBStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if self.url is None:
            assert self.journal is not None
            _repair_if_idle(self.journal)
            return JournalStorage(JournalFileBackend(str(self.journal)))
        import warnings

        url = engine_url(self.url)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                                  heartbeat_stale_trial_callback=stale_trial_callback,
                                  engine_kwargs={"pool_pre_ping": True})
        except Exception as exc:  # sqlalchemy / driver errors may quote the URL: scrub before showing
            raise StorageError(f"could not open the storage {self.shown}: {scrub(scrub(str(exc), url), self.url)} "
                               f"(check the host, the database and the password in ${PASSWORD_ENV})") from None


def engine_url(url: str) -> str:
    """``url`` with the driver SQLAlchemy should use: the installed one when the URL names none.

    ``postgresql://`` becomes ``postgresql+psycopg2://`` (or ``+psycopg`` where only psycopg 3 is installed);
    a URL naming its driver keeps it. A driver that is not installed is a :class:`StorageError` naming the
    package to install, not a connection error blaming the host or the password.
    """
    match = _URL.match(url)
    if match is None:
        return url
    scheme = match.group("scheme").lower()
    dialect, _, driver = _ALIASES.get(scheme, scheme).partition("+")
    options = _DRIVERS.get(dialect)
    if options is None:
        return url  # sqlite: in the standard library
    rest = url.split("://", 1)[1]
    if driver:
        named = next((option for option in options if option[0] == f"{dialect}+{driver}"), None)
        if named is None or _installed(named[1]):
            return f"{dialect}+{driver}://{rest}"
        raise StorageError(f"--storage {redact(url)!r} names the driver {driver!r}, which is not installed: "
                           f"pip install {named[2]!r}, or leave the driver out ({dialect}://...) to use whichever "
                           "is installed.")
    for name, module, _package in options:
        if _installed(module):
            return f"{name}://{rest}"
    packages = [repr(package) for _name, _module, package in _DRIVERS[dialect]]
    if dialect in _EXTRAS:
        packages.insert(0, repr(_EXTRAS[dialect]))
    raise StorageError(f"--storage {redact(url)!r} needs a {dialect} driver and none is installed: pip install "
                       f"{' or '.join(packages)}.")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --- a Journal file after a torn write ------------------------------------------------------------------
_OPERATION = b'{"op_code":'


def repair_journal(path: Path) -> str | None:
    """Make a Journal file that a killed process left with a torn write readable and safe to append to;
    returns what was repaired (for a warning), or None when the file was sound.

    Optuna writes each batch of operations as JSON lines and skips a last line that has no newline, but it
    appends the next batch right after that fragment: the fused line can never be read again, and every
    later read of the study fails. So, only by whoever holds the run's lock (no process is writing):

    * a last line without its newline is dropped, or terminated when it is a whole operation that only lost
      the newline;
    * a line where such a fragment was fused with a whole operation (written before this repair existed)
      keeps the whole operation.

    The file is replaced through a temporary file, so a crash during the repair leaves it as it was.
    """
    data = path.read_bytes() if path.is_file() else b""
    if not data:
        return None
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with its newline
    notes: list[str] = []
    # A whole operation starts every line; one that starts anywhere else was appended to a fragment.
    fused = data.count(_OPERATION) - data.count(b"\n" + _OPERATION) - data.startswith(_OPERATION)
    if fused:
        for number, line in enumerate(lines):
            start = line.find(_OPERATION, 1)
            while start != -1 and not _is_operation(line[start:]):  # the fragment may hold the name itself
                start = line.find(_OPERATION, start + 1)
            if start > 0 and not _is_operation(line):
                notes.append(f"line {number + 1}: dropped the {start}-byte fragment of a torn write before an "
                             "operation")
                lines[number] = line[start:]
    if tail:
        if _is_operation(tail):
            notes.append(f"line {len(lines) + 1}: restored the newline a torn write cut off")
            lines.append(tail)
        else:
            notes.append(f"line {len(lines) + 1}: dropped {len(tail)} bytes of an operation a torn write cut short")
    if not notes:
        return None
    from automl.io import atomic_write_bytes

    atomic_write_bytes(path, b"".join(line + b"\n" for line in lines))
    return f"repaired {path} after a torn write: " + "; ".join(notes)


def _is_operation(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict) and line.startswith(_OPERATION)
    except ValueError:
        return False


def _repair_if_idle(journal: Path) -> None:
    """Repair ``journal`` when no search holds its run's lock (one that does repaired it on taking it)."""
    if not journal.is_file():
        return
    from filelock import FileLock, Timeout

    lock = FileLock(str(RunDirectory(journal.parent).lock))
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):  # a running search owns the file; a read-only folder cannot be repaired
        return
    try:
        note = repair_journal(journal)
    finally:
        lock.release()
    if note:
        import warnings

        from automl.errors import StorageRepairedWarning

        warnings.warn(note, StorageRepairedWarning, stacklevel=3)


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
