"""Transports the outbox relay publishes to: in-process (default) and NATS JetStream (production)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from functools import lru_cache
from typing import Callable

log = logging.getLogger(__name__)

WINDOW = 256  # JetStream publishes awaiting their acknowledgement at once


class InProcessTransport:
    """Delivers to in-process subscribers; consumers dedupe by event id (delivery is at least once)."""

    def __init__(self):
        self.subscribers: list[Callable[[dict], None]] = []
        self.batch_subscribers: list[Callable[[list[dict]], None]] = []

    def subscribe(self, callback: Callable[[dict], None]) -> None:
        self.subscribers.append(callback)

    def subscribe_batch(self, callback: Callable[[list[dict]], None]) -> None:
        """Receive each publish whole (the notification store writes it in one transaction); an exception fails
        the publish, so the relay leaves the events unpublished and retries them."""
        self.batch_subscribers.append(callback)

    @property
    def listened(self) -> bool:
        """Whether anyone receives what is published: with no subscriber, the relay need not cut messages."""
        return bool(self.subscribers or self.batch_subscribers)

    def publish_many(self, messages: list[dict]) -> None:
        for callback in self.batch_subscribers:
            callback(messages)
        for message in messages:
            for callback in self.subscribers:
                callback(message)


def subject_for(message: dict, prefix: str = "concord") -> str:
    """NATS subject: <prefix>.<event name>.<audience>, the one audience the message was cut for (docs/access.md),
    so each agency's NATS user can be allowed its own subjects and nothing else."""
    return f"{prefix}.{event_tokens(message['name'])}.{message['audience']}"


@lru_cache(maxsize=1024)
def event_tokens(name: str) -> str:
    """An event name as exactly two subject tokens (`area.what`), so that `<prefix>.*.*.<audience>` selects all of
    an audience's messages whatever names other packages give their events: a third part is escaped into the
    second token (`operation.task.assigned` -> `operation.task~2eassigned`), a missing one is `_`."""
    from concord.messaging.audiences import audience_token

    area, _, what = name.partition(".")
    return f"{audience_token(area) or '_'}.{audience_token(what) or '_'}"


class NatsTransport:
    """Publishes to a JetStream stream; Nats-Msg-Id = event id and audience lets the server drop redeliveries
    (one event is several messages, one per audience).

    `publish_many` returns only once JetStream has acknowledged every message (stored on a quorum of the stream's
    replicas), and raises otherwise (a node down, no quorum, a timeout): the relay marks its outbox rows published
    only after it returns, so a failure leaves them for the next flush, and the repeats it may cause (a message
    stored whose acknowledgement was lost) are dropped by the stream within `duplicate_window_s`, and by the
    consumers, which dedupe by the same id, after it."""

    def __init__(self, url: str, stream: str, prefix: str = "concord", *, replicas: int = 1,
                 duplicate_window_s: float = 900.0, publish_timeout_s: float = 5.0):
        # `url` may list several servers of a cluster (comma-separated): the client moves to another when one dies.
        self.servers = [u.strip() for u in url.split(",") if u.strip()]
        self.url, self.stream, self.prefix = url, stream, prefix
        self.replicas, self.duplicate_window_s, self.publish_timeout_s = replicas, duplicate_window_s, publish_timeout_s
        self.duplicates = 0  # messages JetStream acknowledged as repeats of one it already held (not stored again)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._nc = self._js = None
        self.batch_subscribers: list[Callable[[list[dict]], None]] = []
        self._run(self._connect())

    def subscribe_batch(self, callback: Callable[[list[dict]], None]) -> None:
        """Also hand each publish, once JetStream has acknowledged it, to this process (the hub's own streams
        and webhooks); an exception fails the publish, and the relay retries (JetStream drops the repeats)."""
        self.batch_subscribers.append(callback)

    def _run(self, coro, timeout: float = 60):
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=timeout)
        except BaseException:
            future.cancel()  # a publish given up on must not go on in the background
            raise

    async def _connect(self):
        import nats
        from nats.js.api import StreamConfig
        from nats.js.errors import BadRequestError

        # Reconnect for ever: a client that gave up after the default 60 attempts would fail every flush until
        # the hub restarted, although the cluster came back.
        self._nc = await nats.connect(servers=self.servers, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                      error_cb=_log_error, disconnected_cb=_log_disconnected)
        self._js = self._nc.jetstream(timeout=self.publish_timeout_s)
        config = StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"], num_replicas=self.replicas,
                              duplicate_window=self.duplicate_window_s)
        try:
            await self._js.add_stream(config)
        except BadRequestError:  # it exists with another configuration (an older window, fewer replicas)
            await self._js.update_stream(config)

    async def _publish(self, messages: list[dict]) -> int:
        # Waiting for each acknowledgement in turn allowed about 1,500 messages/s; a window of publishes in flight
        # keeps their order on the wire (each is written before the next starts) and waits for all the acks.
        duplicates = 0
        for i in range(0, len(messages), WINDOW):
            acks = await asyncio.gather(*[self._js.publish(subject_for(m, self.prefix), json.dumps(m).encode(),
                                                           headers={"Nats-Msg-Id": f"{m['id']}:{m['audience']}"})
                                          for m in messages[i:i + WINDOW]])
            duplicates += sum(1 for a in acks if a.duplicate)
        return duplicates

    def publish_many(self, messages: list[dict]) -> None:
        """Publish and wait for every acknowledgement; raises if any is missing (nothing is then marked sent)."""
        # Each window waits at most publish_timeout_s for its acks: a bound that grows with the batch, so that a
        # large catch-up after an outage is not given up on (and sent again, whole) merely for being large.
        windows = -(-len(messages) // WINDOW)
        self.duplicates += self._run(self._publish(messages), timeout=self.publish_timeout_s * (windows + 1) + 5)
        for callback in self.batch_subscribers:
            callback(messages)

    def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):  # a cluster that is down cannot be drained; nothing is pending
                self._run(self._nc.drain(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)


async def _log_error(e: Exception) -> None:
    log.warning("NATS: %s", e)


async def _log_disconnected() -> None:
    log.warning("NATS: disconnected; reconnecting to another server of the cluster")
