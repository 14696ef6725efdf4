"""The outbox relay on the lodging hot path: events published per second from memory, each cut for each audience
(concord.messaging.audiences), beside the same events published whole to one subject each in the same run (what the
relay did before the stream became an exit), and the lodging itself (the API's batch path without HTTP) for scale.
Prints one JSON object.

    concord bench relay [--count 2000] [--rounds 3] [--postgres URL]

The notification store then writes the cut rounds' batches (as the server's store does after each publish):
its time and CPU per declaration (and PostgreSQL's backends' CPU) are reported beside the cut.

Declarations are lodged through `lodge_batch` (realistic documents from the demo), then the relay's memory is
published by `flush(sweep=False)`, as the server's relay does between requests; each round lodges afresh."""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from concord.access.handlers import subject_for
from concord.access.models import User
from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap, settle_heap
from concord.clock import FixedClock, as_utc
from concord.config import Settings
from concord.declarations.grouping import lodge_batch
from concord.demo.run import make_document
from concord.messaging.models import EventRecord


def whole(session, rows: list[dict]) -> list[dict]:
    """The baseline: every event once, whole, to one subject (no audience, no cut)."""
    return [{"id": r["id"], "name": r["name"], "declaration_id": r["declaration_id"], "agency": r["agency"],
             "occurred_at": as_utc(r["occurred_at"]).isoformat(), "audience": r["agency"] or "all",
             "payload": r["payload"]} for r in rows]


def _round(app, trader, count: int, seed: int, audiences) -> dict:
    relay = app.bus.relay
    relay.flush()
    if audiences is not None:
        relay._audiences = audiences
    rng, now = random.Random(seed), FixedClock().now()
    bodies = [json.dumps(make_document(rng, now, seed * 1_000_000 + i, trader)).encode() for i in range(count)]
    sent, batches = [], []
    app.transport.subscribers[:] = [sent.append]
    app.transport.batch_subscribers[:] = [batches.append]
    start = time.perf_counter()
    for i in range(0, count, 1000):  # the largest upload
        lodge_batch(app.bus, trader, b"\n".join(bodies[i:i + 1000]), 100)
    lodged = time.perf_counter() - start
    events = len(relay._fresh)
    start = time.perf_counter()
    relay.flush(sweep=False)
    took = time.perf_counter() - start
    with app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EventRecord).where(EventRecord.published_at.is_(None))) == 0
    out = {"events": events, "messages": len(sent), "seconds": took, "lodging_seconds": lodged}
    return out | (_store(app, batches) if audiences is not whole else {})


def _store(app, batches: list[list[dict]]) -> dict:
    """The notification store writing the relay's batches, as the server's store does after each publish: its wall
    time, this process's CPU and (PostgreSQL) the database backends' CPU."""
    from concord.bench.cpu import TICK, _postgres_pids, _ticks
    from concord.notifications.store import NotificationStore

    store = NotificationStore(app.sessions, app.clock, retention_h=168, write_lock=app.write_lock)
    url = app.engine.url.render_as_string(hide_password=False)
    backends = lambda: {pid: _ticks(pid) for pid in _postgres_pids(url)[0]} if url.startswith("postgresql") else {}
    before, cpu, start = backends(), time.process_time(), time.perf_counter()
    for batch in batches:
        store.store(batch)
    took, cpu, after = time.perf_counter() - start, time.process_time() - cpu, backends()
    backend = sum(t - (before.get(pid) or 0) for pid, t in after.items() if t is not None) / TICK
    return {"store_seconds": took, "store_cpu_seconds": cpu, "store_backend_cpu_seconds": backend if after else None}


def run(count: int, rounds: int, postgres: str | None = None) -> dict:
    """Interleaved rounds of the cut relay and the whole publish; returns the medians. `postgres`: a PostgreSQL
    server URL (its maintenance database): a fresh database there instead of SQLite."""
    from concord.bench.http import _database

    with tempfile.TemporaryDirectory() as tmp, _database(postgres) as url:
        app = bootstrap(Settings(database_url=url or f"sqlite:///{Path(tmp) / 'relay.db'}", var_dir=Path(tmp)))
        from importlib import resources

        app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text()))
        with app.sessions() as s:
            trader = subject_for(s.scalars(select(User).where(User.id == "rotterdam-freight")).one(), "CUS")
        cut_for = app.bus.relay._audiences
        settle_heap()
        runs = {"cut": [], "whole": []}
        for r in range(rounds):  # interleaved, so both see the same machine load and database size
            runs["cut"].append(_round(app, trader, count, 2 * r + 1, cut_for))
            runs["whole"].append(_round(app, trader, count, 2 * r + 2, whole))
        app.close()

    def figures(name):
        rs = runs[name]
        return {f"{name}_events_per_s": round(statistics.median(x["events"] / x["seconds"] for x in rs)),
                f"{name}_us_per_declaration": round(statistics.median(x["seconds"] / count * 1e6 for x in rs)),
                f"{name}_messages_per_event": round(sum(x["messages"] for x in rs) / sum(x["events"] for x in rs), 2)}

    out = {"declarations_per_round": count, "rounds": rounds} | figures("cut") | figures("whole")
    out["slowdown_vs_whole"] = round(out["whole_events_per_s"] / out["cut_events_per_s"], 2)
    # the notification store writing the cut rounds' messages (each event once, its distinct bodies, a key per
    # audience), per declaration: wall time, this process's CPU, PostgreSQL's backends' CPU
    out["database"] = "postgresql" if postgres else "sqlite"
    for key, name in (("store_seconds", "store_us"), ("store_cpu_seconds", "store_cpu_us"),
                      ("store_backend_cpu_seconds", "store_backend_cpu_us")):
        if all(x.get(key) is not None for x in runs["cut"]):
            out[f"{name}_per_declaration"] = round(statistics.median(x[key] / count * 1e6 for x in runs["cut"]))
    out["lodging_us_per_declaration"] = round(statistics.median(
        x["lodging_seconds"] / count * 1e6 for x in runs["cut"] + runs["whole"]))  # the lodging itself, no HTTP
    return out

