"""Hunt benchmark: StartHunt over N stored declarations through the key index, beside a plain SQL scan (LIKE over
each declaration's stored document) of the same data for the same indicators, in the same run.

The declarations are the demo's (concord.demo.run.make_document) from 2,000 traders over a year, written straight
to the tables with the keys lodging would index (keys.keys_of); a few sister containers are planted in some of
them, 2 % are still pending. The hunt runs whole through the bus (match, holds, audit, watchlist, commit)."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import text

from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations.models import facets
from concord.hunting.keys import keys_of
from concord.hunting.messages import StartHunt
from concord.hunting.models import HuntMatch

CHUNK = 50_000
SISTERS = ("MSCU1234566", "CSQU3054383", "TGHU8765436")


def _documents(rng, now, count: int):
    """Demo declarations: a pool of documents from the catalogue, each lodged again under another trader, with its
    own containers and vessel (make_document for each of a million would take most of the run)."""
    from concord.demo.catalog import container_number, imo_number
    from concord.demo.run import make_document

    traders = [SimpleNamespace(trader_id=f"NL{800000000 + i:09d}", user_id=f"trader-{i}") for i in range(2000)]
    pool = [make_document(rng, now, i, traders[0]) for i in range(min(count, 4096))]
    sisters = max(0.00004, 3 / count)  # about 40 in a million; a few in a small run
    for i in range(count):
        base, trader = pool[i % len(pool)], traders[i % len(traders)]
        party = {"id": trader.trader_id, "name": f"Trader {i % len(traders)} BV", "country": "NL",
                 "address": base["declarant"]["address"]}
        doc = base | {"lrn": f"L{i:09d}", "declarant": party, "importer": party}
        if base["transport"]["mode"] == "sea":
            containers = [container_number(rng) for _ in base["transport"]["containers"]]
            if rng.random() < sisters:  # a sister container, now and then
                containers[0] = rng.choice(SISTERS)
            doc["transport"] = base["transport"] | {"conveyance": imo_number(rng), "containers": containers}
        yield i, doc


def _store(app, count: int, seed: int) -> dict:
    """Write `count` declarations, their current versions and their index keys with the driver; returns the
    hunt's targets."""
    import orjson

    rng, end = random.Random(seed), app.clock.now()
    targets = {"party": "NL800000007", "vessel": None}
    conn = app.engine.raw_connection()
    try:
        conn.execute("PRAGMA cache_size=-1000000")  # 1 GB: the key index is written in random order
        stamp = _stamper(app)
        declarations, versions, keys = [], [], []
        for i, doc in _documents(rng, end, count):
            lodged = stamp(end - timedelta(seconds=int(365 * 86400 * (1 - i / count))))
            released = rng.random() >= 0.02
            did = f"DCL{i:012d}"
            chapters, origins = facets(doc)
            declarations.append((did, doc["declarant"]["id"], doc["lrn"], f"{i:064x}", "IM", doc["office_of_entry"],
                                 chapters, origins, "{}", "released" if released else "under_control", "green", 1,
                                 lodged, lodged, lodged if released else None, lodged if released else None))
            versions.append((did, 1, orjson.dumps(doc).decode(), lodged, "bench", '{"lane": "green", "reasons": []}',
                             "[]"))
            keys += [(k, did) for k in keys_of(doc)]
            if targets["vessel"] is None and doc["transport"].get("conveyance", "").startswith("IMO"):
                targets["vessel"] = doc["transport"]["conveyance"]
            if len(declarations) >= CHUNK:
                _flush(conn, declarations, versions, keys)
        _flush(conn, declarations, versions, keys)
    finally:
        conn.close()
    return targets


def _stamper(app):
    from concord.db import UTCDateTime

    dialect = app.engine.dialect
    return UTCDateTime().dialect_impl(dialect).bind_processor(dialect)


def _flush(conn, declarations: list, versions: list, keys: list) -> None:
    conn.executemany("INSERT INTO declarations (id, trader_id, lrn, body_sha256, type, office_of_entry, hs_chapters, "
                     "origins, engaged, status, lane, version, lodged_at, updated_at, arrived_at, released_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", declarations)
    conn.executemany("INSERT INTO declaration_versions (declaration_id, version, document, submitted_at, submitted_by, "
                     "risk, engagements) VALUES (?, ?, ?, ?, ?, ?, ?)", versions)
    conn.executemany("INSERT INTO declaration_keys (key, declaration_id) VALUES (?, ?)", keys)
    conn.commit()
    for rows in (declarations, versions, keys):
        rows.clear()


def _scan(app, targets: dict, since) -> tuple[float, int]:
    """The baseline: the same indicators as LIKE conditions over every stored document in the window."""
    values = list(SISTERS) + [targets["party"], targets["vessel"]]
    likes = " OR ".join(f"v.document LIKE :p{i}" for i in range(len(values)))
    params = {f"p{i}": f'%"{v}"%' for i, v in enumerate(values)} | {"since": since}
    sql = text(f"SELECT count(*) FROM declarations d JOIN declaration_versions v ON v.declaration_id = d.id "
               f"AND v.version = d.version WHERE (d.lodged_at >= :since OR d.status NOT IN "
               f"('released', 'refused', 'cancelled')) AND ({likes})")
    with app.engine.connect() as conn:
        start = time.perf_counter()
        found = conn.execute(sql, params | {"since": _stored(conn, since)}).scalar()
        return time.perf_counter() - start, found


def _stored(conn, when):
    from concord.db import UTCDateTime

    return UTCDateTime().dialect_impl(conn.dialect).bind_processor(conn.dialect)(when) or when


def run(declarations: int = 1_000_000, seed: int = 1, folder: Path | None = None) -> dict:
    """Store the declarations, run one hunt over all of them, run the scan; both figures from this run."""
    from concord.access.handlers import subject_for
    from concord.access.models import User

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        clock = FixedClock()
        app = bootstrap(Settings(database_url=f"sqlite:///{Path(tmp) / 'hunt.db'}", var_dir=Path(tmp)), clock=clock)
        try:
            app.bus.handle(LoadConfig(text=_config(), source="bench config"))
            start = time.perf_counter()
            targets = _store(app, declarations, seed)
            stored = time.perf_counter() - start
            with app.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
            with app.sessions() as s:
                police = subject_for(s.get(User, "pol-officer"), app.lead_agency(s))
            since = clock.now() - timedelta(days=366)
            scan_seconds, scan_found = _scan(app, targets, since)
            cmd = StartHunt(agency="POL", source="incident/BENCH-1", lookback_days=366,
                            valid_until=(clock.now() + timedelta(days=30)).isoformat(),
                            indicators={"containers": list(SISTERS), "parties": [targets["party"]],
                                        "conveyances": [targets["vessel"]]})
            start = time.perf_counter()
            result = app.bus.handle(cmd, subject=police)
            seconds = time.perf_counter() - start
            with app.sessions() as s:
                matches = s.query(HuntMatch).filter(HuntMatch.hunt_id == result["id"]).all()
            held = sum(1 for m in matches if m.pending)
        finally:
            app.close()
    return {"declarations": declarations, "matches": len(matches), "held": held, "seconds": round(seconds, 3),
            "baseline": {"what": "plain SQL scan: LIKE over every stored document for the same indicators",
                         "matches": scan_found, "seconds": round(scan_seconds, 3)},
            "speedup": round(scan_seconds / seconds, 1) if seconds else None, "store_seconds": round(stored, 1)}


def _config() -> str:
    from importlib import resources

    return resources.files("concord.demo").joinpath("coordination.yaml").read_text()
