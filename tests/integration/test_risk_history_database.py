"""The history rules read lives in the database: the same windows as the in-memory replay on SQLite and
PostgreSQL, one worker's lodgings seen by another, kept across a restart, read by hunts as of each lodging."""

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from concord.db import Base
from concord.declarations.schemas import parse_declaration
from concord.hunting.messages import StartHunt
from concord.hunting.models import HuntMatch
from concord.risk.catalogue import history_store
from concord.risk.catalogue.history import DeclarationHistory
from concord.risk.messages import CreateRule
from concord.risk.models import HistoryEntry
from concord.risk.scoring.step import RiskStep
from support import declaration, item
from test_risk_engine import NeverDraws, as_, risk_of, submit
from test_risk_history_rules import SPLIT, part, split_rule


@pytest.fixture
def app(concord):
    Base.metadata.create_all(concord.engine)
    concord.bus.deps["risk"] = RiskStep(clock=concord.clock, rng=NeverDraws())
    return concord


def doc(importer: str, *hs: str) -> dict:
    return {"importer": {"id": importer}, "items": [{"hs_code": h} for h in hs]}


def test_the_database_windows_equal_the_in_memory_replay_through_amendments(app):
    """Random lodgings, out of order, with amendments, several goods per declaration and two importers: every
    window (count, value, largest) read from the database equals the replay's, to the cent."""
    rng, start = random.Random(11), datetime(2026, 1, 1, tzinfo=timezone.utc)
    memory = DeclarationHistory(horizon_days=400)
    versions: dict[str, int] = {}
    with app.sessions() as s:
        for n in range(400):
            did = f"D{rng.randrange(300)}"  # some ids recur: an amendment replaces the earlier version
            versions[did] = versions.get(did, 0) + 1
            at = start + timedelta(hours=rng.randrange(24 * 40), microseconds=rng.randrange(10**6))
            d = doc(rng.choice(("IM1", "IM2")), *rng.sample(("610910", "090111", "610910", "851712"), rng.randint(1, 3)))
            values = [round(rng.uniform(10, 5000), 2) for _ in d["items"]]
            memory.record(d, values, at, f"{did}/{versions[did]}")
            history_store.record(s, history_store.entries(d, values, at, f"{did}/{versions[did]}"),
                                 f"{did}/{versions[did]}", at, replace=versions[did] > 1)
            if n % 13 == 0:
                when = start + timedelta(hours=rng.randrange(24 * 40))
                own = f"{rng.choice(list(versions))}/9"
                probe = doc(rng.choice(("IM1", "IM2", "IM3")), "610910", "090111", "610910")
                mem_top, mem_items = memory.aggregates(probe, when, own)
                db_top, db_items = history_store.aggregates(s, probe, when, own)
                _same((db_top, db_items), (mem_top, mem_items))
        s.rollback()


def _same(got: tuple, want: tuple) -> None:
    (got_top, got_items), (want_top, want_items) = got, want
    assert got_top.keys() == want_top.keys() and len(got_items) == len(want_items)
    pairs = [(got_top[k], want_top[k]) for k in want_top]
    pairs += [(gi[k], wi[k]) for gi, wi in zip(got_items, want_items) for k in wi]
    for g, w in pairs:
        assert g["count"] == w["count"]
        assert g["value"] == pytest.approx(w["value"], abs=0.005)
        assert g["max_value"] == pytest.approx(w["max_value"], abs=0.005)


def test_a_busy_importers_cache_answers_as_the_query_while_another_writer_lodges_and_amends(app, monkeypatch):
    """Two writers (workers) lodge in time order, amend, and move declarations between importers; a reader's cache
    of every importer (HOT 0) answers exactly as the query and as the replay, each time."""
    monkeypatch.setattr(history_store, "HOT", 0)
    rng, at = random.Random(5), datetime(2026, 3, 1, tzinfo=timezone.utc)
    memory, hot, versions = DeclarationHistory(horizon_days=400), history_store.HotImporters(), {}
    for n in range(300):
        with app.sessions() as s:  # each lodging its own transaction, committed, as a worker's would be
            did = f"D{rng.randrange(120)}"
            versions[did] = versions.get(did, 0) + 1
            at += timedelta(minutes=rng.randrange(1, 180), microseconds=rng.randrange(10**6))
            d = doc(rng.choice(("IM1", "IM2")), *rng.sample(("610910", "090111", "851712"), rng.randint(1, 2)))
            values = [round(rng.uniform(10, 2000), 2) for _ in d["items"]]
            key = f"{did}/{versions[did]}"
            memory.record(d, values, at, key)
            history_store.record(s, history_store.entries(d, values, at, key), key, at, replace=versions[did] > 1)
            s.commit()
        if n % 7 == 0:
            probe = doc(rng.choice(("IM1", "IM2")), "610910", "090111")
            when = at + timedelta(seconds=1)
            with app.sessions() as s:
                cached = history_store.DatabaseHistory(s, hot).aggregates(probe, when, "D999/1")
                queried = history_store.aggregates(s, probe, when, "D999/1")
            _same(cached, queried)
            _same(queried, memory.aggregates(probe, when, "D999/1"))
    assert hot._importers  # the cache answered


def test_each_lodging_writes_its_rows_and_an_amendment_replaces_them(app):
    from concord.declarations.messages import AmendDeclaration

    did = submit(app, declaration(lrn="H-1", items=[item("610910", "T-shirts", "CN", amount="900.00"),
                                                   item("610910", "Shirts", "CN", amount="100.00"),
                                                   item("090111", "Coffee", "BR", amount="50.00")]))["id"]
    with app.sessions() as s:
        rows = {r.hs6: r.value for r in s.scalars(select(HistoryEntry).where(HistoryEntry.declaration_id == did))}
    assert rows == {"610910": 100000, "090111": 5000}  # cents of the base currency, per HS6
    amended = declaration(lrn="H-1", items=[item("090111", "Coffee", "BR", amount="70.00")])
    as_(app, "hollandfoods", AmendDeclaration(declaration_id=did,
                                              document=parse_declaration(amended).model_dump(mode="json")))
    with app.sessions() as s:
        rows = {r.hs6: r.value for r in s.scalars(select(HistoryEntry).where(HistoryEntry.declaration_id == did))}
    assert rows == {"090111": 7000}


def test_another_worker_sees_the_lodgings_and_a_restart_keeps_them(app):
    """Two risk steps on one database are two workers; a third, started afterwards, a restart."""
    one, two = app.bus.deps["risk"], RiskStep(clock=app.clock, rng=NeverDraws())
    as_(app, "cus-analyst", CreateRule(rule=split_rule()))
    lanes = []
    for n, step in enumerate((one, two, one)):
        app.bus.deps["risk"] = step
        lanes.append(risk_of(app, submit(app, part(n))["id"])["lane"])
        app.clock.advance(hours=2)
    assert lanes == ["green", "green", "red"]  # the first two parts, lodged on either worker, both count
    app.bus.deps["risk"] = RiskStep(clock=app.clock, rng=NeverDraws())  # a restart: nothing in memory
    assert risk_of(app, submit(app, part(3))["id"])["lane"] == "red"


def test_a_hunt_reads_each_declarations_history_as_of_its_lodging(app):
    for n in range(3):
        submit(app, part(n))
        app.clock.advance(hours=2)
    submit(app, part(9, hs="090111"))
    h = as_(app, "pol-officer", StartHunt(
        agency="POL", source="incident/INC-1", indicators={"rule": SPLIT}, lookback_days=30,
        valid_until=(app.clock.now() + timedelta(days=30)).isoformat(), purpose="criminal_investigation"))
    with app.sessions() as s:
        matched = s.scalars(select(func.count()).select_from(HuntMatch).where(HuntMatch.hunt_id == h["id"])).one()
    assert matched == 1  # the third part only: the first two had fewer than two before them, the coffee none


@pytest.mark.postgres
def test_the_history_reads_use_their_indexes_on_postgresql(pg_url):
    """EXPLAIN on tables big enough that the planner prefers an index: the window query, a busy importer's new
    rows and the outcomes recorded since a worker's last look scan no whole table."""
    from sqlalchemy import bindparam, create_engine, text

    from concord.risk.catalogue.history_store import QUERY, _ROWS

    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            Base.metadata.create_all(conn)
            conn.execute(text("INSERT INTO risk_history (importer, at, declaration_id, hs6, value) SELECT "
                              "'IM' || (n % 500), 1700000000000000 + n * 60000000::bigint, 'D' || n, "
                              "lpad((n % 97)::text, 6, '0'), n FROM generate_series(1, 60000) n"))
            conn.execute(text("INSERT INTO risk_inspection_outcomes (id, declaration_id, version, agency, result, "
                              "recorded_by, recorded_at) SELECT 'OUT' || n, 'D' || n, 1, 'CUS', 'compliant', 'x', "
                              "timestamp '2026-01-01' + n * interval '1 minute' FROM generate_series(1, 30000) n"))
            conn.execute(text("ANALYZE risk_history"))
            conn.execute(text("ANALYZE risk_inspection_outcomes"))
            until = 1700000000000000 + 50000 * 60000000
            params = {"importer": "IM7", "until": until, "since": until - 30 * history_store.DAY_US, "own": "D1",
                      "hs6": ["000007"], "since_7d": until - 7 * history_store.DAY_US,
                      "since_30d": until - 30 * history_store.DAY_US}
            explain = text("EXPLAIN " + QUERY.text).bindparams(bindparam("hs6", expanding=True))
            plans = ["\n".join(r[0] for r in conn.execute(explain, params))]
            plans.append("\n".join(r[0] for r in conn.exec_driver_sql(
                "EXPLAIN " + _ROWS.format("%s"), ("IM7", until - 60_000_000))))
            plans.append("\n".join(r[0] for r in conn.exec_driver_sql(
                "EXPLAIN SELECT id FROM risk_inspection_outcomes WHERE recorded_at > %s",
                (datetime(2026, 1, 20),))))
    finally:
        engine.dispose()
    for plan in plans:
        assert "Seq Scan" not in plan, plan


def test_the_parts_of_a_split_consignment_lodged_in_one_group_commit_count_for_each_other(app):
    """A batch upload is one transaction: its rows are written at its commit, yet each part counts for the next,
    as it would lodged one by one (the rows the group staged are read with the database's)."""
    from concord.declarations.messages import LodgeGroup
    from support import subjects

    as_(app, "cus-analyst", CreateRule(rule=split_rule()))
    submit(app, part(0))  # one part committed before the batch
    app.clock.advance(hours=1)
    trader = subjects(app)["hollandfoods"]
    docs = [parse_declaration(part(n)).model_dump(mode="json") for n in (1, 2, 3)]
    results = app.bus.handle(LodgeGroup(items=[(trader, d, None) for d in docs]))
    lanes = [risk_of(app, r["id"])["lane"] for r in results]
    assert lanes == ["green", "red", "red"]  # the second part of the batch is the third in all
