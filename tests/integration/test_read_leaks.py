"""Regression tests for what travelled beside the document (issue 11): reasons, outcomes, old versions and envelope
fields reach only the subjects the owner's rule allows, on every read path."""

from datetime import timedelta

import orjson
import pytest
from sqlalchemy import select

import concord.risk.models  # noqa: F401 - the tables, until the migration that creates them is generated
from concord.access.handlers import log_reads
from concord.agreements.messages import DraftAgreement, SignAgreement
from concord.audit.models import AuditEntry
from concord.clearance.messages import DecideTask
from concord.clearance.models import AgencyTask
from concord.clearance.queries import task_queue
from concord.db import Base
from concord.declarations import queries
from concord.declarations.messages import AmendDeclaration, CancelDeclaration, SubmitDeclaration
from concord.declarations.models import Declaration
from concord.declarations.schemas import parse_declaration
from concord.errors import NotFound
from concord.risk.messages import AddWatchlistEntry
from support import declaration, item, subjects

INFORMANT = "informant says cocaine in banana boxes"
CONTAINER_NOTE = "container used for cocaine in 2025"
PEST = "Thaumatotibia leucotreta larvae found in lot 3"
WHY_CANCELLED = "buyer in Antwerp went bankrupt"
BANANAS = item("080390", "Fresh bananas", "EC", documents=["N851"])
SHRIMPS = item("030617", "Frozen shrimps", "VN")


def as_(app, user, command):
    return app.bus.handle(command, subject=subjects(app)[user])


def submit(app, doc, who="hollandfoods") -> str:
    return as_(app, who, SubmitDeclaration(document=parse_declaration(doc).model_dump(mode="json")))["id"]


def amend(app, did, doc, who="hollandfoods"):
    return as_(app, who, AmendDeclaration(declaration_id=did, document=parse_declaration(doc).model_dump(mode="json")))


def task_of(app, did, agency) -> AgencyTask:
    with app.sessions() as s:
        version = s.get(Declaration, did).version
        return s.scalars(select(AgencyTask).where(AgencyTask.declaration_id == did, AgencyTask.agency == agency,
                                                  AgencyTask.declaration_version == version)).one()


def every_read(app, user, did, purpose=None, reads=None) -> dict:
    """Everything one subject gets about one declaration from every read path (None where it answers 404)."""
    who = subjects(app)[user]
    out = {}
    with app.sessions() as s:
        for name, read in (("get", lambda: queries.get_declaration(s, who, did, {}, purpose, reads, access=app.access)),
                           ("timeline", lambda: queries.timeline(s, who, did, purpose, reads, access=app.access)),
                           ("versions", lambda: queries.versions(s, who, did, purpose, reads, access=app.access))):
            try:
                out[name] = read()
            except NotFound:
                out[name] = None
        out["list"] = [r for r in queries.list_declarations(s, who, purpose=purpose, limit=500, access=app.access)["items"]
                       if r["id"] == did]
        out["export"] = [r for r in queries.export_declarations(s, who, purpose=purpose, access=app.access) if r["id"] == did]
        if who.agency is not None:
            out["tasks"] = [t for t in task_queue(s, who, app.clock.now(), status="all", limit=500, access=app.access)["items"]
                            if t["declaration_id"] == did]
    return out


def text(views) -> str:
    return orjson.dumps(views).decode()


@pytest.fixture
def app(concord):
    Base.metadata.create_all(concord.engine)
    return concord


def test_another_agencys_watchlist_and_screening_text_reaches_customs_only_as_hit_no_hit(app):
    later = (app.clock.now() + timedelta(days=30)).isoformat()
    party = as_(app, "pol-officer", AddWatchlistEntry(entry={
        "kind": "party", "value": {"name": "Guayaquil Banana Exporters SA", "country": "EC"},
        "reason": INFORMANT, "severity": "high", "expires_at": later}))
    container = as_(app, "pol-officer", AddWatchlistEntry(entry={
        "kind": "container", "value": {"number": "MSCU1234566"}, "reason": CONTAINER_NOTE, "severity": "high",
        "expires_at": later}))
    app.bus.deps["screening"].invalidate()
    did = submit(app, declaration(items=[BANANAS]))
    reads: list = []
    seen = every_read(app, "cus-officer", did, reads=reads)
    reasons = {r.get("entry_id"): r for r in seen["get"]["risk"]["reasons"]}
    assert {party["id"], container["id"]} <= set(reasons)  # the hits themselves are shared: hit / no-hit
    for entry in (party, container):
        hit = reasons[entry["id"]]
        assert hit["hit"] is True and hit["ask_agency"] == "POL" and "reason" not in hit and "score" not in hit
    assert reasons[party["id"]]["kind"] == "screening" and reasons[container["id"]]["kind"] == "watchlist"
    assert INFORMANT not in text(seen) and CONTAINER_NOTE not in text(seen)
    # The hit is noted for the owner: each read of another agency's reason is in the log, with POL as owner.
    noted = {(r, d.provider, d.allowed) for r, d in reads if r.startswith("watchlist_entry/")}
    assert {(f"watchlist_entry/{party['id']}", "POL", False), (f"watchlist_entry/{container['id']}", "POL", False)} \
        <= noted
    log_reads(app.uow(subjects(app)["cus-officer"]), reads, None)
    with app.sessions() as s:
        logged = {(e.action, e.resource, e.owner, e.outcome) for e in s.scalars(select(AuditEntry))}
    assert ("watchlist_entry:hit", f"watchlist_entry/{party['id']}", "POL", "hit") in logged

    # An agreement of the owner lets customs see the agreed fields of its entries, for the agreed purpose.
    a = as_(app, "pol-liaison", DraftAgreement(document={
        "key": "MOU-POL-CUS-REASONS", "title": "Police watchlist reasons for customs", "provider": "POL",
        "recipients": ["CUS"], "purposes": ["security_screening"], "legal_basis": "Police Data Act, Art. 16",
        "scopes": [{"resource": "watchlist_entry", "fields": ["/reason", "/severity"]}],
        "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": "2027-01-01T00:00:00+00:00"}))
    as_(app, "pol-liaison", SignAgreement(agreement_id=a["id"]))
    as_(app, "cus-liaison", SignAgreement(agreement_id=a["id"]))
    reads = []
    shared = every_read(app, "cus-officer", did, "security_screening", reads)
    reasons = {r.get("entry_id"): r for r in shared["get"]["risk"]["reasons"]}
    assert reasons[party["id"]]["reason"] == INFORMANT and reasons[container["id"]]["reason"] == CONTAINER_NOTE
    assert "explanation" not in reasons[party["id"]]  # only the agreed fields
    assert {d.agreement for r, d in reads if r == f"watchlist_entry/{party['id']}"} == {"MOU-POL-CUS-REASONS/v1"}
    assert INFORMANT not in text(every_read(app, "cus-officer", did, "revenue_control"))  # another purpose


def test_refusal_reasons_stay_with_the_refusing_agency_the_lead_and_the_trader(app):
    did = submit(app, declaration(items=[BANANAS, SHRIMPS]))
    as_(app, "nppo-officer", DecideTask(task_id=task_of(app, did, "NPPO").id, decision="refuse", reason=PEST))
    for user in ("nppo-officer", "cus-officer", "hollandfoods"):
        seen = every_read(app, user, did)
        assert PEST in seen["get"]["outcome_reason"], user
        assert any(e["event"] == "declaration.refused" and e["reason"] == PEST for e in seen["timeline"]), user
    for user, purpose in (("pol-officer", "criminal_investigation"), ("vet-officer", None)):
        seen = every_read(app, user, did, purpose)
        assert seen["get"] is not None and seen["get"]["status"] == "refused"
        assert PEST not in text(seen), user
        assert "outcome_reason" not in seen["get"] and seen["get"]["withheld"]["outcome_reason"] == "NPPO"
        (refused,) = [e for e in seen["timeline"] if e["event"] == "declaration.refused"]
        assert refused["by_agency"] == "NPPO" and "reason" not in refused and refused["withheld"] == {"reason": "NPPO"}


def test_the_traders_cancellation_reason_reaches_the_lead_only(app):
    did = submit(app, declaration(items=[BANANAS, SHRIMPS]))
    as_(app, "hollandfoods", CancelDeclaration(declaration_id=did, reason=WHY_CANCELLED))
    for user in ("hollandfoods", "cus-officer"):
        seen = every_read(app, user, did)
        assert seen["get"]["outcome_reason"] == WHY_CANCELLED
        assert any(e.get("reason") == WHY_CANCELLED for e in seen["timeline"])
    for user, purpose in (("nppo-officer", None), ("vet-officer", None), ("pol-officer", "criminal_investigation")):
        seen = every_read(app, user, did, purpose)
        assert seen["get"]["status"] == "cancelled" and WHY_CANCELLED not in text(seen), user


def test_an_agency_sees_only_the_versions_it_could_have_seen(app):
    did = submit(app, declaration())  # v1: T-shirts from Bangladesh, customs only
    amend(app, did, declaration(items=[BANANAS]))  # v2: bananas from Ecuador, plant health engaged
    amend(app, did, declaration(items=[BANANAS, SHRIMPS]))  # v3: and shrimps, the veterinary service too
    versions = lambda user, purpose=None: [  # noqa: E731
        v["version"] for v in every_read(app, user, did, purpose)["versions"] or []]
    assert versions("hollandfoods") == versions("cus-officer") == [1, 2, 3]
    assert versions("nppo-officer") == [2, 3]
    assert versions("vet-officer") == [3]
    assert versions("pol-officer", "criminal_investigation") == [2, 3]  # the MOU's condition: origin EC
    assert "610910" not in text(every_read(app, "nppo-officer", did))  # what v1 declared never shows
    (v3,) = [v for v in every_read(app, "vet-officer", did)["versions"]]
    assert "exporter" not in v3["document"] and "value" not in v3["document"]["items"][0]


def test_envelope_fields_follow_the_agreed_fields(app):
    did = submit(app, declaration(items=[BANANAS]))
    police = every_read(app, "pol-officer", did, "criminal_investigation")  # the MOU lists neither /type nor the id
    assert "type" not in police["get"] and all("type" not in r for r in police["list"])
    assert police["get"]["office_of_entry"] == "NLRTM"  # the MOU lists /office_of_entry
    (lodged,) = [e for e in police["timeline"] if e["event"] == "declaration.lodged"]
    assert "trader_id" not in lodged and "NL823456781" not in text(police)
    assert all("submitted_by" not in v for v in police["versions"]) and "hollandfoods" not in text(police)

    toys = submit(app, declaration(lrn="TOYS", items=[item("950300", "Toys", "CN", documents=["C400"])]))
    standards = every_read(app, "std-officer", toys)  # STD-PRODUCT-SAFETY lists neither /type nor /office_of_entry
    assert "type" not in standards["get"] and "office_of_entry" not in standards["get"]
    assert "NLRTM" not in text(standards) and "NL823456781" not in text(standards)
    mine = every_read(app, "hollandfoods", toys)
    assert mine["get"]["type"] == "IM" and mine["get"]["office_of_entry"] == "NLRTM"
    assert mine["versions"][0]["submitted_by"] == "hollandfoods"


def test_inspection_results_list_decisions_without_an_inspection_as_nothing(app):
    from concord.clearance.queries import inspection_results

    did = submit(app, declaration(items=[BANANAS, SHRIMPS]))
    as_(app, "nppo-officer", DecideTask(task_id=task_of(app, did, "NPPO").id, decision="approve", reason="ok"))
    as_(app, "vet-officer", DecideTask(task_id=task_of(app, did, "VET").id, decision="refuse", reason=PEST,
                                       inspection={"result": "irregular", "findings": "larvae"}))
    with app.sessions() as s:
        assert inspection_results(s, subjects(app)["nppo-officer"], purpose=None, access=app.access)["total"] == 0
        (own,) = inspection_results(s, subjects(app)["vet-officer"], purpose=None, access=app.access)["items"]
        assert own["result"] == "irregular" and own["declaration_id"] == did
        (shared,) = inspection_results(s, subjects(app)["fda-officer"], purpose="public_health", access=app.access)["items"]
        assert shared["result"] == "irregular" and "declaration_id" not in shared and shared["agency"] == "VET"


def test_every_http_read_route_applies_the_rule_and_notes_hits_for_the_owner(app):
    from fastapi.testclient import TestClient

    from concord.access.deps import current_subject
    from concord.app import create_app

    def client(user):
        web = create_app(app, background=False)
        web.dependency_overrides[current_subject] = lambda: subjects(app)[user]
        return TestClient(web)

    later = (app.clock.now() + timedelta(days=30)).isoformat()
    entry = as_(app, "pol-officer", AddWatchlistEntry(entry={
        "kind": "container", "value": {"number": "MSCU1234566"}, "reason": CONTAINER_NOTE, "severity": "high",
        "expires_at": later}))
    did = submit(app, declaration(items=[BANANAS, SHRIMPS]))
    as_(app, "nppo-officer", DecideTask(task_id=task_of(app, did, "NPPO").id, decision="refuse", reason=PEST))
    routes = [f"/api/v1/declarations/{did}", f"/api/v1/declarations/{did}/timeline",
              f"/api/v1/declarations/{did}/versions", "/api/v1/declarations", "/api/v1/declarations/export",
              "/api/v1/tasks?status=all", "/api/v1/inspection-results"]
    for user, purpose in (("pol-officer", "criminal_investigation"), ("vet-officer", None), ("cus-officer", None)):
        c = client(user)
        for route in routes:
            r = c.get(route, headers={"Concord-Purpose": purpose} if purpose else {})
            assert r.status_code == 200, (user, route, r.text)
            assert CONTAINER_NOTE not in r.text, (user, route)
            assert (PEST in r.text) == (user == "cus-officer" and route.startswith(f"/api/v1/declarations/{did}")
                                        and not route.endswith("/versions")), (user, route)
    with app.sessions() as s:
        hits = s.scalars(select(AuditEntry).where(AuditEntry.action == "watchlist_entry:hit")).all()
    assert {(e.actor, e.resource, e.owner, e.outcome) for e in hits} == {
        ("cus-officer", f"watchlist_entry/{entry['id']}", "POL", "hit")}
