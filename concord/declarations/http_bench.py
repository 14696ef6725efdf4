"""HTTP load: one uvicorn worker, a load generator on loopback (another process), real declarations.

First the maximum rate (closed loop, many connections), then an open-loop run at 70 % of it, with
latency measured from each request's scheduled start so that a stalled server cannot hide its queue."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from concord.config import child_environment


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _closed_loop(url: str, headers: dict, bodies: list[bytes], seconds: float, connections: int) -> float:
    import httpx

    sent, done = 0, 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def worker():
            nonlocal sent, done
            while time.perf_counter() < deadline and sent < len(bodies):
                body = bodies[sent]
                sent += 1
                r = await client.post(url, content=body, headers=headers)
                assert r.status_code == 201, r.text
                done += 1
        start = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(connections)])
        return done / (time.perf_counter() - start)


async def _open_loop(url: str, headers: dict, bodies: list[bytes], rate: float, seconds: float) -> dict:
    import httpx

    n = min(int(rate * seconds), len(bodies))
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        start = time.perf_counter()

        async def one(i: int):
            nonlocal errors
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            r = await client.post(url, content=bodies[i], headers=headers)
            if r.status_code != 201:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)

        await asyncio.gather(*[one(i) for i in range(n)])
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    return {"target_rate": round(rate), "achieved_rate": round(n / elapsed), "requests": n, "errors": errors,
            "p50_ms": round(statistics.median(latencies) * 1e3, 2), "p99_ms": round(q[98] * 1e3, 2)}


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


def run(seconds: float = 8.0, connections: int = 32) -> dict:
    """Start the server, measure the maximum rate, then latency at 70 % of it."""
    tmp = Path(tempfile.mkdtemp())
    env = child_environment(CONCORD_VAR_DIR=str(tmp), CONCORD_DATABASE_URL="")
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
        from concord.declarations.bench import _bodies

        trader = Subject("rotterdam-freight", None, "NL812345670", frozenset({"trader"}))
        bodies = _bodies(int(3000 * seconds), trader, seed=11)
        url = f"http://127.0.0.1:{port}/api/v1/declarations"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        import shutil

        generator = "wrk" if shutil.which("wrk") else "httpx (install Debian's wrk for a lighter load generator)"
        if shutil.which("wrk"):
            maximum = _wrk_maximum(f"http://127.0.0.1:{port}", token, bodies[: len(bodies) // 2], seconds,
                                   connections, tmp)
        else:
            maximum = asyncio.run(_closed_loop(url, headers, bodies[: len(bodies) // 2], seconds, connections))
        rest = [b.replace(b'"lrn": "', b'"lrn": "B') for b in bodies[len(bodies) // 2:]]
        loaded = asyncio.run(_open_loop(url, headers, rest, 0.7 * maximum, seconds))
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"workers": 1, "connections": connections, "load_generator": generator,
            "max_declarations_per_s": round(maximum),
            "at_70_percent": loaded, "goal": ">= 1000 declarations/s; p99 < 50 ms at 70 % of the maximum"}


if __name__ == "__main__":
    print(json.dumps(run()))
