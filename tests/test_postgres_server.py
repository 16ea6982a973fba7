"""The throw-away PostgreSQL server of tests/postgres_server.py, tested for real: TCP connections with and
without the password, and an Optuna study shared by four processes through RDBStorage."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest


def _connect_without_stored_secrets(monkeypatch, **params):
    """psycopg2.connect, with no password coming from the environment or a ~/.pgpass file."""
    import psycopg2

    for name in ("PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE"):
        monkeypatch.delenv(name, raising=False)
    return psycopg2.connect(passfile=os.devnull, connect_timeout=10, **params)


def test_the_role_connects_over_tcp_with_its_password(postgres):
    assert postgres.host == "127.0.0.1" and postgres.user == "automl" and postgres.database == "automl_test"
    assert postgres.url == f"postgresql://automl@127.0.0.1:{postgres.port}/automl_test"
    assert postgres.url_with_password == (
        f"postgresql://automl:{postgres.password}@127.0.0.1:{postgres.port}/automl_test")
    assert postgres.sqlalchemy_url == postgres.url_with_password.replace("postgresql://", "postgresql+psycopg2://")
    assert postgres.password not in repr(postgres)
    with postgres.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database(), inet_server_addr()::text, inet_server_port(), "
                       "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
                       "(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database())")
        user, database, address, port, superuser, owner = cursor.fetchone()
        cursor.execute("SHOW password_encryption")
        (encryption,) = cursor.fetchone()
        cursor.execute("SHOW listen_addresses")
        (listen,) = cursor.fetchone()
    connection.close()
    assert (user, database, port, superuser, owner) == ("automl", "automl_test", postgres.port, False, "automl")
    assert address.split("/")[0] == "127.0.0.1"  # a TCP connection, not the unix socket
    assert encryption == "scram-sha-256" and listen == "127.0.0.1"


@pytest.mark.parametrize("password", [None, "wrong-password"], ids=["no-password", "wrong-password"])
def test_tcp_connections_without_the_right_password_are_refused(postgres, monkeypatch, password):
    import psycopg2

    params = {"host": postgres.host, "port": postgres.port, "user": postgres.user, "dbname": postgres.database}
    if password is not None:
        params["password"] = password
    with pytest.raises(psycopg2.OperationalError) as err:
        _connect_without_stored_secrets(monkeypatch, **params)
    message = str(err.value)
    expected = "no password supplied" if password is None else 'password authentication failed for user "automl"'
    assert expected in message, message


def test_the_superuser_cannot_log_in_over_tcp_without_a_password(postgres, monkeypatch):
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="no password supplied"):
        _connect_without_stored_secrets(monkeypatch, host=postgres.host, port=postgres.port, user="postgres",
                                        dbname="postgres")


def test_new_database_is_fresh_empty_and_owned_by_the_role(postgres):
    first, second = postgres.new_database(), postgres.new_database()
    assert len({postgres.database, first.database, second.database}) == 3
    assert first.port == postgres.port and first.password == postgres.password
    assert first.url == f"postgresql://automl@127.0.0.1:{postgres.port}/{first.database}"
    with first.connect() as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE marker (id int)")
    connection.close()
    with second.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert cursor.fetchone() == ("automl",)
    connection.close()


WORKER = textwrap.dedent("""
    import os, optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(os.environ["TEST_STORAGE_URL"])
    study = optuna.load_study(study_name="shared", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
""")


def test_four_processes_share_one_optuna_study(postgres):
    import optuna

    db = postgres.new_database()
    storage = optuna.storages.RDBStorage(db.sqlalchemy_url)  # creates the schema before the workers start
    optuna.create_study(study_name="shared", storage=storage)
    # The URL goes through the environment, not the command line, so the password is not in the process list.
    env = {**os.environ, "TEST_STORAGE_URL": db.sqlalchemy_url}
    started = time.monotonic()
    workers = [subprocess.Popen([sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = []
    for worker in workers:
        try:
            out, _ = worker.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            for w in workers:
                w.kill()
            raise
        outputs.append(out)
    assert all(w.returncode == 0 for w in workers), "\n".join(outputs)

    trials = optuna.load_study(study_name="shared", storage=storage).get_trials(deepcopy=False)
    assert len(trials) == 20
    assert sorted(t.number for t in trials) == list(range(20))
    assert {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}
    assert all(0 <= t.params["x"] <= 1 and t.value == t.params["x"] for t in trials)
    storage.remove_session()
    storage.engine.dispose()
    print(f"4 processes x 5 trials on PostgreSQL in {time.monotonic() - started:.1f} s")


# --- the skip / fail policy, without touching the real server -----------------------------------------------
@pytest.mark.parametrize("ci, outcome", [(None, pytest.skip.Exception), ("true", pytest.fail.Exception),
                                         ("false", pytest.skip.Exception)])
def test_missing_binaries_skip_locally_but_fail_under_ci(monkeypatch, ci, outcome):
    import postgres_server  # tests/ is on sys.path (pytest's default "prepend" import mode)

    monkeypatch.setattr(postgres_server, "find_server_binaries", lambda: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome) as err, postgres_server.running_server():
        pass  # pragma: no cover
    assert "apt-get install postgresql" in str(err.value)
