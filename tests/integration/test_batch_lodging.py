"""A broker's NDJSON upload: each line succeeds or fails on its own, and the answer says which, line by line."""

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from concord.access.messages import IssueToken
from concord.app import create_app
from concord.declarations.grouping import MAX_BATCH
from concord.declarations.models import Declaration
from support import declaration, item


def _ndjson(*docs) -> bytes:
    return b"\n".join(d if isinstance(d, bytes) else json.dumps(d).encode() for d in docs)


def _client(concord, user="hollandfoods"):
    token = concord.bus.handle(IssueToken(user_id=user))["token"]
    return TestClient(create_app(concord, background=False)), {"Authorization": f"Bearer {token}",
                                                                "Content-Type": "application/x-ndjson"}


def test_each_line_succeeds_or_fails_alone(concord):
    client, headers = _client(concord)
    first = client.post("/api/v1/declarations", json=declaration(lrn="B-0"), headers=headers | {
        "Content-Type": "application/json"}).json()
    bad = declaration(lrn="B-2", items=[item("990000", "Nothing", "XX")])
    other_body = declaration(lrn="B-0", office_of_entry="DEHAM")
    upload = _ndjson(declaration(lrn="B-1"), bad, b"", b"{not json", declaration(lrn="B-0"), other_body,
                     declaration(lrn="B-3"), declaration(lrn="B-3"))
    r = client.post("/api/v1/declarations/batch", content=upload, headers=headers)
    assert r.status_code == 200, r.text
    out = r.json()
    by_line = {x["line"]: x for x in out["results"]}
    assert sorted(by_line) == [1, 2, 4, 5, 6, 7, 8]  # the blank line 3 is skipped, yet counted
    assert by_line[1]["status"] == "cleared" and by_line[1]["replayed"] is False  # green, awaiting arrival
    pointers = {p["pointer"] for p in by_line[2]["error"]["problems"]}
    assert {"/items/0/hs_code", "/items/0/origin"} <= pointers
    assert by_line[4]["error"]["code"] == "invalid"
    assert by_line[5] == {"line": 5, "id": first["id"], "status": first["status"], "version": 1, "replayed": True}
    assert by_line[6]["error"]["code"] == "conflict"  # the same LRN with another body
    assert by_line[8]["replayed"] is True and by_line[8]["id"] == by_line[7]["id"]  # repeated within the file
    assert (out["lodged"], out["replayed"], out["failed"]) == (2, 2, 3)
    with concord.sessions() as s:
        lrns = set(s.scalars(select(Declaration.lrn)))
    assert lrns == {"B-0", "B-1", "B-3"}  # nothing of a faulty line was stored


def test_uploads_are_for_traders_and_bounded(concord):
    client, headers = _client(concord)
    r = client.post("/api/v1/declarations/batch", content=b"\n\n", headers=headers)
    assert r.status_code == 422 and "one declaration" in r.json()["error"]["problems"][0]["message"]
    too_many = _ndjson(*[declaration(lrn=f"M-{i}") for i in range(MAX_BATCH + 1)])
    r = client.post("/api/v1/declarations/batch", content=too_many, headers=headers)
    assert r.status_code == 422 and f"at most {MAX_BATCH}" in r.json()["error"]["problems"][0]["message"]
    officer, officer_headers = _client(concord, "cus-officer")
    r = officer.post("/api/v1/declarations/batch", content=_ndjson(declaration(lrn="O-1")), headers=officer_headers)
    assert r.status_code == 403
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 0
