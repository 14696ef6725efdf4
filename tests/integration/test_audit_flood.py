"""The log cannot be flooded: refused tokens and denied reads become counted summaries, and 429 past a limit."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import text

from concord.access.messages import IssueToken
from concord.app import create_app
from support import declaration, item

BAD = {"Authorization": "Bearer cnc_not-a-token"}


def _entries(concord, action: str) -> list[dict]:
    with concord.sessions() as s:
        return [json.loads(b) for b in s.scalars(text("SELECT body FROM audit_entries WHERE action = :a ORDER BY seq"),
                                                 {"a": action})]


def _flush(concord) -> None:
    concord.periodic["audit-summaries"][1]()


def test_refused_tokens_are_counted_not_logged_one_by_one_and_limited_per_client(concord):
    client = TestClient(create_app(concord, background=False))
    limit = concord.settings.auth_refusal_limit
    answers = []
    for i in range(60):  # the fast lodging lane and an ordinary route share one count per client
        lodge = i % 2
        answers.append(client.post("/api/v1/declarations", json={}, headers=BAD) if lodge
                       else client.get("/api/v1/me", headers=BAD))
    assert [r.status_code for r in answers[:limit]] == [401] * limit
    assert {r.status_code for r in answers[limit:]} == {429}
    for r in answers[limit:limit + 2]:  # both lanes answer in the error tree's form, with Retry-After
        assert r.json()["error"]["code"] == "too_many_requests"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert len(_entries(concord, "auth:token:refused")) == 1  # the first one, at once

    concord.clock.advance(seconds=61)
    _flush(concord)
    entries = _entries(concord, "auth:token:refused")
    assert len(entries) == 2
    assert [e["detail"]["count"] for e in entries] == [1, 59]
    assert entries[1]["detail"]["limited"] == 60 - limit and entries[1]["resource"] == "client/testclient"
    assert client.get("/api/v1/me", headers=BAD).status_code == 401  # a new window, a new allowance


def test_a_valid_token_passes_even_from_a_limited_client(concord):
    client = TestClient(create_app(concord, background=False))
    good = {"Authorization": f"Bearer {concord.bus.handle(IssueToken(user_id='hollandfoods'))['token']}"}
    for _ in range(concord.settings.auth_refusal_limit):
        client.get("/api/v1/me", headers=BAD)
    limited = client.get("/api/v1/me", headers=BAD)
    assert limited.status_code == 429
    # Someone failing behind the same address (an office's NAT) does not lock its colleagues out.
    assert client.get("/api/v1/me", headers=good).status_code == 200
    assert client.post("/api/v1/declarations", json=declaration(lrn="NAT-1"), headers=good).status_code == 201
    concord.clock.advance(seconds=int(limited.headers["Retry-After"]))
    assert client.get("/api/v1/me", headers=BAD).status_code == 401  # the next window


def test_denied_reads_are_in_the_owners_access_report_as_counted_denials(concord):
    client = TestClient(create_app(concord, background=False))
    tokens = {u: {"Authorization": f"Bearer {concord.bus.handle(IssueToken(user_id=u))['token']}"}
              for u in ("hollandfoods", "pol-officer", "cus-liaison")}
    doc = declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"])])
    did = client.post("/api/v1/declarations", json=doc, headers=tokens["hollandfoods"]).json()["id"]
    for _ in range(30):
        assert client.get(f"/api/v1/declarations/{did}", headers=tokens["pol-officer"]).status_code == 404
    assert client.get("/api/v1/declarations/DCLNOSUCH", headers=tokens["pol-officer"]).status_code == 404
    before = len(_entries(concord, "declaration:read"))
    concord.clock.advance(seconds=61)
    _flush(concord)
    denied = [e for e in _entries(concord, "declaration:read") if e["outcome"] == "denied"]
    assert len(denied) == 2 and before == 1  # 31 denied reads, 2 entries
    assert denied[0]["resource"] == f"declaration/{did}" and denied[0]["owner"] == "CUS"
    assert denied[1]["detail"]["count"] == 30 and "declaration/DCLNOSUCH" in denied[1]["detail"]["resources"]

    report = client.get("/api/v1/access-reports", params={"agency": "CUS"}, headers=tokens["cus-liaison"]).json()
    rows = [r for r in report["entries"] if r["outcome"] == "denied"]
    assert [(r["actor"], r["count"]) for r in rows] == [("pol-officer", 1), ("pol-officer", 30)]


def test_a_denied_audit_entry_read_is_in_the_report_of_the_agency_whose_entry_it_is(concord):
    client = TestClient(create_app(concord, background=False))
    tokens = {u: {"Authorization": f"Bearer {concord.bus.handle(IssueToken(user_id=u))['token']}"}
              for u in ("cus-liaison", "pol-officer")}
    with concord.sessions() as s:  # the token issued to customs' liaison: customs' activity
        seq = s.scalar(text("SELECT max(seq) FROM audit_entries WHERE agency = 'CUS'"))
    assert client.get(f"/api/v1/audit/entries/{seq}", headers=tokens["pol-officer"]).status_code == 404
    assert client.get("/api/v1/audit/entries/999999", headers=tokens["pol-officer"]).status_code == 404  # none
    denied = [e for e in _entries(concord, "audit:entry:read") if e["outcome"] == "denied"]
    assert [(e["actor"], e["resource"], e["owner"]) for e in denied] == [("pol-officer", f"audit/{seq}", "CUS")]
    report = client.get("/api/v1/access-reports", params={"agency": "CUS"}, headers=tokens["cus-liaison"]).json()
    assert [r["resource"] for r in report["entries"] if r["outcome"] == "denied"] == [f"audit/{seq}"]
