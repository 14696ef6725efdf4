"""Webhook throughput: the dispatcher of the server, run here on a database of stored notifications against a
local receiver (another process), signed, beside the same run unsigned."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from concord.bench import free_port, run_loop

RECEIVER = """
import asyncio, sys
async def handle(reader, writer):
    try:
        while True:
            length = 0
            while (line := await reader.readline()) not in (b"\\r\\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                break
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 204 No Content\\r\\n\\r\\n")
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def webhook_throughput(deliveries: int = 5000, concurrency: int = 32) -> dict:
    """Deliveries per second through the dispatcher (enqueue, claim, sign, post, settle), signed and unsigned."""
    from concord.clock import Clock
    from concord.config import Settings
    from concord.notifications.webhooks import WebhookDispatcher, signature

    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)], stdout=subprocess.PIPE)
    receiver.stdout.readline()
    try:
        out = {}
        for case, sign in (("signed", True), ("unsigned_baseline", False)):
            tmp = Path(tempfile.mkdtemp(prefix="concord-bench-webhooks-"))
            settings = Settings(var_dir=tmp, webhook_concurrency=concurrency, webhook_allow_http=True,
                                webhook_allow_networks="127.0.0.0/8")  # the receiver is on loopback
            sessions, engine = _webhook_database(settings, deliveries, f"http://127.0.0.1:{port}/hook")
            dispatcher = WebhookDispatcher(sessions, Clock(), settings, sign=sign)
            seconds = run_loop(_drain(dispatcher, deliveries))
            engine.dispose()
            out[case] = {"deliveries": dispatcher.sent, "seconds": round(seconds, 2),
                         "per_second": round(dispatcher.sent / seconds)}
        body = b'{"type":"task.created","data":{}}' * 10
        start, n = time.perf_counter(), 20000
        for i in range(n):
            signature("whsec_" + "A" * 44, "ev_1", 1700000000 + i, body)
        out["signature_us"] = round((time.perf_counter() - start) / n * 1e6, 1)
        out["concurrency"] = concurrency
        return out
    finally:
        receiver.terminate()
        receiver.wait()


def _webhook_database(settings, count: int, url: str):
    """A hub database holding `count` NPPO notifications and one NPPO webhook created before them."""
    from concord.clock import Clock
    from concord.db import make_engine, make_session_factory
    from concord.migrations import upgrade
    from concord.notifications.handlers import new_secret
    from concord.notifications.models import WebhookSubscription
    from concord.notifications.store import NotificationStore

    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    sessions = make_session_factory(engine)
    now = Clock().now()
    with sessions() as s:
        s.add(WebhookSubscription(id="WHKBENCH", agency="NPPO", audience="NPPO", url=url, secret=new_secret(),
                                  events=[], description="bench", created_by="bench", created_at=now, active=True,
                                  queued_seq=0))
        s.commit()
    NotificationStore(sessions, Clock(), retention_h=168).store([
        {"id": f"ev_{i:028x}", "name": "task.created", "declaration_id": f"DCL{i}", "agency": "NPPO",
         "occurred_at": now.isoformat(), "audience": "NPPO",
         "payload": {"task_id": f"TSK{i}", "rule": "NPPO-fresh-fruit", "items": [1]}} for i in range(count)])
    return sessions, engine


async def _drain(dispatcher, count: int) -> float:
    import httpx

    limits = httpx.Limits(max_connections=dispatcher.settings.webhook_concurrency)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        start = time.perf_counter()
        while dispatcher.sent < count:
            if not await dispatcher.round(client):
                break
        return time.perf_counter() - start
