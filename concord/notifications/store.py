"""The relay's messages stored once per event (each distinct body once, a key per audience), and the tail that
hands each new one to live consumers.

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
from sqlalchemy import Text, bindparam, cast, delete, func, null, select, text

from concord.listen import listen
from concord.notifications.models import NotificationAudience as A
from concord.notifications.models import NotificationEvent as E

log = logging.getLogger(__name__)

PAGE = 2000  # rows per read of the tail or a replay
POLL_S = 0.5  # how often the tail looks for what another process stored (this process's inserts wake it at once)
_PG_LOCK = 0x434F4E43  # advisory lock: notifications commit in seq order, so a tail never skips a late commit
CHANNEL = "concord_notifications"  # with the relay in a process of its own: each insert wakes the workers' tails


def frame(seq: int, name: str, message: dict) -> bytes:
    """One server-sent event: `id` is the resume cursor, `event` the event name, `data` the message (serialized as
    the database stores it, so a frame built from the relay's batch and one read back carry the same values)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, name.encode(), orjson.dumps(message, default=str))


class NotificationStore:
    """Stores the relay's batches and tails them to the consumers (`on_new(rows)` on the server's event loop)."""

    def __init__(self, sessions, clock, *, retention_h: float, write_lock=None, listen: str | None = None):
        """`listen`: a PostgreSQL URL on which the inserts NOTIFY and the tail LISTENs (CHANNEL), where another
        process stores what this one's streams serve (the relay process): the tail is woken at once instead of
        at its next poll, up to POLL_S later."""
        self.sessions, self.clock, self.retention = sessions, clock, timedelta(hours=retention_h)
        self._listen_url = listen
        self._stop_listening = threading.Event()  # set to stop the listener thread
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
        """The relay's batch subscriber: store each event once with its distinct bodies (a redelivery is ignored),
        then hand what was stored to the consumers."""
        if not messages:
            return
        events: dict = {}  # event id -> [name, audiences, bodies, the bodies' serialized forms]
        for m in messages:
            e = events.get(m["id"]) or events.setdefault(m["id"], [m["name"], [], [], {}])
            body = orjson.dumps({k: v for k, v in m.items() if k != "audience"}, default=str)
            if (i := e[3].get(body)) is None:  # many audiences of an event see the same cut
                i = e[3][body] = len(e[2])
                e[2].append(body)
            e[1].append((m["audience"], i))
        now = self.clock.now()
        with self._write_lock, self.sessions() as s:
            stored = _insert(s.connection(), events, now)
            if self._listen_url is not None:
                s.execute(text(f"NOTIFY {CHANNEL}"))  # sent at the commit
            s.commit()
        if self._loop is None:
            return
        # Hand what was just stored to the consumers at once, instead of reading it back (the tail's read cost a
        # thread hop and a query per batch, and waited behind the relay's marking): on the loop's thread.
        # The frame is left to the consumer that has a listener for its audience (stream.deliver): serializing
        # every message again for audiences nobody listens to was most of this hand-over.
        sent = {(m["id"], m["audience"]): m for m in messages}
        fresh = sorted((seq, aud, sent[eid, aud]["name"], sent[eid, aud])
                       for seq, eid in stored for aud, _ in events[eid][1])
        if threading.get_ident() == self._loop_thread:
            self._fresh(fresh)
        else:  # the relay runs on its own thread (NATS)
            self._loop.call_soon_threadsafe(self._fresh, fresh)

    def _fresh(self, rows: list[tuple]) -> None:
        """This process's insert, delivered straight away if it follows what was delivered last; after a gap (another
        process's events between, or sequence numbers a redelivery consumed) the tail reads the table instead."""
        seqs = sorted({r[0] for r in rows})
        if seqs and seqs[0] == self.last_seq + 1 and seqs[-1] == self.last_seq + len(seqs):
            self.last_seq = seqs[-1]
            for consumer in self.consumers:
                try:  # they are stored: a consumer's fault must not fail the relay's publish
                    consumer(rows)
                except Exception:
                    log.exception("notification consumer failed")
        elif rows:
            self._wake.set()

    def latest(self) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.coalesce(func.max(E.seq), 0)))

    def oldest(self) -> int | None:
        with self.sessions() as s:
            return s.scalar(select(func.min(E.seq)))

    def read(self, after: int, audience: str | None = None, limit: int = PAGE, wanted: set | None = None) -> list[tuple]:
        """Stored notifications after seq `after` (of one audience, or all), oldest first, as SSE frames:
        (seq, audience, name, frame). One event is one seq, with a row for each of its audiences.

        `wanted`: the audiences whose messages are framed (the others' rows come with None): the tail reads every
        process's events, and with several workers that was every message of every worker framed again in each
        of them, for audiences nobody listens to here."""
        return self.page(after, audience, limit, wanted)[0]

    def page(self, after: int, audience: str | None = None, limit: int = PAGE, wanted: set | None = None):
        """read(), and how many events it covered (a page is full when that reaches `limit`)."""
        if audience is not None:
            q = select(A.seq, A.audience, E.name, A.body, cast(E.bodies, Text)).join(E, E.seq == A.seq) \
                .where(A.audience == audience, A.seq > after).order_by(A.seq).limit(limit)
            with self.sessions() as s:
                rows = s.execute(q).all()
            return [(seq, aud, name, frame(seq, name, message_of(bodies, body, aud)))
                    for seq, aud, name, body, bodies in rows], len(rows)
        # As text, parsed here by orjson (the driver's JSON parser cost more); no bodies at all when nobody here
        # listens (with several workers, the tail reads every other worker's events)
        bodies = cast(E.bodies, Text) if wanted is None or wanted else null()
        q = select(E.seq, E.name, cast(E.audiences, Text), bodies).where(E.seq > after).order_by(E.seq).limit(limit)
        with self.sessions() as s:
            events = s.execute(q).all()
        out = []
        for seq, name, audiences, bodies in events:
            parsed = None
            for aud, body in orjson.loads(audiences):
                if wanted is not None and aud not in wanted:
                    out.append((seq, aud, name, None))
                    continue
                parsed = parsed or orjson.loads(bodies)
                out.append((seq, aud, name, frame(seq, name, parsed[body] | {"audience": aud})))
        return out, len(events)

    def recent(self, audience: str, limit: int = 50) -> list[tuple]:
        """The audience's latest notifications, newest first, as (seq, name, message): what its stream carried
        (the console's notification list)."""
        q = select(A.seq, E.name, A.body, cast(E.bodies, Text)).join(E, E.seq == A.seq).where(
            A.audience == audience).order_by(A.seq.desc()).limit(limit)
        with self.sessions() as s:
            return [(seq, name, message_of(bodies, body, audience)) for seq, name, body, bodies in s.execute(q)]

    def messages(self, audience: str | None = None) -> list[tuple]:
        """Every stored message (of one audience, or all) as (seq, audience, message), in the order stored: for
        tools and tests that check what was stored."""
        with self.sessions() as s:
            events = s.execute(select(E.seq, E.audiences, cast(E.bodies, Text)).order_by(E.seq)).all()
        return [(seq, aud, message_of(bodies, body, aud)) for seq, audiences, bodies in events
                for aud, body in audiences if audience in (None, aud)]

    def prune(self) -> int:
        """Forget notifications past the retention (they can no longer be replayed); how many events."""
        gone = 0
        with self._write_lock, self.sessions() as s:
            while expired := s.execute(select(E.seq, E.audiences).where(
                    E.stored_at < self.clock.now() - self.retention).order_by(E.seq).limit(PAGE)).all():
                keys = [{"a": aud, "s": seq} for seq, audiences in expired for aud, _ in audiences]
                s.connection().execute(delete(A.__table__).where(A.audience == bindparam("a"),
                                                                 A.seq == bindparam("s")), keys)
                s.execute(delete(E).where(E.seq.in_([seq for seq, _ in expired])))
                s.commit()
                gone += len(expired)
            return gone

    async def start(self) -> None:
        """Tail from what is stored now: a consumer connecting later replays the past with Last-Event-ID."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        self._loop_thread = threading.get_ident()
        self.last_seq = await asyncio.to_thread(self.latest)
        self._task = self._loop.create_task(self._tail())
        if self._listen_url is not None:
            threading.Thread(target=self._listen, args=(self._stop_listening,), name="notification-listener",
                             daemon=True).start()

    def _listen(self, stop: threading.Event) -> None:
        def wake(conn=None) -> None:  # on the LISTEN too: what was stored before it
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the server is stopping
                self._loop.call_soon_threadsafe(self._wake.set)

        # while it reconnects, the tail's poll goes on
        listen(self._listen_url, CHANNEL, stop, name="notification", listening=wake, heard=wake)

    async def stop(self) -> None:
        self._stop_listening.set()
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
                while True:
                    page, events = await asyncio.to_thread(self.page, self.last_seq, None, PAGE,
                                                           None if self.wanted is None else self.wanted())
                    # what this process stored meanwhile was delivered at once (_fresh): not twice
                    if rows := [r for r in page if r[0] > self.last_seq]:
                        self.last_seq = rows[-1][0]
                        for consumer in self.consumers:
                            consumer(rows)
                    if events < PAGE:
                        break
            except Exception:  # the database is away: the next round reads from the same seq
                log.exception("notification tail failed; retrying")


def message_of(bodies: str, body: int, audience: str) -> dict:
    """The message the relay cut for `audience`: its body with the audience put back."""
    return orjson.loads(bodies)[body] | {"audience": audience}


# PostgreSQL: the events and their audiences' keys in one statement (one round trip); a redelivered event inserts
# nothing (the conflict), so neither do its keys. Arrays, not a VALUES list: one statement text whatever the size;
# binary (%b): the text format escaped every quote of the JSON bodies, which cost three times the rest.
_PG_INSERT = (
    "WITH e AS (INSERT INTO notification_events (event_id, name, stored_at, audiences, bodies) "
    "SELECT id, name, %(at)b, audiences::json, bodies::json FROM unnest(%(ids)b::text[], %(names)b::text[], "
    "%(audiences)b::text[], %(bodies)b::text[]) WITH ORDINALITY AS u(id, name, audiences, bodies, ord) ORDER BY ord "
    "ON CONFLICT (event_id) DO NOTHING RETURNING seq, event_id), "
    "k AS (INSERT INTO notification_audiences (audience, seq, body) SELECT u.audience, e.seq, u.body "
    "FROM e JOIN unnest(%(key_ids)b::text[], %(key_audiences)b::text[], %(key_bodies)b::smallint[]) "
    "AS u(id, audience, body) ON u.id = e.event_id) "
    "SELECT seq, event_id FROM e")


_SQLITE_ROWS = 500  # events per INSERT on SQLite: 2,500 parameters, far below its limit of 32,766


def _insert(conn, events: dict, now) -> list[tuple]:
    """Store the events (id -> [name, [(audience, body index)], [serialized bodies], _]); (seq, event id) of each
    one stored now, in the order given (a serial column numbers them in that order)."""
    ids = list(events)
    audiences = [orjson.dumps(events[i][1]).decode() for i in ids]
    bodies = [b"[" + b",".join(events[i][2]) + b"]" for i in ids]
    at = E.__table__.c.stored_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        keys = [(i, aud, n) for i in ids for aud, n in events[i][1]]
        cursor = conn.connection.cursor()
        try:
            cursor.execute(_PG_INSERT, {"at": at(now) if at else now, "ids": ids, "names": [events[i][0] for i in ids],
                                        "audiences": audiences, "bodies": [b.decode() for b in bodies],
                                        "key_ids": [k[0] for k in keys], "key_audiences": [k[1] for k in keys],
                                        "key_bodies": [k[2] for k in keys]})
            return sorted(cursor.fetchall())
        finally:
            cursor.close()
    # SQLite: one multi-row statement per chunk, its rows in seq order once sorted. SQLAlchemy's RETURNING in the
    # parameters' order (sort_by_parameter_order) sent one statement per event: most of the store's time.
    written, stored = at(now) if at else now, []
    for start in range(0, len(ids), _SQLITE_ROWS):
        rows = [(i, events[i][0], written, a, b.decode()) for i, a, b in
                zip(ids[start:start + _SQLITE_ROWS], audiences[start:], bodies[start:])]
        stored += conn.exec_driver_sql(
            "INSERT INTO notification_events (event_id, name, stored_at, audiences, bodies) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?)"] * len(rows)) + " ON CONFLICT DO NOTHING RETURNING seq, event_id",
            tuple(v for row in rows for v in row)).all()
    stored.sort()
    if stored:  # straight to the driver: the ORM's parameter processing per key cost a third of this insert
        conn.exec_driver_sql("INSERT INTO notification_audiences (audience, seq, body) VALUES (?, ?, ?)",
                             [(aud, seq, n) for seq, i in stored for aud, n in events[i][1]])
    return [tuple(r) for r in stored]
