"""The relay publishes committed outbox rows to the transport, at least once, in commit order: each event once per
audience entitled to it, cut by the exit rule (concord.messaging.audiences)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from datetime import timedelta

from sqlalchemy.orm import sessionmaker

from concord.clock import Clock
from concord.driver import PLACEHOLDER, one_of_sql, pipeline
from concord.messaging.models import EventRecord

log = logging.getLogger(__name__)

FRESH_LIMIT = 20_000  # events held in memory for publishing; past it, the relay reads them back from the table


class OutboxRelay:
    """Publishes what this process committed straight from memory, and sweeps the table for the rest.

    The events table is the truth: a row is unpublished until the relay has handed it to the transport and then
    marked it. Reading back what this process has just written cost most of the relay's time, and the relay shares
    the event loop with the requests, so a commit also hands its outbox rows here (`committed`). A sweep of the
    table (every `interval`, at stop, and whenever memory could not be trusted: an overflow, a failed publish)
    publishes whatever memory does not hold: other processes' commits (a CLI upload), a crash's backlog."""

    def __init__(self, session_factory: sessionmaker, transport, clock: Clock, batch: int = 500,
                 write_lock: threading.RLock | None = None, *, audiences):
        self._factory = session_factory
        # (session, outbox rows) -> the messages to publish, each cut for its audience (audiences.messages_for)
        self._audiences = audiences
        # SQLite: marking rows published must queue behind request transactions in-process; a second
        # connection contending at the database level would sleep in SQLite's busy handler instead.
        self._write_lock = write_lock or contextlib.nullcontext()
        self.transport = transport
        self.clock = clock
        self.batch = batch
        self._lock = threading.Lock()
        self._fresh: list[dict] = []  # outbox rows committed here, not yet published
        self._fresh_lock = threading.Lock()
        self._sweep_due = True  # until a first sweep, the table may hold a previous run's backlog
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._task = None
        self._stop = threading.Event()
        # Several workers: only the leader sweeps the table (two sweeps would publish the same rows twice), and
        # it leaves rows younger than `sweep_grace` seconds to the worker that committed them, which publishes
        # them from memory (routing them all through the leader would read back every other worker's events).
        self.may_sweep = lambda: True
        self.sweep_grace = 0.0
        self._on_commit = None  # wakes the relay's task on the event loop (start(loop=...))
        # Another process publishes (`concord relay`): this one neither holds what it commits nor flushes at stop.
        self.elsewhere = False

    def start(self, interval: float = 1.0, gather: float = 0.05, loop=None) -> None:
        """Publish in the background: shortly after a commit, and sweep the table every interval.

        Waiting `gather` seconds after a wake-up lets one flush carry the events of many commits, instead of
        one flush (and one write transaction) per request competing with the requests themselves.

        With `loop` (called on that event loop's thread), the relay runs there as a task, between requests,
        instead of in a thread: a thread contends for the GIL and the write lock with the loop and stalled
        lodgings by up to 50 ms (p99 at 200/s: about 40 ms with the thread). Only for a transport that does
        not wait on the network: NATS keeps the thread."""
        if loop is not None:
            self._task = loop.create_task(self._run_on_loop(interval, gather))
            return

        def run():
            swept = time.monotonic()
            while not self._stop.is_set():
                if self._wake.wait(interval):
                    self._stop.wait(gather)
                self._wake.clear()
                if sweep := time.monotonic() - swept >= interval:
                    swept = time.monotonic()
                self._flush_logged(interval, sweep)

        self._thread = threading.Thread(target=run, name="outbox-relay", daemon=True)
        self._thread.start()

    async def _run_on_loop(self, interval: float, gather: float) -> None:
        # A commit wakes the relay at once (notifications wait on it: polling every `gather` cost them 25 ms on
        # average); `gather` now only spaces flushes apart, so a busy server still flushes many commits at once.
        loop, woken = asyncio.get_running_loop(), asyncio.Event()
        self._on_commit = lambda: loop.call_soon_threadsafe(woken.set)
        swept = flushed = time.monotonic()
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(woken.wait(), max(0.0, interval - (time.monotonic() - swept)))
            if (wait := gather - (time.monotonic() - flushed)) > 0:
                await asyncio.sleep(wait)
            woken.clear()
            if sweep := time.monotonic() - swept >= interval:
                swept = time.monotonic()
            if sweep or self._wake.is_set():
                self._wake.clear()
                flushed = time.monotonic()
                try:
                    await self._flush_on_loop(sweep)
                except Exception:  # the transport is down: the rows stay unpublished and are retried
                    log.exception("outbox relay failed; retrying")

    async def _flush_on_loop(self, sweep: bool) -> None:
        """flush() on the event loop, letting the loop run between publishing and marking: the streams send what
        the transport's subscribers just delivered before the marking's write transaction (which may wait for a
        request's) holds the loop. Not under `_lock` across the await (stop() flushes on this thread): rows that
        stop() finds in flight are still unpublished in the table, and its sweep publishes them again (once each
        in the store: consumers dedupe by id)."""
        with self._fresh_lock:
            fresh, self._fresh = self._fresh, []
            sweep = sweep or self._sweep_due
            self._sweep_due = False
        if fresh:
            try:
                with self._lock, self._factory() as session:
                    messages = self._cut(session, fresh)
                    session.rollback()
                    self.transport.publish_many(messages)
                await asyncio.sleep(0)
                with self._lock, self._factory() as session:
                    for i in range(0, len(fresh), self.batch):
                        self._mark(session, "id", [r["id"] for r in fresh[i:i + self.batch]])
            except BaseException:
                self._sweep_due = True  # they stay unpublished in the table; the next flush sweeps them up
                raise
        if sweep:
            with self._lock:
                self._sweep()

    def _flush_logged(self, pause: float, sweep: bool) -> None:
        try:
            self.flush(sweep)
        except Exception:  # the transport is down: the rows stay unpublished and are retried
            log.exception("outbox relay failed; retrying")
            self._stop.wait(pause)

    def stop(self) -> None:
        if self.elsewhere:
            return
        self._stop.set()
        self._on_commit = None  # the loop may be closing: a late commit (a CLI job) must not call into it
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._task is not None:
            self._task.cancel()
        self.flush()

    def committed(self, rows: list[dict]) -> None:
        """A unit of work committed these outbox rows: publish them soon, without reading them back."""
        if self.elsewhere:
            return
        with self._fresh_lock:
            if len(self._fresh) + len(rows) > FRESH_LIMIT:  # nobody is flushing (a CLI run): the table has them
                self._fresh, self._sweep_due = [], True
            else:
                self._fresh.extend(rows)
        self._wake.set()
        if self._on_commit is not None:
            self._on_commit()

    def flush(self, sweep: bool = True) -> int:
        """Publish every unpublished event this process committed, then (with `sweep`, or when memory fell
        short) every other unpublished row of the table, oldest first; returns how many were published."""
        with self._lock:
            with self._fresh_lock:
                fresh, self._fresh = self._fresh, []
                sweep = sweep or self._sweep_due
                self._sweep_due = False
            try:
                total = self._publish_fresh(fresh) if fresh else 0
            except Exception:
                self._sweep_due = True  # they stay unpublished in the table; the next flush sweeps them up
                raise
            return total + (self._sweep() if sweep else 0)

    def _cut(self, session, rows: list[dict]) -> list[dict]:
        # The in-process transport with no subscriber (the default server) delivers to nobody: cut nothing.
        return self._audiences(session, rows) if getattr(self.transport, "listened", True) else []

    def _publish_fresh(self, rows: list[dict]) -> int:
        # In batches, as the sweep does: a relay behind cut every held row's messages at once (14 a lodging on
        # PostgreSQL's notifications store), and the peak stayed in the server's RSS.
        for i in range(0, len(rows), self.batch):
            chunk = rows[i:i + self.batch]
            with self._factory() as session:
                messages = self._cut(session, chunk)
                session.rollback()  # end the read transaction before waiting for the write lock
                self.transport.publish_many(messages)
                self._mark(session, "id", [r["id"] for r in chunk])
        return len(rows)

    def _mark(self, session, key: str, values: list) -> None:
        conn = session.connection()
        mark = PLACEHOLDER[conn.dialect.paramstyle]
        write_at = EventRecord.__table__.c.published_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        now = self.clock.now()
        with self._write_lock, pipeline(conn) as driver:
            if driver is not None:
                # A mark lost in a crash of the database server only publishes its events again, which the
                # relay's delivery (at least once, consumers idempotent by id) allows; so this commit need not
                # wait for the disk.
                driver.execute("SET LOCAL synchronous_commit TO OFF")
            which, params = one_of_sql(EventRecord.__table__.c[key], values, conn.dialect)
            conn.exec_driver_sql(f"UPDATE events SET published_at = {mark} WHERE {which}",
                                 (write_at(now) if write_at else now, *params))
            if driver is not None:
                driver.execute("COMMIT")  # in the pipeline: the three statements in one round trip (uow.commit)
        session.commit()

    def _sweep(self) -> int:
        """Publish the table's unpublished rows, oldest first. Straight to the driver: the ORM's per-row
        processing was most of the relay's cost."""
        if not self.may_sweep():
            return 0
        t = EventRecord.__table__
        total = 0
        with self._factory() as session:
            conn = session.connection()
            at = t.c.occurred_at.type.dialect_impl(conn.dialect)
            read_at = at.result_processor(conn.dialect, None) or (lambda v: v)
            payload = t.c.payload.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None) or (lambda v: v)
            young, cutoff = "", ()
            if self.sweep_grace > 0:
                write_at = at.bind_processor(conn.dialect) or (lambda v: v)
                young = f" AND occurred_at < {PLACEHOLDER[conn.dialect.paramstyle]}"
                cutoff = (write_at(self.clock.now() - timedelta(seconds=self.sweep_grace)),)
            mark, after = PLACEHOLDER[conn.dialect.paramstyle], -1
            while True:
                # Keys first: rows committed while this flush ran are unpublished in the table but held in memory,
                # and the next flush publishes them from there. Reading them back too was the relay's slow path
                # (payloads parsed, cut, stored and marked twice over): on PostgreSQL at 442 lodgings a second the
                # sweep read back more than memory published, fell behind, and the outbox lag rose to 17 s.
                keys = session.connection().exec_driver_sql(
                    f"SELECT seq, id FROM events WHERE published_at IS NULL{young} AND seq > {mark} "
                    f"ORDER BY seq LIMIT {int(self.batch)}", (*cutoff, after)).all()
                if not keys:
                    return total
                after = keys[-1][0]
                with self._fresh_lock:
                    held = {r["id"] for r in self._fresh}
                wanted = [k[0] for k in keys if k[1] not in held]
                if not wanted:  # all in memory: what follows is newer still (another process's: the next sweep)
                    return total
                which, params = one_of_sql(t.c.seq, wanted, conn.dialect)
                rows = session.connection().exec_driver_sql(
                    "SELECT seq, id, name, declaration_id, agency, occurred_at, payload FROM events "
                    f"WHERE {which} ORDER BY seq", params).all()
                messages = self._cut(session, [
                    {"id": r[1], "name": r[2], "declaration_id": r[3], "agency": r[4], "occurred_at": read_at(r[5]),
                     "payload": payload(r[6])} for r in rows])
                session.rollback()  # end the read transaction before waiting for the write lock
                self.transport.publish_many(messages)
                self._mark(session, "seq", [r[0] for r in rows])
                total += len(rows)
                # Rows committed since the flush began are in memory too: forget those just published, or the next
                # flush sends them again (after an outage, the whole catch-up: 4,000 repeats in the node-kill bench).
                swept = {r[1] for r in rows}
                with self._fresh_lock:
                    self._fresh = [r for r in self._fresh if r["id"] not in swept]
                if len(keys) < self.batch:  # the table's end when it was read: what committed since waits for the
                    # next sweep. Reading on chased each commit: the relay process published a lodging or two at
                    # a time (50 sweeps a second at 100 lodgings/s, each with its three transactions and a
                    # wake-up of every worker's tail), and that fixed cost filled the cores at any rate.
                    return total
