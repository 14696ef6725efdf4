"""The risk engine's history is shared by every worker and kept across restarts (issue 13, "the loop closes live"):
two plain `concord serve` processes on one PostgreSQL database, as several workers behind a balancer would be.
A declaration lodged on one counts in the other's history rules; an inspection outcome recorded through one
reaches the model's history on the other; a restarted server reads the history lodged before it started (the
declarations too: each worker's model reads every declaration lodged, by any worker, within about a second)."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from concord.bench.alerts import prepare, serve
from concord.config import Settings
from concord.declarations.schemas import parse_declaration
from concord.risk.learning.model import fit
from concord.risk.learning.registry import ModelRegistry
from concord.risk.learning.synthetic import synthetic_records
from support import declaration, item

SPLIT = ("items.exists(i, i.history.importer_hs6_7d.count >= 2 && i.history.importer_hs6_7d.max_value < 1000.0 "
         "&& i.value_base < 1000.0)")
RECHECK = 1.5  # each worker rechecks rules and reads new outcomes once a second (the catalogue's ttl)


def _doc(lrn: str, hs: str, amount: str, arrival: str) -> dict:
    return parse_declaration(declaration(lrn=lrn, arrival=arrival, items=[item(hs, "Goods", "CN", amount=amount)])
                             ).model_dump(mode="json")


def _lodge(base: str, token: str, doc: dict) -> str:
    r = httpx.post(f"{base}/api/v1/declarations", json=doc, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _risk(url: str, did: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT v.risk FROM declaration_versions v JOIN declarations d ON "
                                     "d.id = v.declaration_id AND d.version = v.version WHERE d.id = :d"),
                                {"d": did}).scalar_one()
    finally:
        engine.dispose()


def _rules_hit(url: str, did: str) -> list:
    return [r["id"] for r in _risk(url, did)["reasons"] if r["kind"] == "rule"]


def _score(url: str, did: str) -> float:
    return next(r["score"] for r in _risk(url, did)["reasons"] if r["kind"] == "model")


@pytest.mark.postgres
def test_two_servers_share_history_and_outcomes_and_a_restart_keeps_them(tmp_path, pg_url):
    tokens = prepare(tmp_path, ("cus-analyst", "cus-officer", "hollandfoods"), database_url=pg_url)
    records = synthetic_records(600, seed=5, days=60)
    model = fit(records[:400], records[400:], params={"learning_rate": 0.3, "early_stopping_round": 5,
                                                      "num_threads": 1})
    ModelRegistry(Settings(var_dir=tmp_path).models_dir()).register(model.to_bytes(), model.info)
    trader, officer = tokens["hollandfoods"], {"Authorization": f"Bearer {tokens['cus-officer']}"}
    env = {"CONCORD_DATABASE_URL": pg_url}
    with serve(tmp_path, **env) as (one, _), serve(tmp_path, **env) as (two, _):
        r = httpx.post(f"{one}/api/v1/risk/rules", headers={"Authorization": f"Bearer {tokens['cus-analyst']}"},
                       json={"id": "SPLIT-7D", "name": "Split consignment", "rationale": "third part in 7 days",
                             "expression": SPLIT, "severity": "high", "lane": "red"}, timeout=30)
        assert r.status_code == 201, r.text
        time.sleep(RECHECK)
        # split consignments: the parts alternate between the servers; from the third on, the rule hits
        day = "2026-06-01T08:00:00+00:00"
        parts = [_lodge(base, trader, _doc(f"PART-{n}", "610910", "900.00", day))
                 for n, base in enumerate((one, two, one, two))]
        assert [_rules_hit(pg_url, d) for d in parts] == [[], [], ["SPLIT-7D"], ["SPLIT-7D"]]

        # an outcome recorded through one server reaches the model's history on the other
        line = lambda lrn, arrival: _doc(lrn, "090111", "7000.00", arrival)  # noqa: E731 - one goods line
        first = [_lodge(one, trader, line(f"LINE-{n}", day)) for n in range(2)]
        later = "2026-06-02T08:00:00+00:00"  # outcomes count strictly before a declaration's time
        before = _score(pg_url, _lodge(two, trader, line("LINE-B0", later)))
        for did in first:
            r = httpx.post(f"{one}/api/v1/risk/outcomes", json={"declaration_id": did, "result": "irregular"},
                           headers=officer, timeout=30)
            assert r.status_code == 201, r.text
        time.sleep(RECHECK)
        on_two = _score(pg_url, _lodge(two, trader, line("LINE-B1", later)))
        on_one = _score(pg_url, _lodge(one, trader, line("LINE-A1", later)))
        assert on_two == on_one != before  # both workers' models hold the two irregular outcomes

    with serve(tmp_path, **env) as (three, _):  # a restart: nothing in memory
        # its model read the outcomes and the declarations lodged before it started (LINE-C1 sees what LINE-A1 saw:
        # what was lodged before `later`), and its history rules the parts
        assert _score(pg_url, _lodge(three, trader, line("LINE-C1", later))) == on_one
        assert _rules_hit(pg_url, _lodge(three, trader, _doc("PART-9", "610910", "900.00", day))) == ["SPLIT-7D"]
