"""HTTP load: uvicorn with one worker or several, a load generator on loopback (another process), real declarations.

First the maximum rate (closed loop, many connections), then an open-loop run at 70 % of it, with
latency measured from each request's scheduled start so that a stalled server cannot hide its queue."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from concord.bench import free_port
from concord.bench.cpu import CpuGroups, ServerCpu
from concord.bench import loadgen
from concord.bench.loadgen import build_requests, open_loop, run_generator
from concord.config import child_environment


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


def run(seconds: float = 8.0, connections: int = 32, postgres: str | None = None, rates: tuple = (),
        workers: int = 1, server: str = "uvicorn", model: bool = False, relay_process: bool = True) -> dict:
    """Start the server, measure the maximum rate, then latency at 70 % of it.

    `postgres`: a PostgreSQL server URL (its maintenance database, e.g. postgresql+psycopg://postgres@127.0.0.1
    :5432/postgres); the run uses a fresh database there instead of SQLite. `workers`: `concord serve --workers`
    (PostgreSQL only). `model`: a learned model is active (bench.risk.STAND_IN), as in a deployment that trained
    one: every lodging is scored by it, and each worker's model reads the declarations lodged (the declaration feed).
    `relay_process`: on PostgreSQL, the relay in a process of its own (CONCORD_RELAY_PROCESS, the default), counted in
    the server's CPU; False: in each worker."""
    from concord.bench.risk import STAND_IN

    relay_process = relay_process and bool(postgres)
    with _database(postgres) as url:
        result = _run_server(seconds, connections, url, rates, workers, server, model, relay_process)
    return {"database": "postgresql" if postgres else "sqlite", "server": server,
            "model": STAND_IN if model else None, "relay_process": relay_process} | result


DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WORKERS_GOAL = ">= 1000 declarations/s with two workers on PostgreSQL; p99 < 50 ms at 500/s; lane shares within a " \
               "point of their targets across workers"


def compare(seconds: float = 8.0, connections: int = 32, postgres: str | None = None, rates: tuple = (300, 500),
            workers: int = 2, server: str = "uvicorn", model: bool = False, relay_process: bool = True) -> dict:
    """One run of the three set-ups, one after the other on the same machine: SQLite with one worker, PostgreSQL
    with one, PostgreSQL with `workers`; each with its maximum, and p50/p99 at `rates` and at 70 % of its maximum."""
    postgres = postgres or DEFAULT_POSTGRES
    runs = {"sqlite_1_worker": run(seconds, connections, None, rates, 1, server, model),
            "postgresql_1_worker": run(seconds, connections, postgres, rates, 1, server, model, relay_process),
            f"postgresql_{workers}_workers": run(seconds, connections, postgres, rates, workers, server, model,
                                                 relay_process)}
    return {"runs": runs, "summary": {name: _summary(r) for name, r in runs.items()}, "goal": WORKERS_GOAL}


def _summary(r: dict) -> dict:
    """The headline figures of one set-up: maximum, p50/p99 at each rate, CPU per lodging, random share."""
    out = {"max_declarations_per_s": r["max_declarations_per_s"]}
    for name, figures in [("70%", r["at_70_percent"]), *r.get("at_rates", {}).items()]:
        out[f"at_{name}"] = {k: figures.get(k) for k in ("achieved_rate", "p50_ms", "p99_ms", "errors",
                                                           "server_cpu_ms_per_declaration")}
        out[f"at_{name}"]["cpu_ms_per_declaration"] = figures.get("cpu_ms_per_declaration")
    out["at_maximum"] = r.get("at_maximum")
    out["lanes_per_worker"] = r.get("lanes_per_worker")
    return out


def _lanes(database_url: str) -> dict | None:
    """Lane shares of the run's lodgings per worker (PostgreSQL: the lane budget's exchange names the worker;
    SQLite: one worker, the declarations' lanes), with the share drawn at random."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                rows = conn.execute(text("SELECT worker, final, drawn, count(*) FROM lane_decisions "
                                         "GROUP BY worker, final, drawn")).all()
                names = {0: "green", 1: "blue", 2: "yellow", 3: "red"}
                rows = [(w, names.get(f, str(f)), d, n) for w, f, d, n in rows]
            else:  # the random draw is recorded in the assessment only; here the lanes alone
                rows = [("the worker", lane or "none", None, n) for lane, n in
                        conn.execute(text("SELECT lane, count(*) FROM declarations GROUP BY lane")).all()]
    finally:
        engine.dispose()
    out: dict = {}
    for worker, lane, drawn, n in rows:
        w = out.setdefault(worker, {"lodgings": 0, "lanes": {}, "random": 0})
        w["lodgings"] += n
        w["lanes"][lane] = w["lanes"].get(lane, 0) + n
        w["random"] += n if drawn else 0
    for w in out.values():
        w["lanes"] = {lane: round(n / w["lodgings"], 4) for lane, n in sorted(w["lanes"].items())}
        w["random"] = None if rows and rows[0][2] is None else round(w["random"] / w["lodgings"], 4)
    return out or None


def _ready(database_url: str, workers: int, limit: float = 120.0) -> None:
    """Wait until every worker has started (each opens its leadership connection when its start-up is done)."""
    if workers == 1:
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < limit:
            with engine.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND application_name LIKE 'concord-worker:%'")).scalar() >= workers:
                    return
            time.sleep(0.2)
    finally:
        engine.dispose()


def prepared_hub(database_url: str, model: bool = False) -> tuple[Path, dict, str, str]:
    """A hub in a temporary folder with the demo's coordination config (and with `model`, an active learned model:
    bench.risk.STAND_IN): (folder, environment, the `concord` command, a trader's token) for `concord serve`."""
    tmp = Path(tempfile.mkdtemp())
    env = child_environment(CONCORD_VAR_DIR=str(tmp), CONCORD_DATABASE_URL=database_url)
    concord = str(Path(sys.executable).parent / "concord")
    config = tmp / "coordination.yaml"
    config.write_text(resources.files("concord.demo").joinpath("coordination.yaml").read_text())
    subprocess.run([concord, "config", "load", str(config)], env=env, check=True, capture_output=True)
    token = subprocess.run([concord, "tokens", "issue", "rotterdam-freight"], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    if model:
        from concord.bench.risk import activate_stand_in

        activate_stand_in(tmp)
    return tmp, env, concord, token


def wait_for_server(port: int, tries: int) -> None:
    """Until the server on the port answers /healthz (or `tries` attempts 50 ms apart have passed)."""
    import httpx

    for _ in range(tries):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)


def _run_server(seconds: float, connections: int, database_url: str, rates: tuple, workers: int = 1,
                server: str = "uvicorn", model: bool = False, relay_process: bool = True) -> dict:
    tmp, env, concord, token = prepared_hub(database_url, model)
    env["CONCORD_RELAY_PROCESS"] = "true" if relay_process else "false"
    port = free_port()
    command = [concord, "serve", "--port", str(port), "--workers", str(workers), "--server", server]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_server(port, 200)
        _ready(database_url, workers)
        from concord.access.identity import Subject
        from concord.bench.ingest import _bodies

        trader = Subject("rotterdam-freight", None, "NL812345670", frozenset({"trader"}))
        bodies = _bodies(int(3000 * seconds), trader, seed=11)
        import shutil

        generator = "wrk" if shutil.which("wrk") else "asyncio streams (install Debian's wrk for a lighter one)"
        cpu = ServerCpu(server.pid)
        groups = CpuGroups([server.pid, *cpu.workers, *cpu.relay], database_url, cpu.relay)
        at_maximum: dict = {}
        with groups.measure(at_maximum):  # the load generator here is this process (or wrk, its child)
            maximum = loadgen.maximum(port, token, bodies, seconds, connections, tmp)
            at_maximum["requests"] = round(maximum * seconds)
        database = database_url or f"sqlite:///{tmp / 'concord.db'}"

        def latency(requests: list[bytes], rate: float) -> dict:
            """An open-loop run at `rate`, with the server's CPU over it."""
            result: dict = {}
            with cpu.measure(result), groups.measure(result):
                batch = build_requests("127.0.0.1", port, token, requests)
                result |= run_generator(open_loop("127.0.0.1", port, batch, rate, seconds))
            return result

        drained = _drain(database)
        loaded = latency([b.replace(b'"lrn": "', b'"lrn": "B') for b in bodies[len(bodies) // 2:]], 0.7 * maximum)
        at_rates = {}
        for n, rate in enumerate(rates):  # latency at fixed rates too, each after the server has caught up
            _drain(database)
            at_rates[str(rate)] = latency([b.replace(b'"lrn": "', f'"lrn": "R{n}-'.encode()) for b in bodies], rate)
        lanes = _lanes(database)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"workers": workers, "connections": connections, "load_generator": generator,
            "open_loop_generator": "asyncio streams on uvloop, requests on a fixed schedule",
            "max_declarations_per_s": round(maximum), "seconds_to_catch_up_after_the_burst": drained,
            "at_maximum": {k: v for k, v in at_maximum.items() if k != "requests"},
            "at_70_percent": loaded, **({"at_rates": at_rates} if at_rates else {}),
            "lanes_per_worker": lanes, "goal": ">= 1000 declarations/s; p99 < 50 ms at 70 % of the maximum"}


if __name__ == "__main__":
    print(json.dumps(run()))
