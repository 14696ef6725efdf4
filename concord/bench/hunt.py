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
from concord.db import bulk_insert
from concord.declarations.handlers import body_hash
from concord.declarations.models import Declaration, DeclarationVersion, facets
from concord.hunting.keys import keys_of
from concord.hunting.messages import StartHunt
from concord.hunting.models import DeclarationKey, HuntMatch

CHUNK = 20_000
SISTERS = ("MSCU1234566", "CSQU3054383", "TGHU8765436")


def _documents(rng, now, count: int):
    from concord.demo.run import make_document

    traders = [SimpleNamespace(trader_id=f"NL{800000000 + i:09d}", user_id=f"trader-{i}") for i in range(2000)]
    for i in range(count):
        doc = make_document(rng, now, i, traders[i % len(traders)])
        if doc["transport"]["mode"] == "sea" and rng.random() < 0.00004:  # a sister container, now and then
            doc["transport"]["containers"][0] = rng.choice(SISTERS)
        yield i, doc


def _store(app, count: int, seed: int) -> dict:
    """Write `count` declarations, their current versions and their index keys; returns the hunt's targets."""
    rng, end = random.Random(seed), app.clock.now()
    targets = {"party": "NL800000007", "vessel": None}
    with app.engine.begin() as conn:
        rows = {Declaration.__table__: [], DeclarationVersion.__table__: [], DeclarationKey.__table__: []}
        for i, doc in _documents(rng, end, count):
            lodged = end - timedelta(seconds=int(365 * 86400 * (1 - i / count)))
            pending = rng.random() < 0.02
            did = f"DCL{i:012d}"
            chapters, origins = facets(doc)
            rows[Declaration.__table__].append(dict(
                id=did, trader_id=doc["declarant"]["id"], lrn=doc["lrn"], idempotency_key=None,
                body_sha256=body_hash(doc), type="IM", office_of_entry=doc["office_of_entry"], hs_chapters=chapters,
                origins=origins, engaged={}, status="under_control" if pending else "released", lane="green",
                version=1, lodged_at=lodged, updated_at=lodged, arrived_at=None if pending else lodged,
                released_at=None if pending else lodged, outcome_reason=None))
            rows[DeclarationVersion.__table__].append(dict(
                declaration_id=did, version=1, document=doc, submitted_at=lodged, submitted_by="bench",
                risk={"lane": "green", "reasons": []}, engagements=[]))
            rows[DeclarationKey.__table__] += [{"key": k, "declaration_id": did} for k in keys_of(doc)]
            if targets["vessel"] is None and doc["transport"].get("conveyance", "").startswith("IMO"):
                targets["vessel"] = doc["transport"]["conveyance"]
            if len(rows[Declaration.__table__]) >= CHUNK:
                _flush(conn, rows)
        _flush(conn, rows)
    return targets


def _flush(conn, rows: dict) -> None:
    for table, batch in rows.items():
        if batch:
            bulk_insert(conn, table, batch)
            batch.clear()


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
