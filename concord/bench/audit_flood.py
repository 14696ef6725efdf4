"""Log growth under a flood: audit entries written per refused token and per denied read, and requests/s meanwhile.

    concord bench audit-flood [--requests 5000]

Runs the API in-process (Starlette's test client) on a fresh SQLite hub with the demo config. Each figure is
entries written for the requests sent: before the counted summaries it was one entry per refused token.
"""

import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from concord.access.messages import IssueToken
from concord.agencies.messages import LoadConfig
from concord.app import create_app
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings


def _count(app, where: str) -> int:
    with app.sessions() as s:
        return s.scalar(text(f"SELECT count(*) FROM audit_entries WHERE {where}"))


def run(requests: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FixedClock()
        app = bootstrap(Settings(database_url=f"sqlite:///{Path(tmp) / 'flood.db'}", var_dir=Path(tmp)), clock=clock)
        from importlib import resources

        app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text(),
                                  source="demo"))
        client = TestClient(create_app(app, background=False))
        bad = {"Authorization": "Bearer cnc_flood"}
        t0 = time.perf_counter()
        codes: dict = {}
        for i in range(requests):
            r = client.post("/api/v1/declarations", json={}, headers=bad) if i % 2 else client.get("/api/v1/me",
                                                                                                  headers=bad)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
        refused_s = time.perf_counter() - t0
        clock.advance(seconds=app.settings.audit_summary_window_s + 1)
        app.periodic["audit-summaries"][1]()
        refused_entries = _count(app, "action = 'auth:token:refused'")

        police = {"Authorization": f"Bearer {app.bus.handle(IssueToken(user_id='pol-officer'))['token']}"}
        t0 = time.perf_counter()
        for i in range(requests):
            client.get(f"/api/v1/declarations/DCL{i:020d}", headers=police)
        denied_s = time.perf_counter() - t0
        clock.advance(seconds=app.settings.audit_summary_window_s + 1)
        app.periodic["audit-summaries"][1]()
        denied_entries = _count(app, "outcome = 'denied'")
        app.close()
    return {"refused_token_requests": requests, "answers": codes, "refused_entries": refused_entries,
            "refused_requests_per_s": round(requests / refused_s), "denied_reads": requests,
            "denied_entries": denied_entries, "denied_reads_per_s": round(requests / denied_s),
            "entries_before_this_change": {"refused": requests, "denied": 0}}

