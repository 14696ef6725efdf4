"""Appending entries inside the caller's transaction."""

from datetime import datetime

from sqlalchemy.orm import Session

from concord.audit.canonical import canonical_entry, canonical_json  # noqa: F401  (re-exported)
from concord.audit.merkle import leaf_hash
from concord.audit.models import AuditEntry
from concord.clock import as_utc
from concord.db import PLACEHOLDER, executemany, insert_rows, insert_sql

COLUMNS = ("seq", "at", "actor", "agency", "action", "resource", "purpose", "agreement", "outcome", "owner",
           "request_id", "body", "leaf_hash")


def _insert_sql(dialect) -> str:
    return insert_sql(AuditEntry.__table__, COLUMNS, dialect)


class AuditLog:
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
