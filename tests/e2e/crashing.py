"""Servers to crash and clients that remember what was acknowledged: the helpers of test_nothing_acknowledged_is_lost.

A client counts a lodging as acknowledged only when a 2xx answer reached it; a request cut by the crash is
"in doubt" and is retried with the same Idempotency-Key after the restart, as a trader's system would."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from support import declaration, demo_config_text

CONCORD = str(Path(sys.executable).parent / "concord")
TRADERS = {"hollandfoods": "NL823456781", "rotterdam-freight": "NL812345670", "eurotech": "DE345678912",
           "greenleaf": "NL834567892"}  # user -> trader id: a declarant lodges its own declarations


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    """A configured database (SQLite in `var`, or `database_url`) and the `concord serve` processes on it."""

    def __init__(self, var: Path, database_url: str = "", users: tuple = (), **env: str):
        self.var, self.url = var, database_url
        self.env = {**os.environ, "CONCORD_VAR_DIR": str(var), "CONCORD_DATABASE_URL": database_url, **env}
        # The config and tokens in this process, as `concord config load` and `concord tokens issue` would:
        # five CLI starts cost ten seconds on a loaded machine, and the servers are what is under test.
        from concord.access.messages import IssueToken
        from concord.agencies.messages import LoadConfig
        from concord.bootstrap import bootstrap
        from concord.config import Settings

        hub = bootstrap(Settings(var_dir=var, database_url=database_url))
        try:
            hub.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
            self.tokens = {user: hub.bus.handle(IssueToken(user_id=user))["token"] for user in (*TRADERS, *users)}
        finally:
            hub.close()
        self.servers: dict[int, subprocess.Popen] = {}

    def run(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([CONCORD, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"concord {' '.join(args)}: {done.stderr}"
        return done

    def serve(self, port: int | None = None) -> int:
        """Start a server and wait until it answers; its port."""
        return self.serve_many(port)[0]

    def serve_many(self, *ports: int | None) -> list[int]:
        """Start servers side by side (a start is seconds of imports) and wait until each answers; their ports."""
        ports = [port or free_port() for port in ports or (None,)]
        for port in ports:
            log = open(self.var / f"serve-{port}.log", "ab")
            self.servers[port] = subprocess.Popen([CONCORD, "serve", "--port", str(port)], env=self.env, stdout=log,
                                                  stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        for port in ports:
            while True:
                assert self.servers[port].poll() is None, (self.var / f"serve-{port}.log").read_text()
                assert time.monotonic() < deadline, f"the server on port {port} did not answer within 90 s"
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
        return ports

    def kill(self, port: int, sig: int = signal.SIGKILL) -> int:
        proc = self.servers.pop(port)
        proc.send_signal(sig)
        return proc.wait(timeout=60)

    def stop(self) -> None:
        for port in list(self.servers):
            self.kill(port, signal.SIGTERM)

    def stored(self) -> list[tuple[str, str, str]]:
        """Every stored lodging of the test's traders: (declaration id, trader, idempotency key)."""
        url = self.url or f"sqlite:///{self.var / 'concord.db'}"
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(
                    "SELECT id, trader_id, idempotency_key FROM declarations WHERE lrn LIKE 'K9-%'"))]
        finally:
            engine.dispose()


@dataclass
class Ledger:
    """What the clients sent and what they were told: key -> (user, body) and key -> acknowledged id."""

    sent: dict = field(default_factory=dict)
    acknowledged: dict = field(default_factory=dict)
    in_doubt: set = field(default_factory=set)
    errors: list = field(default_factory=list)
    acknowledged_before_the_crash: int = 0


async def _client(tag: str, n: int, ports: list[int], hub: Hub, ledger: Ledger, stop: asyncio.Event) -> None:
    """One trader's system: lodges one declaration after another, each under its own key, until told to stop.

    A request the crash cut is in doubt (not acknowledged); the client moves on to the next server in `ports`."""
    user = list(TRADERS)[n % len(TRADERS)]
    declarant = declaration()["declarant"] | {"id": TRADERS[user]}
    headers = {"Authorization": f"Bearer {hub.tokens[user]}"}
    i = 0
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            key = f"k9-{tag}{n}-{i}"
            body = json.dumps(declaration(lrn=f"K9-{tag}{n}-{i}", declarant=declarant)).encode()
            ledger.sent[key] = (user, body)
            port = ports[n % len(ports)]
            try:
                r = await client.post(f"http://127.0.0.1:{port}/api/v1/declarations", content=body,
                                      headers=headers | {"Idempotency-Key": key, "Content-Type": "application/json"})
            except httpx.TransportError:
                ledger.in_doubt.add(key)
                if len(ports) > 1:  # one server among several died: its clients go to another
                    ports = [p for p in ports if p != port]
                else:
                    await asyncio.sleep(0.05)
                i += 1
                continue
            if r.status_code in (200, 201):
                ledger.acknowledged[key] = r.json()["id"]
            else:
                ledger.errors.append((key, r.status_code, r.text[:200]))
            i += 1


async def lodge_while(hub: Hub, ports: list[int], clients: int, crash, acknowledged: int = 300,
                      then: float = 0.5, tag: str = "") -> Ledger:
    """`clients` concurrent clients lodge on `ports`; `crash()` runs once `acknowledged` lodgings were answered
    (so that it hits a server in full flow, whatever the machine's load), the load goes on `then` s more.
    `tag` keeps the keys and LRNs of several runs on one database apart."""
    ledger, stop = Ledger(), asyncio.Event()
    tasks = [asyncio.create_task(_client(tag, n, ports, hub, ledger, stop)) for n in range(clients)]
    deadline = time.monotonic() + 60
    while len(ledger.acknowledged) < acknowledged and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    ledger.acknowledged_before_the_crash = len(ledger.acknowledged)
    await asyncio.to_thread(crash)
    await asyncio.sleep(then)
    stop.set()
    await asyncio.gather(*tasks)
    return ledger


def retry_everything(hub: Hub, port: int, ledger: Ledger) -> dict:
    """After the restart: every key sent once more with its body. Acknowledged ones must replay (200) the same
    declaration; those in doubt either replay (they were committed) or are lodged now (201)."""
    changed, replayed_in_doubt = [], 0

    async def retry(client: httpx.AsyncClient, keys: list[str]):
        nonlocal replayed_in_doubt
        for key in keys:
            user, body = ledger.sent[key]
            r = await client.post("/api/v1/declarations", content=body, headers={
                "Authorization": f"Bearer {hub.tokens[user]}", "Idempotency-Key": key,
                "Content-Type": "application/json"})
            assert r.status_code in (200, 201), (key, r.status_code, r.text)
            if key in ledger.acknowledged and (r.status_code != 200 or r.json()["id"] != ledger.acknowledged[key]):
                changed.append((key, r.status_code, r.json()["id"], ledger.acknowledged[key]))
            replayed_in_doubt += key not in ledger.acknowledged and r.status_code == 200

    async def all_keys():
        keys = list(ledger.sent)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await asyncio.gather(*[retry(client, keys[i::8]) for i in range(8)])

    asyncio.run(all_keys())
    return {"changed": changed, "in_doubt_that_were_committed": replayed_in_doubt}


def account(hub: Hub, ledger: Ledger) -> dict:
    """The figures of a crash run, from the database: acknowledged, lost, duplicated."""
    stored = hub.stored()
    ids = {row[0] for row in stored}
    per_key: dict = {}
    for _, trader, key in stored:
        per_key[(trader, key)] = per_key.get((trader, key), 0) + 1
    return {"sent": len(ledger.sent), "acknowledged": len(ledger.acknowledged), "in_doubt": len(ledger.in_doubt),
            "lost": sorted(k for k, i in ledger.acknowledged.items() if i not in ids),
            "duplicated": sorted(k for k, n in per_key.items() if n > 1), "stored": len(stored),
            "errors": ledger.errors}


def audit_verify(hub: Hub) -> dict:
    """`concord audit verify --json` once the running server has signed its last entries (it does every second)."""
    for _ in range(30):
        done = subprocess.run([CONCORD, "audit", "verify", "--json"], env=hub.env, capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 3:  # 3: no fault, but an unsigned tail: the signer's next tick covers it
            break
        time.sleep(1)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)
