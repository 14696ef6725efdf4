"""The API's edge: malformed headers, parameters, numbers and configuration answer 4xx in the error tree's form,
never 500, on both databases."""

import asyncio
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from concord.access.messages import IssueToken
from concord.app import create_app
from concord.audit.models import AuditEntry
from concord.clearance.messages import DecideTask
from concord.clearance.models import AgencyTask
from concord.declarations.models import Declaration
from support import declaration, item, subjects

INT64_PAST = str(2**64)


def _client(concord):
    return TestClient(create_app(concord, background=False), raise_server_exceptions=False)


def _auth(concord, user):
    return {"Authorization": "Bearer " + concord.bus.handle(IssueToken(user_id=user))["token"]}


def _raw_get(app, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict, bytes]:
    """A GET straight through ASGI, with header bytes no HTTP client library would send."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("t", 80)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def test_a_request_id_that_is_not_a_plain_token_is_replaced_not_fatal(sqlite_concord):
    app = create_app(sqlite_concord, background=False)
    token = sqlite_concord.bus.handle(IssueToken(user_id="hollandfoods"))["token"].encode()
    for given in (b"\xff\xfe", b"a\r\nb", b"x" * 41, b"quote\"it"):
        for path in ("/api/v1/me", "/api/v1/declarations"):
            status, headers, _ = _raw_get(app, path, [(b"x-request-id", given), (b"authorization", b"Bearer " + token)])
            assert status == 200 and headers[b"x-request-id"].startswith(b"req_"), (given, path, status)
        status, _, body = _raw_get(app, "/api/v1/me", [(b"x-request-id", given)])
        assert status == 401 and b'"unauthenticated"' in body
    status, headers, _ = _raw_get(app, "/api/v1/me", [(b"x-request-id", b"trace-7.a:b_c"), (b"authorization", b"Bearer " + token)])
    assert headers[b"x-request-id"] == b"trace-7.a:b_c"


def test_unknown_routes_and_methods_answer_in_the_error_tree(sqlite_concord):
    client = _client(sqlite_concord)
    root = client.get("/")
    assert root.status_code == 404 and root.json()["error"]["code"] == "not_found" and "/api/v1" in root.text
    wrong = client.delete("/api/v1/me")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["allow"]


def test_unknown_query_parameters_and_values_are_refused(concord):
    client, officer = _client(concord), _auth(concord, "cus-officer")
    cases = {
        "/api/v1/declarations?status=bogus": "/status",
        "/api/v1/declarations?stauts=open": "/stauts",
        "/api/v1/declarations?limit=100000": "/limit",
        f"/api/v1/declarations?offset={INT64_PAST}": "/offset",
        f"/api/v1/tasks?offset={INT64_PAST}": "/offset",
        "/api/v1/tasks?status=bogus": "/status",
        "/api/v1/agreements?status=bogus": "/status",
        "/api/v1/access-requests?status=bogus": "/status",
        f"/api/v1/inspection-results?offset={INT64_PAST}": "/offset",
        f"/api/v1/audit/entries/{INT64_PAST}": "/seq",
        f"/api/v1/audit/entries/{2**31}": "/seq",  # past PostgreSQL's INTEGER column
        f"/api/v1/audit/proofs/consistency?old=1&new={2**31}": "/new",
        f"/api/v1/audit/proofs/inclusion?seq={INT64_PAST}": "/seq",
        f"/api/v1/audit/proofs/consistency?old=1&new={INT64_PAST}": "/new",
        "/api/v1/declarations/DCL%00x": "/declaration_id",
        "/api/v1/declarations?status=open%00": "/status",
        "/api/v1/me?verbose=1": "/verbose",
    }
    for url, where in cases.items():
        r = client.get(url, headers=officer)
        assert r.status_code == 422, (url, r.status_code, r.text)
        assert where in [p["pointer"] for p in r.json()["error"]["problems"]], (url, r.text)
    r = client.post("/api/v1/declarations?dry_run=1", json=declaration(), headers=_auth(concord, "hollandfoods"))
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/dry_run"
    assert client.get("/api/v1/declarations?status=cleared&purpose=revenue_control", headers=officer).status_code == 200
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 0


def test_bodies_with_nul_or_not_utf8_are_refused_with_the_pointer(concord):
    client, trader = _client(concord), _auth(concord, "hollandfoods")
    did = client.post("/api/v1/declarations", json=declaration(), headers=trader).json()["id"]
    r = client.post(f"/api/v1/declarations/{did}/cancel", json={"reason": "ordered\u0000twice"}, headers=trader)
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/reason"
    r = client.post(f"/api/v1/declarations/{did}/cancel", content=b'{"reason": "\xff"}', headers=trader)
    assert r.status_code == 422 and "UTF-8" in r.json()["error"]["problems"][0]["message"]
    r = client.post(f"/api/v1/declarations/{did}/cancel", content=b'{"reason": "\\ud800"}', headers=trader)
    assert r.status_code == 422
    r = client.post("/api/v1/declarations", json=declaration(lrn="L2"), headers=trader | {"Idempotency-Key": "\u00e9t\u00e9".encode("latin-1")})
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["error"]["problems"][0]["message"]
    admin = _auth(concord, "admin")
    r = client.post("/api/v1/tokens", json={"user": "x" * 500}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/user"
    r = client.post("/api/v1/declarations", json=declaration(lrn="L3", transport={"mode": "sea", "conveyance": "IMO" + "9" * 40}),
                    headers=trader)
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/transport/conveyance"
    assert client.post(f"/api/v1/declarations/{did}/cancel", json={"reason": "ordered twice"}, headers=trader).status_code == 200


def test_configuration_that_is_not_utf8_or_explodes_is_refused(concord):
    client, admin = _client(concord), _auth(concord, "admin")
    r = client.put("/api/v1/config", content="agencies: [{name: Douane fran\u00e7aise}]".encode("latin-1"), headers=admin)
    assert r.status_code == 422 and "UTF-8" in r.json()["error"]["problems"][0]["message"]
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f'{chr(98 + i)}: &{chr(98 + i)} [' + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
    started = time.monotonic()
    r = client.put("/api/v1/config", content=bomb.encode(), headers=admin)
    assert r.status_code == 422 and "aliases" in r.json()["error"]["problems"][0]["message"]
    assert time.monotonic() - started < 2
    r = client.put("/api/v1/config", content=("[" * 5000 + "]" * 5000).encode(), headers=admin)
    assert r.status_code == 422 and "nested too deeply" in r.text
    r = client.put("/api/v1/config", content=b'agencies:\n  - {code: CUS, name: "Cus\\0toms", role: lead}\n', headers=admin)
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/agencies/0/name"
    r = client.put("/api/v1/config", content=b"x" * (1 << 20 | 1), headers=admin)
    assert r.status_code == 413


def test_inspection_results_answer_every_agency_when_decisions_carry_no_inspection(concord):
    client = _client(concord)
    shrimps = client.post("/api/v1/declarations", headers=_auth(concord, "hollandfoods"), json=declaration(
        lrn="SHRIMP", items=[item("030617", "Frozen shrimps", "VN"), item("080390", "Bananas", "EC", documents=["N851"])]))
    with concord.sessions() as s:
        tasks = {t.agency: t.id for t in s.scalars(select(AgencyTask).where(
            AgencyTask.declaration_id == shrimps.json()["id"]))}
    people = subjects(concord)
    for agency, user in (("NPPO", "nppo-officer"), ("VET", "vet-officer")):  # decisions without an inspection
        concord.bus.handle(DecideTask(task_id=tasks[agency], decision="approve", reason="documents in order"),
                           subject=people[user])
    for user in ("nppo-officer", "vet-officer", "cus-officer", "fda-officer", "pol-officer"):
        r = client.get("/api/v1/inspection-results", headers=_auth(concord, user))
        assert r.status_code == 200 and r.json()["total"] == 0, (user, r.text)


@pytest.mark.parametrize("body", [b'{"lrn": "\\u0000"}', b"\xff\xfe{}", b"{" * 10000])
def test_a_batch_line_nobody_can_store_fails_alone(sqlite_concord, body):
    import orjson

    client = _client(sqlite_concord)
    upload = orjson.dumps(declaration(lrn="OK-1")) + b"\n" + body + b"\n" + orjson.dumps(declaration(lrn="OK-2"))
    r = client.post("/api/v1/declarations/batch", content=upload, headers=_auth(sqlite_concord, "hollandfoods") | {
        "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and (r.json()["lodged"], r.json()["failed"]) == (2, 1), r.text
    with sqlite_concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "declaration:lodged")) == 2
