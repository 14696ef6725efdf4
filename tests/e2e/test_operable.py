"""Operable: liveness, readiness, metrics behind the access rule, JSON logs with the request id."""

from __future__ import annotations

import json

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import text

from crashing import Hub
from support import declaration


def test_health_metrics_for_administrators_only_and_json_logs(tmp_path):
    hub = Hub(tmp_path, users=("admin", "nppo-officer", "cus-officer", "nppo-liaison"), CONCORD_LOG_FORMAT="json",
              CONCORD_ACCESS_LOG="true")
    port = hub.serve()
    try:
        c = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        auth = {u: {"Authorization": f"Bearer {t}"} for u, t in hub.tokens.items()}
        assert c.get("/healthz").json()["status"] == "ok"
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
        r = c.post("/api/v1/declarations", json=declaration(lrn="OPS-1"),
                   headers=auth["hollandfoods"] | {"X-Request-Id": "req-ops-lodging-1"})
        assert r.status_code == 201, r.text
        lodged = r.json()["id"]
        assert c.get(f"/api/v1/declarations/{lodged}", headers=auth["hollandfoods"]).status_code == 200

        # Metrics leave the hub: the lead agency's administrators read them; nobody else, not even an agency's
        assert c.get("/metrics").status_code == 401
        for user in ("nppo-officer", "nppo-liaison", "cus-officer", "hollandfoods"):
            refused = c.get("/metrics", headers=auth[user])
            assert refused.status_code == 403, (user, refused.text)
            assert "concord_" not in refused.text
        scraped = c.get("/metrics", headers=auth["admin"])
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        body = scraped.text
        assert "concord_lodgings_total 1" in body
        assert 'concord_http_requests_total{method="POST",route="/api/v1/declarations",status="201"} 1' in body
        assert 'route="/api/v1/declarations/{declaration_id}"' in body  # the template, never the id
        assert "concord_lanes_total{lane=" in body and "concord_outbox_lag_seconds" in body
        assert "concord_audit_checkpoint_age_seconds" in body and "concord_sse_streams_open 0" in body
        assert lodged not in body and "NL823456781" not in body and "NPPO" not in body
        for line in body.splitlines():  # every series parses as name{labels} value
            if not line.startswith("#"):
                float(line.rsplit(" ", 1)[1])
    finally:
        hub.stop()
    lines = [json.loads(line) for line in (tmp_path / f"serve-{port}.log").read_text().splitlines()
             if line.startswith("{")]
    assert any(e.get("request_id") == "req-ops-lodging-1" for e in lines), lines[-5:]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in lines)


def test_readyz_says_what_is_not_ready(tmp_path):
    """A schema behind the code is not ready (503, and what to run); one ahead of it is (expand-then-contract)."""
    from concord.app import create_app
    from concord.bootstrap import bootstrap
    from concord.config import Settings

    hub = bootstrap(Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'concord.db'}"))
    try:
        with TestClient(create_app(hub, background=False)) as client:
            assert client.get("/readyz").status_code == 200
            with hub.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = '0010'"))
            behind = client.get("/readyz")
            assert behind.status_code == 503 and behind.json()["status"] == "not ready"
            assert "concord db upgrade" in behind.json()["checks"]["migrations"]
            with hub.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = '9999_a_newer_release'"))
            assert client.get("/readyz").status_code == 200
    finally:
        hub.close()


def test_readyz_and_metrics_on_postgresql(tmp_path, pg_url):
    """The same probes and gauges on the production database (in-process: the queries are what differs)."""
    from concord.access.messages import IssueToken
    from concord.agencies.messages import LoadConfig
    from concord.app import create_app
    from concord.bootstrap import bootstrap
    from concord.config import Settings
    from support import demo_config_text

    hub = bootstrap(Settings(var_dir=tmp_path, database_url=pg_url))
    try:
        hub.bus.handle(LoadConfig(text=demo_config_text(), source="demo config"))
        admin = hub.bus.handle(IssueToken(user_id="admin"))["token"]
        trader = hub.bus.handle(IssueToken(user_id="hollandfoods"))["token"]
        with TestClient(create_app(hub, background=False)) as client:
            assert client.get("/readyz").json() == {"status": "ready", "checks": {"database": "ok",
                                                                                  "migrations": "ok"}}
            assert client.post("/api/v1/declarations", json=declaration(lrn="OPS-PG"),
                               headers={"Authorization": f"Bearer {trader}"}).status_code == 201
            body = client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).text
            assert "concord_outbox_unpublished_events" in body and "concord_audit_unsigned_entries" in body
            assert client.get("/metrics", headers={"Authorization": f"Bearer {trader}"}).status_code == 403
    finally:
        hub.close()


def _series(body: str, name: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
            if line.startswith(name)}


def test_a_scrape_of_two_workers_counts_both(tmp_path, pg_url):
    """`concord serve --workers 2` on PostgreSQL: whichever worker a scrape reaches, it counts every lodging of
    both (each worker publishes its counters; the one scraped adds the others'), says two workers report, and
    shows the memory of each and of the relay process."""
    import subprocess
    import time

    from crashing import CONCORD, free_port

    hub = Hub(tmp_path, pg_url, users=("admin",))
    port = free_port()
    log = open(tmp_path / "serve.log", "ab")
    server = subprocess.Popen([CONCORD, "serve", "--port", str(port), "--workers", "2"], env=hub.env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        trader = {"Authorization": f"Bearer {hub.tokens['hollandfoods']}"}
        admin = {"Authorization": f"Bearer {hub.tokens['admin']}"}

        def scrape() -> str:
            return httpx.get(f"{base}/metrics", headers=admin | {"Connection": "close"}, timeout=30).text

        deadline = time.monotonic() + 120
        while True:  # both workers up: each has published its counters once
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "two workers did not report within 120 s"
            try:
                if _series(scrape(), "concord_workers_reporting").get("concord_workers_reporting") == 2:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        lodged = 0
        for i in range(40):  # a new connection each: the kernel hands them to either worker
            r = httpx.post(f"{base}/api/v1/declarations", json=declaration(lrn=f"MW-{i}"),
                           headers=trader | {"Connection": "close"}, timeout=30)
            assert r.status_code == 201, r.text
            lodged += 1
        time.sleep(2.5)  # each worker publishes every second
        for _ in range(6):  # whichever worker answers
            body = scrape()
            assert _series(body, "concord_lodgings_total") == {"concord_lodgings_total": lodged}, body
            posted = _series(body, 'concord_http_requests_total{method="POST",route="/api/v1/declarations"')
            assert sum(posted.values()) == lodged
            assert _series(body, "concord_workers_reporting") == {"concord_workers_reporting": 2}  # not the relay
            memory = _series(body, "concord_process_resident_memory_bytes{")
            # each worker's by its pid, and the relay process's (started beside them on PostgreSQL)
            assert len(memory) == 3 and memory['concord_process_resident_memory_bytes{worker="relay"}'] > 0, memory
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
