"""Console pages at the demo's size: server time per page (p50, p95) and page weight, beside the API's JSON read of
the same data in the same run (the cost of the page over the query it shows)."""

from __future__ import annotations

import gc
import re
import statistics
import tempfile
import time
from pathlib import Path

PASSWORD = "bench password 1234"


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


class Collections:
    """The garbage collector's pauses of 10 ms or more, noted as they end (a full collection holds the GIL: a
    request that meets one is slow for a reason no profile of the page shows)."""

    def __init__(self):
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif (took := time.perf_counter() - self._started) >= 0.01:
            self.pauses.append(round(took * 1000, 1))

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self)


def _timed(client, path: str, requests: int, headers=None, gcs: Collections | None = None) -> dict:
    """The first visit apart (templates compiled, statements cached, rows read from disk), then `requests`
    samples: p50, p95 and the slowest, and the collector's pauses that fell in them."""
    def one():
        start = time.perf_counter()
        r = client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.status_code)
        return time.perf_counter() - start, len(r.content)

    first, size = one()
    before = len(gcs.pauses) if gcs else 0
    times = [one()[0] for _ in range(requests)]
    out = {"first_visit_ms": round(first * 1000, 2), "p50_ms": _p(times, 0.5), "p95_ms": _p(times, 0.95),
           "max_ms": _p(times, 1.0), "bytes": size}
    if gcs and gcs.pauses[before:]:
        out["gc_pauses_ms"] = gcs.pauses[before:]
    return out


def _full_collection_ms() -> float:
    start = time.perf_counter()
    gc.collect()
    return round((time.perf_counter() - start) * 1000, 1)


def _bulk(app, count: int) -> float:
    """`count` more declarations of a broker, lodged as `concord declarations lodge` does (uploads of 1,000, group
    commits of 500); they stay pending, so their tasks stay open. Returns the seconds it took (untimed below)."""
    from sqlalchemy import select

    from concord.access.handlers import subject_for
    from concord.access.models import User
    from concord.bench.ingest import _bodies
    from concord.declarations.grouping import BULK_CHUNK, MAX_BATCH, lodge_batch

    with app.sessions() as s:
        broker = subject_for(s.scalars(select(User).where(User.id == "rotterdam-freight")).one(), app.lead_agency(s))
    start = time.perf_counter()
    for first in range(0, count, MAX_BATCH):
        prefix = b'"lrn": "BULK%d-' % first  # _bodies numbers each upload's LRNs from 0
        bodies = [b.replace(b'"lrn": "', prefix) for b in _bodies(min(MAX_BATCH, count - first), broker, seed=first)]
        assert lodge_batch(app.bus, broker, b"\n".join(bodies), BULK_CHUNK)["failed"] == 0
    return round(time.perf_counter() - start, 1)


def run(count: int = 240, requests: int = 40, seed: int = 7, bulk: int = 0) -> dict:
    """Lodge the demo's `count` declarations (and `bulk` more through the upload path), start the web app as
    `concord serve` does (warm-up, then the heap settled out of the collector's sight), then time every console
    page as the role that uses it: its first visit apart, then `requests` samples."""
    from fastapi.testclient import TestClient
    from sqlalchemy import insert, select

    from concord.access.messages import IssueToken
    from concord.app import create_app
    from concord.audit.models import AuditEntry
    from concord.clearance.models import TERMINAL, AgencyTask
    from concord.console.auth import set_password
    from concord.console.models import ConsoleAccount
    from concord.declarations.models import Declaration
    from concord.demo.run import Simulation

    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulation(Path(tmp) / "bench.db", seed)
        sim.run(count)
        app, web = sim.app, None
        try:
            bulk_seconds = _bulk(app, bulk) if bulk else None
            users = ("cus-officer", "nppo-officer", "hollandfoods", "nppo-liaison", "auditor")
            set_password(app, users[0], PASSWORD)
            with app.sessions() as s:
                first = s.get(ConsoleAccount, users[0])
                s.execute(insert(ConsoleAccount), [{"user_id": u, "password_hash": first.password_hash,
                                                    "totp_secret": None, "failures": 0, "locked_until": None,
                                                    "changed_at": first.changed_at} for u in users[1:]])
                s.commit()
                task = s.scalars(select(AgencyTask).where(AgencyTask.agency == "NPPO",
                                                          AgencyTask.status.not_in(TERMINAL))).first() or \
                    s.scalars(select(AgencyTask).where(AgencyTask.agency == "NPPO")).first()
                rare = s.get(Declaration, task.declaration_id).lrn  # one old declaration: the search reads them all
                seq = s.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
                open_tasks = {a: len(s.scalars(select(AgencyTask.id).where(
                    AgencyTask.agency == a, AgencyTask.status.not_in(TERMINAL))).all()) for a in ("CUS", "NPPO")}
            from concord.audit.checkpoints import Checkpointer, signer_from_settings

            Checkpointer(app.sessions, signer_from_settings(app.settings), app.clock).issue()
            # What a full collection of this process's heap costs when nothing settles it: the bench used to time
            # pages without the server's start-up, and its one slow sample per run was such a collection.
            unsettled_ms, thresholds = _full_collection_ms(), gc.get_threshold()
            web = TestClient(create_app(app, background=False))
            web.__enter__()  # the lifespan: warm_up and settle_heap, as in `concord serve`
            clients = {}
            for user in users:
                c = TestClient(web.app)
                page = c.get("/console/sign-in")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                c.post("/console/sign-in", data={"csrf": csrf, "user": user, "password": PASSWORD},
                       follow_redirects=False)
                clients[user] = c
            did = task.declaration_id
            trader_did = clients["hollandfoods"].get("/console/declarations").text
            trader_did = re.search(r'href="/console/declarations/([A-Za-z0-9]+)"', trader_did).group(1)
            pages = {
                "officer_queue (CUS)": ("cus-officer", "/console/tasks"),
                "officer_queue (NPPO)": ("nppo-officer", "/console/tasks"),
                "officer_task": ("nppo-officer", f"/console/tasks/{task.id}"),
                "search (CUS)": ("cus-officer", "/console/declarations?q=MSCU"),
                "search_one_old (CUS)": ("cus-officer", f"/console/declarations?q={rare}"),
                "declarations (CUS)": ("cus-officer", "/console/declarations"),
                "search (NPPO)": ("nppo-officer", "/console/declarations?q=MSCU"),
                "declarations (NPPO)": ("nppo-officer", "/console/declarations"),
                "declaration (CUS)": ("cus-officer", f"/console/declarations/{did}"),
                "trader_declarations": ("hollandfoods", "/console/declarations"),
                "trader_declaration": ("hollandfoods", f"/console/declarations/{trader_did}"),
                "trader_live_poll": ("hollandfoods", f"/console/declarations/{trader_did}/live"),
                "trader_lodge_form": ("hollandfoods", "/console/lodge"),
                "liaison_agreements": ("nppo-liaison", "/console/agreements"),
                "auditor_log": ("auditor", "/console/audit"),
                "auditor_entry_with_proof": ("auditor", f"/console/audit/{seq}"),
                "incident_board (NPPO)": ("nppo-officer", "/console/incidents"),
                "notices (NPPO)": ("nppo-officer", "/console/notices"),
                "liaison_access_report": ("nppo-liaison", "/console/access-report"),
                "trader_upload_form": ("hollandfoods", "/console/upload"),
            }
            token = {u: app.bus.handle(IssueToken(user_id=u))["token"] for u in ("cus-officer", "nppo-officer")}
            with Collections() as gcs:
                out = {name: _timed(clients[user], path, requests, gcs=gcs) for name, (user, path) in pages.items()}
                baseline = {
                    "api_tasks (NPPO)": _timed(web, "/api/v1/tasks?limit=25", requests,
                                               {"Authorization": f"Bearer {token['nppo-officer']}"}, gcs),
                    "api_declaration (CUS)": _timed(web, f"/api/v1/declarations/{did}", requests,
                                                    {"Authorization": f"Bearer {token['cus-officer']}"}, gcs),
                }
            served_ms = _full_collection_ms()
            assets = {name: len(web.get(f"/console/static/{name}").content)
                      for name in ("htmx-2.0.11.min.js", "console.css", "console.js", "proof.js")}
        finally:
            if web is not None:
                web.__exit__(None, None, None)
                gc.unfreeze()  # the start-up tuned the collector for a server; this process may go on (tests)
                gc.set_threshold(*thresholds)
            app.close()
    first_visit = max(v["bytes"] for v in out.values()) + assets["htmx-2.0.11.min.js"] + assets["console.css"]
    return {"declarations": count + bulk, "bulk_lodged": bulk, "bulk_seconds": bulk_seconds, "open_tasks": open_tasks,
            "requests_per_page": requests, "p95_is_the_slowest_sample": requests < 20, "pages": out,
            "baseline_api_json": baseline, "assets_bytes_uncompressed": assets,
            "heaviest_page_first_visit_bytes": first_visit,
            "p95_ms_worst_page": max(v["p95_ms"] for v in out.values()),
            "pages_p95_under_150_ms": sum(v["p95_ms"] < 150 for v in out.values()),
            "first_visit_ms_worst_page": max(v["first_visit_ms"] for v in out.values()),
            "gc_pauses_ms_while_timing": gcs.pauses,
            "full_collection_ms": {"unsettled_heap_before_start": unsettled_ms, "served_heap_after_timing": served_ms},
            "p50_ms_median_page": statistics.median(v["p50_ms"] for v in out.values()),
            "note": "in-process (TestClient), one thread, started through the app's lifespan like `concord serve`; "
                    "each page's first visit is reported apart from its samples; assets are served without "
                    "compression and cached a day"}
