"""HTTP load: one uvicorn worker, a load generator on loopback (another process), real declarations.

First the maximum rate (closed loop, many connections), then an open-loop run at 70 % of it, with
latency measured from each request's scheduled start so that a stalled server cannot hide its queue."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from concord.config import child_environment


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads whole responses.

    Plain asyncio streams instead of an HTTP client library: the generator shares the machine with the server,
    and httpx cost about a millisecond of CPU per request, enough to fall behind the rate it was asked for."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "_Connection":
        return cls(*await asyncio.open_connection(host, port))

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        status = int((await self.reader.readline()).split(b" ", 2)[1])  # a closed connection raises here
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


def _requests(host: str, port: int, token: str, bodies: list[bytes]) -> list[bytes]:
    head = (f"POST /api/v1/declarations HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n").encode()
    return [head + b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies]


async def _closed_loop(host: str, port: int, requests: list[bytes], seconds: float, connections: int) -> float:
    """Each connection sends its next request as soon as the previous answer is in: the maximum rate."""
    done, deadline = 0, time.perf_counter() + seconds
    pending = iter(requests)

    async def worker():
        nonlocal done
        conn = await _Connection.open(host, port)
        while time.perf_counter() < deadline and (request := next(pending, None)) is not None:
            assert await conn.exchange(request) == 201
            done += 1
        conn.writer.close()

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(connections)])
    return done / (time.perf_counter() - start)


async def _open_loop(host: str, port: int, requests: list[bytes], rate: float, seconds: float) -> dict:
    """Requests leave on a fixed schedule whatever the server does (open loop, as wrk2 does); each latency
    counts from the request's scheduled start, so a stalled server cannot hide its queue."""
    n = min(int(rate * seconds), len(requests))
    idle = [await _Connection.open(host, port) for _ in range(64)]
    latencies: list[float] = []
    errors = 0

    async def one(i: int, scheduled: float):
        nonlocal errors
        conn = idle.pop() if idle else await _Connection.open(host, port)
        try:
            status = await conn.exchange(requests[i])
        except (IndexError, ConnectionError):  # the server closed an idle keep-alive connection: send it again
            conn = await _Connection.open(host, port)
            status = await conn.exchange(requests[i])
        if status != 201:
            errors += 1
        latencies.append(time.perf_counter() - scheduled)
        idle.append(conn)

    tasks = []
    start = time.perf_counter()
    for i in range(n):
        scheduled = start + i / rate
        if (wait := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for conn in idle:
        conn.writer.close()
    q = statistics.quantiles(latencies, n=1000)
    return {"target_rate": round(rate), "achieved_rate": round(n / elapsed), "requests": n, "errors": errors,
            "p50_ms": round(statistics.median(latencies) * 1e3, 2), "p99_ms": round(q[989] * 1e3, 2),
            "p999_ms": round(q[998] * 1e3, 2), "max_ms": round(max(latencies) * 1e3, 2)}


WRK_SCRIPT = """
local bodies, counter = {}, 0
local threads = {}
function setup(thread) thread:set("tid", #threads + 1); table.insert(threads, thread) end
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end
function request()
  counter = counter + 1
  local body = string.gsub(bodies[(counter % #bodies) + 1], '"lrn": "', '"lrn": "W' .. tid .. "-" .. counter .. "-", 1)
  return wrk.format("POST", "/api/v1/declarations", nil, body)
end
"""


def _wrk_maximum(base: str, token: str, bodies: list[bytes], seconds: float, connections: int, tmp: Path) -> float:
    """The maximum rate measured by wrk (a C load generator), which costs the server's core far less."""
    (tmp / "bodies.ndjson").write_bytes(b"\n".join(bodies) + b"\n")
    (tmp / "post.lua").write_text(WRK_SCRIPT)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(tmp / "post.lua"), base,
                          "--", str(tmp / "bodies.ndjson"), token], capture_output=True, text=True, check=True).stdout
    return float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))


def _drain(database_url: str, limit: float = 60.0) -> float:
    """Wait until the server has caught up with the previous run; how long that took (s).

    The maximum-rate run outpaces the relay and the write-ahead log's checkpoints; measuring latency while the
    server still publishes that backlog, or copies a log of tens of megabytes into the database (fsync included),
    would measure the backlog. A server at 70 % of its maximum is one that keeps up. So: until the outbox is
    published and (SQLite) the log is copied into the database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < limit:
            with engine.connect() as conn:
                if not conn.execute(text("SELECT count(*) FROM events WHERE published_at IS NULL")).scalar():
                    break
            time.sleep(0.2)
        while engine.dialect.name == "sqlite" and time.perf_counter() - start < limit:
            with engine.connect() as conn:  # (busy, frames in the log, frames copied)
                _, logged, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            if logged == copied:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    time.sleep(1.0)  # and the audit checkpoint of its last entries
    return round(time.perf_counter() - start, 1)


class _ServerCpu:
    """CPU the server spent during a run, read from /proc (Linux; elsewhere nothing is reported): per declaration,
    and the share of the run's wall time its event-loop thread was busy. Wall-clock rates swing by about 15 %
    between identical runs on this machine; CPU per declaration by about 5 %, so it is the figure to compare
    changes by. The loop's busy share explains the tail: queueing delay grows steeply as it nears 100 %."""

    def __init__(self, pid: int):
        self.pid, self.tick = pid, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _ticks(self) -> tuple[int, int] | None:
        try:
            process = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            loop = Path(f"/proc/{self.pid}/task/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return int(process[11]) + int(process[12]), int(loop[11]) + int(loop[12])  # utime + stime

    @contextmanager
    def measure(self, result: dict):
        """Adds the figures to `result` (an open-loop run's: its requests and elapsed time)."""
        before, start = self._ticks(), time.perf_counter()
        yield
        after, wall = self._ticks(), time.perf_counter() - start
        if before is None or after is None or not result.get("requests"):
            return
        process, loop = ((a - b) / self.tick for a, b in zip(after, before))
        result["server_cpu_ms_per_declaration"] = round(process * 1e3 / result["requests"], 3)
        result["event_loop_busy"] = round(loop / wall, 2)


def _run(coro):
    """Run the load generator on uvloop when it is installed (it is, with uvicorn[standard]), without its garbage
    collector: the generator holds thousands of requests, tasks and timings, and a full collection paused it for
    up to 100 ms. Against a trivial server at 600/s that alone made p99 51 ms (3.7-4.7 ms without it); those
    pauses were counted as the server's latency."""
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    gc.collect()
    gc.disable()
    try:
        return run(coro)
    finally:
        gc.enable()


@contextmanager
def _database(server: str | None):
    """"" (SQLite in the bench's directory) or a fresh database on the PostgreSQL server at `server`, dropped after."""
    if not server:
        yield ""
        return
    import uuid

    import psycopg

    admin = server.replace("postgresql+psycopg://", "postgresql://")
    name = f"concord_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(seconds: float = 8.0, connections: int = 32, postgres: str | None = None, rates: tuple = ()) -> dict:
    """Start the server, measure the maximum rate, then latency at 70 % of it.

    `postgres`: a PostgreSQL server URL (its maintenance database, e.g. postgresql+psycopg://postgres@127.0.0.1
    :5432/postgres); the run uses a fresh database there instead of SQLite."""
    with _database(postgres) as url:
        result = _run_server(seconds, connections, url, rates)
    return {"database": "postgresql" if postgres else "sqlite"} | result


def _run_server(seconds: float, connections: int, database_url: str, rates: tuple) -> dict:
    tmp = Path(tempfile.mkdtemp())
    env = child_environment(CONCORD_VAR_DIR=str(tmp), CONCORD_DATABASE_URL=database_url)
    concord = str(Path(sys.executable).parent / "concord")
    config = tmp / "coordination.yaml"
    config.write_text(resources.files("concord.demo").joinpath("coordination.yaml").read_text())
    subprocess.run([concord, "config", "load", str(config)], env=env, check=True, capture_output=True)
    token = subprocess.run([concord, "tokens", "issue", "rotterdam-freight"], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    port = _free_port()
    server = subprocess.Popen([concord, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        import httpx

        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        from concord.access.identity import Subject
        from concord.bench.ingest import _bodies

        trader = Subject("rotterdam-freight", None, "NL812345670", frozenset({"trader"}))
        bodies = _bodies(int(3000 * seconds), trader, seed=11)
        import shutil

        generator = "wrk" if shutil.which("wrk") else "asyncio streams (install Debian's wrk for a lighter one)"
        if shutil.which("wrk"):
            maximum = _wrk_maximum(f"http://127.0.0.1:{port}", token, bodies[: len(bodies) // 2], seconds,
                                   connections, tmp)
        else:
            maximum = _run(_closed_loop("127.0.0.1", port, _requests("127.0.0.1", port, token, bodies[: len(bodies) // 2]),
                                        seconds, connections))
        database = database_url or f"sqlite:///{tmp / 'concord.db'}"
        cpu = _ServerCpu(server.pid)

        def latency(requests: list[bytes], rate: float) -> dict:
            """An open-loop run at `rate`, with the server's CPU over it."""
            result: dict = {}
            with cpu.measure(result):
                result |= _run(_open_loop("127.0.0.1", port, _requests("127.0.0.1", port, token, requests), rate,
                                          seconds))
            return result

        drained = _drain(database)
        loaded = latency([b.replace(b'"lrn": "', b'"lrn": "B') for b in bodies[len(bodies) // 2:]], 0.7 * maximum)
        at_rates = {}
        for n, rate in enumerate(rates):  # latency at fixed rates too, each after the server has caught up
            _drain(database)
            at_rates[str(rate)] = latency([b.replace(b'"lrn": "', f'"lrn": "R{n}-'.encode()) for b in bodies], rate)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"workers": 1, "connections": connections, "load_generator": generator,
            "open_loop_generator": "asyncio streams on uvloop, requests on a fixed schedule",
            "max_declarations_per_s": round(maximum), "seconds_to_catch_up_after_the_burst": drained,
            "at_70_percent": loaded, **({"at_rates": at_rates} if at_rates else {}), "goal": ">= 1000 declarations/s; p99 < 50 ms at 70 % of the maximum"}


if __name__ == "__main__":
    print(json.dumps(run()))
