"""Lodging while a JetStream node dies: a hub publishes through a three-node cluster (stream with 3 replicas), one
node, the stream's leader, is killed with `kill -9` mid-run, and an agency's durable consumer counts what arrives.

    concord bench cluster [--rate 100] [--seconds 15] [--kill-at 0.3]

Declarations are lodged one by one through the bus (SQLite, the outbox relay on its thread as `concord serve` runs
it with NATS), paced at `rate` a second. The figures: lodgings acknowledged and failed; the messages the outbox
owes for them (each event cut for each audience), delivered to the consumer after deduplication by Nats-Msg-Id,
the deliveries before it (duplicates), lost and unexpected ones; the longest pause between two acknowledged
lodgings before the kill (the baseline, same run) and while the node is down; how long the relay could not
publish. Everything runs on one machine, the consumer in the hub's process: pauses are upper bounds."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from concord.bench.nats_cluster import NatsCluster
from concord.messaging.transports import NatsTransport


class RecordedTransport(NatsTransport):
    """The production transport, noting when each publish succeeded or failed (the relay retries a failure)."""

    def __init__(self, *args, **kwargs):
        self.attempts: list[tuple[float, bool]] = []  # (when the publish started, whether it succeeded)
        self.published = [0, 0.0]  # messages acknowledged, seconds spent in the publishes that succeeded
        super().__init__(*args, **kwargs)

    def publish_many(self, messages: list[dict]) -> None:
        started = time.monotonic()
        try:
            super().publish_many(messages)
        except Exception:
            self.attempts.append((started, False))
            raise
        self.attempts.append((started, True))
        self.published[0] += len(messages)
        self.published[1] += time.monotonic() - started

    def longest_outage(self) -> float:
        """Seconds from the start of the first failed publish of a run of failures to the start of the next one
        that succeeded: how long nothing could be published (the catch-up afterwards not included)."""
        longest, failing_since = 0.0, None
        for at, ok in self.attempts:
            if not ok and failing_since is None:
                failing_since = at
            elif ok and failing_since is not None:
                longest, failing_since = max(longest, at - failing_since), None
        return longest


class AgencyConsumer:
    """A durable pull consumer on every server of the cluster that acknowledges each message and dedupes by its
    Nats-Msg-Id, as an agency's system must (delivery is at least once); runs on its own event-loop thread."""

    def __init__(self, urls: str, stream: str, prefix: str):
        self.urls, self.stream, self.prefix = urls.split(","), stream, prefix
        self.deliveries: list[str] = []  # every Nats-Msg-Id received, repeats included
        self.unique: set[str] = set()
        self._stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._nc = self._call(self._connect())
        self._task = asyncio.run_coroutine_threadsafe(self._consume(), self._loop)

    def _call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self):
        import nats

        return await nats.connect(servers=self.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                  error_cb=_quiet, disconnected_cb=_quiet_cb)

    async def _consume(self) -> None:
        from nats.js.api import ConsumerConfig

        js = self._nc.jetstream(timeout=5)
        sub = None
        while not self._stop.is_set():
            try:
                if sub is None:
                    sub = await js.pull_subscribe(f"{self.prefix}.>", durable="agency", stream=self.stream,
                                                  config=ConsumerConfig(ack_wait=10))
                batch = await sub.fetch(500, timeout=1)
            except Exception:  # nothing new, or the node we talk to died: ask again (the client reconnects)
                await asyncio.sleep(0.05)
                continue
            for m in batch:
                msg_id = m.headers["Nats-Msg-Id"]
                self.deliveries.append(msg_id)
                self.unique.add(msg_id)  # the deduplication: a repeat adds nothing
                try:
                    await m.ack()  # a lost ack means a redelivery, which the set absorbs
                except Exception:
                    pass

    def info(self):
        """The stream's info: its configuration and its cluster (leader, replicas)."""
        return self._call(self._nc.jetstream(timeout=5).stream_info(self.stream))

    def leader(self) -> str:
        """The server name of the stream's current leader."""
        return self.info().cluster.leader

    def wait_for(self, expected: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not expected <= self.unique and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        self._stop.set()
        try:
            self._task.result(timeout=10)
            self._call(self._nc.close(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)


async def _quiet(e) -> None:  # the consumer's reconnections are expected here; the transport logs its own
    pass


async def _quiet_cb() -> None:
    pass


def _lodge_paced(app, trader, documents: list[dict], rate: float, kill_after: float, kill) -> dict:
    """Lodge each document at its scheduled time (at once when behind); call `kill` once `kill_after` s in."""
    from concord.declarations.messages import SubmitDeclaration

    ids, failed, acked_at, latencies, killed_at = [], 0, [], [], None
    start = time.monotonic()
    for i, document in enumerate(documents):
        due = start + i / rate
        if killed_at is None and due - start >= kill_after:
            kill()
            killed_at = time.monotonic()
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        try:
            ids.append(app.bus.handle(SubmitDeclaration(document=document), subject=trader)["id"])
        except Exception:
            failed += 1
            continue
        acked_at.append(time.monotonic())
        latencies.append(acked_at[-1] - due)
    return {"ids": ids, "failed": failed, "acked_at": acked_at, "latencies": latencies, "start": start,
            "killed_at": killed_at, "end": time.monotonic()}


def _phase(run: dict, since: float, until: float) -> dict:
    """Lodgings acknowledged in [since, until), the longest pause between two of them (or from `since` to the first),
    and p99 latency from each lodging's scheduled time."""
    acked = [(t, lat) for t, lat in zip(run["acked_at"], run["latencies"]) if since <= t < until]
    times = [since] + [t for t, _ in acked]
    lat = sorted(x for _, x in acked)
    return {"lodgings": len(acked),
            "longest_pause_ms": round(max((b - a for a, b in zip(times, times[1:])), default=until - since) * 1000, 1),
            "p99_ms": round(lat[int(0.99 * (len(lat) - 1))] * 1000, 1) if lat else None}


def _owed(app, declaration_ids: set[str]) -> tuple[set[str], set[str], int]:
    """The Nats-Msg-Ids the outbox owes: (for these declarations, for every event), and events still unpublished."""
    from concord.messaging.audiences import messages_for
    from concord.messaging.models import EventRecord

    with app.sessions() as s:
        events = s.scalars(select(EventRecord).order_by(EventRecord.seq)).all()
        rows = [{"id": e.id, "name": e.name, "declaration_id": e.declaration_id, "agency": e.agency,
                 "occurred_at": e.occurred_at, "payload": e.payload} for e in events]
        messages = messages_for(s, rows, access=app.access)
        unpublished = sum(1 for e in events if e.published_at is None)
    owed = {f"{m['id']}:{m['audience']}" for m in messages if m["declaration_id"] in declaration_ids}
    return owed, {f"{m['id']}:{m['audience']}" for m in messages}, unpublished


def run(rate: float = 100, seconds: float = 15, kill_at: float = 0.3, drain_timeout: float = 30) -> dict:
    """Lodge for `seconds` at `rate`, kill the stream leader `kill_at` of the way in; returns the figures (and,
    under "_raw", what the integration test checks beyond them)."""
    from importlib import resources

    from concord.access.handlers import subject_for
    from concord.access.models import User
    from concord.agencies.messages import LoadConfig
    from concord.bootstrap import bootstrap
    from concord.clock import FixedClock
    from concord.config import Settings
    from concord.declarations.schemas import declaration_document
    from concord.demo.run import make_document
    from concord.messaging.models import EventRecord
    from concord.notifications.models import NotificationAudience as A
    from concord.notifications.models import NotificationEvent as E

    suffix = uuid.uuid4().hex[:8]
    stream, prefix = f"CONCORD_CLUSTER_{suffix.upper()}", f"concordcluster{suffix}"
    with tempfile.TemporaryDirectory() as tmp, NatsCluster(Path(tmp) / "nats") as cluster:
        transport = RecordedTransport(cluster.urls, stream, prefix, replicas=3)
        app = bootstrap(Settings(database_url=f"sqlite:///{Path(tmp) / 'hub.db'}", var_dir=Path(tmp),
                                 bus_transport="nats", nats_url=cluster.urls, nats_stream=stream,
                                 nats_subject_prefix=prefix, nats_replicas=3), transport=transport)
        consumer = None
        try:
            app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text()))
            handed: list[str] = []  # what the relay handed the hub's own store (streams, webhooks), repeats included

            def store(messages: list[dict]) -> None:
                handed.extend(f"{m['id']}:{m['audience']}" for m in messages)
                app.notifications.store.store(messages)

            transport.subscribe_batch(store)  # as the server does at start
            with app.sessions() as s:
                trader = subject_for(s.scalars(select(User).where(User.id == "rotterdam-freight")).one(), "CUS")
            rng, now = random.Random(7), FixedClock().now()
            documents = [declaration_document(json.dumps(make_document(rng, now, i, trader)))
                         for i in range(int(rate * seconds))]
            consumer = AgencyConsumer(cluster.urls, stream, prefix)
            config = consumer.info().config  # as the transport created it
            app.bus.relay.start()  # on its thread, as `concord serve` runs it with NATS
            killed = {}

            def kill():
                killed["node"] = consumer.leader()
                cluster.kill(killed["node"])

            lodged = _lodge_paced(app, trader, documents, rate, seconds * kill_at, kill)
            drain_start = time.monotonic()
            while True:  # the relay's own retries continue; this only hastens the last batches
                try:
                    app.bus.relay.flush()
                except Exception:
                    time.sleep(0.5)
                with app.sessions() as s:
                    left = s.scalar(select(func.count()).select_from(EventRecord)
                                    .where(EventRecord.published_at.is_(None)))
                if not left or time.monotonic() - drain_start > drain_timeout:
                    break
            app.bus.relay.stop()
            published_s = time.monotonic() - drain_start
            owed, every, unpublished = _owed(app, set(lodged["ids"]))
            consumer.wait_for(owed, drain_timeout)
            delivered_s = time.monotonic() - drain_start
            consumer.close()
            with app.sessions() as s:
                stored = {f"{e}:{a}" for e, a in s.execute(select(E.event_id, A.audience).join(A, A.seq == E.seq))}
        finally:
            if consumer is not None and not consumer._stop.is_set():
                consumer.close()
            app.close()
    unique = consumer.unique
    before = _phase(lodged, lodged["start"], lodged["killed_at"] or lodged["end"])
    down = _phase(lodged, lodged["killed_at"], lodged["end"]) if lodged["killed_at"] else None
    return {
        "nodes": 3, "stream_replicas": config.num_replicas, "duplicate_window_s": config.duplicate_window,
        "killed": killed.get("node"), "rate_per_s": rate, "seconds": seconds,
        "killed_after_s": round(lodged["killed_at"] - lodged["start"], 2) if lodged["killed_at"] else None,
        "lodgings_acknowledged": len(lodged["ids"]), "lodgings_failed": lodged["failed"],
        "messages_owed": len(owed), "messages_delivered": len(owed & unique),
        "deliveries_before_dedup": len(consumer.deliveries),
        "duplicates_before_dedup": len(consumer.deliveries) - len(unique),
        "duplicates_dropped_by_stream": transport.duplicates,
        "lost": len(owed - unique), "unexpected": len(unique - every), "unpublished_events": unpublished,
        "hub_store": {"handed": len(handed), "stored": len(stored & owed), "lost": len(owed - stored)},
        "publish_failures_retried": sum(1 for _, ok in transport.attempts if not ok),
        "publish_outage_s": round(transport.longest_outage(), 2),
        # the relay's publishing alone (the cut excluded), replicated on 3 nodes sharing the machine with the hub
        "published_messages_per_s": round(transport.published[0] / transport.published[1]) if transport.published[1]
        else None,
        "before_kill": before, "node_down": down,
        "seconds_to_publish_after_last_lodging": round(published_s, 2),
        "seconds_to_deliver_after_last_lodging": round(delivered_s, 2),
        "lodging_p50_ms": round(statistics.median(lodged["latencies"]) * 1000, 1) if lodged["latencies"] else None,
        "_raw": {"owed": owed, "delivered": unique, "deliveries": consumer.deliveries, "acked_at": lodged["acked_at"],
                 "killed_at": lodged["killed_at"]},
    }
