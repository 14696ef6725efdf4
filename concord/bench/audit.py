"""`concord bench audit`: group-commit appends beside raw batched inserts, full verify, inclusion proofs from disk."""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import event

from concord.audit.checkpoints import Checkpointer, NoteSigner, load_or_create_key
from concord.audit.group import GroupCommitter
from concord.audit.log import AuditLog
from concord.audit.models import AuditEntry
from concord.audit.tree import NodeCache, inclusion_proof
from concord.audit.verify import verify_log
from concord.clock import Clock, FixedClock
from concord.db import Base, make_engine, make_session_factory
from concord.messaging.uow import AuditNote

ORIGIN = "bench.concord.local/audit"

def _note(i: int) -> AuditNote:
    return AuditNote("declaration:decision:recorded", f"declaration/DCL{i:010d}", purpose="clearance",
                     agreement="AGR-NPPO-1", actor=f"usr_{i % 997:04d}", agency="NPPO")

def _engine(path: Path, synchronous: str):
    engine = make_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _sync(dbapi_conn, _):  # after make_engine's pragmas: FULL fsyncs every commit (power-loss durable)
        dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")

    Base.metadata.create_all(engine)
    return engine

def bench_appends(workdir: Path, count: int, producers: int, in_flight: int, synchronous: str) -> dict:
    """Durable appends/s through group commit: each request waits until the commit that holds its entry is done.

    `producers` threads each keep `in_flight` requests waiting, as an async server's event loop would.
    """
    engine = _engine(workdir / f"appends-{synchronous.lower()}.db", synchronous)
    committer = GroupCommitter(make_session_factory(engine), AuditLog(), Clock())
    per = count // (producers * in_flight) * in_flight

    def produce(p: int) -> None:
        for k in range(0, per, in_flight):
            waiting = [committer.submit([_note(p * per + k + j)], request_id=f"req_{p:03d}_{k + j:07d}")
                       for j in range(in_flight)]
            for fut in waiting:
                fut.result()

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    committer.close()
    engine.dispose()
    n = per * producers
    return {"entries": n, "requests_in_flight": producers * in_flight, "synchronous": synchronous,
            "seconds": round(seconds, 3), "per_second": round(n / seconds)}


def bench_raw_inserts(workdir: Path, source: Path, synchronous: str, batch: int = 1000) -> dict:
    """Baseline: the same rows (read back from the appends run) inserted raw in batches, one commit per batch."""
    cols = [c.name for c in AuditEntry.__table__.columns]
    with sqlite3.connect(source) as src:
        rows = src.execute(f"SELECT {', '.join(cols)} FROM audit_entries ORDER BY seq").fetchall()
    engine = _engine(workdir / "raw.db", synchronous)
    engine.dispose()
    con = sqlite3.connect(workdir / "raw.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={synchronous}")
    sql = f"INSERT INTO audit_entries ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        con.execute("BEGIN")
        con.executemany(sql, rows[i:i + batch])
        con.execute("COMMIT")
    seconds = time.perf_counter() - t0
    con.close()
    return {"entries": len(rows), "batch": batch, "synchronous": synchronous, "seconds": round(seconds, 3),
            "per_second": round(len(rows) / seconds)}

def build_log(path: Path, entries: int, signer: NoteSigner, chunk: int = 20000) -> dict:
    """A log of `entries` appended through AuditLog (10 entries per request) and checkpointed every chunk."""
    engine = _engine(path, "NORMAL")
    sessions, log, clock = make_session_factory(engine), AuditLog(), FixedClock()
    checkpointer = Checkpointer(sessions, signer, clock)
    t0 = time.perf_counter()
    for start in range(0, entries, chunk):
        groups = []
        for g in range(start, min(entries, start + chunk), 10):
            clock.advance(milliseconds=3)
            groups.append(([_note(i) for i in range(g, min(entries, g + 10))], clock.now(), f"req_{g:012d}"))
        with sessions() as session:
            log.append_groups(session, groups)
            session.commit()
        checkpointer.issue()
    seconds = time.perf_counter() - t0
    return {"engine": engine, "seconds": round(seconds, 1)}

def bench_verify(engine, signer: NoteSigner) -> dict:
    """Seconds for a full verify: every leaf rehashed, every column checked, every checkpoint compared."""
    before = os.times()
    with engine.connect() as conn:
        report = verify_log(conn, signer.vkey)
    after = os.times()
    cpu = sum(after[k] - before[k] for k in range(4))  # this process and the worker processes it waited for
    return {"entries": report.entries, "checkpoints": report.checkpoints, "ok": report.ok, "workers": report.workers,
            "seconds": report.seconds, "cpu_seconds": round(cpu, 2)}


def bench_proofs(engine, size: int, count: int, cache: NodeCache | None = None) -> dict:
    """Inclusion proofs/s built from the stored tree nodes, for random entries of a tree of `size` entries."""
    rng = random.Random(7)
    sessions = make_session_factory(engine)
    with sessions() as session:
        t0 = time.perf_counter()
        for _ in range(count):
            inclusion_proof(session, rng.randrange(size), size, cache)
        seconds = time.perf_counter() - t0
    return {"proofs": count, "tree_size": size, "upper_levels_cached": cache is not None,
            "seconds": round(seconds, 3), "per_second": round(count / seconds)}


def run(appends: int = 50000, producers: int = 8, in_flight: int = 64, entries: int = 1_000_000, proofs: int = 20000,
        workdir: Path | None = None) -> dict:
    """All three figures, each beside what it is measured against, from one run."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        result = {"database": "sqlite (WAL)", "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
        full = bench_appends(tmp, appends, producers, in_flight, "FULL")
        result["appends_group_commit"] = full
        result["appends_group_commit_normal_sync"] = bench_appends(tmp, appends, producers, in_flight, "NORMAL")
        result["baseline_raw_batched_inserts"] = bench_raw_inserts(tmp, tmp / "appends-full.db", "FULL")
        signer = NoteSigner(ORIGIN, load_or_create_key(tmp / "bench.key"))
        built = build_log(tmp / "million.db", entries, signer)
        result["log_built"] = {"entries": entries, "seconds": built["seconds"]}
        result["verify_full"] = bench_verify(built["engine"], signer)
        result["inclusion_proofs"] = bench_proofs(built["engine"], entries, proofs)
        result["inclusion_proofs_as_the_api_serves"] = bench_proofs(built["engine"], entries, proofs, NodeCache())
        built["engine"].dispose()
        result["goals"] = {
            "appends_per_second>=10000": full["per_second"] >= 10000,
            "verify_1M_seconds<10": result["verify_full"]["seconds"] < 10 * entries / 1_000_000,
            "proofs_per_second>=5000": result["inclusion_proofs"]["per_second"] >= 5000,
        }
        return result
