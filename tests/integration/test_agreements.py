"""Agreements enforced on every exit path; grants, break-glass, and the audit of cross-agency reads."""

import pytest
from sqlalchemy import select

from concord.agreements.messages import (BreakGlass, ChangeAgreementStatus, DecideAccessRequest, DraftAgreement,
                                         RequestAccess, SignAgreement)
from concord.audit.models import AuditEntry
from concord.clearance.messages import DecideTask
from concord.clearance.models import AgencyTask
from concord.clearance.queries import inspection_results
from concord.declarations import queries
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.errors import Conflict, Forbidden, NotFound
from concord.messaging.models import EventRecord
from support import declaration, item, subjects


def submit(app, doc, who="hollandfoods"):
    doc = parse_declaration(doc).model_dump(mode="json")
    return app.bus.handle(SubmitDeclaration(document=doc), subject=subjects(app)[who])["id"]


def as_(app, user):
    return subjects(app)[user]


AGREEMENT = {
    "key": "MOU-CUS-STD-TEST", "title": "Customs data for product safety", "provider": "CUS", "recipients": ["STD"],
    "purposes": ["product_safety"], "legal_basis": "Regulation (EU) 2019/1020, Art. 25",
    "scopes": [{"resource": "declaration", "fields": ["/lrn", "/items/*/hs_code", "/importer/name"],
                "condition": {"hs_chapters": ["61"]}}],
    "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": "2027-01-01T00:00:00+00:00"}


def test_lifecycle_and_enforcement(concord):
    textiles = submit(concord, declaration())  # HS 61: no agency but customs is engaged
    bananas = submit(concord, declaration(lrn="B", items=[item("080390", "Bananas", "EC", documents=["N851"])]))
    std = as_(concord, "std-officer")
    s = concord.sessions()
    with pytest.raises(NotFound):
        queries.get_declaration(s, std, textiles, {}, "product_safety", access=concord.access)
    with pytest.raises(Forbidden):  # an officer cannot draft
        concord.bus.handle(DraftAgreement(document=AGREEMENT), subject=std)
    a = concord.bus.handle(DraftAgreement(document=AGREEMENT), subject=as_(concord, "cus-liaison"))
    assert a["status"] == "draft"
    a = concord.bus.handle(SignAgreement(agreement_id=a["id"]), subject=as_(concord, "cus-liaison"))
    assert a["status"] == "awaiting_signatures"
    with pytest.raises(NotFound):  # not active until every party has signed
        queries.get_declaration(s, std, textiles, {}, "product_safety", access=concord.access)
    a = concord.bus.handle(SignAgreement(agreement_id=a["id"]), subject=as_(concord, "std-liaison"))
    assert a["status"] == "active"

    seen = queries.get_declaration(s, std, textiles, {}, "product_safety", access=concord.access)
    assert seen["document"] == {"lrn": "LRN-0001", "items": [{"hs_code": "610910"}],
                                "importer": {"name": "Holland Foods Import BV"}}
    assert seen["access_basis"] == "agreement:MOU-CUS-STD-TEST/v1"
    with pytest.raises(NotFound):  # another purpose
        queries.get_declaration(s, std, textiles, {}, "criminal_investigation", access=concord.access)
    with pytest.raises(NotFound):  # outside the condition (chapter 08)
        queries.get_declaration(s, std, bananas, {}, "product_safety", access=concord.access)
    listed = queries.list_declarations(s, std, purpose="product_safety", access=concord.access)
    assert listed["total"] == 1 and listed["items"][0]["id"] == textiles
    assert queries.list_declarations(s, std, access=concord.access)["total"] == 0  # no purpose stated: nothing shared

    concord.bus.handle(ChangeAgreementStatus(agreement_id=a["id"], status="suspended", reason="audit pending"),
                       subject=as_(concord, "std-liaison"))
    with pytest.raises(NotFound):  # takes effect on the next request
        queries.get_declaration(s, std, textiles, {}, "product_safety", access=concord.access)
    with pytest.raises(Conflict, match="STD withdrew"):  # the provider cannot resume over the recipient's withdrawal
        concord.bus.handle(ChangeAgreementStatus(agreement_id=a["id"], status="active", reason="ok"),
                           subject=as_(concord, "cus-liaison"))
    with pytest.raises(Forbidden):  # only the provider revokes
        concord.bus.handle(ChangeAgreementStatus(agreement_id=a["id"], status="revoked", reason="no"),
                           subject=as_(concord, "std-liaison"))
    concord.bus.handle(ChangeAgreementStatus(agreement_id=a["id"], status="active", reason="audit passed"),
                       subject=as_(concord, "std-liaison"))
    assert queries.list_declarations(s, std, purpose="product_safety", access=concord.access)["total"] == 1

    wider = AGREEMENT | {"scopes": [AGREEMENT["scopes"][0] | {"condition": {"hs_chapters": ["61", "08"]}}]}
    v2 = concord.bus.handle(DraftAgreement(document=wider, amend=True), subject=as_(concord, "cus-liaison"))
    assert v2["version"] == 2 and v2["status"] == "draft"
    assert queries.list_declarations(s, std, purpose="product_safety", access=concord.access)["total"] == 1  # v1 still rules
    for liaison in ("cus-liaison", "std-liaison"):
        concord.bus.handle(SignAgreement(agreement_id=v2["id"]), subject=as_(concord, liaison))
    assert queries.list_declarations(s, std, purpose="product_safety", access=concord.access)["total"] == 2
    concord.bus.handle(ChangeAgreementStatus(agreement_id=v2["id"], status="revoked", reason="ended"),
                       subject=as_(concord, "cus-liaison"))
    assert queries.list_declarations(s, std, purpose="product_safety", access=concord.access)["total"] == 0
    with pytest.raises(Conflict):
        concord.bus.handle(ChangeAgreementStatus(agreement_id=v2["id"], status="active", reason="again"),
                           subject=as_(concord, "cus-liaison"))
    s.close()


def test_config_agreements_share_with_police_for_an_investigation(concord):
    cocaine_route = submit(concord, declaration(items=[item("080390", "Bananas", "EC", documents=["N851"])]))
    other = submit(concord, declaration(lrn="2", items=[item("090111", "Coffee", "BR", documents=["N851"])]))
    with concord.sessions() as s:
        pol = as_(concord, "pol-officer")
        listed = queries.list_declarations(s, pol, purpose="criminal_investigation", access=concord.access)
        assert [d["id"] for d in listed["items"]] == [cocaine_route] and listed["total"] == 1
        doc = queries.get_declaration(s, pol, cocaine_route, {}, "criminal_investigation", access=concord.access)["document"]
        assert "declarant" not in doc and "value" not in doc["items"][0] and doc["exporter"]["country"] == "EC"
        with pytest.raises(NotFound):
            queries.get_declaration(s, pol, other, {}, "criminal_investigation", access=concord.access)


def test_access_request_and_break_glass(concord):
    did = submit(concord, declaration())
    pol = as_(concord, "pol-officer")
    req = concord.bus.handle(RequestAccess(resource=f"declaration/{did}", purpose="criminal_investigation",
                                           justification="importer named in case 2026/118"), subject=pol)
    with pytest.raises(Forbidden):
        concord.bus.handle(DecideAccessRequest(request_id=req["id"], grant=True, reason="ok"), subject=pol)
    concord.bus.handle(DecideAccessRequest(request_id=req["id"], grant=True, reason="case confirmed", hours=2),
                       subject=as_(concord, "cus-liaison"))
    with concord.sessions() as s:
        assert queries.get_declaration(s, pol, did, {}, "criminal_investigation", access=concord.access)["access_basis"].startswith("grant:")
    concord.clock.advance(hours=3)
    with concord.sessions() as s, pytest.raises(NotFound):  # the grant has expired
        queries.get_declaration(s, pol, did, {}, "criminal_investigation", access=concord.access)

    env = as_(concord, "env-officer")
    g = concord.bus.handle(BreakGlass(resource=f"declaration/{did}", purpose="environmental_protection",
                                      justification="suspected illegal waste shipment in port now"), subject=env)
    with concord.sessions() as s:
        assert queries.get_declaration(s, env, did, {}, "environmental_protection", access=concord.access)["document"]["lrn"] == "LRN-0001"
        assert queries.list_declarations(s, env, access=concord.access)["total"] == 1
        flagged = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "break-glass")).all()
        assert [e.action for e in flagged] == ["access:break_glass"]
        told = s.scalars(select(EventRecord).where(EventRecord.name == "access.break_glass_opened")).one()
        assert told.agency == "CUS" and told.payload["grant_id"] == g["id"]


def test_inspection_results_follow_the_agreement(concord):
    did = submit(concord, declaration(items=[item("030617", "Frozen shrimps", "VN")]))
    with concord.sessions() as s:
        task = s.scalars(select(AgencyTask).where(AgencyTask.declaration_id == did, AgencyTask.agency == "VET")).one()
    concord.bus.handle(DecideTask(task_id=task.id, decision="refuse", reason="chloramphenicol residues",
                                  inspection={"result": "irregular", "findings": "lab: chloramphenicol 0.4 ug/kg"}),
                       subject=as_(concord, "vet-officer"))
    with concord.sessions() as s:
        from concord.risk.models import InspectionOutcome  # the inspection decision became a label

        (label,) = s.scalars(select(InspectionOutcome).where(InspectionOutcome.declaration_id == did)).all()
        assert (label.agency, label.result) == ("VET", "irregular")
        assert inspection_results(s, as_(concord, "vet-officer"), purpose=None, access=concord.access)["total"] == 1
        assert inspection_results(s, as_(concord, "fda-officer"), purpose=None, access=concord.access)["total"] == 0
        shared = inspection_results(s, as_(concord, "fda-officer"), purpose="public_health", access=concord.access)
        (row,) = shared["items"]
        assert row["result"] == "irregular" and "declaration_id" not in row
        assert inspection_results(s, as_(concord, "std-officer"), purpose="public_health", access=concord.access)["total"] == 0


def test_cross_agency_reads_are_audited_with_purpose_and_agreement(concord):
    from concord.access.handlers import log_reads

    did = submit(concord, declaration(items=[item("080390", "Bananas", "EC", documents=["N851"])]))
    pol = as_(concord, "pol-officer")
    reads = []
    with concord.sessions() as s:
        queries.get_declaration(s, pol, did, {}, "criminal_investigation", reads, access=concord.access)
        queries.get_declaration(s, as_(concord, "hollandfoods"), did, {}, None, reads, access=concord.access)  # own data: not logged
    log_reads(concord.uow(pol), reads, "criminal_investigation")
    with concord.sessions() as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "declaration:read")).all()
        assert (entry.actor, entry.agency, entry.purpose, entry.agreement) == (
            "pol-officer", "POL", "criminal_investigation", "MOU-CUS-POL-2026/v1")
        assert entry.resource == f"declaration/{did}"
