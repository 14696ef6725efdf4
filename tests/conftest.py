"""Shared fixtures: a wired Concord on SQLite (always) and on PostgreSQL (when the server answers)."""

from __future__ import annotations

import uuid

import pytest

from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from support import demo_config_text


def postgres_available() -> str | None:
    """None when a PostgreSQL server answers on 127.0.0.1:5432, else the reason to skip."""
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3):
            return None
    except Exception as e:  # any failure to connect means: skip, and say why
        return f"no PostgreSQL server on 127.0.0.1:5432 ({type(e).__name__}: {e})"


@pytest.fixture(scope="session")
def pg_server():
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    return True


@pytest.fixture
def pg_url(pg_server):
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"concord_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def concord(request, tmp_path):
    """A Concord with the demo config loaded, on each database, with a fixed clock."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'concord.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    app = bootstrap(Settings(database_url=url, var_dir=tmp_path), clock=FixedClock())
    app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
    yield app
    app.close()


@pytest.fixture
def sqlite_concord(tmp_path):
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'concord.db'}", var_dir=tmp_path), clock=FixedClock())
    app.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
    yield app
    app.close()


def pytest_collection_modifyitems(config, items):
    """Mark what a test needs from its fixtures, so `-m postgres` selects the PostgreSQL runs and
    `-m "not postgres and not nats and not slow"` is the fast set (`make test-fast`)."""
    for item in items:
        params = getattr(item, "callspec", None)
        if {"pg_url", "pg_server"} & set(item.fixturenames) or (params and "postgresql" in params.params.values()):
            item.add_marker(pytest.mark.postgres)
        if "nats" in item.module.__name__:
            item.add_marker(pytest.mark.nats)
        # Servers and CLI processes (tests/e2e) and benchmark runs: most of the suite's time, little of its reach.
        if "e2e" in item.path.parts or item.path.name == "test_benches_run.py":
            item.add_marker(pytest.mark.slow)
