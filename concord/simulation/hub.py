"""One scenario's hub: a real Concord on its own database, driven through `app.bus` with the simulation's clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import yaml
from sqlalchemy import func, select

from concord.access.handlers import subject_for
from concord.access.models import User
from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clearance.messages import DecideTask
from concord.clearance.models import AgencyTask
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations.messages import RecordArrival, SubmitDeclaration
from concord.declarations.models import Declaration
from concord.declarations.schemas import parse_declaration
from concord.risk.messages import AddWatchlistEntry

HOUR = timedelta(hours=1)
REASONS = {"approve": "documents checked; compliant", "require_inspection": "documents raise doubts; examine the goods",
           "approve_with_conditions": "irregularity found at examination: duties reassessed, penalty notified"}


def scenario_config(traders, *, random_rate: float, profiles: bool, facility: dict | None = None) -> str:
    """The demo's agencies, routing rules and agreements; the port's traders; the scenario's selection; the port's
    inspection facility (the demo's four bays are a fraction of what a port of this volume runs)."""
    config = yaml.safe_load(resources.files("concord.demo").joinpath("coordination.yaml").read_text())
    if facility is not None:
        config["inspection_facilities"] = [facility] + [f for f in config.get("inspection_facilities") or ()
                                                        if facility["offices"][0] not in f["offices"]]
    config["users"] += [{"id": t.user_id, "name": t.name, "trader": {"id": t.trader_id, "name": t.name},
                         "roles": ["trader"]} for t in traders]
    risk = config["risk"]
    risk["random_inspection_rate"] = random_rate
    risk["lanes"]["exploration_lane"] = "red"  # a control drawn at random is a physical examination
    if not profiles:
        risk["profiles"] = []
    return yaml.safe_dump(config, sort_keys=False)


def scratch_database(engine) -> None:
    """A simulation's database is scratch, not a record: no write-ahead log and no sync to disk (a crash loses a run
    that is rerun from its seed). Commits stop waiting on the file system; every handler still runs as in production."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _scratch(dbapi_conn, _):  # runs after db.py's pragmas, so it overrides WAL and synchronous=NORMAL
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=MEMORY")  # a rollback still works; nothing is written beside the database
        cur.execute("PRAGMA synchronous=OFF")
        cur.close()

    engine.dispose()  # the connections the migrations opened reconnect with these pragmas


class Hub:
    """The product under test: lodgements, officers' decisions and arrivals go through its command handlers."""

    def __init__(self, database: Path, start: datetime, traders, *, random_rate: float, profiles: bool,
                 watchlisted=(), seed: int = 0, facility: dict | None = None):
        for stale in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
            stale.unlink(missing_ok=True)
        self.start = start
        self.clock = FixedClock(start - timedelta(days=7))  # the config and intelligence predate the first call
        self.app = bootstrap(Settings(database_url=f"sqlite:///{database}", var_dir=database.parent), clock=self.clock)
        scratch_database(self.app.engine)
        import random

        self.app.risk.budget.rng = random.Random(seed)  # customs' random draw is part of the seeded run
        self.app.bus.handle(LoadConfig(text=scenario_config(traders, random_rate=random_rate, profiles=profiles,
                                                            facility=facility), source="port simulation"))
        with self.app.sessions() as s:
            lead = self.app.lead_agency(s)
            users = {u.id: subject_for(u, lead) for u in s.scalars(select(User))}
        self.traders = {t.user_id: users[t.user_id] for t in traders}
        self.officers = {u.agency: u for u in users.values()
                         if u.agency and u.has("officer") and not u.has("supervisor") and u.user_id != "cus-analyst"}
        for t in watchlisted:
            self.app.bus.handle(AddWatchlistEntry(entry={
                "kind": "party", "value": {"identifier": t.trader_id, "name": t.name},
                "reason": "past irregularities and intelligence on undervaluation", "severity": "high",
                "expires_at": (start + timedelta(days=400)).isoformat()}), subject=self.officers["CUS"])

    def at(self, hours: float) -> None:
        self.clock.set(max(self.clock.now(), self.start + timedelta(hours=hours)))

    def lodge(self, hours: float, consignment, expected_arrival_h: float) -> tuple[str, list[tuple[str, str, str]]]:
        """The trader lodges; returns the declaration and its open tasks (id, agency, task type)."""
        self.at(hours)
        doc = dict(consignment.document, arrival=(self.start + timedelta(hours=expected_arrival_h)).isoformat())
        doc = parse_declaration(doc).model_dump(mode="json")
        did = self.app.bus.handle(SubmitDeclaration(document=doc), subject=self.traders[consignment.trader.user_id])["id"]
        with self.app.sessions() as s:
            tasks = s.execute(select(AgencyTask.id, AgencyTask.agency, AgencyTask.task_type)
                              .where(AgencyTask.declaration_id == did, AgencyTask.status == "open")).all()
        return did, sorted((tuple(t) for t in tasks), key=lambda t: (t[1], t[2]))  # stable whatever the ids

    def lodge_group(self, hours: float, consignments) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """The traders' lodgings of one instant as one group commit; per consignment its declaration and open tasks."""
        from concord.declarations.messages import LodgeGroup
        from concord.errors import ConcordError

        self.at(hours)
        items = []
        for c in consignments:
            doc = dict(c.document, arrival=(self.start + timedelta(hours=c.arrival_h)).isoformat())
            items.append((self.traders[c.trader.user_id], parse_declaration(doc).model_dump(mode="json"), None))
        results = self.app.bus.handle(LodgeGroup(items=items))
        if refused := next((r for r in results if isinstance(r, ConcordError)), None):
            raise refused  # the simulation's documents are valid: a refusal is a fault to see, not to skip
        ids = [r["id"] for r in results]
        tasks: dict = {i: [] for i in ids}
        with self.app.sessions() as s:
            for row in s.execute(select(AgencyTask.declaration_id, AgencyTask.id, AgencyTask.agency,
                                        AgencyTask.task_type).where(AgencyTask.declaration_id.in_(ids),
                                                                    AgencyTask.status == "open")):
                tasks[row[0]].append(tuple(row[1:]))
        return [(i, sorted(tasks[i], key=lambda t: (t[1], t[2]))) for i in ids]  # stable whatever the ids

    def arrive(self, hours: float, did: str) -> None:
        self.at(hours)
        self.app.bus.handle(RecordArrival(declaration_id=did), subject=self.officers["CUS"])

    def decide(self, hours: float, task_id: str, agency: str, decision: str, inspection: dict | None = None) -> None:
        self.at(hours)
        self.app.bus.handle(DecideTask(task_id=task_id, decision=decision, reason=REASONS[decision],
                                       conditions=["pay the reassessed duties and the penalty"]
                                       if decision == "approve_with_conditions" else [],
                                       inspection=inspection), subject=self.officers[agency])

    def releases(self) -> dict[str, datetime]:
        """Declaration id -> release time, as the hub recorded it."""
        with self.app.sessions() as s:
            return {i: r for i, r in s.execute(select(Declaration.id, Declaration.released_at))}

    def counts(self) -> dict:
        from concord.audit.models import AuditEntry

        with self.app.sessions() as s:
            return {"declarations": s.scalar(select(func.count()).select_from(Declaration)),
                    "tasks": s.scalar(select(func.count()).select_from(AgencyTask)),
                    "audit_entries": s.scalar(select(func.count()).select_from(AuditEntry))}

    def trs(self, until: datetime) -> dict | None:
        """The product's own time release figures over the run (concord/trs), as customs sees them."""
        from importlib.util import find_spec

        if find_spec("concord.trs") is None:
            return None
        from concord.access.identity import Subject
        from concord.trs.queries import trs_report

        with self.app.sessions() as s:
            lead = Subject("port-simulation", self.app.lead_agency(s), None, frozenset({"auditor"}), lead=True)
            rep = trs_report(s, lead, self.start - timedelta(days=7), until, as_of=self.clock.now(), access=self.app.access)
        a2r = rep["arrival_to_release_hours"]
        return {"median_hours_arrival_to_release": a2r.get("median"), "p90_hours_arrival_to_release": a2r.get("p90"),
                "released_on_arrival_share": rep["released_on_arrival"]["share"],
                "lodged_before_arrival_share": rep["lodged_before_arrival"]["share"],
                "longest_holder": rep["longest_holder"]}

    def close(self) -> None:
        self.app.close()


class JointInspections:
    """The coordinated port's one bay visit through the product's joint inspections (concord/inspections)."""

    def __init__(self, hub: Hub):
        self.hub = hub

    @staticmethod
    def available() -> bool:
        from importlib.util import find_spec

        return find_spec("concord.inspections") is not None and find_spec("concord.inspections.messages") is not None

    def open(self, hours: float, did: str, ready_h: float) -> tuple[str, list[str], float]:
        """Customs asks for the inspection, not before the box can be at the bay (Concord may have proposed a slot
        already: one too early for the box is moved); every invited agency accepts. Returns the inspection, its
        agencies and the hour its slot starts."""
        from concord.inspections.messages import RequestInspection, RescheduleInspection

        hub = self.hub
        hub.at(hours)
        ready = hub.start + timedelta(hours=ready_h)
        insp = hub.app.bus.handle(RequestInspection(declaration_id=did, not_before=ready), subject=hub.officers["CUS"])
        if datetime.fromisoformat(insp["slot_start"]) < ready:
            insp = hub.app.bus.handle(RescheduleInspection(
                inspection_id=insp["id"], reason="the container cannot reach the bay before then",
                not_before=ready), subject=hub.officers["CUS"])
        return insp["id"], self._accept(insp["id"]), (datetime.fromisoformat(insp["slot_start"]) - hub.start) / HOUR

    def _accept(self, inspection_id: str) -> list[str]:
        from concord.inspections.messages import AnswerInvitation
        from concord.inspections.models import InspectionInvitation

        hub = self.hub
        with hub.app.sessions() as s:
            invited = s.execute(select(InspectionInvitation.agency, InspectionInvitation.status).where(
                InspectionInvitation.inspection_id == inspection_id).order_by(InspectionInvitation.agency)).all()
        for agency, status in invited:
            if status == "invited":
                hub.app.bus.handle(AnswerInvitation(inspection_id=inspection_id, accept=True),
                                   subject=hub.officers[agency])
        return [a for a, _ in invited]

    def start(self, hours: float, inspection_id: str) -> None:
        from concord.inspections.messages import StartInspection

        self.hub.at(hours)
        self.hub.app.bus.handle(StartInspection(inspection_id=inspection_id), subject=self.hub.officers["CUS"])

    def finding(self, hours: float, inspection_id: str, agency: str, irregular: bool, sample: bool) -> list[str]:
        """The agency's finding at the bay; returns the ids of the samples it sent to a laboratory."""
        from concord.inspections.messages import RecordFinding

        self.hub.at(hours)
        out = self.hub.app.bus.handle(RecordFinding(
            inspection_id=inspection_id, result="irregular" if irregular else "compliant",
            findings="undervalued: the goods do not match the invoice" if irregular else "goods match the declaration",
            seals_before=[f"SEAL-{inspection_id[-6:]}"], seals_after=[f"{agency}-{inspection_id[-6:]}"],
            samples=[{"description": "sample for analysis", "laboratory": f"{agency} reference laboratory"}]
            if sample else []), subject=self.hub.officers[agency])
        return [x["id"] if isinstance(x, dict) else x for x in out.get("samples", [])]

    def lab_result(self, hours: float, sample_id: str, agency: str) -> None:
        from concord.inspections.messages import RecordLabResult

        self.hub.at(hours)
        self.hub.app.bus.handle(RecordLabResult(sample_id=sample_id, result="compliant", detail="within limits"),
                                subject=self.hub.officers[agency])
