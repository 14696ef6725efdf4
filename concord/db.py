"""Engine, sessions and the declarative base (with a naming convention Alembic relies on)."""

from datetime import datetime, timezone

import orjson

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stored as naive UTC on every backend; always read back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict: JSON().with_variant(JSONB(), "postgresql"),
                           list: JSON().with_variant(JSONB(), "postgresql"), datetime: UTCDateTime}


def _json_dumps(value) -> str:
    return orjson.dumps(value, default=str).decode()


# The commit that takes the write-ahead log past this many pages copies it into the database, fsync included,
# while its caller waits. The server runs checkpoints in a background thread (wal_checkpoint_job), but at SQLite's
# default of 1,000 pages (4 MB) the log under load reached it between two of them: a group of five lodgings spent
# 1.17 ms in COMMIT at 1,000 pages and 0.75 ms at 4,000, and the HTTP maximum rose by about a tenth. The log stays
# bounded (16 MB before a commit checkpoints it anyway).
WAL_AUTOCHECKPOINT_PAGES = 4000


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL and foreign keys so it behaves like a server database."""
    kwargs.setdefault("json_serializer", _json_dumps)  # JSON columns are on the ingest hot path
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # Per worker process: two group-commit threads, the relay, the notification store, the checkpointer and the
    # periodic jobs hold a connection at once, and the thread pool's reads come on top. 8 + 12 is 20 a worker:
    # four workers stay under PostgreSQL's default max_connections (100), with room for the CLI and psql.
    # More workers: pass pool_size and max_overflow so that workers x (pool_size + max_overflow) fits.
    kwargs.setdefault("pool_size", 8)
    kwargs.setdefault("max_overflow", 12)
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    _keep_prepared_statements(engine)
    return engine


PING_IDLE_S = 2.0  # a pooled connection idle for longer is pinged before use (the server may have closed it)


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping, but only for a connection that sat idle in the pool: a ping is a round trip,
    and under load it was one more per transaction (a group commit's six; the relay's sessions alike) for
    connections used a few milliseconds before. A connection the server dropped in between (a restart) fails its
    statement instead; SQLAlchemy then discards the pool's connections, and the caller's retry (a group commit's
    lodgings go again alone) gets a fresh one."""
    import time

    @event.listens_for(engine, "checkin")
    def _idle_since(dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, proxy):
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as e:
            if engine.dialect.is_disconnect(e, dbapi_conn, None):
                from sqlalchemy.exc import DisconnectionError

                raise DisconnectionError("the server closed the pooled connection") from e  # the pool retries
            raise


def _keep_prepared_statements(engine: Engine) -> None:
    """Roll back without forgetting the connection's prepared statements.

    psycopg prepares a statement on a connection once it has run five times there, and deallocates all of them at
    every rollback (DEALLOCATE ALL), in case the transaction created what a statement names. Every session that only
    reads ends in a rollback, and the pool hands each connection to every thread in turn, so under load the
    lodging's INSERTs were parsed and planned again nearly every time: in 30 s at 400 /s, 346 DEALLOCATE ALL, and
    0.15 parses per lodging for each of the 0.19 executions of each INSERT. Prepared statements outlive a rollback
    in PostgreSQL itself, and what our sessions roll back creates no table: psycopg's own check still forgets them
    all after a DROP or ALTER. A failed transaction or an open pipeline takes psycopg's rollback as before."""
    from psycopg import OperationalError, pq

    rollback = engine.dialect.do_rollback

    def do_rollback(dbapi_conn) -> None:
        pgconn = dbapi_conn.pgconn
        if (pgconn.transaction_status != pq.TransactionStatus.INTRANS
                or pgconn.pipeline_status != pq.PipelineStatus.OFF):
            return rollback(dbapi_conn)  # idle (nothing to do), failed, or in a pipeline: psycopg's own
        with dbapi_conn.lock:
            result = pgconn.exec_(b"ROLLBACK")
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise OperationalError(f"ROLLBACK failed: {(result.error_message or b'').decode(errors='replace')}")

    engine.dialect.do_rollback = do_rollback


def wal_checkpoint_job(engine: Engine):
    """SQLite: a job that copies the write-ahead log into the database, for a background thread to run often.

    Left to SQLite, the commit that takes the log past WAL_AUTOCHECKPOINT_PAGES does it, fsync included, while the
    event loop waits (with checkpoints off altogether, p99 at 400/s fell from about 100 to 55 ms). PASSIVE never
    waits for readers or writers, and its I/O runs with the GIL released, on the other core. The log mostly stays
    under the threshold, so the commit-time checkpoint becomes a safety net."""
    connection = None

    def job() -> None:
        nonlocal connection
        if connection is None:
            connection = engine.raw_connection()
            connection.detach()  # its own connection, outside the pool
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            cursor.close()
    return job


def make_session_factory(engine: Engine) -> sessionmaker:
    """Sessions of the engine; they carry no dependencies (bootstrap passes those to who needs them)."""
    return sessionmaker(engine, expire_on_commit=False)
