"""Webhook delivery: each stored notification of an agency's audience is owed to each of its webhooks, posted
signed as the Standard Webhooks specification says, retried with exponential backoff and jitter, and
dead-lettered after the last attempt.

Rounds: `enqueue` turns new notifications into deliveries (and moves each webhook's `queued_seq` in the same
transaction, so none is skipped or owed twice), `claim` takes the due ones (leasing them, so a process that
dies mid-send leaves them to be retried), the sends run concurrently, and `settle` records each answer."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import random
import time
from datetime import timedelta

import orjson
from sqlalchemy import Text, cast, delete, select, update

from concord.ids import new_id
from concord.notifications.addresses import check_async, networks, pinned
from concord.notifications.models import DEAD, DELIVERED, PENDING, WebhookDelivery, WebhookSubscription
from concord.notifications.models import NotificationAudience as A
from concord.notifications.models import NotificationEvent as E
from concord.notifications.store import message_of

log = logging.getLogger(__name__)

BATCH = 500  # deliveries claimed per round
USER_AGENT = "Concord-Webhooks/1"


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the secret's base64 bytes (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, b"%s.%d." % (msg_id.encode(), timestamp) + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def body_of(message: dict) -> bytes:
    """The payload: Standard Webhooks' recommended envelope around the message the relay cut for the agency."""
    return orjson.dumps({"type": message["name"], "timestamp": message["occurred_at"], "data": message})


def backoff(attempts: int, base: float, cap: float, rng=random.random) -> float:
    """Seconds before the next attempt: base * 2^(attempts-1), capped, half of it random (jitter spreads the
    retries of many deliveries that failed together)."""
    delay = min(cap, base * 2 ** (attempts - 1))
    return delay / 2 + rng() * delay / 2


class WebhookDispatcher:
    """Delivers the notifications owed to webhooks; runs as a task on the server's event loop."""

    def __init__(self, sessions, clock, settings, *, write_lock=None, sign: bool = True):
        self.sessions, self.clock, self.settings = sessions, clock, settings
        self._write_lock = write_lock or contextlib.nullcontext()
        self.sign = sign  # False only for the benchmark's unsigned baseline
        self._wake: asyncio.Event | None = None
        self._task = None
        self.sent = 0  # successful posts since start (the benchmark reads it)

    # -- the database side: plain functions run in a worker thread --

    def enqueue(self) -> int:
        """Deliveries for every notification stored since each active webhook's `queued_seq`; how many."""
        made = 0
        with self._write_lock, self.sessions() as s:
            now = self.clock.now()
            for hook in s.scalars(select(WebhookSubscription).where(WebhookSubscription.active)):
                rows = s.execute(select(A.seq, E.event_id, E.name).join(E, E.seq == A.seq)
                                 .where(A.audience == hook.audience, A.seq > hook.queued_seq)
                                 .order_by(A.seq).limit(5000)).all()
                if not rows:
                    continue
                wanted = tuple(hook.events)
                owed = [{"id": new_id("WHD"), "subscription_id": hook.id, "notification_seq": seq,
                         "event_id": event_id, "status": PENDING, "attempts": 0, "next_attempt_at": now,
                         "last_status": None, "last_error": None, "created_at": now, "finished_at": None}
                        for seq, event_id, name in rows if not wanted or name.startswith(wanted)]
                if owed:
                    s.execute(WebhookDelivery.__table__.insert(), owed)
                hook.queued_seq = rows[-1][0]
                made += len(owed)
            s.commit()
        return made

    def claim(self, limit: int = BATCH) -> list[tuple]:
        """The due deliveries, leased until their send has surely timed out: (id, attempts, url, secret, message)."""
        D, H = WebhookDelivery, WebhookSubscription
        with self._write_lock, self.sessions() as s:
            now = self.clock.now()
            rows = s.execute(select(D.id, D.attempts, H.url, H.secret, A.body, cast(E.bodies, Text), H.audience)
                             .join(H, H.id == D.subscription_id).join(E, E.seq == D.notification_seq)
                             .join(A, (A.seq == D.notification_seq) & (A.audience == H.audience))
                             .where(D.status == PENDING, D.next_attempt_at <= now, H.active)
                             .order_by(D.next_attempt_at, D.notification_seq).limit(limit)).all()
            if not rows:
                return []
            lease = now + timedelta(seconds=self.settings.webhook_timeout_s + 5)
            # Only rows still due are taken: another process that claimed them first has moved their time.
            taken = set(s.scalars(update(D).where(D.id.in_([r[0] for r in rows]), D.next_attempt_at <= now)
                                  .values(next_attempt_at=lease).returning(D.id)))
            s.commit()
            # each with the message cut for the webhook's audience, and for no other
            return [(*r[:4], message_of(r[5], r[4], r[6])) for r in rows if r[0] in taken]

    def settle(self, results: list[tuple]) -> None:
        """Record each attempt: (delivery id, attempts before, HTTP status or None, error or None)."""
        s_ = self.settings
        with self._write_lock, self.sessions() as s:
            now = self.clock.now()
            done = [(d, a, st) for d, a, st, error in results if error is None]
            for attempts in {a for _, a, _ in done}:  # the usual case: delivered at the first attempt, in bulk
                for status in {st for _, a, st in done if a == attempts}:
                    s.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(
                        [d for d, a, st in done if a == attempts and st == status])).values(
                        status=DELIVERED, attempts=attempts + 1, last_status=status, last_error=None,
                        finished_at=now))
            for delivery_id, attempts, status, error in results:
                n = attempts + 1
                if error is None:
                    continue
                if n >= s_.webhook_max_attempts:
                    values = {"status": DEAD, "attempts": n, "last_status": status, "last_error": error[:300],
                              "finished_at": now}
                else:
                    wait = backoff(n, s_.webhook_backoff_s, s_.webhook_backoff_cap_s)
                    values = {"attempts": n, "last_status": status, "last_error": error[:300],
                              "next_attempt_at": now + timedelta(seconds=wait)}
                s.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))
            s.commit()

    def prune(self, retention: timedelta) -> int:
        """Forget delivered and dead deliveries past the retention (their notifications are gone too)."""
        D = WebhookDelivery
        with self._write_lock, self.sessions() as s:
            n = s.execute(delete(D).where(D.status.in_((DELIVERED, DEAD)),
                                          D.finished_at < self.clock.now() - retention)).rowcount
            s.commit()
            return n

    # -- the network side --

    async def post(self, client, delivery: tuple) -> tuple:
        delivery_id, attempts, url, secret, message = delivery
        body = body_of(message)
        headers = {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": message["id"]}
        if self.sign:
            ts = int(time.time())  # the receiver compares it with its own clock: wall time, not the hub's clock
            headers |= {"webhook-timestamp": str(ts), "webhook-signature": signature(secret, message["id"], ts, body)}
        # Checked again at each delivery, on what the name resolves to now, and posted to that very address.
        reason, addresses = await check_async(url, networks(self.settings.webhook_allow_networks))
        if reason or not addresses:
            return delivery_id, attempts, None, f"refused: {reason} (CONCORD_WEBHOOK_ALLOW_NETWORKS)"
        target, host, extensions = pinned(url, addresses[0])
        try:
            answer = await client.post(target, content=body, headers=headers | host, extensions=extensions)
        except Exception as e:  # refused, reset, timed out, bad TLS: all retried
            return delivery_id, attempts, None, f"{type(e).__name__}: {e}"[:300] or type(e).__name__
        if 200 <= answer.status_code < 300:
            return delivery_id, attempts, answer.status_code, None
        return delivery_id, attempts, answer.status_code, f"HTTP {answer.status_code}"

    async def round(self, client) -> int:
        """One round: enqueue, claim, send, settle; how many deliveries were attempted."""
        await asyncio.to_thread(self.enqueue)
        due = await asyncio.to_thread(self.claim)
        if not due:
            return 0
        gate = asyncio.Semaphore(self.settings.webhook_concurrency)

        async def one(d):
            async with gate:
                return await self.post(client, d)

        results = await asyncio.gather(*[one(d) for d in due])
        self.sent += sum(1 for r in results if r[3] is None)
        await asyncio.to_thread(self.settle, results)
        return len(due)

    def wake(self, _rows=None) -> None:
        """New notifications are stored (the store's tail calls this on the loop)."""
        if self._wake is not None:
            self._wake.set()

    async def start(self) -> None:
        self._wake, self._stopping = asyncio.Event(), False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            # Python 3.11's wait_for loses a cancellation that meets a wake-up (the store now wakes this at once,
            # also during the relay's last flush at shutdown): the flag ends the loop whatever happens to it.
            self._stopping = True
            self.wake()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=self.settings.webhook_concurrency)
        # Redirects are not followed: a receiver's answer must not send the hub's traffic somewhere else.
        async with httpx.AsyncClient(timeout=self.settings.webhook_timeout_s, limits=limits,
                                     follow_redirects=False) as client:
            while not self._stopping:
                try:
                    busy = await self.round(client)
                except Exception:
                    log.exception("webhook round failed; retrying")
                    busy = 0
                if busy:
                    continue  # more may be due at once
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)  # retries fall due as time passes
                self._wake.clear()
