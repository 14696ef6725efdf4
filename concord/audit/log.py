"""Appending entries inside the caller's transaction."""

from datetime import datetime
from functools import lru_cache

from sqlalchemy.orm import Session

from concord.audit.canonical import canonical_entry, canonical_json  # noqa: F401  (re-exported)
from concord.audit.merkle import leaf_hash
from concord.audit.models import AuditEntry
from concord.clock import as_utc
from concord.driver import PLACEHOLDER, _sql_type, executemany, insert_rows, insert_sql

COLUMNS = ("seq", "at", "actor", "agency", "action", "resource", "purpose", "agreement", "outcome", "owner",
           "request_id", "body", "leaf_hash")


def _insert_sql(dialect) -> str:
    return insert_sql(AuditEntry.__table__, COLUMNS, dialect)


# A seq no log reaches: the entry is built with it, then split where it stands, for the database to put the real one
SENTINEL = 4_503_599_627_370_481
_MARK = f'"seq":{SENTINEL}'
TEXT = ("actor", "agency", "action", "resource", "purpose", "agreement", "outcome", "owner", "request_id")


class AuditLog:
    def __init__(self):
        self._head_seen = False  # the head row exists (it is born with the first entry, and never goes)

    def append_at_commit(self, conn, notes: list, at: datetime, request_id: str | None) -> bool:
        """PostgreSQL, in the commit's pipeline: the head's update and the entries in one statement that needs no
        answer, so the COMMIT goes with it. Returns False where it cannot (SQLite, the first entry ever, an entry
        whose body holds the sentinel twice): the caller appends as before.

        Appending in two steps took the head's row lock, waited for its answer (a round trip, then the GIL back
        from the event loop), hashed the entries, and sent them with the COMMIT: every commit of every worker
        queued behind that lock for all of it. Here the database numbers the entries as it takes the lock: the
        bodies come split around their seq, and the leaf hash (RFC 6962: SHA-256 of 0x00 and the body) is
        computed there, byte for byte what canonical_entry and leaf_hash give."""
        if not notes or not self._head_seen or conn.dialect.name != "postgresql":
            return False
        at = as_utc(at)
        stored_at = _bind_at(conn.dialect)(at)
        columns: list[list] = [[] for _ in range(len(TEXT) + 3)]
        for note in notes:
            pre, found, post = canonical_entry(SENTINEL, at, note, request_id).decode().partition(_MARK)
            if not found or _MARK in post:
                return False
            values = (stored_at, note.actor, note.agency, note.action, note.resource, note.purpose, note.agreement,
                      note.outcome, getattr(note, "owner", None), request_id, pre + '"seq":', post)
            for column, value in zip(columns, values):
                column.append(value)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(_at_commit_sql(conn.dialect), [len(notes), len(notes), *columns])
        finally:
            cursor.close()
        return True

    def append(self, session: Session, notes: list, at: datetime, request_id: str | None) -> list[int]:
        """Append entries in the caller's transaction; returns their sequence numbers."""
        return self.append_groups(session, [(notes, at, request_id)])[0]

    def append_groups(self, session: Session, groups: list[tuple[list, datetime, str | None]]) -> list[list[int]]:
        """Append several requests' entries with one head update and one insert (group commit)."""
        n = sum(len(notes) for notes, _, _ in groups)
        if n == 0:
            return [[] for _ in groups]
        # Write first: the row lock (PostgreSQL) or the write lock (SQLite) orders appenders.
        conn = session.connection()
        cursor = conn.connection.cursor()  # the driver's cursor: this runs once per commit of every request
        try:
            # n as a parameter: one statement text, which PostgreSQL prepares once (psycopg, after 5 uses)
            cursor.execute(f"UPDATE audit_head SET size = size + {PLACEHOLDER[conn.dialect.paramstyle]} "
                           "WHERE id = 1 RETURNING size", (n,))
            row = cursor.fetchone()
        finally:
            cursor.close()
        size = row[0] if row else None
        self._head_seen = self._head_seen or size is not None
        if size is None:  # the first entry ever: the head row is born (straight to the driver, as it may be in a
            # pipeline, where the ORM's flush could not read its answers)
            mark = PLACEHOLDER[conn.dialect.paramstyle]
            executemany(conn, f"INSERT INTO audit_head (id, size) VALUES ({mark}, {mark})", [(1, n)])
            size = n
        bind_at = AuditEntry.__table__.c.at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) or (lambda v: v)
        seq, rows, out = size - n, [], []
        for notes, at, request_id in groups:
            at = as_utc(at)  # one form of time in every body, so verify can compare it with the column
            stored_at = bind_at(at)
            out.append(list(range(seq, seq + len(notes))))
            for note in notes:
                body = canonical_entry(seq, at, note, request_id)
                rows.append((seq, stored_at, note.actor, note.agency, note.action, note.resource, note.purpose,
                             note.agreement, note.outcome, getattr(note, "owner", None), request_id, body.decode(),
                             leaf_hash(body)))
                seq += 1
        # Straight to the driver: SQLAlchemy's per-row parameter processing cost three times the insert itself.
        insert_rows(conn, _insert_sql(conn.dialect), rows)
        return out


@lru_cache(maxsize=4)
def _bind_at(dialect):
    return AuditEntry.__table__.c.at.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)


@lru_cache(maxsize=4)
def _at_commit_sql(dialect) -> str:
    c = AuditEntry.__table__.c
    arrays = ", ".join([f"%b::{_sql_type(c.at.type, dialect)}[]", *[f"%b::{_sql_type(c[n].type, dialect)}[]" for n in TEXT],
                        "%b::text[]", "%b::text[]"])
    return ("WITH head AS (UPDATE audit_head SET size = size + %s WHERE id = 1 RETURNING size - %s AS base) "
            f"INSERT INTO audit_entries ({', '.join(COLUMNS)}) "
            f"SELECT head.base + u.ord - 1, u.at, {', '.join('u.' + n for n in TEXT)}, b.body, "
            "sha256('\\x00'::bytea || convert_to(b.body, 'UTF8')) "
            # no head row (never, once seen): a NULL seq, refused by the key, rather than entries silently dropped
            "FROM (SELECT (SELECT base FROM head) AS base) head "
            f"CROSS JOIN unnest({arrays}) WITH ORDINALITY AS u(at, {', '.join(TEXT)}, pre, post, ord) "
            "CROSS JOIN LATERAL (SELECT u.pre || (head.base + u.ord - 1)::text || u.post AS body) b")
