"""Transports the outbox relay publishes to: in-process (default) and NATS JetStream (production)."""

from __future__ import annotations

import asyncio
import json
import threading
from functools import lru_cache
from typing import Callable

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
    (one event is several messages, one per audience)."""

    def __init__(self, url: str, stream: str, prefix: str = "concord"):
        self.url, self.stream, self.prefix = url, stream, prefix
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

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _connect(self):
        import nats

        self._nc = await nats.connect(self.url)
        self._js = self._nc.jetstream()
        await self._js.add_stream(name=self.stream, subjects=[f"{self.prefix}.>"])

    async def _publish(self, messages: list[dict]):
        # Waiting for each acknowledgement in turn allowed about 1,500 messages/s; a window of publishes in flight
        # keeps their order on the wire (each is written before the next starts) and waits for all the acks.
        for i in range(0, len(messages), WINDOW):
            await asyncio.gather(*[self._js.publish(subject_for(m, self.prefix), json.dumps(m).encode(),
                                                    headers={"Nats-Msg-Id": f"{m['id']}:{m['audience']}"})
                                   for m in messages[i:i + WINDOW]])

    def publish_many(self, messages: list[dict]) -> None:
        self._run(self._publish(messages))
        for callback in self.batch_subscribers:
            callback(messages)

    def close(self) -> None:
        if self._nc is not None:
            self._run(self._nc.drain())
        self._loop.call_soon_threadsafe(self._loop.stop)
