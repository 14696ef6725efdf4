"""Server-sent event streams: one per connection, each fed only its audience's notifications.

The audience is the recipient's (concord.notifications.queries.stream_audience); the messages were cut for that
audience by the relay (concord.messaging.audiences), so a stream never carries what the audience's reads would
not show. A client that falls behind by more than `queue` notifications has its stream ended: it reconnects with
Last-Event-ID and replays from the table, instead of the server buffering without bound."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

from concord.errors import TooManyRequests
from concord.notifications.store import frame

RETRY_MS = 2000  # the browser's EventSource reconnects after this
CLOSED = None  # queued to end a stream (server shutdown)
BURST = 64  # queued notifications sent in one write


class Listener:
    """One open stream: its audience, the event names it asked for, and what waits to be sent."""

    __slots__ = ("user", "audience", "prefixes", "queue", "overflowed", "streams")

    def __init__(self, streams: Streams, user: str, audience: str, prefixes: tuple[str, ...], size: int):
        self.streams, self.user, self.audience, self.prefixes = streams, user, audience, prefixes
        self.queue: asyncio.Queue = asyncio.Queue(size)
        self.overflowed = False

    def close(self) -> None:
        self.streams.close(self)

    async def aclose(self) -> None:
        """close() on the event loop (a response's background task), never on a worker thread."""
        self.close()

    def wants(self, name: str) -> bool:
        return not self.prefixes or name.startswith(self.prefixes)


class Streams:
    """The open streams of this process, by audience, with a bound per user."""

    def __init__(self, per_user: int, queue: int):
        self.per_user, self.queue = per_user, queue
        self.by_audience: dict[str, set[Listener]] = defaultdict(set)
        self.open_per_user: Counter = Counter()
        self.closing = False

    def open(self, user: str, audience: str, prefixes: tuple[str, ...]) -> Listener:
        """Register a stream before its replay is read, so nothing falls between the replay and the live feed."""
        if self.closing:
            raise TooManyRequests("the server is stopping; reconnect with Last-Event-ID", retry_after=2)
        if self.open_per_user[user] >= self.per_user:
            raise TooManyRequests(f"{user} already has {self.per_user} open streams; close one (each stream carries "
                                  f"all of your notifications)", retry_after=5)
        self.open_per_user[user] += 1
        listener = Listener(self, user, audience, prefixes, self.queue)
        self.by_audience[audience].add(listener)
        return listener

    def close(self, listener: Listener) -> None:
        listeners = self.by_audience.get(listener.audience)
        if listeners is not None and listener in listeners:
            listeners.discard(listener)
            if not listeners:
                del self.by_audience[listener.audience]
            self.open_per_user[listener.user] -= 1
            if self.open_per_user[listener.user] <= 0:
                del self.open_per_user[listener.user]

    def deliver(self, rows: list[tuple]) -> None:
        """The tail's consumer: each stored notification to the open streams of its audience (on the loop)."""
        for seq, audience, name, data in rows:
            # None: the tail read it while nobody here listened to its audience (a stream opened since then
            # replays it from the table if it asked to resume before it, and otherwise starts after it)
            if data is None or not (listeners := self.by_audience.get(audience)):
                continue
            if not isinstance(data, bytes):  # this process's message, framed only now that someone listens
                data = frame(seq, name, data)
            for listener in listeners:
                if listener.overflowed or not listener.wants(name):
                    continue
                try:
                    listener.queue.put_nowait((seq, data))
                except asyncio.QueueFull:
                    listener.overflowed = True

    def shut(self) -> None:
        """End every stream (the server is stopping): an open stream must not hold the shutdown."""
        self.closing = True
        for listeners in list(self.by_audience.values()):
            for listener in listeners:
                listener.overflowed = True
                try:
                    listener.queue.put_nowait(CLOSED)
                except asyncio.QueueFull:
                    pass  # it ends once it has drained its queue

    def count(self) -> int:
        return sum(len(v) for v in self.by_audience.values())


async def frames(listener: Listener, after: int | None, replay, gap: bytes | None, live: bool = True):
    """The stream's bytes: the retry hint, the replay after `after` (read by `replay(after)` in pages), then the
    live notifications. Heartbeats, a client's disconnect and the server's shutdown are sse-starlette's
    (EventSourceResponse). Always unregisters the listener."""
    try:
        yield b"retry: %d\n\n" % RETRY_MS
        if gap is not None:
            yield gap
        last = after if after is not None else -1
        while after is not None:
            rows = await asyncio.to_thread(replay, last)
            for seq, _, name, data in rows:
                if listener.wants(name):
                    yield data
                last = seq
            if not rows:
                break
        if not live:
            return
        queue = listener.queue
        while not (listener.overflowed and queue.empty()):  # a client that fell behind reconnects and replays
            items = [await queue.get()]
            while not queue.empty() and len(items) < BURST:  # one commit's events go out in one write
                items.append(queue.get_nowait())
            chunk = []
            for item in items:
                if item is CLOSED:
                    break
                seq, data = item
                if seq > last:  # a notification both replayed and queued live is sent once
                    last = seq
                    chunk.append(data)
            if chunk:
                yield b"".join(chunk)
            if item is CLOSED:
                return
    finally:
        listener.close()
