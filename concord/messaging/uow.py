"""Unit of work: state, outbox rows and audit entries commit in ONE transaction."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from concord.clock import Clock
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


class UnitOfWork:
    def __init__(self, session_factory: sessionmaker, clock: Clock, audit_log, *, subject=None,
                 request_id: str | None = None, write_lock: threading.Lock | None = None):
        self._factory = session_factory
        self.clock = clock
        self._audit_log = audit_log
        self.subject = subject
        self.request_id = request_id or new_id("req_")
        self._lock = write_lock or nullcontext()
        self.session: Session | None = None
        self.events: list[Event] = []
        self.audit_notes: list[AuditNote] = []
        self.committed_events: list[Event] = []

    def __enter__(self) -> UnitOfWork:
        self._lock.__enter__()
        self.session = self._factory()
        self.events, self.audit_notes = [], []
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.session.rollback()
            self.session.close()
        finally:
            self._lock.__exit__(None, None, None)

    def record(self, event: Event) -> Event:
        """Record an event to be written to the outbox on commit."""
        event.id = event.id or new_id("ev_")
        event.occurred_at = event.occurred_at or self.clock.now()
        self.events.append(event)
        return event

    def audit(self, action: str, resource: str, **kwargs) -> None:
        """Record an audit entry for what this unit of work does or reads."""
        note = AuditNote(action, resource, **kwargs)
        if self.subject is not None:
            note.actor = note.actor or self.subject.user_id
            note.agency = note.agency or self.subject.agency
        self.audit_notes.append(note)

    def commit(self) -> None:
        self.session.add_all([
            EventRecord(id=e.id, name=e.name, declaration_id=e.declaration_id, agency=e.agency,
                        occurred_at=e.occurred_at, payload=_jsonable(e.payload()))
            for e in self.events
        ])
        if self.audit_notes:
            self._audit_log.append(self.session, self.audit_notes, self.clock.now(), self.request_id)
        self.session.commit()
        self.committed_events.extend(self.events)
        self.events, self.audit_notes = [], []

    def rollback(self) -> None:
        self.session.rollback()
        self.events, self.audit_notes = [], []


def _jsonable(value):
    from datetime import datetime
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
