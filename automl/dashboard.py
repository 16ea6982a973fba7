"""``automl dashboard``: optuna-dashboard on a run's Optuna study, its Journal file or its database.

The run's backend plugin opens the storage (``SearchBackend.dashboard_storage``; a backend without an Optuna
study says so) and it is handed to optuna-dashboard as an object: a database password (from
``$AUTOML_STORAGE_PASSWORD``) never reaches a command line, a process listing or the terminal. optuna-dashboard
is an optional dependency (``pip install optuna-dashboard``, or the ``dashboard`` extra); ``automl report`` draws
plots without it, for any backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from automl.errors import ConfigError
from automl.signals import stop_on_signals

INSTALL_HINT = "pip install optuna-dashboard (or pip install 'automl[dashboard]')"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve_dashboard(run_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8080,
                    announce: Callable[[str], None] = print) -> None:
    """Serve optuna-dashboard on the run's study until interrupted (Ctrl+C returns normally)."""
    from automl.backends import run_backend
    from automl.run_dir import read_config

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port must be a TCP port between 1 and 65535; got {port}.")
    # The run's backend says where its Optuna study is, or why it has none.
    storage, study, shown = run_backend(config).dashboard_storage(run_dir, config)
    try:
        import optuna_dashboard
    except ImportError:
        raise ConfigError(f"automl dashboard needs optuna-dashboard, which is not installed here: {INSTALL_HINT}. "
                          f"Without it, automl report {run_dir} writes the plots and an HTML page.") from None
    if host not in LOOPBACK_HOSTS:
        announce(f"warning: optuna-dashboard has no login: anyone who reaches {host}:{port} can read and change "
                 "this study (notes, trial deletion). Prefer --host 127.0.0.1 with an SSH tunnel.")
    announce(f"optuna-dashboard: study {study!r} in {shown}\n"
             f"open http://{'[' + host + ']' if ':' in host else host}:{port}/ (Ctrl+C to stop)")
    # The server runs in a daemon thread and this thread only waits, so Ctrl+C always lands here: raised in
    # the serving thread while it answers a request, wsgiref's error handler swallows it and serves on.
    failures: list[BaseException] = []
    ended = threading.Event()

    def serve() -> None:
        try:
            optuna_dashboard.run_server(storage, host=host, port=port)
        except BaseException as exc:  # handed to the main thread below
            failures.append(exc)
        finally:
            ended.set()

    threading.Thread(target=serve, name="optuna-dashboard", daemon=True).start()
    try:
        with stop_on_signals():
            while not ended.wait(0.5):
                pass
    except KeyboardInterrupt:
        announce("dashboard stopped")
        return
    if failures and isinstance(failures[0], OSError):  # the port is taken, or the host is not this machine's
        raise ConfigError(f"optuna-dashboard could not listen on {host}:{port}: {failures[0].strerror or failures[0]}. "
                          "Pass a free --port, or a --host of this machine.")
    if failures:
        raise failures[0]
