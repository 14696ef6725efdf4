"""The relay publishes committed outbox rows to the transport, at least once, in commit order."""

from __future__ import annotations

import threading

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from concord.clock import Clock
from concord.messaging.models import EventRecord


class OutboxRelay:
    def __init__(self, session_factory: sessionmaker, transport, clock: Clock, batch: int = 500):
        self._factory = session_factory
        self.transport = transport
        self.clock = clock
        self.batch = batch
        self._lock = threading.Lock()

    def flush(self) -> int:
        """Publish every unpublished event; returns how many were published."""
        total = 0
        with self._lock, self._factory() as session:
            while True:
                rows = session.scalars(
                    select(EventRecord).where(EventRecord.published_at.is_(None))
                    .order_by(EventRecord.seq).limit(self.batch)
                ).all()
                if not rows:
                    return total
                self.transport.publish_many([r.as_message() for r in rows])
                session.execute(update(EventRecord).where(EventRecord.seq.in_([r.seq for r in rows]))
                                .values(published_at=self.clock.now()))
                session.commit()
                total += len(rows)
