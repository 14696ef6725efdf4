"""The notification store and webhooks (issue 14, item 5): what the relay cut per audience is stored once, nothing
committed is lost, nothing uncommitted is stored; webhooks post it signed (checked with the `standardwebhooks`
package's verifier) to a real local HTTP receiver, retry with backoff, dead-letter and replay."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select, text, update

from concord.clearance.messages import DecideTask
from concord.errors import Forbidden, InvalidDocument, NotFound
from concord.messaging.models import EventRecord
from concord.messaging.transports import event_tokens, subject_for
from concord.notifications import queries
from concord.notifications.messages import CreateWebhook, RemoveWebhook, ReplayDeadLetters
from concord.notifications.models import NotificationEvent, WebhookDelivery
from concord.notifications.service import Notifications
from concord.notifications.webhooks import WebhookDispatcher, backoff
from support import declaration, subjects
from test_read_leaks import BANANAS, PEST, SHRIMPS, as_, submit, task_of


def stored(app, audience: str | None = None) -> list[dict]:
    return [m for *_, m in app.notifications.store.messages(audience)]


def wire(app) -> Notifications:
    """The server's wiring, without a server: the store subscribed to the relay's publishes."""
    service = app.notifications
    app.transport.subscribe_batch(service.store.store)
    return service


def test_the_store_holds_each_message_the_relay_cut_once(concord):
    concord.bus.relay.flush()
    wire(concord)
    seen: list = []
    concord.transport.subscribe(seen.append)
    did = submit(concord, declaration(lrn="N-1", items=[BANANAS]))
    as_(concord, "nppo-officer", DecideTask(task_id=task_of(concord, did, "NPPO").id, decision="refuse", reason=PEST))
    concord.bus.relay.flush()
    assert stored(concord) == seen and {m["audience"] for m in seen} >= {"CUS", "NPPO", "trader-NL823456781"}
    # A relay's redelivery (it crashed after publishing, before marking) stores nothing twice.
    with concord.sessions() as s:
        s.execute(update(EventRecord).where(EventRecord.declaration_id == did).values(published_at=None))
        s.commit()
    concord.bus.relay.flush()
    assert stored(concord) == seen[: len(stored(concord))] and len(seen) == 2 * len(stored(concord))


def test_a_failed_store_loses_nothing_and_a_rollback_stores_nothing(sqlite_concord):
    app = sqlite_concord
    app.bus.relay.flush()
    service = app.notifications
    down = [True]

    def store(messages):
        if down[0]:
            raise ConnectionError("database away")
        service.store.store(messages)

    app.transport.subscribe_batch(store)
    did = submit(app, declaration(lrn="N-2", items=[BANANAS]))
    with pytest.raises(ConnectionError):
        app.bus.relay.flush(sweep=False)
    assert stored(app) == []
    with pytest.raises(InvalidDocument):  # a handler that fails rolls back: its events were never committed
        as_(app, "nppo-liaison", CreateWebhook(url="ftp://nppo.example/hook"))
    down[0] = False
    app.bus.relay.flush()
    ids = {m["id"] for m in stored(app)}
    with app.sessions() as s:
        # Every event committed since the store was wired, and nothing else.
        assert ids == set(s.scalars(select(EventRecord.id).where(EventRecord.declaration_id == did)))
    assert any(m["declaration_id"] == did for m in stored(app, "NPPO"))


def test_nats_subjects_keep_four_tokens_whatever_the_event_name():
    assert event_tokens("task.created") == "task.created"
    assert event_tokens("operation.task.assigned") == "operation.task~2eassigned"
    assert event_tokens("incident") == "incident._"
    assert subject_for({"name": "a.b.c", "audience": "POL"}, "concord").split(".")[3] == "POL"


class Receiver:
    """A real HTTP receiver on loopback: answers `fail` 500s first, then 204; records every request."""

    def __init__(self, fail: int = 0, redirect: str | None = None):
        self.fail, self.requests = fail, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                owner.requests.append((dict(self.headers), body))
                status = 307 if redirect else 500 if owner.fail > 0 else 204
                owner.fail -= 1
                self.send_response(status)
                if redirect:
                    self.send_header("location", redirect)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/concord"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self, secret: str) -> dict:
        """The messages received, each checked with the standardwebhooks verifier, by webhook id (deduplicated)."""
        from standardwebhooks import Webhook

        out = {}
        for headers, body in self.requests:
            payload = Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()})
            assert headers["webhook-id"] == payload["data"]["id"]
            out[headers["webhook-id"]] = payload
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


async def rounds(dispatcher: WebhookDispatcher, until, seconds: float = 20.0) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=5) as client:
        deadline = time.monotonic() + seconds
        while not until() and time.monotonic() < deadline:
            if not await dispatcher.round(client):
                await asyncio.sleep(0.02)


@pytest.fixture
def hooked(concord):
    concord.settings.webhook_allow_http = True
    concord.settings.webhook_allow_networks = "127.0.0.0/8"  # the receivers run on loopback
    concord.settings.webhook_backoff_s = 0.05
    concord.settings.webhook_max_attempts = 3
    concord.bus.relay.flush()
    service = wire(concord)
    receivers = []
    yield concord, service, receivers
    for r in receivers:
        r.close()


def test_webhooks_are_signed_retried_dead_lettered_and_replayed(hooked):
    app, service, receivers = hooked
    flaky, down = Receiver(fail=2), Receiver(fail=10**6)
    receivers += [flaky, down]
    nppo = as_(app, "nppo-liaison", CreateWebhook(url=flaky.url, description="NPPO case system"))
    vet = as_(app, "vet-liaison", CreateWebhook(url=down.url, events=["task."]))
    assert nppo["secret"].startswith("whsec_") and "secret" not in queries.list_webhooks(
        app.sessions(), subjects(app)["nppo-liaison"])[0]
    bananas = submit(app, declaration(lrn="W-1", items=[BANANAS]))
    shrimps = submit(app, declaration(lrn="W-2", items=[SHRIMPS]))
    app.bus.relay.flush()
    dispatcher = service.webhooks
    owed_nppo = {m["id"]: m for m in stored(app, "NPPO")}
    asyncio.run(rounds(dispatcher, lambda: len(flaky.verified(nppo["secret"])) == len(owed_nppo)
                       and dispatcher.sent >= len(owed_nppo) and len(down.requests) >= 3 * 1))
    # The receiver that failed twice got every NPPO notification, signed, exactly as the relay cut it for NPPO.
    got = flaky.verified(nppo["secret"])
    assert {k: v["data"] for k, v in got.items()} == owed_nppo and owed_nppo
    assert {v["type"] for v in got.values()} == {m["name"] for m in owed_nppo.values()}
    assert all(m["declaration_id"] == bananas for m in owed_nppo.values())  # nothing of the VET-only shrimps
    assert len(flaky.requests) == len(owed_nppo) + 2  # two failed attempts, retried, each with the same webhook-id
    # A tampered body fails the verifier.
    from standardwebhooks import Webhook, WebhookVerificationError

    headers, body = flaky.requests[-1]
    with pytest.raises(WebhookVerificationError):
        Webhook(nppo["secret"]).verify(body.replace(b"NPPO", b"POL"), {k.lower(): v for k, v in headers.items()})
    # VET's receiver never answered: each of its task notifications is dead after 3 attempts.
    owed_vet = [m for m in stored(app, "VET") if m["name"].startswith("task.")]
    assert owed_vet and all(m["declaration_id"] == shrimps for m in owed_vet)
    asyncio.run(rounds(dispatcher, lambda: len(queries.dead_letters(app.sessions(), subjects(app)["vet-liaison"],
                                                                    vet["id"])) == len(owed_vet)))
    dead = queries.dead_letters(app.sessions(), subjects(app)["vet-liaison"], vet["id"])
    assert {d["event_id"] for d in dead} == {m["id"] for m in owed_vet}
    assert all(d["attempts"] == 3 and d["last_status"] == 500 for d in dead)
    # Another agency cannot see or replay them: the same answer as a webhook that does not exist.
    for user in ("nppo-liaison", "pol-liaison"):
        with pytest.raises(NotFound):
            queries.dead_letters(app.sessions(), subjects(app)[user], vet["id"])
        with pytest.raises(NotFound):
            as_(app, user, ReplayDeadLetters(webhook_id=vet["id"]))
    with pytest.raises(Forbidden):
        as_(app, "vet-officer", ReplayDeadLetters(webhook_id=vet["id"]))
    down.fail = 0  # the receiver recovers; VET's liaison replays its dead letters
    assert as_(app, "vet-liaison", ReplayDeadLetters(webhook_id=vet["id"])) == {"replayed": len(owed_vet)}
    before = len(down.requests)
    asyncio.run(rounds(dispatcher, lambda: len(down.requests) - before >= len(owed_vet)))
    assert {k for k in down.verified(vet["secret"])} == {m["id"] for m in owed_vet}
    assert queries.dead_letters(app.sessions(), subjects(app)["vet-liaison"], vet["id"]) == []
    as_(app, "vet-liaison", RemoveWebhook(webhook_id=vet["id"]))
    with pytest.raises(NotFound):
        queries.get_webhook(app.sessions(), subjects(app)["vet-liaison"], vet["id"])


def test_webhook_input_is_checked_and_only_liaisons_and_administrators_manage_them(sqlite_concord):
    app = sqlite_concord
    with pytest.raises(InvalidDocument) as e:
        as_(app, "nppo-liaison", CreateWebhook(url="http://nppo.example/hook"))  # https only by default
    assert e.value.problems[0].pointer == "/url"
    with pytest.raises(InvalidDocument) as e:
        as_(app, "nppo-liaison", CreateWebhook(url="https://nppo.example/hook", events=["Task.*"]))
    assert e.value.problems[0].pointer == "/events/0"
    for user in ("nppo-officer", "hollandfoods"):
        with pytest.raises(Forbidden):
            as_(app, user, CreateWebhook(url="https://nppo.example/hook"))
    made = as_(app, "nppo-liaison", CreateWebhook(url="https://nppo.example/hook"))
    with app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(NotificationEvent)) == 0
        assert [h["id"] for h in queries.list_webhooks(s, subjects(app)["nppo-liaison"])] == [made["id"]]
        assert queries.list_webhooks(s, subjects(app)["vet-liaison"]) == []


def test_webhooks_reach_no_internal_address_unless_allowed_checked_again_at_delivery_and_never_redirected(hooked):
    from pydantic import ValidationError

    from concord.config import Settings
    from concord.notifications.addresses import pinned

    app, service, receivers = hooked
    app.settings.webhook_allow_networks = ""
    for url in ("http://127.0.0.1:8000/hook", "http://localhost/hook", "http://[::1]/hook", "http://10.1.2.3/hook",
                "http://192.168.0.7/hook", "http://169.254.169.254/latest/meta-data/", "http://224.0.0.251/hook",
                "http://[::ffff:127.0.0.1]/hook", "http://0.0.0.0/hook", "http://100.64.0.1/hook"):
        with pytest.raises(InvalidDocument) as e:
            as_(app, "nppo-liaison", CreateWebhook(url=url))
        assert e.value.problems[0].pointer == "/url" and "public addresses" in e.value.problems[0].message, url
    for url in ("http://[fe80::1/hook", "http://example.org:99999/hook"):  # the fuzzer's: once a 500
        with pytest.raises(InvalidDocument) as e:
            as_(app, "nppo-liaison", CreateWebhook(url=url))
        assert e.value.problems[0].pointer == "/url" and "not a URL" in e.value.problems[0].message, url
    with app.sessions() as s:
        assert queries.list_webhooks(s, subjects(app)["nppo-liaison"]) == []  # nothing stored
    # Allowed for the receivers on loopback, registered; then the allowance goes (as a name that resolved to a
    # public address at registration resolves to an internal one at delivery): nothing is posted to it.
    app.settings.webhook_allow_networks = "127.0.0.0/8"
    plain, target = Receiver(), Receiver()
    bouncer = Receiver(redirect=target.url)
    receivers += [plain, target, bouncer]
    via_name = as_(app, "nppo-liaison", CreateWebhook(url=plain.url.replace("127.0.0.1", "localhost")))
    bounced = as_(app, "vet-liaison", CreateWebhook(url=bouncer.url))
    app.settings.webhook_allow_networks = ""
    submit(app, declaration(lrn="W-9", items=[BANANAS, SHRIMPS]))
    app.bus.relay.flush()
    dispatcher = service.webhooks

    def attempts():
        with app.sessions() as s:
            return s.execute(select(WebhookDelivery.subscription_id, WebhookDelivery.last_error)
                             .where(WebhookDelivery.attempts > 0)).all()

    app.settings.webhook_max_attempts = 100
    asyncio.run(rounds(dispatcher, lambda: {w for w, _ in attempts()} == {via_name["id"], bounced["id"]}))
    assert plain.requests == [] and bouncer.requests == [] and dispatcher.sent == 0
    assert all(e.startswith("refused: 127.0.0.1 is a loopback address") for _, e in attempts()), attempts()
    with app.sessions() as s:  # due again now
        s.execute(update(WebhookDelivery).values(next_attempt_at=dispatcher.clock.now() - timedelta(seconds=1)))
        s.commit()
    # Allowed again: the NPPO receiver gets its posts (by the name's address, with the name as Host); the VET
    # receiver's 307 is not followed: its target never sees a request, and the delivery is a failure.
    app.settings.webhook_allow_networks = "127.0.0.0/8"
    asyncio.run(rounds(dispatcher, lambda: plain.requests and bouncer.requests, seconds=10))
    hosts = [{k.lower(): v for k, v in h.items()}["host"] for h, _ in plain.requests]
    assert hosts and all(h.startswith("localhost:") for h in hosts)
    assert bouncer.requests and target.requests == []
    assert via_name["id"] and bounced["id"]
    # The pinned address keeps the name for Host and TLS (the certificate is verified against the name).
    assert pinned("https://hooks.nppo.example:8443/in", ipaddress_of("203.0.113.9")) == (
        "https://203.0.113.9:8443/in", {"host": "hooks.nppo.example:8443"}, {"sni_hostname": "hooks.nppo.example"})
    with pytest.raises(ValidationError, match="10.0.0.0/33"):
        Settings(webhook_allow_networks="127.0.0.0/8, 10.0.0.0/33")


def ipaddress_of(text):
    import ipaddress

    return ipaddress.ip_address(text)


def test_backoff_doubles_with_jitter_up_to_the_cap():
    assert [backoff(n, 5, 3600, rng=lambda: 1.0) for n in (1, 2, 3)] == [5, 10, 20]
    assert [backoff(n, 5, 3600, rng=lambda: 0.0) for n in (1, 2, 3)] == [2.5, 5, 10]
    assert backoff(30, 5, 3600, rng=lambda: 1.0) == 3600



def _message(n: int, audience: str, name: str = "task.created") -> dict:
    return {"id": f"ev_{n:028x}", "name": name, "declaration_id": None, "agency": audience,
            "occurred_at": "2026-01-05T08:00:00+00:00", "audience": audience, "payload": {"n": n}}


def test_a_stream_replays_its_audience_then_goes_live_sending_each_notification_once(sqlite_concord):
    from concord.notifications.stream import Streams, frames

    store = sqlite_concord.notifications.store
    store.store([_message(n, "NPPO" if n % 2 else "VET") for n in range(1, 11)])
    rows = store.read(0)
    assert [r[0] for r in rows] == list(range(1, 11))

    async def run():
        streams = Streams(per_user=1, queue=3)
        listener = streams.open("nppo-officer", "NPPO", ())
        with pytest.raises(Exception) as refused:  # one stream per user here
            streams.open("nppo-officer", "NPPO", ())
        assert refused.value.status == 429
        streams.deliver(rows[6:])  # live rows that the replay also reads: sent once
        out = []
        gen = frames(listener, 2, lambda last: store.read(last, "NPPO"), None)
        async for chunk in gen:
            out.append(chunk)
            if b"id: 9\n" in chunk:
                break
        streams.deliver([(seq, "NPPO", "task.created", b"id: %d\n\n" % seq) for seq in range(20, 25)])
        async for chunk in gen:  # the queue overflowed: what it holds is sent, then the stream ends (the client replays)
            out.append(chunk)
        assert streams.count() == 0 and "nppo-officer" not in streams.open_per_user
        return b"".join(out)

    text = asyncio.run(run())
    ids = [int(line[4:]) for line in text.split(b"\n") if line.startswith(b"id: ")]
    # NPPO's after 2, once each (7 and 9 were queued live too), VET's never; 20 filled the queue of 3, 21 overflowed it
    assert ids == [3, 5, 7, 9, 20]


def test_the_tail_reads_the_messages_of_the_audiences_listened_to_here_only(sqlite_concord):
    """With several workers the tail reads every process's rows; the messages of audiences nobody listens to here
    are not parsed back or framed (they come as None), and the streams skip them."""
    from concord.notifications.stream import Streams

    store = sqlite_concord.notifications.store
    store.store([_message(n, "NPPO" if n % 2 else "VET") for n in range(1, 7)])
    rows = store.read(0, wanted={"NPPO"})
    assert [(seq, aud, data is None) for seq, aud, _, data in rows] == [
        (1, "NPPO", False), (2, "VET", True), (3, "NPPO", False), (4, "VET", True), (5, "NPPO", False), (6, "VET", True)]
    assert rows[0][3] == store.read(0)[0][3]  # the same frame as a full read
    assert all(data is None for *_, data in store.read(0, wanted=set()))

    async def run():
        streams = Streams(per_user=2, queue=10)
        nppo, vet = streams.open("nppo-officer", "NPPO", ()), streams.open("vet-officer", "VET", ())
        streams.deliver(rows)  # VET's stream opened after the read: its rows (None) are not sent as broken frames
        return [nppo.queue.get_nowait()[0] for _ in range(nppo.queue.qsize())], vet.queue.qsize()

    assert asyncio.run(run()) == ([1, 3, 5], 0)


def test_an_event_is_stored_once_and_each_audience_reads_only_its_own_message(concord):
    """Audiences that see the same cut share one stored body; a read for one audience (replay, console list,
    webhook claim) gets that audience's message and no other's; a redelivery stores nothing; the retention
    removes the event and its audiences' keys."""
    from concord.clock import FixedClock
    from concord.notifications.models import NotificationAudience
    from concord.notifications.store import NotificationStore

    clock = FixedClock()
    store = NotificationStore(concord.sessions, clock, retention_h=1)
    cut = [_message(1, a) | {"agency": "CUS", "payload": p} for a, p in (
        ("CUS", {"lane": "red"}), ("NPPO", {"lane": "red"}), ("trader-T", {"withheld": "CUS"}))] + [_message(2, "NPPO")]
    store.store(cut)
    with concord.sessions() as s:
        assert [len(b) for b in s.scalars(select(NotificationEvent.bodies).order_by(NotificationEvent.seq))] == [2, 1]
    assert [m for *_, m in store.messages()] == cut
    for audience in ("CUS", "NPPO", "trader-T"):
        own = [m for m in cut if m["audience"] == audience]
        assert [m for *_, m in store.messages(audience)] == own
        assert [m for _, _, m in store.recent(audience)] == own[::-1]
        frames = b"".join(f for *_, f in store.read(0, audience))
        assert frames.count(b"event: ") == len(own) and b'"audience":"%s"' % audience.encode() in frames
        assert (b"withheld" in frames) == (audience == "trader-T") and (b'"lane"' in frames) != (audience == "trader-T")
    store.store(cut + [_message(1, "VET")])  # redelivered, even with an audience added since: stored once
    assert [m for *_, m in store.messages()] == cut
    clock.advance(hours=2)
    store.store([_message(3, "VET")])
    assert store.prune() == 2
    assert [m for *_, m in store.messages()] == [_message(3, "VET")]
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(NotificationAudience)) == 1


@pytest.mark.postgres
def test_what_another_process_stores_wakes_this_tail_at_once_on_postgresql(pg_url, tmp_path, monkeypatch):
    """The relay in a process of its own stores; a worker's tail hears of it by LISTEN/NOTIFY, not at its next
    poll (set to a minute here, so only the notification can deliver within the test's seconds)."""
    from concord.bootstrap import bootstrap
    from concord.config import Settings
    from concord.notifications import store as module
    from concord.notifications.store import NotificationStore

    monkeypatch.setattr(module, "POLL_S", 60.0)
    app = bootstrap(Settings(database_url=pg_url, var_dir=tmp_path))
    url = app.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    relay_side = NotificationStore(app.sessions, app.clock, retention_h=1, listen=url)
    worker_side = NotificationStore(app.sessions, app.clock, retention_h=1, listen=url)
    received: list = []
    worker_side.consumers.append(received.extend)

    def listeners(terminate: bool = False) -> list:
        with app.engine.connect() as conn:  # this test's database: other tests' listeners are not touched
            return conn.execute(text(
                f"SELECT {'pg_terminate_backend(pid)' if terminate else 'pid'} FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE 'concord-notification:%'")).all()

    async def delivered(first: int, count: int) -> float:
        started = time.monotonic()
        await asyncio.to_thread(relay_side.store, [_message(first + i, "NPPO") for i in range(count)])
        while len(received) < first - 1 + count and time.monotonic() - started < 10:
            await asyncio.sleep(0.02)
        return time.monotonic() - started

    async def run():
        await worker_side.start()
        await asyncio.sleep(1.0)  # the listener connected (a store before it is read by its first wake-up anyway)
        waited = [await delivered(1, 2)]
        # its connection killed (a database restart, a failover): it listens again within seconds
        assert len(listeners(terminate=True)) == 1
        deadline = time.monotonic() + 10
        while not listeners() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert len(listeners()) == 1
        await asyncio.sleep(0.5)  # its LISTEN in place
        waited.append(await delivered(3, 1))
        await worker_side.stop()
        return waited

    try:
        waited = asyncio.run(run())
    finally:
        app.close()
    assert [(seq, audience) for seq, audience, *_ in received] == [(1, "NPPO"), (2, "NPPO"), (3, "NPPO")]
    assert max(waited) < 5, waited
