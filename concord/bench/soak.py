"""Soak: the maximum rate first (as `concord bench http` measures it), then N minutes at 70 % of it, minute by
minute: errors, p50/p99, outbox lag, and the server's resident memory at the start and the end of the soak.

The baseline is the run's own first minute: a server that holds up has the same p99 in its last minute as in its
first, and the same memory (growth under 10 % is the goal). The load generator's functions are bench/http's."""

from __future__ import annotations

import math
import subprocess
import time

from concord.bench import free_port
from concord.bench.cpu import ServerCpu
from concord.bench.http import _database, _drain, _ready, prepared_hub, wait_for_server
from concord.bench.loadgen import build_requests, closed_loop, open_loop, run_generator, wrk_maximum
from concord.observability.metrics import resident_memory


def _outbox(database_url: str) -> dict:
    """Events committed and not yet published, and how old the oldest is (s): the relay's lag."""
    from sqlalchemy import create_engine, func, select

    from concord.messaging.models import EventRecord as E

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            waiting = E.published_at.is_(None)
            count = conn.execute(select(func.count()).select_from(E).where(waiting)).scalar() or 0
            oldest = conn.execute(select(E.occurred_at).where(waiting).order_by(E.seq).limit(1)).scalar()
    finally:
        engine.dispose()
    if oldest is None:
        return {"unpublished_events": 0, "lag_s": 0.0}
    from datetime import datetime, timezone

    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
    return {"unpublished_events": count, "lag_s": round((datetime.now(timezone.utc) - oldest).total_seconds(), 2)}


def _rss(pid: int, children: list[int]) -> int:
    """Resident memory of the server: the supervisor's and its children's (workers, relay process) together."""
    return sum(resident_memory(p) for p in [pid, *children])


def _stalls(path, started: float, window: float) -> list[dict]:
    """The server's event-loop stall warnings (concord.observability.stalls): when, how long, which jobs ran."""
    import json
    import re
    from datetime import datetime

    found = []
    for line in path.read_text(errors="replace").splitlines():
        if "event loop stalled" not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        head = entry["message"].split("\n", 1)[0]
        ms = re.search(r"stalled for (\d+) ms", head)  # the whole stall, logged when the loop ran again
        at = datetime.fromisoformat(entry["time"]).timestamp() - started
        found.append({"at_s": round(at, 1), "window": max(1, math.ceil(at / window)), "ms": int(ms.group(1)) if ms
                      else None, "jobs": head.split("running: ", 1)[-1].split("; garbage", 1)[0],
                      "collections": head.split("garbage collections: ", 1)[-1] if "garbage" in head else None})
    return found


LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def run(minutes: float = 10.0, rate: float | None = None, seconds: float = 8.0, connections: int = 32,
        postgres: str | None = None, window_s: float = 60.0, workers: int = 1, model: bool = False) -> dict:
    """Measure the maximum for `seconds` (unless `rate` is given), then soak at 70 % of it (or `rate`).

    `postgres`: "postgresql" (the local server) or a server's URL: the soak creates its own database there and
    drops it after. `workers`: `concord serve --workers` (PostgreSQL only). `model`: with an active learned model
    (bench.risk.STAND_IN), which reads every lodged declaration: its memory grows with them within its window."""
    if postgres == "postgresql":
        postgres = LOCAL_POSTGRES
    if workers > 1 and not postgres:
        raise ValueError("--workers above 1 needs --database postgresql (SQLite serves one worker)")
    with _database(postgres) as url:
        result = _soak(minutes, rate, seconds, connections, url, window_s, workers, model)
    return {"database": "postgresql" if postgres else "sqlite", "model": model} | result


def _soak(minutes: float, rate: float | None, seconds: float, connections: int, database_url: str,
          window_s: float, workers: int, model: bool = False) -> dict:
    import shutil

    from concord.access.identity import Subject
    from concord.bench.ingest import _bodies

    tmp, env, concord, token = prepared_hub(database_url, model)
    port = free_port()
    # JSON log lines carry their time: the server's stall warnings are placed in their window below
    env = env | {"CONCORD_LOG_FORMAT": "json"}
    log = open(tmp / "server.log", "wb")
    server = subprocess.Popen([concord, "serve", "--port", str(port), "--workers", str(workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=log)
    database = database_url or f"sqlite:///{tmp / 'concord.db'}"
    trader = Subject("rotterdam-freight", None, "NL812345670", frozenset({"trader"}))
    try:
        wait_for_server(port, 600)
        _ready(database, workers)
        cpu = ServerCpu(server.pid)
        maximum = None
        if rate is None:
            bodies = [b.replace(b'"lrn": "', b'"lrn": "M') for b in _bodies(int(3000 * seconds), trader, seed=11)]
            if shutil.which("wrk"):
                maximum = wrk_maximum(f"http://127.0.0.1:{port}", token, bodies, seconds, connections, tmp)
            else:
                batch = build_requests("127.0.0.1", port, token, bodies)
                maximum = run_generator(closed_loop("127.0.0.1", port, batch, seconds, connections))
            rate = 0.7 * maximum
        window = min(window_s, minutes * 60)
        windows = max(1, math.ceil(minutes * 60 / window - 1e-9))
        pool = _bodies(int(rate * window) + 1, trader, seed=12)  # each window sends them under its own LRNs
        drained = _drain(database)
        rss_start = _rss(server.pid, cpu.workers + cpu.relay)
        per_window, started, wall = [], time.perf_counter(), time.time()
        for n in range(windows):
            requests = build_requests("127.0.0.1", port, token,
                                 [b.replace(b'"lrn": "', f'"lrn": "S{n}-'.encode()) for b in pool])
            figures = {}
            with cpu.measure(figures):
                figures |= run_generator(open_loop("127.0.0.1", port, requests, rate, window))
            per_window.append({"window": n + 1, "requests": figures["requests"], "errors": figures["errors"],
                               "reconnects": figures["reconnects"], "connections_lost": figures["connections_lost"],
                               "achieved_rate": figures["achieved_rate"],
                               "p50_ms": figures["p50_ms"], "p99_ms": figures["p99_ms"], "max_ms": figures["max_ms"],
                               "server_cpu_ms_per_lodging": figures.get("server_cpu_ms_per_declaration"),
                               "event_loop_busy": figures.get("event_loop_busy"),
                               "rss_mb": round(_rss(server.pid, cpu.workers + cpu.relay) / 2**20, 1),
                               "outbox": _outbox(database)})
        rss_end = _rss(server.pid, cpu.workers + cpu.relay)
    finally:
        stopping = time.perf_counter()
        server.terminate()
        try:  # a graceful stop publishes the relay's backlog first: a relay far behind takes long
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        stop_s = round(time.perf_counter() - stopping, 1)
        log.close()
    stalls = _stalls(tmp / "server.log", wall, window)
    for w in per_window:
        w["loop_stalls"] = [s for s in stalls if s["window"] == w["window"]]
    first, last = per_window[0], per_window[-1]
    growth = (rss_end - rss_start) / rss_start if rss_start else None
    return {"workers": workers, "window_s": window, "windows": windows, "soak_s": round(time.perf_counter() - started),
            "max_declarations_per_s": round(maximum) if maximum else None, "rate": round(rate),
            "seconds_to_catch_up_after_the_burst": drained,
            "errors": sum(w["errors"] for w in per_window), "requests": sum(w["requests"] for w in per_window),
            "p99_ms_first_window": first["p99_ms"], "p99_ms_last_window": last["p99_ms"],
            "p99_ms_worst_window": max(w["p99_ms"] for w in per_window),
            "rss_mb_start": round(rss_start / 2**20, 1), "rss_mb_end": round(rss_end / 2**20, 1),
            "rss_growth": round(growth, 3) if growth is not None else None,
            # the first minute fills the caches and pools that a server then keeps: growth after it is the leak
            "rss_growth_after_the_first_window": round(last["rss_mb"] / first["rss_mb"] - 1, 3) if first["rss_mb"]
            else None,
            "loop_stalls": len(stalls), "longest_loop_stall_ms": max((s["ms"] for s in stalls), default=0),
            "max_outbox_lag_s": max(w["outbox"]["lag_s"] for w in per_window), "per_window": per_window,
            "server_log": str(tmp / "server.log"), "server_stop_s": stop_s,  # the stall warnings (and CONCORD_MEMORY_TRACE_S's) in full
            "goal": "no error; p99 in the last window near the first's (and < 50 ms); RSS growth < 10 %"}
