"""An SPS certificate supplied for a declaration: checked against it, the result a reason on the agency's task."""

from __future__ import annotations

from sqlalchemy import select

from concord.clearance.models import AgencyTask
from concord.declarations.models import Declaration, DeclarationVersion
from concord.errors import Conflict, InvalidDocument, NotFound, Problem
from concord.standards import sps
from concord.standards.messages import SupplySpsCertificate

RULE = "SPS-CERTIFICATE"


def supply_sps_certificate(cmd: SupplySpsCertificate, uow, *, directory, access) -> dict:
    """Parse the certificate, compare it with the items that reference it, and put the result on the open task of
    each agency whose config takes that document: a reason for its officer (cut by the access rule like every
    reason), not a decision. The trader's answer says only that it was supplied, not what the agencies found."""
    from concord.access.policy import authorize

    certificate = sps.parse_certificate(cmd.xml)  # before the transaction: a faulty file touches nothing
    with uow:
        s = uow.session
        d = s.get(Declaration, cmd.declaration_id, with_for_update=True)
        if d is None or not authorize(uow.subject, "supply_documents", d, session=s, access=access).allowed:
            raise NotFound(f"declaration {cmd.declaration_id} not found")
        document = s.get(DeclarationVersion, (d.id, d.version)).document
        snapshot = directory.current(s)
        tasks = {t.agency: t for t in s.scalars(select(AgencyTask).where(
            AgencyTask.declaration_id == d.id, AgencyTask.declaration_version == d.version))}
        referencing = {(doc["type"], i) for i, item in enumerate(document["items"])
                       for doc in item.get("documents", []) if doc["reference"] == certificate.id}
        if not referencing:
            raise InvalidDocument("the declaration does not reference this certificate; nothing was stored", [Problem(
                f"{sps.ROOT}/SPSExchangedDocument/ID", f"certificate {certificate.id!r} is not the reference of a "
                "document of the declaration's items: amend the declaration or send the certificate it names")])
        supplied_to = []
        for t in sps.tolerances(snapshot.document):
            items = sorted(i for kind, i in referencing if kind in t.documents)
            task = tasks.get(t.agency)
            if not items or task is None or not task.open:
                continue
            findings = sps.check(certificate, document, items, t)
            reason = {"rule": RULE, "description": (
                f"SPS certificate {certificate.id}: " + ("matches the declaration" if not findings else
                                                        f"{len(findings)} mismatch(es) with the declaration")),
                "legal_basis": "electronic SPS certificate (UN/CEFACT SPSCertificate) supplied by the trader",
                "items": items, "certificate": certificate.summary(), "findings": findings, "matches": not findings}
            earlier = [r for r in task.reasons if r.get("rule") == RULE
                       and r.get("certificate", {}).get("id") == certificate.id]  # supplied again: replaced
            task.reasons = [r for r in task.reasons if r not in earlier] + [reason]
            uow.audit("declaration:sps_certificate:checked", f"task/{task.id}",
                      detail={"certificate": certificate.id, "findings": len(findings)})
            supplied_to.append(task.id)
        if not supplied_to:
            raise Conflict(f"no open agency task of declaration {d.id} takes certificate {certificate.id}; nothing "
                           "was stored")
        uow.commit()
    return {"declaration_id": d.id, "certificate": certificate.id, "status": "supplied"}
