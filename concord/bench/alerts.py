"""Notifications: fan-out to many server-sent event subscribers, and webhook throughput (bench/webhooks.py).

SSE: a real `concord serve` process; N subscribers (real HTTP/1.1 connections to /api/v1/stream, spread over
agency officers and traders) from this process; traders lodge declarations over HTTP at a fixed rate. Each
notification's latency runs from the moment its lodging request was sent to its arrival at a subscriber. What
reaches whom is checked against a plain restatement of the rule, read from the database afterwards: a message
about a declaration may reach the lead agency, the agencies with a task on it, and its own trader; anything
else counts as wrongly delivered. `expected` is what the store says each subscriber's audience was owed."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from concord.bench import free_port, run_loop
from concord.bench.webhooks import webhook_throughput
from concord.config import child_environment

OFFICERS = ("cus-officer", "nppo-officer", "vet-officer", "fda-officer", "std-officer", "pol-officer",
            "env-officer", "mar-officer")
TRADERS = {"hollandfoods": "NL823456781", "rotterdam-freight": "NL812345670"}


def prepare(var_dir: Path, users, database_url: str = "") -> dict:
    """Load the demo config into a fresh hub at var_dir and issue a token per user: {user: token}."""
    from importlib import resources

    from concord.access.messages import IssueToken
    from concord.agencies.messages import LoadConfig
    from concord.bootstrap import bootstrap
    from concord.config import Settings

    app = bootstrap(Settings(var_dir=var_dir, database_url=database_url))
    try:
        text = resources.files("concord.demo").joinpath("coordination.yaml").read_text()
        app.bus.handle(LoadConfig(text=text.replace("random_inspection_rate: 0.03", "random_inspection_rate: 0.0")))
        return {u: app.bus.handle(IssueToken(user_id=u))["token"] for u in users}
    finally:
        app.close()


@contextmanager
def serve(var_dir: Path, **env: str):
    """`concord serve` on a free port over var_dir; yields (base URL, process); stopped with SIGTERM."""
    import httpx

    port = free_port()
    concord = str(Path(sys.executable).parent / "concord")
    process = subprocess.Popen([concord, "serve", "--port", str(port)],
                               env=child_environment(CONCORD_VAR_DIR=str(var_dir), **env),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise RuntimeError(f"concord serve exited: {process.stderr.read().decode()[-2000:]}")
                time.sleep(0.05)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _Subscriber(asyncio.Protocol):
    """One text/event-stream connection that only timestamps what arrives: parsing waits until the run is over,
    so the clients' own work (they share two cores with the server) is not counted as the server's latency."""

    def __init__(self, request: bytes, seen: list):
        self.request, self.seen, self.raw = request, seen, []  # raw: (arrival, bytes)

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.raw.append((now, data))
        self.seen[0] = now

    def messages(self) -> tuple[int, list[tuple[float, dict]]]:
        """(HTTP status, [(arrival of the frame's last byte, message)]) out of the chunked body received."""
        import bisect

        raw = b"".join(d for _, d in self.raw)
        if not raw:
            return 0, []
        ends, total = [], 0
        for _, d in self.raw:
            total += len(d)
            ends.append(total)
        status = int(raw.split(b" ", 2)[1])
        pos = raw.find(b"\r\n\r\n") + 4
        body, where = bytearray(), []  # where: (body offset, raw offset) of each chunk
        while pos < len(raw):
            eol = raw.find(b"\r\n", pos)
            if eol < 0 or not (size := int(raw[pos:eol].split(b";")[0] or b"0", 16)):
                break
            where.append((len(body), eol + 2))
            body += raw[eol + 2:eol + 2 + size]
            pos = eol + 4 + size
        starts = [b for b, _ in where]
        out, at = [], 0
        while (end := body.find(b"\n\n", at)) >= 0:
            for line in bytes(body[at:end]).split(b"\n"):
                if line.startswith(b"data: "):
                    b, r = where[bisect.bisect_right(starts, end + 1) - 1]
                    arrived = self.raw[bisect.bisect_left(ends, r + end + 2 - b)][0]
                    out.append((arrived, json.loads(line[6:])))
            at = end + 2
        return status, out


def _subscribers(conn, host: str, port: int, streams: list[tuple[str, str]]) -> None:
    """A client process: opens its share of the streams, says so, waits for the lodgings to end, then for 3 s of
    quiet, and sends back what each stream received ([(audience, status, [(arrival, message)])])."""
    async def main():
        loop, seen = asyncio.get_running_loop(), [time.perf_counter()]
        clients = []
        for audience, token in streams:
            request = (f"GET /api/v1/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                       "Accept: text/event-stream\r\n\r\n").encode()
            _, client = await loop.create_connection(lambda: _Subscriber(request, seen), host, port)
            clients.append((audience, client))
        while not all(c.raw for _, c in clients):  # every stream's headers (or its refusal) arrived
            await asyncio.sleep(0.05)
        conn.send("open")
        await loop.run_in_executor(None, conn.recv)  # the lodgings are over
        while time.perf_counter() - seen[0] < 3.0:  # a loaded machine lags far behind
            await asyncio.sleep(0.5)
        for _, c in clients:
            c.transport.close()
        conn.send([(audience, *c.messages()) for audience, c in clients])

    run_loop(main())
    conn.close()


async def _fan_out(base: str, tokens: dict, subscribers: int, declarations: int, rate: float, seed: int,
                   processes: int) -> dict:
    import multiprocessing

    import httpx

    from concord.access.identity import Subject
    from concord.bench.ingest import _bodies

    host, port = base.removeprefix("http://").split(":")
    users = list(OFFICERS) + list(TRADERS)
    streams = [(TRADERS.get(u) and f"trader-{TRADERS[u]}" or u.split("-")[0].upper(), tokens[u])
               for u in (users[i % len(users)] for i in range(subscribers))]
    # The subscribers run in processes of their own (the server's latency, not one client loop's backlog).
    context, pipes, children = multiprocessing.get_context("fork"), [], []
    for k in range(max(1, min(processes, subscribers))):
        mine, theirs = context.Pipe()
        child = context.Process(target=_subscribers, args=(theirs, host, int(port), streams[k::processes]),
                                daemon=True)
        child.start()
        pipes.append(mine)
        children.append(child)
    loop = asyncio.get_running_loop()
    for pipe in pipes:
        assert await loop.run_in_executor(None, pipe.recv) == "open"
    await asyncio.sleep(1.0)  # every stream registered
    bodies = {t: _bodies(declarations, Subject(t, None, tid, frozenset({"trader"})), seed=seed + n)
              for n, (t, tid) in enumerate(TRADERS.items())}
    sent: dict[str, float] = {}
    answered: list[float] = []
    answered_at: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, timeout=300) as http:  # a loaded, shared machine is slow
        async def lodge(i: int):
            trader = list(TRADERS)[i % 2]
            t0 = time.perf_counter()
            answer = await http.post("/api/v1/declarations", content=bodies[trader][i],
                                     headers={"Authorization": f"Bearer {tokens[trader]}",
                                              "Content-Type": "application/json"})
            assert answer.status_code in (200, 201), answer.text
            sent[answer.json()["id"]] = t0
            answered.append(time.perf_counter() - t0)
            answered_at[answer.json()["id"]] = time.perf_counter()

        start, tasks = time.perf_counter(), []
        for i in range(declarations):
            if (wait := start + i / rate - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(lodge(i)))
        await asyncio.gather(*tasks)
    clients = []
    for pipe in pipes:
        pipe.send("done")
    for pipe, child in zip(pipes, children):
        clients += await loop.run_in_executor(None, pipe.recv)
        child.join()
    assert all(status == 200 for _, status, _ in clients), [status for _, status, _ in clients]
    return {"clients": clients, "sent": sent, "answered": answered, "answered_at": answered_at}


def _entitled(database_url: str, ids) -> tuple[dict, dict]:
    """The plain rule: the lead, the agencies with a task, the trader; and what the store holds per audience."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    entitled: dict[str, set] = {}
    with engine.connect() as conn:
        lead = conn.execute(text("SELECT code FROM agencies WHERE role = 'lead'")).scalar()
        for did, trader in conn.execute(text("SELECT id, trader_id FROM declarations")):
            entitled[did] = {lead, f"trader-{trader}"}
        for did, agency in conn.execute(text("SELECT declaration_id, agency FROM agency_tasks")):
            entitled.setdefault(did, set()).add(agency)
        stored: dict[str, int] = {}
        # an event's bodies share its declaration id (the envelope is the event's)
        first = "e.bodies->0->>'declaration_id'" if engine.dialect.name == "postgresql" else \
            "json_extract(e.bodies, '$[0].declaration_id')"
        for audience, n in conn.execute(text(
                "SELECT a.audience, count(*) FROM notification_audiences a JOIN notification_events e ON e.seq = a.seq "
                f"WHERE {first} IS NOT NULL GROUP BY a.audience")):
            stored[audience] = n
    engine.dispose()
    return {d: entitled.get(d, set()) for d in ids}, stored


def sse_fan_out(subscribers: int = 1000, declarations: int = 100, rate: float = 10.0, seed: int = 5,
                processes: int = 2, postgres: str | None = None, relay_process: bool = True) -> dict:
    """`postgres`: on a fresh database of that server (bench.http's); `relay_process`: there, the relay in a process
    of its own (the default; its CPU is not in server_cpu_s), or in the worker."""
    from concord.bench.http import _database

    tmp = Path(tempfile.mkdtemp(prefix="concord-bench-alerts-"))
    with _database(postgres) as url:
        tokens = prepare(tmp, list(OFFICERS) + list(TRADERS), database_url=url)
        with serve(tmp, CONCORD_STREAM_CONNECTIONS_PER_USER=str(subscribers), CONCORD_DATABASE_URL=url,
                   CONCORD_RELAY_PROCESS=str(bool(url and relay_process)).lower()) as (base, server):
            before = _cpu_seconds(server.pid)
            out = run_loop(_fan_out(base, tokens, subscribers, declarations, rate, seed, processes))
            cpu = _cpu_seconds(server.pid) - before
        entitled, stored = _entitled(url or f"sqlite:///{tmp / 'concord.db'}", out["sent"])
    clients, sent = out["clients"], out["sent"]
    latencies, after_answer, delivered, wrong, events = [], [], 0, 0, set()
    for audience, _, received in clients:
        for arrived, m in received:
            did = m.get("declaration_id")
            if did not in sent:
                continue  # not caused by this run (none expected)
            if audience not in entitled[did] or m.get("audience") != audience:
                wrong += 1
                continue
            delivered += 1
            events.add(m["id"])
            latencies.append(arrived - sent[did])
            after_answer.append(arrived - out["answered_at"][did])
    expected = sum(stored.get(audience, 0) for audience, _, _ in clients)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return {"database": "postgresql" if postgres else "sqlite", "relay_process": bool(postgres and relay_process),
            "subscribers": subscribers, "client_processes": processes, "declarations": len(sent), "rate_per_s": rate,
            "events": len(events),
            "delivered": delivered, "expected": expected, "wrongly_delivered": wrong,
            "p50_ms": round(statistics.median(latencies) * 1e3, 1) if latencies else None,
            "p99_ms": round(q[98] * 1e3, 1), "max_ms": round(max(latencies, default=0) * 1e3, 1),
            "lodging_answered_p50_ms": round(statistics.median(out["answered"]) * 1e3, 1),
            "after_the_answer_p99_ms": round(_p99(after_answer) * 1e3, 1),
            "server_cpu_s": round(cpu, 2), "server_cpu_us_per_delivery": round(cpu / max(delivered, 1) * 1e6, 1),
            "goal": "p99 < 200 ms with 1,000 subscribers; wrongly_delivered = 0",
            "latency_from": "the lodging request sent, to the notification's arrival at each subscriber"}


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else (values[0] if values else 0.0)


def _cpu_seconds(pid: int) -> float:
    """The server's CPU time so far (Linux /proc; 0 elsewhere): the figure that does not depend on the load of
    a shared machine as wall-clock latency does."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(subscribers: int = 1000, declarations: int = 100, rate: float = 10.0, deliveries: int = 5000,
        postgres: str | None = None, relay_process: bool = True) -> dict:
    """Both figures; the machine is shared, so wall-clock figures are pessimistic and vary between runs."""
    return sse_fan_out(subscribers, declarations, rate, postgres=postgres, relay_process=relay_process) | {
        "webhooks": webhook_throughput(deliveries), "cores": os.cpu_count()}
