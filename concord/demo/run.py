"""Runs the demo through the real handlers: traders lodge, officers decide, customs records arrival."""

from __future__ import annotations

import heapq
import random
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

from sqlalchemy import select

from concord.access.handlers import subject_for
from concord.access.models import User
from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clearance.messages import CheckDeadlines, DecideTask, SupplyDocuments
from concord.clearance.models import AgencyTask
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations.messages import AmendDeclaration, CancelDeclaration, RecordArrival, SubmitDeclaration
from concord.declarations.models import Declaration
from concord.demo.catalog import CATALOG, OFFICES, container_number, exporter, imo_number
from concord.errors import ConcordError

START = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
# Officer behaviour per task type: (decision, probability); an inspection happens after arrival.
FIRST_DECISION = {
    "document_check": [("approve", .82), ("approve_with_conditions", .04), ("request_documents", .10), ("hold", .02), ("refuse", .02)],
    "permit_check": [("approve", .80), ("request_documents", .14), ("require_inspection", .04), ("refuse", .02)],
    "inspection": [("approve", .84), ("approve_with_conditions", .08), ("refuse", .08)],
}
HOURS_TO_DECIDE = {"document_check": (1, 20), "permit_check": (2, 30), "inspection": (1, 6)}


def make_document(rng: random.Random, now: datetime, i: int, trader) -> dict:
    """A realistic declaration of goods from the catalogue, as the trader's system would send it."""
    lines = rng.choice((1, 1, 1, 2, 2, 3))
    goods = rng.sample(CATALOG, lines)
    mode = rng.choice(goods[0].modes)
    items = []
    for g in goods:
        quantity = rng.choice((10, 50, 100, 500, 1000, 5000, 20000)) if g.unit in ("KGM", "NAR", "PR") else rng.randint(5, 60)
        if g.eur_per_unit > 10000:
            quantity = rng.randint(1, 12)
        docs = [{"type": t, "reference": f"{t}-{rng.randrange(10**7):07d}"} for t in g.documents
                if rng.random() > 0.08]  # a few traders forget a certificate
        items.append({"hs_code": g.hs_code, "description": g.description, "origin": rng.choice(g.origins),
                      "quantity": str(quantity), "unit": g.unit,
                      "net_mass_kg": str(round(quantity * g.kg_per_unit * rng.uniform(0.9, 1.1), 2) or 1),
                      "value": {"amount": str(round(quantity * g.eur_per_unit * rng.uniform(0.7, 1.3), 2)),
                                "currency": "EUR"}, "documents": docs})
    party = {"id": trader.trader_id, "name": trader.user_id.replace("-", " ").title(), "country": trader.trader_id[:2],
             "address": "Waalhaven Zuidzijde 21, 3089 JH Rotterdam"}
    transport = {"mode": mode}
    if mode == "sea":
        transport |= {"conveyance": imo_number(rng), "containers": [container_number(rng) for _ in range(rng.randint(1, 3))]}
    elif mode == "air":
        transport |= {"conveyance": f"KL{rng.randint(100, 999)}"}
    return {"lrn": f"{trader.trader_id[-4:]}-{i:05d}", "type": "IM", "declarant": party, "importer": party,
            "exporter": exporter(items[0]["origin"], goods[0]), "office_of_entry": OFFICES[mode],
            "transport": transport, "arrival": (now + timedelta(hours=rng.randint(6, 72))).isoformat(),
            "items": items}


class Simulation:
    def __init__(self, database: Path, seed: int):
        for stale in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
            stale.unlink(missing_ok=True)  # a log left beside a replaced database would be replayed into it
        self.clock = FixedClock(START)
        self.app = bootstrap(Settings(database_url=f"sqlite:///{database}", var_dir=database.parent), clock=self.clock)
        self.app.bus.handle(LoadConfig(text=resources.files("concord.demo").joinpath("coordination.yaml").read_text(),
                                       source="demo config"))
        with self.app.sessions() as s:
            lead = self.app.lead_agency(s)
            users = s.scalars(select(User)).all()
        self.traders = [subject_for(u, lead) for u in users if u.trader_id]
        self.officers = {u.agency: subject_for(u, lead) for u in users if u.agency and "officer" in u.roles
                         and "supervisor" not in u.roles and u.id != "cus-analyst"}
        self.rng = random.Random(seed)
        # Customs' random control draws from the seed too, so the same seed gives the same figures.
        self.app.bus.deps["risk"].budget.rng = random.Random(seed + 1)
        self.queue: list = []
        self.seq = 0
        self.arrivals: dict[str, datetime] = {}

    def at(self, when: datetime, action, *args) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, action, args))

    def run(self, count: int) -> None:
        for i in range(count):
            self.at(START + timedelta(hours=i * 240 / count + self.rng.random()), self.lodge, i)
        end = START + timedelta(days=11)
        while self.queue and self.queue[0][0] <= end:
            when, _, action, args = heapq.heappop(self.queue)
            self.clock.set(max(when, self.clock.now()))
            action(*args)
        self.clock.set(end)
        self.app.bus.handle(CheckDeadlines())

    def lodge(self, i: int) -> None:
        trader = self.rng.choice(self.traders)
        doc = make_document(self.rng, self.clock.now(), i, trader)
        from concord.declarations.schemas import parse_declaration

        doc = parse_declaration(doc).model_dump(mode="json")
        result = self.app.bus.handle(SubmitDeclaration(document=doc), subject=trader)
        did = result["id"]
        arrival = datetime.fromisoformat(doc["arrival"])
        self.at(arrival, self.arrive, did)
        roll = self.rng.random()
        if roll < 0.02:
            self.at(self.clock.now() + timedelta(hours=2), self.cancel, did, trader)
        elif roll < 0.05:
            doc["items"][0]["description"] += " (corrected)"
            self.at(self.clock.now() + timedelta(hours=3), self.amend, did, trader, doc)
        self.schedule_open_tasks(did)

    def schedule_open_tasks(self, did: str) -> None:
        with self.app.sessions() as s:
            d = s.get(Declaration, did)
            tasks = s.scalars(select(AgencyTask).where(AgencyTask.declaration_id == did,
                                                       AgencyTask.declaration_version == d.version,
                                                       AgencyTask.status == "open")
                              .order_by(AgencyTask.agency, AgencyTask.id)).all()  # the seed's draws, in one order
        for t in tasks:
            lo, hi = HOURS_TO_DECIDE[t.task_type]
            self.at(self.clock.now() + timedelta(hours=self.rng.uniform(lo, hi)), self.decide, t.id, t.task_type, t.agency)

    def decide(self, task_id: str, task_type: str, agency: str, forced: str | None = None) -> None:
        with self.app.sessions() as s:
            task = s.get(AgencyTask, task_id)
            d = s.get(Declaration, task.declaration_id)
        if not task.open:
            return
        if task_type == "inspection" or task.status == "inspection_required":
            if d.arrived_at is None:  # inspect once the goods are there
                self.at(self.arrivals.get(d.id, self.clock.now()) + timedelta(hours=self.rng.uniform(1, 6)),
                        self.decide, task_id, task_type, agency, forced)
                return
        decision = forced or self.pick(FIRST_DECISION["inspection" if task.status == "inspection_required" else task_type])
        if task.status in ("held",) and decision in ("hold", "request_documents"):
            decision = "approve"
        if task_type == "inspection" or task.status == "inspection_required":
            inspect_jointly(self, d.id, agency, "irregular" if decision == "refuse" else "compliant")
        reason = {"approve": "checked; compliant", "approve_with_conditions": "release under conditions",
                  "request_documents": "certificate missing or illegible", "hold": "held pending verification",
                  "require_inspection": "documents inconsistent with goods; inspect", "refuse": "not admissible: "
                  "requirements not met"}[decision]
        cmd = DecideTask(task_id=task_id, decision=decision, reason=reason,
                         conditions=["store under bond until lab results"] if decision == "approve_with_conditions" else [],
                         documents=["N851"] if decision == "request_documents" else [],
                         inspection={"result": "irregular" if decision == "refuse" else "compliant", "findings": reason}
                         if task_type == "inspection" or task.status == "inspection_required" else None)
        try:
            self.app.bus.handle(cmd, subject=self.officers[agency])
        except ConcordError:
            return
        if decision == "request_documents":
            self.at(self.clock.now() + timedelta(hours=self.rng.uniform(3, 24)), self.supply, d.id, task_id, task_type, agency)
        elif decision in ("hold", "require_inspection"):
            self.at(self.clock.now() + timedelta(hours=self.rng.uniform(4, 24)), self.decide, task_id, task_type, agency,
                    "approve" if self.rng.random() < 0.85 else "refuse")

    def supply(self, did: str, task_id: str, task_type: str, agency: str) -> None:
        with self.app.sessions() as s:  # closed at once: a session left open holds a pooled connection
            owner = s.get(Declaration, did).trader_id
        trader = next(t for t in self.traders if t.trader_id == owner)
        try:
            self.app.bus.handle(SupplyDocuments(declaration_id=did, task_id=task_id, documents=[
                {"type": "N851", "reference": f"N851-{self.rng.randrange(10**7):07d}"}]), subject=trader)
        except ConcordError:
            return
        self.at(self.clock.now() + timedelta(hours=self.rng.uniform(1, 8)), self.decide, task_id, task_type, agency,
                "approve" if self.rng.random() < 0.9 else "refuse")

    def arrive(self, did: str) -> None:
        self.arrivals[did] = self.clock.now()
        try:
            self.app.bus.handle(RecordArrival(declaration_id=did), subject=self.officers["CUS"])
        except ConcordError:
            pass
        self.at(self.clock.now() + timedelta(hours=self.rng.uniform(4, 30)), self.leave, did, 0)

    def leave(self, did: str, tries: int) -> None:
        """The goods leave the terminal once released (the TRS study's last milestone); until then, look again."""
        from concord.trs.messages import RecordExit

        try:
            self.app.bus.handle(RecordExit(declaration_id=did), subject=self.officers["CUS"])
        except ConcordError:
            if tries < 10:
                self.at(self.clock.now() + timedelta(hours=12), self.leave, did, tries + 1)

    def cancel(self, did: str, trader) -> None:
        try:
            self.app.bus.handle(CancelDeclaration(declaration_id=did, reason="order cancelled by the buyer"), subject=trader)
        except ConcordError:
            pass

    def amend(self, did: str, trader, doc: dict) -> None:
        try:
            self.app.bus.handle(AmendDeclaration(declaration_id=did, document=doc), subject=trader)
        except ConcordError:
            return
        self.schedule_open_tasks(did)

    def pick(self, choices) -> str:
        r, acc = self.rng.random(), 0.0
        for decision, p in choices:
            acc += p
            if r < acc:
                return decision
        return choices[0][0]


def inspect_jointly(sim, did: str, agency: str, result: str) -> None:
    """Where Concord proposed a joint inspection, the invited agencies accept it, customs moves the goods to the bay
    once, and each agency records its own finding before it decides (docs/inspections.md)."""
    from concord.inspections.messages import AnswerInvitation, RecordFinding, StartInspection
    from concord.inspections.models import InspectionInvitation, JointInspection

    with sim.app.sessions() as s:
        insp = s.scalars(select(JointInspection).where(JointInspection.declaration_id == did, JointInspection.status.in_(
            ("proposed", "confirmed", "in_progress")))).first()
        invited = [] if insp is None else s.scalars(select(InspectionInvitation).where(
            InspectionInvitation.inspection_id == insp.id).order_by(InspectionInvitation.agency)).all()
    if insp is None or agency not in {i.agency for i in invited}:
        return
    try:
        for inv in invited:
            if inv.status == "invited":
                sim.app.bus.handle(AnswerInvitation(inspection_id=insp.id, accept=True), subject=sim.officers[inv.agency])
        sim.app.bus.handle(StartInspection(inspection_id=insp.id), subject=sim.officers["CUS"])
        sim.app.bus.handle(RecordFinding(inspection_id=insp.id, result=result, findings=f"{agency}: goods examined",
                                         seals_before=[f"SEAL-{did[-6:]}"], seals_after=[f"{agency}-{did[-6:]}"]),
                           subject=sim.officers[agency])
    except ConcordError:
        pass


def run_demo(database: Path, count: int, seed: int) -> dict:
    """Run the demo into a fresh database and return its summary."""
    from concord.demo.stories import enforcement, trs_headline
    from concord.demo.summary import audit_summary, summarize

    sim = Simulation(database, seed)
    try:
        sim.run(count)
        summary = summarize(sim.app) | {"trs": trs_headline(sim.app)}
        summary |= {"enforcement": enforcement(sim.app, sim.clock)}  # after the TRS: it moves the clock on
        return summary | {"audit_log": audit_summary(sim.app), "database": str(database)}
    finally:
        sim.app.close()
