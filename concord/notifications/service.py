"""The notification service of a server process: the store the relay writes to, the tail, the open streams and
the webhook dispatcher, started and stopped with the server."""

from __future__ import annotations

from datetime import timedelta

from concord.clock import Clock
from concord.notifications.store import NotificationStore
from concord.notifications.stream import Streams
from concord.notifications.webhooks import WebhookDispatcher


class Notifications:
    def __init__(self, app):
        s = app.settings
        self.transport = app.transport
        self.retention = timedelta(hours=s.notification_retention_h)
        listen = None
        if s.relay_elsewhere and app.engine.dialect.name == "postgresql":  # the relay process stores, workers stream
            listen = app.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.store = NotificationStore(app.sessions, app.clock, retention_h=s.notification_retention_h,
                                       write_lock=app.write_lock, listen=listen)
        self.streams = Streams(s.stream_connections_per_user, s.stream_queue)
        self.heartbeat_s = s.stream_heartbeat_s
        # Retries are timed by the wall clock, as the receivers' clocks and the signatures' timestamps are (a hub
        # run on a simulated clock, as in the tests and the demo, would otherwise never see a retry fall due).
        self.webhooks = WebhookDispatcher(app.sessions, Clock(), s, write_lock=app.write_lock)
        self.store.consumers += [self.streams.deliver, self.webhooks.wake]
        self.store.wanted = lambda: set(self.streams.by_audience)  # the webhooks read their rows themselves
        self.started = False

    async def start(self) -> None:
        """Before the relay starts: every batch it publishes from now on is stored, then delivered."""
        self.transport.subscribe_batch(self.store.store)
        await self.store.start()
        await self.webhooks.start()
        self.started = True

    async def stop(self) -> None:
        self.streams.shut()
        await self.webhooks.stop()
        await self.store.stop()

    def prune(self) -> None:
        """The retention: notifications and finished deliveries older than it are deleted (periodic job)."""
        self.store.prune()
        self.webhooks.prune(self.retention)
