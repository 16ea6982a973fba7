"""A private, throw-away PostgreSQL server for the tests: the session-scoped fixture ``postgres``.

The multi-node storage is Optuna's RDB storage on PostgreSQL, so its tests talk to a real server over a real
TCP connection. This plugin starts one per test session:

* ``initdb`` into a fresh temporary directory (C locale, UTF8), a random superuser password;
* listening on 127.0.0.1 only, on a free port; the unix socket inside the temporary directory;
* ``password_encryption = scram-sha-256`` and a ``pg_hba.conf`` that asks every connection, TCP or socket,
  for a scram-sha-256 password (no ``trust``, no ``peer``);
* a login role ``automl`` (not a superuser) with a random password, owning the database ``automl_test``.

The fixture yields a :class:`PostgresServer`; ``postgres.new_database()`` gives each test its own empty
database so tests never see each other's studies. On teardown the server is stopped (``pg_ctl stop -m
fast``, then ``immediate``, then SIGKILL) and the directory removed, whether the tests passed or not.

The server binaries (``initdb``, ``pg_ctl``, ``postgres``) are looked up on PATH, then in
``/usr/lib/postgresql/*/bin`` (newest version first). When they are missing, the tests that use the fixture
are skipped with the command that installs them (``apt-get install postgresql``) -- except when the
environment variable ``CI`` is set (to anything but ``0``/``false``/``no``): there they fail, so that CI can
never silently skip the PostgreSQL tests. initdb refuses to run as root, so as root the server commands run
as the ``postgres`` system user that Debian's package creates (the directory is handed over to it); no user
is ever created by the tests.

Register it from ``tests/conftest.py`` with ``pytest_plugins = ["postgres_server"]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["PostgresServer", "find_server_binaries", "postgres"]

ROLE = "automl"
DATABASE = "automl_test"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
INSTALL_HINT = "apt-get install postgresql (Debian/Ubuntu; the server binaries initdb, pg_ctl and postgres)"
START_TIMEOUT = 60  # seconds for the server to accept connections
_REQUIRED = ("initdb", "pg_ctl", "postgres")


# --- what the tests get ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PostgresServer:
    """One database on the throw-away server. ``password`` and ``url_with_password`` never appear in repr."""

    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False)
    database: str
    _cluster: _Cluster = dataclasses.field(repr=False, compare=False)

    @property
    def url(self) -> str:
        """The URL as the README writes it, without the password: ``postgresql://automl@127.0.0.1:PORT/DB`` (no
        driver named: automl picks the installed one)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def url_with_password(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        """With the driver named, for opening the study directly with Optuna in a test."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def new_database(self, prefix: str = "automl_test") -> PostgresServer:
        """Create a fresh empty database owned by ``automl``; returns it (``.url``, ``.url_with_password``)."""
        return dataclasses.replace(self, database=self._cluster.create_database(prefix))

    def connect(self, **kwargs: Any):
        """A psycopg2 connection to this database over TCP, as ``automl`` with its password."""
        import psycopg2

        params = {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                  "dbname": self.database, "connect_timeout": 10, **kwargs}
        return psycopg2.connect(**params)


# --- finding the binaries -------------------------------------------------------------------------------
def _version_key(path: Path) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin; non-numeric versions sort last."""
    numbers = re.findall(r"\d+", path.parent.name)
    return tuple(int(n) for n in numbers) if numbers else (-1,)


def find_server_binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: PATH first, then /usr/lib/postgresql/*/bin, newest first."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        # Debian links /usr/local/bin/initdb & co. into a version folder: use that folder, so all the
        # binaries (pg_ctl, postgres, pg_isready) come from the same version.
        candidates += [Path(os.path.realpath(on_path)).parent, Path(on_path).parent]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) and (folder / name).is_file() for name in _REQUIRED):
            return folder
    return None


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip the tests that need the server -- or, under CI, fail them, so that they are never skipped there."""
    if _in_ci():
        pytest.fail(f"PostgreSQL tests cannot run, and CI must not skip them: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


# --- the cluster ----------------------------------------------------------------------------------------
class ServerStartError(RuntimeError):
    pass


class _Cluster:
    """initdb + pg_ctl on a temporary directory; every server command runs as ``run_as`` (uid, gid) if given."""

    def __init__(self, bin_dir: Path, base: Path, run_as: tuple[int, int] | None) -> None:
        self.bin_dir = bin_dir
        self.base = base
        self.data = base / "data"
        self.sockets = base / "sock"
        self.log = base / "server.log"
        self.run_as = run_as
        self.port: int | None = None
        self.superuser_password = secrets.token_hex(16)
        self._counter = itertools.count(1)

    # -- processes --
    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no stray PGDATA/PGPORT/PGPASSWORD
        env.update(LC_ALL="C", LANG="C")
        kwargs: dict[str, Any] = {}
        if self.run_as is not None:
            kwargs.update(user=self.run_as[0], group=self.run_as[1], extra_groups=[])
            env["HOME"] = str(self.base)
        proc = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], check=False, cwd=self.base, env=env,
                              capture_output=True, text=True, timeout=timeout, **kwargs)
        if check and proc.returncode != 0:
            raise ServerStartError(f"{' '.join(args[:2])} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
                                   f"{self._log_tail()}")
        return proc

    def _log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- server log (" + str(self.log) + ") ---\n" + "\n".join(text)

    def _own(self, path: Path) -> None:
        if self.run_as is not None:
            os.chown(path, *self.run_as)

    # -- set-up --
    def init(self) -> None:
        self.sockets.mkdir(mode=0o700)
        self._own(self.base)
        self._own(self.sockets)
        pwfile = self.base / "superuser.pw"
        pwfile.write_text(self.superuser_password + "\n")
        pwfile.chmod(0o600)
        self._own(pwfile)
        try:
            self._run("initdb", "--pgdata", str(self.data), "--username", SUPERUSER, "--pwfile", str(pwfile),
                      "--auth-local", "scram-sha-256", "--auth-host", "scram-sha-256", "--encoding", "UTF8",
                      "--locale", "C", "--no-sync")
        finally:
            pwfile.unlink(missing_ok=True)
        # Every connection needs a scram-sha-256 password: over the socket and over TCP (127.0.0.1 only).
        (self.data / "pg_hba.conf").write_text(
            "# automl tests: passwords everywhere, TCP from 127.0.0.1 only\n"
            "local  all  all                 scram-sha-256\n"
            "host   all  all  127.0.0.1/32   scram-sha-256\n"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# --- automl tests (tests/postgres_server.py) ---\n"
                f"listen_addresses = '{HOST}'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "password_encryption = 'scram-sha-256'\n"
                "max_connections = 100\n"
                "shared_buffers = 32MB\n"
                # A throw-away cluster: durability is not needed, speed is.
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
                "log_min_messages = warning\n"
                "log_connections = off\n"
            )

    def start(self, attempts: int = 3) -> None:
        """Start on a free port; a port taken between choosing and binding it is retried with another."""
        error: Exception | None = None
        for _ in range(attempts):
            self.port = _free_port()
            proc = self._run("pg_ctl", "start", "--pgdata", str(self.data), "--log", str(self.log), "--wait",
                             "--timeout", str(START_TIMEOUT), "-o", f"-p {self.port}", check=False,
                             timeout=START_TIMEOUT + 30)
            if proc.returncode == 0:
                try:
                    self._wait_until_ready()
                    return
                except ServerStartError as exc:
                    error = exc
            else:
                error = ServerStartError(f"pg_ctl start exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
                                         f"{self._log_tail()}")
            self.stop()
        raise ServerStartError(f"the PostgreSQL server did not start after {attempts} attempts: {error}")

    def _admin(self, dbname: str = "postgres"):
        import psycopg2

        connection = psycopg2.connect(host=str(self.sockets), port=self.port, user=SUPERUSER,
                                      password=self.superuser_password, dbname=dbname, connect_timeout=10)
        connection.autocommit = True
        return connection

    def _wait_until_ready(self) -> None:
        import psycopg2

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self._admin().close()
                return
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ServerStartError(f"no connection to the server within {START_TIMEOUT} s: {exc}"
                                           f"{self._log_tail()}") from None
                time.sleep(0.2)

    def create_role(self, password: str) -> None:
        with contextlib.closing(self._admin()) as connection, connection.cursor() as cursor:
            # The password is sent once, hashed by the server (password_encryption); statements are not logged.
            cursor.execute(f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s", (password,))

    def create_database(self, prefix: str = DATABASE, exact: bool = False) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", prefix):
            raise ValueError(f"database name prefix must be a lower-case identifier, got {prefix!r}")
        name = prefix if exact else f"{prefix}_{next(self._counter)}_{secrets.token_hex(3)}"
        with contextlib.closing(self._admin()) as connection, connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
        return name

    # -- tear-down --
    def running_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """pg_ctl stop -m fast, then -m immediate, then SIGKILL to the postmaster; never raises."""
        for mode in ("fast", "immediate"):
            if self.running_pid() is None:
                return
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", mode, "--wait", "--timeout", "30",
                          check=False, timeout=60)
        pid = self.running_pid()
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _run_as() -> tuple[int, int] | None:
    """None when not root; else the (uid, gid) of the 'postgres' system user (skips/fails if there is none)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(SUPERUSER)
    except KeyError:
        unavailable("running as root, initdb refuses to run as root, and there is no 'postgres' system user to "
                    f"run the server as; {INSTALL_HINT} creates it, or run the tests as a normal user")
        raise AssertionError("unreachable") from None  # pragma: no cover
    return entry.pw_uid, entry.pw_gid


def _reachable_by(path: Path, run_as: tuple[int, int] | None) -> bool:
    """Whether the user `run_as` (None: this process) can pass through every folder above `path`."""
    if run_as is None:
        return True
    uid, gid = run_as
    for parent in path.parents:
        st = parent.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)
                or (st.st_gid == gid and st.st_mode & 0o010)):
            return False
    return True


def _temporary_base(run_as: tuple[int, int] | None) -> Path:
    """A short private folder the server's user can reach: a unix socket path must stay under ~100 bytes."""
    base = Path(tempfile.mkdtemp(prefix="automl-pg-"))
    if (len(str(base)) > 60 or not _reachable_by(base, run_as)) and Path("/tmp").is_dir():
        base.rmdir()
        base = Path(tempfile.mkdtemp(prefix="automl-pg-", dir="/tmp"))
    return base


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start the throw-away server (skipping or failing as documented when that is impossible); stop it after."""
    bin_dir = find_server_binaries()
    if bin_dir is None:
        unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in "
                    f"/usr/lib/postgresql/*/bin; install them with: {INSTALL_HINT}")
    try:
        import psycopg2  # noqa: F401  (the driver Optuna's RDB storage uses for postgresql:// URLs)
    except ImportError:
        unavailable("the PostgreSQL driver psycopg2 is not installed; pip install psycopg2-binary")
    run_as = _run_as()
    base = _temporary_base(run_as)
    cluster = _Cluster(bin_dir, base, run_as)  # type: ignore[arg-type]
    try:
        cluster.init()
        cluster.start()
        password = secrets.token_hex(16)
        cluster.create_role(password)
        cluster.create_database(DATABASE, exact=True)
        assert cluster.port is not None
        yield PostgresServer(host=HOST, port=cluster.port, user=ROLE, password=password, database=DATABASE,
                             _cluster=cluster)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
        if base.exists():  # pragma: no cover - only if something outside the tests holds files there
            print(f"warning: could not remove {base}", file=sys.stderr)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for this test session (see the module docstring)."""
    with running_server() as server:
        yield server
