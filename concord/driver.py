"""Straight to the driver: the hot paths' statements, skipping SQLAlchemy's per-row processing and execution context.

Bulk inserts (one unnest statement per table on PostgreSQL, VALUES for a row alone), the DBAPI's executemany, and
psycopg's pipeline mode; values converted here exactly as the column types would convert them."""

import re
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import JSON
from sqlalchemy.exc import IntegrityError

from concord.db import UTCDateTime, _json_dumps

PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def bulk_insert(conn, table, rows: list[dict]) -> None:
    """Insert rows in one statement (insert_rows: PostgreSQL) or one executemany (SQLite): the ingest hot path,
    skipping SQLAlchemy's per-row processing.

    Values are converted here exactly as the column types would (JSON via orjson; datetimes through the
    column's own bind processor, so SQLite stores them in SQLAlchemy's format and range queries compare).
    Rows of one call usually share a few timestamps, so each distinct one is converted once. `conn` is the
    transaction's SQLAlchemy Connection (a caller inserting into several tables fetches it once)."""
    sql, out = _converted(conn, table, rows)
    insert_rows(conn, sql, out)


def _converted(conn, table, rows: list[dict]) -> tuple[str, list[tuple]]:
    cols = tuple(rows[0])
    sql, json_at, time_at, bind_time = _insert_plan(table, cols, conn.dialect)
    seen: dict = {}
    out = []
    for row in rows:
        values = [row[c] for c in cols]
        for i in json_at:
            if (v := values[i]) is not None:
                values[i] = _json_dumps(v)
        for i in time_at:
            if (v := values[i]) is not None:
                if (stored := seen.get(v)) is None:
                    stored = seen[v] = bind_time(v)
                values[i] = stored
        out.append(tuple(values))
    return sql, out


def insert_rows(conn, sql: str, rows: list[tuple]) -> None:
    """Run an INSERT of _insert_plan's (values already converted): on PostgreSQL one statement, a column of
    values per parameter; elsewhere the driver's executemany."""
    if conn.dialect.name != "postgresql":
        return executemany(conn, sql, rows)
    cursor = conn.connection.cursor()
    try:
        if len(rows) == 1:  # a group of one lodging, the usual case below a few hundred a second
            cursor.execute(_one_row(sql), rows[0])
        else:
            cursor.execute(sql, [list(column) for column in zip(*rows)])
    finally:
        cursor.close()


@lru_cache(maxsize=256)
def _one_row(sql: str) -> str:
    """The unnest INSERT of _insert_plan for a single row: VALUES, each parameter cast as its column. psycopg dumps
    a one-element array per column in Python (about 60 µs a statement here, against 25 for the row's values) and
    the server unnests them; a lodging alone in its group runs six such statements."""
    head, arrays = sql[:sql.index(" SELECT")], sql[sql.index("unnest(") + len("unnest("):]
    return f"{head} VALUES ({_ARRAY_CAST.sub('', arrays)}"


_ARRAY_CAST = re.compile(r"\[\](?=, %b::|\)$)")  # the [] that ends each parameter's cast, not one inside a type


def insert_sql(table, cols: tuple, dialect) -> str:
    """The INSERT that insert_rows runs for these columns of the table."""
    return _insert_plan(table, cols, dialect)[0]


@lru_cache(maxsize=256)
def _insert_plan(table, cols: tuple, dialect):
    """The INSERT statement and which columns need converting; worked out once per table and column set (it
    cost more than the rows themselves when a transaction holds one lodging)."""
    mark = PLACEHOLDER[dialect.paramstyle]
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
    if dialect.name == "postgresql":
        # All rows in one statement: an array per column, unnested. psycopg's executemany sent each row as its
        # own Bind/Execute, which cost about 25 µs of Python per row here and as much again in the server, and a
        # lodging writes some twenty rows. One statement text whatever the row count, so it is prepared once.
        types = ", ".join(f"%b::{_sql_type(table.c[c].type, dialect)}[]" for c in cols)  # binary: no quoting
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT * FROM unnest({types})"
    json_at = tuple(i for i, c in enumerate(cols) if isinstance(table.c[c].type, JSON))
    time_at = tuple(i for i, c in enumerate(cols) if isinstance(table.c[c].type, UTCDateTime))
    bind = UTCDateTime().dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
    return sql, json_at, time_at, bind


def _sql_type(column_type, dialect) -> str:
    """The column's type as an array cast can name it (a collation belongs to the column, not to the cast)."""
    return re.sub(r' COLLATE "[^"]*"', "", column_type.compile(dialect=dialect))


def one_of(column, values: list, dialect):
    """`column IN values` for a list of any length. On PostgreSQL `= ANY` of one array parameter, so that the
    statement's text is the same whatever the count: psycopg parses a text of more than 50 parameters anew on every
    run, and the server plans each new text anew (on the relay's path, about a tenth of its CPU). Elsewhere IN."""
    if dialect.name == "postgresql":
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def one_of_sql(column, values: list, dialect) -> tuple[str, tuple]:
    """one_of for a statement that goes straight to the driver: (the condition, its parameters)."""
    mark = PLACEHOLDER[dialect.paramstyle]
    if dialect.name == "postgresql":
        return f"{column.name} = ANY({mark}::{_sql_type(column.type, dialect)}[])", (list(values),)
    return f"{column.name} IN ({', '.join([mark] * len(values))})", tuple(values)


def executemany(conn, sql: str, rows: list[tuple]) -> None:
    """The DBAPI cursor's executemany, in the connection's transaction: SQLAlchemy's execution context cost
    about 40 µs a statement, and a lodging over HTTP runs six of them per commit."""
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


@contextmanager
def pipeline(conn):
    """PostgreSQL: the statements sent inside go out together and wait for one answer (psycopg pipeline mode),
    at the next result read or commit; yields the driver's connection. Elsewhere (SQLite, in-process): nothing.

    A group commit is a dozen statements, and on PostgreSQL each waited for its own round trip, with the
    server's work on them in between. A unique key refused inside is raised as SQLAlchemy's IntegrityError, as
    it is outside, so callers that retry a racing replay see the same error on both databases."""
    if conn.dialect.name != "postgresql":
        yield None
        return
    driver = conn.connection.driver_connection
    try:
        with driver.pipeline():
            yield driver
    except conn.dialect.dbapi.IntegrityError as e:
        raise IntegrityError("a statement of the pipeline", None, e) from e
