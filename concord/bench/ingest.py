"""Ingest benchmark: declarations through validation, risk, routing and a durable commit, beside raw inserts."""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from concord.access.handlers import subject_for
from concord.access.models import User
from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap, settle_heap
from concord.clock import FixedClock
from concord.config import Settings
from concord.db import WAL_AUTOCHECKPOINT_PAGES
from concord.declarations.grouping import BULK_CHUNK, MAX_BATCH, lodge_batch
from concord.demo.run import make_document

TABLES = ("declarations", "declaration_versions", "agency_tasks", "events", "audit_entries", "declaration_keys")


def _bodies(count: int, trader, seed: int = 1) -> list[bytes]:
    """Realistic declaration bodies as a trader's system would send them (JSON bytes)."""
    rng, now = random.Random(seed), FixedClock().now()
    return [json.dumps(make_document(rng, now, i, trader)).encode() for i in range(count)]


def _raw_insert(source: Path, target: Path, batch: int, indexes: bool = True) -> tuple[float, int]:
    """Insert the same rows with sqlite3 executemany, batch by batch: the baseline.

    With `indexes`, into the same schema as the pipeline's (its indexes, foreign keys and pragmas), which is
    what "the same rows" costs the database; without, into bare tables, the cheapest possible insert."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    dst.execute("PRAGMA journal_mode=WAL")
    dst.execute("PRAGMA synchronous=NORMAL")
    dst.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    dst.execute(f"PRAGMA foreign_keys={'ON' if indexes else 'OFF'}")
    tables = {}
    for t in TABLES:
        dst.execute(src.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (t,)).fetchone()[0])
        cols = [r[1] for r in src.execute(f"PRAGMA table_info({t})")]
        tables[t] = (cols, src.execute(f"SELECT * FROM {t}").fetchall())
    if indexes:  # the rest of the schema and its rows (agencies, users...), untimed: foreign keys point there
        dst.execute("PRAGMA foreign_keys=OFF")  # some point at declarations the timed part inserts
        for name, sql in src.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL "
                                     "AND name NOT LIKE 'sqlite_%'").fetchall():
            if name not in TABLES:
                dst.execute(sql)
                rows = src.execute(f"SELECT * FROM {name}").fetchall()
                if rows:
                    dst.executemany(f"INSERT INTO {name} VALUES ({','.join('?' * len(rows[0]))})", rows)
        for (sql,) in src.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall():
            dst.execute(sql)
        dst.commit()
        dst.execute("PRAGMA foreign_keys=ON")
    dst.commit()
    n_rows = sum(len(rows) for _, rows in tables.values())
    n_decl = len(tables["declarations"][1])
    chunks = -(-n_decl // batch)
    # The same transactions as the pipeline's: each holds its declarations and the rows that belong to them.
    chunk_of = {row[0]: i * chunks // n_decl for i, row in enumerate(tables["declarations"][1])}
    parts = {t: [[] for _ in range(chunks)] for t in TABLES}
    for t, (cols, rows) in tables.items():
        key = cols.index("id") if t == "declarations" else cols.index("declaration_id") if "declaration_id" in cols else None
        for n, row in enumerate(rows):
            j = chunk_of.get(row[key], 0) if key is not None else n * chunks // len(rows)
            parts[t][j].append(row)
    start = time.perf_counter()
    for j in range(chunks):
        for t, (cols, _) in tables.items():
            dst.executemany(f"INSERT INTO {t} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", parts[t][j])
        dst.commit()
    elapsed = time.perf_counter() - start
    check = sum(dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)
    assert check == n_rows, (check, n_rows)
    return elapsed, n_rows


def run(count: int = 20000, batch: int = MAX_BATCH, chunk: int = BULK_CHUNK) -> dict:
    """Measure the pipeline and the raw baseline in the same run; returns the figures.

    The pipeline is `concord declarations lodge FILE` (POST /api/v1/declarations/batch without HTTP): NDJSON
    bytes of `batch` declarations per upload, validated, assessed, routed and committed in transactions of
    `chunk` (the API uses 100). The baseline inserts the same rows in as many transactions."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ingest.db"
        app = bootstrap(Settings(database_url=f"sqlite:///{db}", var_dir=Path(tmp)))
        from importlib import resources

        app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text()))
        with app.sessions() as s:
            trader = subject_for(s.scalars(select(User).where(User.id == "rotterdam-freight")).one(), "CUS")
        bodies = _bodies(count, trader)
        uploads = [b"\n".join(bodies[i:i + batch]) for i in range(0, count, batch)]
        settle_heap()  # as `concord serve` does once started
        start = time.perf_counter()
        failed = sum(lodge_batch(app.bus, trader, upload, chunk)["failed"] for upload in uploads)
        pipeline = time.perf_counter() - start
        assert failed == 0, f"{failed} declarations failed"
        app.close()
        raw, rows = _raw_insert(db, Path(tmp) / "raw.db", chunk)
        bare, _ = _raw_insert(db, Path(tmp) / "bare.db", chunk, indexes=False)
    return {"declarations": count, "upload": batch, "transaction": chunk, "rows_written": rows,
            "pipeline_declarations_per_s": round(count / pipeline), "pipeline_seconds": round(pipeline, 2),
            "raw_insert_declarations_per_s": round(count / raw), "raw_insert_seconds": round(raw, 2),
            "slowdown_vs_raw": round(pipeline / raw, 2),
            "raw_insert_bare_tables_declarations_per_s": round(count / bare),
            "slowdown_vs_bare_tables": round(pipeline / bare, 2),
            "goal": "pipeline >= 8000/s and within 4x of raw inserts of the same rows"}


def pause_cost(groups: int = 150, sizes: tuple = (1, 5), pauses: tuple = (0.0, 0.001, 0.004),
               postgres: str | None = None) -> dict:
    """What a pause costs the next piece of work: the same group commits run back to back (the baseline), and each
    after the thread has slept for a moment, as the server's event loop does between requests at moderate rates.

    On the machine measured (a 2-core VM), a group of one lodging committed after a 4 ms sleep took 2.1-2.3 times the
    CPU of one committed back to back, and a group of five 1.35 times, for the same calls; the first statements
    after the pause were hit hardest. So the server's CPU per declaration at 70 % of its maximum is well above that
    at the maximum, where its loop never sleeps; that, not only the group commit's amortisation, keeps the loop
    ~90 % busy there (bench http).

    `postgres`: a PostgreSQL server URL; the groups are lodged in a fresh database there instead of SQLite."""
    from concord.bench.http import _database
    from concord.declarations.messages import LodgeGroup
    from concord.declarations.schemas import declaration_document

    with tempfile.TemporaryDirectory() as tmp, _database(postgres) as url:
        app = bootstrap(Settings(database_url=url or f"sqlite:///{Path(tmp) / 'pause.db'}", var_dir=Path(tmp)))
        from importlib import resources

        app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text()))
        with app.sessions() as s:
            trader = subject_for(s.scalars(select(User).where(User.id == "rotterdam-freight")).one(), "CUS")
        need = sum(sizes) * groups * (len(pauses) + 1)
        documents = iter([declaration_document(b) for b in _bodies(need, trader, seed=5)])
        settle_heap()

        def measure(size: int, pause: float) -> dict:
            wall, cpu = [], []
            for _ in range(groups):
                items = [(trader, next(documents), None) for _ in range(size)]
                if pause:
                    time.sleep(pause)
                w, c = time.perf_counter(), time.thread_time()
                app.bus.handle(LodgeGroup(items=items))
                cpu.append(time.thread_time() - c)
                wall.append(time.perf_counter() - w)
                app.bus.relay.flush(sweep=False)  # as the server's relay does, outside the timed part
            return {"wall_ms_p50": round(statistics.median(wall) * 1e3, 3),
                    "cpu_ms_p50": round(statistics.median(cpu) * 1e3, 3)}

        measure(sizes[0], 0.0)  # warm-up: first statements, caches
        result = {f"groups_of_{size}": _against_back_to_back({_case(p): measure(size, p) for p in pauses})
                  for size in sizes}
        app.close()
    # The same measure on work that is not Concord's (JSON round trips of a 300-element list): if it too costs more
    # after a pause, the machine, not our code, charges for waking up.
    payload = json.dumps([{"n": i, "name": str(i) * 10, "items": [i, {"code": "x" * 20}]} for i in range(300)])

    def plain(pause: float) -> dict:
        cpu = []
        for _ in range(groups):
            if pause:
                time.sleep(pause)
            c = time.thread_time()
            for _ in range(3):
                json.dumps(json.loads(payload))
            cpu.append(time.thread_time() - c)
        return {"cpu_ms_p50": round(statistics.median(cpu) * 1e3, 3)}

    return {"database": "postgresql" if postgres else "sqlite", "groups_per_case": groups, **result,
            "baseline_plain_python_json": _against_back_to_back({_case(p): plain(p) for p in pauses}),
            "reading": "cpu_vs_back_to_back above 1: the same work costs more after the thread has been idle"}


def _case(pause: float) -> str:
    return f"after_{pause * 1e3:g}_ms_sleep" if pause else "back_to_back"


def _against_back_to_back(runs: dict) -> dict:
    base = runs["back_to_back"]["cpu_ms_p50"]
    for run in runs.values():
        run["cpu_vs_back_to_back"] = round(run["cpu_ms_p50"] / base, 2) if base else None
    return runs
