"""Each agency's findings at the bay, its samples' laboratory results, and the inspection's one outcome."""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import select

from concord.clearance.messages import GoodsInspected
from concord.clearance.models import AgencyTask
from concord.errors import ConcordError, Conflict, InvalidDocument, NotFound, Problem
from concord.ids import new_id
from concord.inspections import booking as b
from concord.inspections.handlers import RESULTS, _inspection, _officer, open_inspection
from concord.inspections.messages import (FindingRecorded, InspectionFinished, InspectionOutcomeSettled,
                                          LabResultRecorded, RecordFinding, RecordLabResult)
from concord.inspections.models import (InspectionAttachment, InspectionFinding, InspectionInvitation,
                                        InspectionSample)

log = logging.getLogger(__name__)


def _store_photo(s, photo: dict, now) -> dict:
    content = photo["content"]
    digest = hashlib.sha256(content).hexdigest()
    if s.get(InspectionAttachment, digest) is None:
        s.add(InspectionAttachment(sha256=digest, media_type=photo["media_type"], size=len(content), content=content,
                                   stored_at=now))
    return {"sha256": digest, "media_type": photo["media_type"], "size": len(content)}


def record_finding(cmd: RecordFinding, uow, *, directory, access) -> dict:
    """An agency present at the bay records what it found: seals, photos, samples sent to a laboratory."""
    _officer(uow.subject)
    if cmd.result not in RESULTS:
        raise InvalidDocument("unknown result", [Problem("/result", "use compliant or irregular")])
    with uow:
        s, agency = uow.session, uow.subject.agency
        insp, d = _inspection(uow, cmd.inspection_id, access=access)
        inv = s.get(InspectionInvitation, (insp.id, agency))
        if inv is None:
            raise NotFound(f"inspection {cmd.inspection_id} has no invitation for your agency")
        found = s.scalars(select(InspectionFinding).where(InspectionFinding.inspection_id == insp.id,
                                                          InspectionFinding.agency == agency)).first()
        if found is not None:
            if (found.result, found.findings) == (cmd.result, cmd.findings):
                return {"id": found.id, "inspection_id": insp.id, "inspection_status": insp.status, "replayed": True}
            raise Conflict(f"{agency} already recorded its finding on inspection {insp.id}")
        if insp.status != "in_progress" or inv.status != "accepted":
            raise Conflict(f"inspection {insp.id} is {insp.status} and your invitation {inv.status}; findings are "
                           "recorded at the bay, once the inspection has started")
        now = uow.clock.now()
        photos = [_store_photo(s, p, now) for p in cmd.photos]
        f = InspectionFinding(id=new_id("FND"), inspection_id=insp.id, agency=agency, task_id=inv.task_id,
                              officer=uow.subject.user_id, result=cmd.result, findings=cmd.findings,
                              seals_before=list(cmd.seals_before), seals_after=list(cmd.seals_after), photos=photos,
                              recorded_at=now, final_result=None)
        s.add(f)
        s.flush()
        samples = [InspectionSample(id=new_id("SMP"), finding_id=f.id, agency=agency, description=x["description"],
                                    laboratory=x["laboratory"], sent_at=now, result=None, detail=None, result_at=None)
                   for x in cmd.samples]
        s.add_all(samples)
        ref = dict(declaration_id=d.id, agency=agency)
        uow.record(FindingRecorded(**ref, inspection_id=insp.id, finding_id=f.id, task_id=f.task_id, result=f.result,
                                   findings=f.findings, seals_before=f.seals_before, seals_after=f.seals_after,
                                   photos=[p["sha256"] for p in photos],
                                   samples=[{"id": x.id, "description": x.description, "laboratory": x.laboratory}
                                            for x in samples], containers=list(insp.containers)))
        if not samples or f.result == "irregular":  # a laboratory cannot clear what the officer saw
            f.final_result = f.result
            uow.record(GoodsInspected(**ref, task_id=f.task_id, result=f.result))
        uow.audit("inspection:finding:recorded", f"inspection-finding/{f.id}", owner=agency,
                  detail={"inspection": insp.id, "samples": len(samples), "photos": len(photos)})
        s.flush()
        _finish_if_done(uow, insp, d, directory)
        uow.commit()
        return {"id": f.id, "inspection_id": insp.id, "inspection_status": insp.status,
                "samples": [x.id for x in samples], "photos": [p["sha256"] for p in photos], "replayed": False}


def _outcome(findings) -> str:
    if any(f.final_result == "irregular" for f in findings):
        return "irregular"
    return "awaiting_laboratory" if any(f.final_result is None for f in findings) else "compliant"


def _finish_if_done(uow, insp, d, directory) -> None:
    """Every agency present has recorded its finding: the goods leave the bay; absent agencies get a new slot."""
    s, now = uow.session, uow.clock.now()
    invs = b.invitations(s, insp.id)
    findings = list(s.scalars(select(InspectionFinding).where(InspectionFinding.inspection_id == insp.id)))
    done = {f.agency for f in findings}
    if any(i.status == "accepted" and i.agency not in done for i in invs):
        return
    insp.status, insp.finished_at, insp.outcome = "finished", now, _outcome(findings)
    if insp.outcome != "awaiting_laboratory":
        insp.outcome_at = now
    b.release_bays(s, insp.id)
    uow.record(InspectionFinished(declaration_id=d.id, inspection_id=insp.id, outcome=insp.outcome))
    absent = {i.agency: s.get(AgencyTask, i.task_id) for i in invs if i.status == "no_show"}
    absent = {a: t for a, t in absent.items() if t is not None and t.open}
    if absent:
        try:
            open_inspection(uow, d, absent, directory=directory, by="system")
        except ConcordError as e:
            log.warning("no new slot for the absent agencies of %s: %s", insp.id, e.message)


def record_lab_result(cmd: RecordLabResult, uow, *, access) -> dict:
    """The laboratory's result on a sample, recorded by the agency that sent it; the last one settles the outcome."""
    _officer(uow.subject)
    if cmd.result not in RESULTS:
        raise InvalidDocument("unknown result", [Problem("/result", "use compliant or irregular")])
    with uow:
        s = uow.session
        sample = s.get(InspectionSample, cmd.sample_id, with_for_update=True)
        if sample is None or sample.agency != uow.subject.agency:
            raise NotFound(f"sample {cmd.sample_id} not found among your agency's samples")
        f = s.get(InspectionFinding, sample.finding_id, with_for_update=True)
        insp, d = _inspection(uow, f.inspection_id, access=access)
        if sample.result is not None:
            if sample.result == cmd.result:
                return {"id": sample.id, "result": sample.result, "replayed": True}
            raise Conflict(f"sample {sample.id} already has the result {sample.result}")
        now = uow.clock.now()
        sample.result, sample.detail, sample.result_at = cmd.result, cmd.detail or None, now
        s.flush()
        uow.record(LabResultRecorded(declaration_id=d.id, agency=sample.agency, inspection_id=insp.id,
                                     sample_id=sample.id, task_id=f.task_id, result=cmd.result))
        samples = list(s.scalars(select(InspectionSample).where(InspectionSample.finding_id == f.id)))
        if f.final_result is None and all(x.result is not None for x in samples):
            f.final_result = "irregular" if any(x.result == "irregular" for x in samples) else f.result
            uow.record(GoodsInspected(declaration_id=d.id, agency=f.agency, task_id=f.task_id, result=f.final_result))
        if insp.status == "finished" and insp.outcome == "awaiting_laboratory":
            s.flush()
            outcome = _outcome(list(s.scalars(select(InspectionFinding).where(
                InspectionFinding.inspection_id == insp.id))))
            if outcome != "awaiting_laboratory":
                insp.outcome, insp.outcome_at = outcome, now
                uow.record(InspectionOutcomeSettled(declaration_id=d.id, inspection_id=insp.id, outcome=outcome))
        uow.audit("inspection:lab_result:recorded", f"inspection-sample/{sample.id}", owner=sample.agency,
                  detail={"result": cmd.result})
        uow.commit()
        return {"id": sample.id, "result": sample.result, "finding_final_result": f.final_result,
                "inspection_outcome": insp.outcome, "replayed": False}
