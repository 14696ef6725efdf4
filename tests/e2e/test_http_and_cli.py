"""The five-minute tour of the README, for real: the CLI loads config and issues tokens, uvicorn serves."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support import declaration, demo_config_text, item

CONCORD = str(Path(sys.executable).parent / "concord")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    """The server as deployed: SQLite by default, PostgreSQL (the production path) where it answers."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""
    env = {**os.environ, "CONCORD_VAR_DIR": str(tmp_path), "CONCORD_DATABASE_URL": url}
    run = lambda *args: subprocess.run([CONCORD, *args], env=env, capture_output=True, text=True, timeout=120)
    config = tmp_path / "coordination.yaml"
    config.write_text(demo_config_text())  # random selection off: the tour's lanes are deterministic
    assert run("db", "upgrade").returncode == 0
    loaded = run("config", "load", str(config))
    assert loaded.returncode == 0, loaded.stderr
    tokens = {}
    for user in ("hollandfoods", "eurotech", "nppo-officer", "cus-officer", "pol-officer", "cus-liaison"):
        out = run("tokens", "issue", user)
        assert out.returncode == 0, out.stderr
        tokens[user] = out.stdout.strip()
        tokens[user + ":id"] = out.stderr.split("token id ")[1].split()[0]
    port = free_port()
    proc = subprocess.Popen([CONCORD, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield base, tokens, run
    proc.terminate()
    proc.wait(timeout=10)


def test_tour(server):
    base, tokens, run = server
    h = {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items() if ":" not in u}
    c = httpx.Client(base_url=base, timeout=10)

    assert c.get("/api/v1/me").status_code == 401
    doc = declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"])])
    r = c.post("/api/v1/declarations", json=doc, headers=h["hollandfoods"] | {"Idempotency-Key": "tour-1"})
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    assert c.post("/api/v1/declarations", json=doc, headers=h["hollandfoods"] | {"Idempotency-Key": "tour-1"}).status_code == 200

    bad = declaration(lrn="bad", items=[item("12", "x", "ZZ")])
    bad["transport"]["containers"] = ["MSCU1234567"]
    r = c.post("/api/v1/declarations", json=bad, headers=h["hollandfoods"])
    assert r.status_code == 422
    pointers = {p["pointer"] for p in r.json()["error"]["problems"]}
    assert {"/items/0/hs_code", "/items/0/origin", "/transport/containers/0"} <= pointers
    r = c.post("/api/v1/declarations", content=b"{not json", headers=h["hollandfoods"] | {"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["problems"]

    assert c.get(f"/api/v1/declarations/{did}", headers=h["eurotech"]).status_code == 404
    assert c.get(f"/api/v1/declarations/{did}", headers=h["pol-officer"]).status_code == 404
    mine = c.get(f"/api/v1/declarations/{did}", headers=h["hollandfoods"]).json()
    assert mine["status"] == "under_control" and "lane" not in mine
    assert any("Plant Protection" in p for p in mine["pending"])

    queue = c.get("/api/v1/tasks", headers=h["nppo-officer"]).json()
    (task,) = [t for t in queue["items"] if t["declaration_id"] == did]
    assert task["reasons"][0]["legal_basis"].startswith("Regulation (EU) 2016/2031")
    r = c.post(f"/api/v1/tasks/{task['task_id']}/decisions", json={"decision": "approve", "reason": "certificate valid"},
               headers=h["nppo-officer"])
    assert r.status_code == 200, r.text
    r = c.post(f"/api/v1/tasks/{task['task_id']}/decisions", json={"decision": "refuse", "reason": "late"},
               headers=h["nppo-officer"])
    assert r.status_code == 409
    r = c.post(f"/api/v1/declarations/{did}/arrival", json={}, headers=h["cus-officer"])
    assert r.json()["status"] == "released"

    events = [e["event"] for e in c.get(f"/api/v1/declarations/{did}/timeline", headers=h["hollandfoods"]).json()["events"]]
    assert events[0] == "declaration.lodged" and events[-1] == "declaration.released"
    assert "/api/v1/declarations" in c.get("/openapi.json").json()["paths"]

    assert c.get("/api/v1/me", headers=h["eurotech"]).json()["trader_id"] == "DE345678912"
    assert run("tokens", "revoke", tokens["eurotech:id"]).returncode == 0
    assert c.get("/api/v1/me", headers=h["eurotech"]).status_code == 401  # refused from the next request on


def test_sharing_under_an_agreement_is_reported_to_the_provider(server):
    base, tokens, run = server
    h = {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items() if ":" not in u}
    c = httpx.Client(base_url=base, timeout=10)
    doc = declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"])])
    did = c.post("/api/v1/declarations", json=doc, headers=h["hollandfoods"]).json()["id"]

    assert c.get(f"/api/v1/declarations/{did}", headers=h["pol-officer"]).status_code == 404  # no purpose
    r = c.get(f"/api/v1/declarations/{did}", headers=h["pol-officer"] | {"Concord-Purpose": "curiosity"})
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/purpose"
    r = c.get(f"/api/v1/declarations/{did}", headers=h["pol-officer"] | {"Concord-Purpose": "criminal_investigation"})
    assert r.status_code == 200 and r.json()["access_basis"] == "agreement:MOU-CUS-POL-2026/v1"
    listed = c.get("/api/v1/declarations", params={"purpose": "criminal_investigation"}, headers=h["pol-officer"]).json()
    assert listed["total"] == 1

    assert c.get("/api/v1/access-reports", params={"agency": "CUS"}, headers=h["pol-officer"]).status_code == 403
    report = c.get("/api/v1/access-reports", params={"agency": "CUS", "format": "csv"}, headers=h["cus-liaison"])
    lines = report.text.strip().splitlines()
    assert lines[0].startswith("seq,at,actor,agency,action,resource,purpose,agreement")
    reads = [line for line in lines[1:] if "declaration:read" in line and ",ok," in line]
    assert len(reads) == 2 and all("pol-officer" in r and "MOU-CUS-POL-2026/v1" in r for r in reads)
    denied = [line for line in lines[1:] if "declaration:read" in line and ",denied," in line]
    assert len(denied) == 1 and "pol-officer" in denied[0]  # the read without a purpose, as a denial

    shown = run("declarations", "show", did, "--as", "pol-officer", "--purpose", "criminal_investigation")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["document"]["items"] == [{"hs_code": "080390", "origin": "EC"}]
    hidden = run("declarations", "show", did, "--as", "std-officer", "--purpose", "product_safety")
    assert hidden.returncode == 2 and "not found" in hidden.stderr


def test_a_shift_of_declarations_from_a_file(server, tmp_path):
    """`concord declarations lodge FILE --as USER`: the batch upload on the hub; the server then serves them."""
    base, tokens, run = server
    shift = tmp_path / "shift.ndjson"
    good = [declaration(lrn=f"SHIFT-{i}", declarant=declaration()["declarant"] | {"id": "DE345678912"})
            for i in range(3)]
    bad = declaration(lrn="SHIFT-BAD", declarant=good[0]["declarant"], office_of_entry="rotterdam")
    shift.write_text("\n".join(json.dumps(d) for d in [*good, bad]) + "\n")
    out = run("declarations", "lodge", str(shift), "--as", "eurotech")
    assert out.returncode == 1, out.stderr  # one line failed: the exit status says so
    answer = json.loads(out.stdout)
    assert (answer["lodged"], answer["failed"]) == (3, 1)
    assert answer["results"][3]["line"] == 4 and answer["results"][3]["error"]["problems"][0]["pointer"] == "/office_of_entry"
    listed = httpx.get(f"{base}/api/v1/declarations", headers={"Authorization": f"Bearer {tokens['eurotech']}"}).json()
    assert {d["lrn"] for d in listed["items"]} >= {"SHIFT-0", "SHIFT-1", "SHIFT-2"}
