"""Ingest benchmark: declarations through validation, risk, routing and a durable commit, beside raw inserts."""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from concord.access.handlers import subject_for
from concord.access.models import User
from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations.messages import LodgeGroup
from concord.declarations.schemas import parse_declaration
from concord.demo.run import make_document

TABLES = ("declarations", "declaration_versions", "agency_tasks", "events", "audit_entries")


def _bodies(count: int, trader, seed: int = 1) -> list[bytes]:
    """Realistic declaration bodies as a trader's system would send them (JSON bytes)."""
    rng, now = random.Random(seed), FixedClock().now()
    return [json.dumps(make_document(rng, now, i, trader)).encode() for i in range(count)]


def _raw_insert(source: Path, target: Path, batch: int) -> tuple[float, int]:
    """Insert the same rows with sqlite3 executemany, batch by batch, same pragmas: the baseline."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    dst.execute("PRAGMA journal_mode=WAL")
    dst.execute("PRAGMA synchronous=NORMAL")
    tables = {}
    for t in TABLES:
        dst.execute(src.execute("SELECT sql FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0])
        cols = [r[1] for r in src.execute(f"PRAGMA table_info({t})")]
        tables[t] = (cols, src.execute(f"SELECT * FROM {t}").fetchall())
    dst.commit()
    n_rows = sum(len(rows) for _, rows in tables.values())
    n_decl = len(tables["declarations"][1])
    chunks = -(-n_decl // batch)
    start = time.perf_counter()
    for j in range(chunks):  # the same number of transactions as the pipeline's
        for t, (cols, rows) in tables.items():
            part = rows[len(rows) * j // chunks:len(rows) * (j + 1) // chunks]
            dst.executemany(f"INSERT INTO {t} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", part)
        dst.commit()
    elapsed = time.perf_counter() - start
    check = sum(dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)
    assert check == n_rows, (check, n_rows)
    return elapsed, n_rows


def run(count: int = 20000, batch: int = 500) -> dict:
    """Measure the pipeline and the raw baseline in the same run; returns the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ingest.db"
        app = bootstrap(Settings(database_url=f"sqlite:///{db}", var_dir=Path(tmp)))
        from importlib import resources

        app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text()))
        with app.sessions() as s:
            trader = subject_for(s.scalars(select(User).where(User.id == "rotterdam-freight")).one(), "CUS")
        bodies = _bodies(count, trader)
        start = time.perf_counter()
        for i in range(0, count, batch):
            docs = [parse_declaration(b).model_dump(mode="json") for b in bodies[i:i + batch]]
            app.bus.handle(LodgeGroup(items=[(trader, doc, None) for doc in docs]))
        pipeline = time.perf_counter() - start
        app.close()
        raw, rows = _raw_insert(db, Path(tmp) / "raw.db", batch)
    return {"declarations": count, "batch": batch, "rows_written": rows,
            "pipeline_declarations_per_s": round(count / pipeline), "pipeline_seconds": round(pipeline, 2),
            "raw_insert_declarations_per_s": round(count / raw), "raw_insert_seconds": round(raw, 2),
            "slowdown_vs_raw": round(pipeline / raw, 2),
            "goal": "pipeline >= 8000/s and within 4x of raw inserts of the same rows"}
