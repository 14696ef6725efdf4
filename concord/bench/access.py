"""Cost of the access check on a single read: authorize + redaction, beside the same read without it."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from concord.access.handlers import subject_for
from concord.access.models import User
from concord.access.policy import authorize
from concord.access.redaction import redact
from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.bench.ingest import _bodies
from concord.declarations.messages import LodgeGroup
from concord.declarations.models import Declaration, DeclarationVersion
from concord.declarations.schemas import declaration_document

CASES = {  # who reads, for which purpose: one case per basis of the rule
    "lead agency (role)": ("cus-officer", None),
    "engaged partner (routing rule view)": ("nppo-officer", None),
    "agreement (police, criminal investigation)": ("pol-officer", "criminal_investigation"),
    "denied (not engaged, no agreement)": ("std-officer", "product_safety"),
}


def _percentiles(samples: list[float]) -> dict:
    q = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(statistics.median(samples) * 1e3, 4), "p99_ms": round(q[98] * 1e3, 4)}


def run(declarations: int = 2000, reads: int = 5000) -> dict:
    """Measure the check per case and the plain read as the baseline, in the same run."""
    from importlib import resources

    with tempfile.TemporaryDirectory() as tmp:
        app = bootstrap(Settings(database_url=f"sqlite:///{Path(tmp) / 'access.db'}", var_dir=Path(tmp)))
        app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text()))
        with app.sessions() as s:
            users = {u.id: subject_for(u, "CUS") for u in s.scalars(select(User))}
        trader = users["rotterdam-freight"]
        bodies = _bodies(declarations, trader)
        for i in range(0, declarations, 500):
            app.bus.handle(LodgeGroup(items=[(trader, declaration_document(b), None)
                                             for b in bodies[i:i + 500]]))
        with app.sessions() as s:
            ids = s.scalars(select(Declaration.id)).all()
            results = {}
            plain = []
            for n in range(reads):  # baseline: the read itself, no check
                t0 = time.perf_counter()
                d = s.get(Declaration, ids[n % len(ids)])
                s.get(DeclarationVersion, (d.id, d.version)).document
                plain.append(time.perf_counter() - t0)
            results["read without check (baseline)"] = _percentiles(plain)
            for case, (user, purpose) in CASES.items():
                checks, allowed = [], 0
                for n in range(reads):
                    d = s.get(Declaration, ids[n % len(ids)])
                    doc = s.get(DeclarationVersion, (d.id, d.version)).document
                    t0 = time.perf_counter()
                    decision = authorize(users[user], "read", d, purpose, session=s, access=app.access)
                    if decision.allowed:
                        redact(doc, decision.view)
                        allowed += 1
                    checks.append(time.perf_counter() - t0)
                results[case] = _percentiles(checks) | {"allowed_share": round(allowed / reads, 3)}
        app.close()
    worst = max(v["p99_ms"] for k, v in results.items() if k != "read without check (baseline)")
    return {"declarations": declarations, "reads_per_case": reads, "cases": results,
            "worst_check_p99_ms": worst, "goal": "the check adds under 0.2 ms p99 to a single read"}
