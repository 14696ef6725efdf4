"""The load generator of the HTTP benches: real declarations posted over loopback from another process.

A closed loop (many connections, each waiting for its answer) finds the maximum rate; wrk does it instead when
installed, costing the server's core far less. An open loop sends at a fixed rate and measures latency from each
request's scheduled start, so that a stalled server cannot hide its queue."""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import time
from pathlib import Path

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


def build_requests(host: str, port: int, token: str, bodies: list[bytes]) -> list[bytes]:
    head = (f"POST /api/v1/declarations HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n").encode()
    return [head + b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies]


async def closed_loop(host: str, port: int, requests: list[bytes], seconds: float, connections: int) -> float:
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


# uvicorn closes a keep-alive connection idle for 5 s (--timeout-keep-alive); the generator retires its own
# before that, so that a request is not written into a socket the server is closing at that instant.
IDLE_REUSE_S = 4.0
# At most this many connections at once; a request beyond waits for one, its latency still counted from its
# scheduled start. Without a cap, a server stalled for a second met a thousand new connections at once: the
# kernel's accept queue overflowed (ListenOverflows) and connections were reset, in a soak at 300 /s on a loaded
# machine and likely in the soak that aborted at 227 s.
MAX_CONNECTIONS = 512
LOST = (ConnectionError, IndexError, ValueError, asyncio.IncompleteReadError, OSError)


async def open_loop(host: str, port: int, requests: list[bytes], rate: float, seconds: float) -> dict:
    """Requests leave on a fixed schedule whatever the server does (open loop, as wrk2 does); each latency
    counts from the request's scheduled start, so a stalled server cannot hide its queue. A request whose
    connection is lost is sent once more on a new connection; lost again, it counts as an error (by kind in
    `lost`) and the run goes on."""
    n = min(int(rate * seconds), len(requests))
    now = time.monotonic()
    idle = [(await _Connection.open(host, port), now) for _ in range(64)]
    latencies: list[float] = []
    errors, reconnects, lost = 0, 0, {}

    async def send(i: int) -> tuple[_Connection | None, int | None]:
        nonlocal reconnects
        conn = None
        while idle:
            conn, since = idle.pop()
            if time.monotonic() - since < IDLE_REUSE_S:
                break
            conn.writer.close()
            conn = None
        try:
            conn = conn or await _Connection.open(host, port)
            return conn, await conn.exchange(requests[i])
        except LOST:  # the server closed the connection (an idle keep-alive one): send it again on a new one
            reconnects += 1
            if conn is not None:
                conn.writer.close()
        conn = None
        try:
            conn = await _Connection.open(host, port)
            return conn, await conn.exchange(requests[i])
        except LOST as e:
            lost[type(e).__name__] = lost.get(type(e).__name__, 0) + 1
            if conn is not None:
                conn.writer.close()
            return None, None

    slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def one(i: int, scheduled: float):
        nonlocal errors
        async with slots:
            conn, status = await send(i)
            if status != 201:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)
            if conn is not None:
                idle.append((conn, time.monotonic()))

    tasks = []
    start = time.perf_counter()
    for i in range(n):
        scheduled = start + i / rate
        if (wait := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for conn, _ in idle:
        conn.writer.close()
    q = statistics.quantiles(latencies, n=1000)
    return {"target_rate": round(rate), "achieved_rate": round(n / elapsed), "requests": n, "errors": errors,
            "reconnects": reconnects, "connections_lost": lost,
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


def wrk_maximum(base: str, token: str, bodies: list[bytes], seconds: float, connections: int, tmp: Path) -> float:
    """The maximum rate measured by wrk (a C load generator), which costs the server's core far less."""
    (tmp / "bodies.ndjson").write_bytes(b"\n".join(bodies) + b"\n")
    (tmp / "post.lua").write_text(WRK_SCRIPT)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(tmp / "post.lua"), base,
                          "--", str(tmp / "bodies.ndjson"), token], capture_output=True, text=True, check=True).stdout
    return float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))


def maximum(port: int, token: str, bodies: list[bytes], seconds: float, connections: int, tmp: Path) -> float:
    """The closed-loop maximum over the first half of the bodies: by wrk when installed, else by asyncio streams."""
    import shutil

    if shutil.which("wrk"):
        return wrk_maximum(f"http://127.0.0.1:{port}", token, bodies[: len(bodies) // 2], seconds, connections, tmp)
    batch = build_requests("127.0.0.1", port, token, bodies[: len(bodies) // 2])
    return run_generator(closed_loop("127.0.0.1", port, batch, seconds, connections))


def run_generator(coro):
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
