"""The relay's messages stored once per (event, audience), and the tail that hands each new one to live consumers.

The relay calls `store` with each batch it publishes, before it marks the events published: a failed insert
fails the publish, so the relay retries and nothing committed is lost; it only ever publishes committed rows, so
nothing uncommitted is stored. The tail reads the table (not the relay's memory), so streams served by another
process, or after a restart, see the same sequence."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import timedelta

import orjson
from sqlalchemy import case, delete, func, null, select, text
from sqlalchemy.dialects import sqlite

from concord.db import insert_returning
from concord.notifications.models import Notification

log = logging.getLogger(__name__)

PAGE = 2000  # rows per read of the tail or a replay
POLL_S = 0.5  # how often the tail looks for what another process stored (this process's inserts wake it at once)
_PG_LOCK = 0x434F4E43  # advisory lock: notifications commit in seq order, so a tail never skips a late commit


def frame(seq: int, name: str, message: dict) -> bytes:
    """One server-sent event: `id` is the resume cursor, `event` the event name, `data` the message (serialized as
    the database stores it, so a frame built from the relay's batch and one read back carry the same values)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, name.encode(), orjson.dumps(message, default=str))


class NotificationStore:
    """Stores the relay's batches and tails them to the consumers (`on_new(rows)` on the server's event loop)."""

    def __init__(self, sessions, clock, *, retention_h: float, write_lock=None):
        self.sessions, self.clock, self.retention = sessions, clock, timedelta(hours=retention_h)
        self._write_lock = write_lock or contextlib.nullcontext()
        self.consumers: list = []  # callables(rows): rows are (seq, audience, name, frame bytes, its message or None)
        self.wanted = None  # () -> the audiences whose messages a consumer here needs (None: all); on the loop
        self.last_seq = 0
        self._wake: asyncio.Event | None = None
        self._loop = None
        self._task = None
        self._loop_thread = None
        self._stopping = False

    def store(self, messages: list[dict]) -> None:
        """The relay's batch subscriber: insert each message once (a redelivery is ignored), then wake the tail."""
        if not messages:
            return
        now = self.clock.now()
        rows = [{"event_id": m["id"], "audience": m["audience"], "name": m["name"], "stored_at": now, "message": m}
                for m in messages]
        with self._write_lock, self.sessions() as s:
            # a redelivery returns nothing; the key, not the message: parsing the JSON back cost more than the insert
            if s.get_bind().dialect.name == "postgresql":
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
                stored = insert_returning(s.connection(), Notification.__table__, rows,
                                          "ON CONFLICT DO NOTHING RETURNING seq, event_id, audience")
            else:
                stored = s.execute(sqlite.insert(Notification).on_conflict_do_nothing().returning(
                    Notification.seq, Notification.event_id, Notification.audience, sort_by_parameter_order=True),
                    rows).all()
            s.commit()
        if self._loop is None:
            return
        # Hand what was just stored to the consumers at once, instead of reading it back (the tail's read cost a
        # thread hop and a query per batch, and waited behind the relay's marking): on the loop's thread.
        # The frame is left to the consumer that has a listener for its audience (stream.deliver): serializing
        # every message again for audiences nobody listens to was most of this hand-over.
        sent = {(m["id"], m["audience"]): m for m in messages}
        fresh = sorted((seq, aud, sent[eid, aud]["name"], sent[eid, aud]) for seq, eid, aud in stored)
        if threading.get_ident() == self._loop_thread:
            self._fresh(fresh)
        else:  # the relay runs on its own thread (NATS)
            self._loop.call_soon_threadsafe(self._fresh, fresh)

    def _fresh(self, rows: list[tuple]) -> None:
        """This process's insert, delivered straight away if it follows what was delivered last; after a gap (another
        process's rows between, or sequence numbers a redelivery consumed) the tail reads the table instead."""
        if rows and rows[0][0] == self.last_seq + 1 and rows[-1][0] == self.last_seq + len(rows):
            self.last_seq = rows[-1][0]
            for consumer in self.consumers:
                try:  # they are stored: a consumer's fault must not fail the relay's publish
                    consumer(rows)
                except Exception:
                    log.exception("notification consumer failed")
        elif rows:
            self._wake.set()

    def latest(self) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.coalesce(func.max(Notification.seq), 0)))

    def oldest(self) -> int | None:
        with self.sessions() as s:
            return s.scalar(select(func.min(Notification.seq)))

    def read(self, after: int, audience: str | None = None, limit: int = PAGE, wanted: set | None = None) -> list[tuple]:
        """Stored notifications after seq `after` (of one audience, or all), oldest first, as SSE frames.

        `wanted`: the audiences whose messages are read (the others' rows come with None): the tail reads every
        process's rows, and with several workers that was every message of every worker parsed back from JSON and
        framed again in each of them, for audiences nobody listens to here."""
        message = Notification.message if wanted is None else case(
            (Notification.audience.in_(sorted(wanted)), Notification.message), else_=null())
        q = select(Notification.seq, Notification.audience, Notification.name, message) \
            .where(Notification.seq > after).order_by(Notification.seq).limit(limit)
        if audience is not None:
            q = q.where(Notification.audience == audience)
        with self.sessions() as s:
            return [(seq, aud, name, None if message is None else frame(seq, name, message))
                    for seq, aud, name, message in s.execute(q)]

    def recent(self, audience: str, limit: int = 50) -> list[tuple]:
        """The audience's latest notifications, newest first, as (seq, name, message): what its stream carried
        (the console's notification list)."""
        q = select(Notification.seq, Notification.name, Notification.message).where(
            Notification.audience == audience).order_by(Notification.seq.desc()).limit(limit)
        with self.sessions() as s:
            return [tuple(row) for row in s.execute(q)]

    def prune(self) -> int:
        """Forget notifications past the retention (they can no longer be replayed); how many."""
        with self._write_lock, self.sessions() as s:
            gone = s.execute(delete(Notification).where(Notification.stored_at < self.clock.now() - self.retention))
            s.commit()
            return gone.rowcount

    async def start(self) -> None:
        """Tail from what is stored now: a consumer connecting later replays the past with Last-Event-ID."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        self._loop_thread = threading.get_ident()
        self.last_seq = await asyncio.to_thread(self.latest)
        self._task = self._loop.create_task(self._tail())

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True  # as the webhooks' loop: a cancellation that meets a wake-up is lost in 3.11
            self._wake.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _tail(self) -> None:
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()
            try:
                while page := await asyncio.to_thread(self.read, self.last_seq, None, PAGE,
                                                      None if self.wanted is None else self.wanted()):
                    # what this process stored meanwhile was delivered at once (_fresh): not twice
                    if rows := [r for r in page if r[0] > self.last_seq]:
                        self.last_seq = rows[-1][0]
                        for consumer in self.consumers:
                            consumer(rows)
                    if len(page) < PAGE:
                        break
            except Exception:  # the database is away: the next round reads from the same seq
                log.exception("notification tail failed; retrying")
