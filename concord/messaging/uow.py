"""Unit of work: state, outbox rows and audit entries commit in ONE transaction."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from functools import lru_cache
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from concord.clock import Clock
from concord.driver import bulk_insert, pipeline
from concord.ids import new_id
from concord.messaging.messages import Event
from concord.messaging.models import EventRecord


@dataclass
class AuditNote:
    """What a handler says happened; the audit log turns it into a sequenced, hashed entry."""

    action: str
    resource: str
    outcome: str = "ok"
    purpose: str | None = None
    agreement: str | None = None
    detail: dict = field(default_factory=dict)
    actor: str | None = None
    agency: str | None = None
    owner: str | None = None  # the agency whose data was read or changed, for its access reports


class UnitOfWork:
    def __init__(self, session_factory: sessionmaker, clock: Clock, audit_log, *, subject=None,
                 request_id: str | None = None, write_lock: threading.Lock | None = None, outbox=None):
        self._factory = session_factory
        self.clock = clock
        self._audit_log = audit_log
        self.subject = subject
        self.request_id = request_id or new_id("req_")
        self._lock = write_lock or nullcontext()
        self._outbox = outbox  # the relay: told what was committed, so it need not read it back
        self.session: Session | None = None
        self.events: list[Event] = []
        self.audit_notes: list[AuditNote] = []
        self.staged: dict = {}
        self.fetched: list = []
        self._conn = None
        self.committed_events: list[Event] = []

    def __enter__(self) -> UnitOfWork:
        self._lock.__enter__()
        self.session = self._factory()
        self.events, self.audit_notes, self.staged, self.fetched, self._conn = [], [], {}, [], None
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.session.rollback()
            self.session.close()
        finally:
            self._lock.__exit__(None, None, None)

    def read(self) -> Session:
        """A plain session for reads that write nothing (no write lock, no outbox, no audit)."""
        return self._factory()

    def record(self, event: Event) -> Event:
        """Record an event to be written to the outbox on commit."""
        event.id = event.id or new_id("ev_")
        event.occurred_at = event.occurred_at or self.clock.now()
        self.events.append(event)
        return event

    def stage(self, model, row: dict) -> dict:
        """Queue a new row for a batched insert at commit (the hot path; no ORM identity to track)."""
        self.staged.setdefault(model.__table__, []).append(row)
        return row

    def fetch(self, model, columns: tuple, *, for_update: bool = False, **keys) -> list:
        """Rows whose `keys` columns equal the values given, as plain objects with the model's methods (rows.py);
        the columns a handler assigns are written back at commit (assign a new value: a dict changed in place
        is not seen). For the hot paths; the ORM stays for everything else."""
        from concord.messaging.rows import fetch

        if self._conn is None:  # asking the session costs ~25 µs a time; the transaction keeps one connection
            self._conn = self.session.connection()
        found = fetch(self._conn, model, columns, keys, for_update=for_update)
        self.fetched += [(model, row, dict(vars(row))) for row in found]
        return found

    def audit(self, action: str, resource: str, **kwargs) -> None:
        """Record an audit entry for what this unit of work does or reads."""
        note = AuditNote(action, resource, **kwargs)
        if self.subject is not None:
            note.actor = note.actor or self.subject.user_id
            note.agency = note.agency or self.subject.agency
        self.audit_notes.append(note)

    def commit(self) -> None:
        """Write ORM changes, staged rows, outbox rows and audit entries in one transaction."""
        self.session.flush()
        outbox = [self.stage(EventRecord, {"id": event.id, "name": event.name, "declaration_id": event.declaration_id,
                                           "agency": event.agency, "occurred_at": event.occurred_at,
                                           "payload": event.payload(), "published_at": None})
                  for event in self.events]
        conn = self._conn or self.session.connection()  # once: asking the session costs ~25 µs a time
        # PostgreSQL: one round trip from here, the rows, the audit entries (numbered by the database as it
        # updates the head: AuditLog.append_at_commit) and the COMMIT; SQLite runs the same statements one by one.
        if self.fetched:
            from concord.messaging.rows import write_back

            write_back(conn, self.fetched)
        with pipeline(conn) as driver:
            for table in _insert_order(len(EventRecord.metadata.tables)):  # parents before children
                if rows := self.staged.get(table):
                    bulk_insert(conn, table, rows)
            if self.audit_notes and not (driver is not None and self._audit_log.append_at_commit(
                    conn, self.audit_notes, self.clock.now(), self.request_id)):
                self._audit_log.append(self.session, self.audit_notes, self.clock.now(), self.request_id)
            if driver is not None:
                # COMMIT as a statement of the pipeline, answered with the rest at its end: the driver's commit()
                # waited for its own answer, and the pipeline's end then for one more (two round trips for one).
                # The session's commit below finds the transaction over and sends nothing.
                driver.execute("COMMIT")
        self.session.commit()
        if outbox and self._outbox is not None:
            self._outbox.committed(outbox)
        self.committed_events.extend(self.events)
        self.events, self.audit_notes, self.staged, self.fetched, self._conn = [], [], {}, [], None

    def rollback(self) -> None:
        self.session.rollback()
        self.events, self.audit_notes, self.staged, self.fetched, self._conn = [], [], {}, [], None


@lru_cache
def _insert_order(_table_count: int):
    return EventRecord.metadata.sorted_tables
