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
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine, info: dict | None = None) -> sessionmaker:
    """Sessions carry `info` (the clock, the agreement book) so the access check needs no globals."""
    return sessionmaker(engine, expire_on_commit=False, info=info or {})


def bulk_insert(session, table, rows: list[dict]) -> None:
    """Insert rows with one DBAPI executemany: the ingest hot path, skipping per-value type processing.

    Values are converted here exactly as the column types would: JSON via orjson, datetimes to naive UTC."""
    conn = session.connection()
    cols = list(rows[0])
    json_cols = [c for c in cols if isinstance(table.c[c].type, JSON)]
    time_cols = [c for c in cols if isinstance(table.c[c].type, UTCDateTime)]
    mark = (lambda c: f":{c}") if conn.dialect.name == "sqlite" else (lambda c: f"%({c})s")
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join(mark(c) for c in cols)})"
    out = []
    for row in rows:
        row = dict(row)
        for c in json_cols:
            row[c] = _json_dumps(row[c])
        for c in time_cols:
            if (v := row[c]) is not None and v.tzinfo is not None:
                row[c] = (v if v.tzinfo is timezone.utc else v.astimezone(timezone.utc)).replace(tzinfo=None)
        out.append(row)
    conn.exec_driver_sql(sql, out)
