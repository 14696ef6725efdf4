"""PostgreSQL: a statement psycopg has prepared stays prepared when a session on the same connection rolls back, so
the lodging's INSERTs are not parsed and planned again after every read (concord.db._keep_prepared_statements)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from concord.db import make_engine

INSERT = "INSERT INTO lodged (n) VALUES (:n)"


def _prepared(conn) -> list[str]:
    return [r[0] for r in conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements")]


def _stored(engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(r[0] for r in conn.exec_driver_sql("SELECT n FROM lodged"))


@pytest.fixture
def engine(pg_url):
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)  # one connection: every session shares it
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE lodged (n integer PRIMARY KEY)"))
    yield engine
    engine.dispose()


def test_a_read_that_rolls_back_keeps_the_prepared_insert(engine):
    for n in range(8):  # psycopg prepares at the fifth execution on a connection
        with Session(engine) as s:
            s.execute(text(INSERT), {"n": n})
            s.commit()
        with Session(engine) as s:  # a read: it ends in a rollback
            assert s.execute(text("SELECT count(*) FROM lodged")).scalar() == n + 1
    with engine.connect() as conn:
        assert any(p.startswith("INSERT INTO lodged") for p in _prepared(conn))
    assert _stored(engine) == list(range(8))


def test_a_rolled_back_write_is_undone(engine):
    with Session(engine) as s:
        s.execute(text(INSERT), {"n": 1})
        s.rollback()
    with Session(engine) as s:
        s.execute(text(INSERT), {"n": 2})
        # closed without commit: the pool's reset rolls it back
    assert _stored(engine) == []


def test_a_failed_transaction_rolls_back_and_the_connection_serves_again(engine):
    with Session(engine) as s:
        s.execute(text(INSERT), {"n": 1})
        s.commit()
    with Session(engine) as s:
        with pytest.raises(DBAPIError):
            s.execute(text(INSERT), {"n": 1})  # a duplicate: the transaction fails
        s.rollback()
        s.execute(text(INSERT), {"n": 2})
        s.commit()
    assert _stored(engine) == [1, 2]
