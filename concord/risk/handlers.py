"""Writing the risk catalogues (rules, watchlist entries) and the labels (inspection outcomes)."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from concord.declarations.models import Declaration
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound, Problem
from concord.ids import new_id
from concord.risk.messages import (AddWatchlistEntry, CheckModelDrift, CreateRule, ModelDrifted, OutcomeRecorded,
                                   RecordOutcome, RemoveWatchlistEntry, RetireRule, RuleCreated, RuleRetired,
                                   WatchlistEntryAdded, WatchlistEntryRemoved)
from concord.risk.models import InspectionOutcome, RiskCatalog, RiskRule, WatchlistEntry
from concord.risk.catalogue.rules import compile_rule
from concord.risk.schemas import OutcomeIn, RuleIn, WatchlistEntryIn, canonical_value, parse


log = logging.getLogger(__name__)
# The latest drift check per model version: score PSI and status (the gauge an operator's metrics read).
DRIFT_GAUGE: dict[str, dict] = {}


def require_analyst(subject) -> None:
    """Rules are written and tried by analysts: officers of the lead agency."""
    if subject is None or subject.is_trader or not (subject.lead and subject.has("officer", "supervisor")):
        raise Forbidden("risk rules are kept by analysts: officers of the lead (customs) agency")


def require_agency_officer(subject) -> None:
    if subject is None or subject.is_trader or subject.agency is None or not subject.has("officer", "supervisor"):
        raise Forbidden("only agency officers keep watchlists and record inspection outcomes")


def bump(session, name: str, now) -> int:
    """Move a catalogue's version, so every risk step recompiles it on its next check."""
    row = session.get(RiskCatalog, name, with_for_update=True)
    if row is None:
        row = RiskCatalog(name=name, version=0, changed_at=now)
        session.add(row)
    row.version += 1
    row.changed_at = now
    return row.version


def create_rule(cmd: CreateRule, uow, *, risk) -> dict:
    """Store a checked rule (a new version when the id exists); it applies from its validity start."""
    require_analyst(uow.subject)
    body: RuleIn = parse(RuleIn, cmd.rule)
    compile_rule(body.expression)
    with uow:
        s, now = uow.session, uow.clock.now()
        previous = s.scalars(select(RiskRule).where(RiskRule.id == body.id).order_by(RiskRule.version.desc())
                             .limit(1).with_for_update()).first()
        version = previous.version + 1 if previous else 1
        s.execute(update(RiskRule).where(RiskRule.id == body.id, RiskRule.active).values(active=False))
        rule = RiskRule(id=body.id, version=version, name=body.name, expression=body.expression,
                        rationale=body.rationale, author=uow.subject.user_id, agency=uow.subject.agency,
                        severity=body.severity, lane=body.lane, valid_from=body.valid_from or now,
                        valid_until=body.valid_until, active=True, created_at=now, retired_at=None, retired_by=None)
        s.add(rule)
        catalog = bump(s, "rules", now)
        uow.record(RuleCreated(rule_id=rule.id, version=version, lane=rule.lane, severity=rule.severity,
                               agency=uow.subject.agency))
        uow.audit("risk:rule:created", f"risk-rule/{rule.id}", detail={"version": version, "rules_version": catalog})
        uow.commit()
        risk.invalidate()  # this process sees the change at once; others within their recheck interval
        return {"id": rule.id, "version": version, "rules_version": catalog}


def retire_rule(cmd: RetireRule, uow, *, risk) -> dict:
    """Stop applying a rule; its versions and hit statistics stay."""
    require_analyst(uow.subject)
    with uow:
        s, now = uow.session, uow.clock.now()
        rule = s.scalars(select(RiskRule).where(RiskRule.id == cmd.rule_id, RiskRule.active).with_for_update()).first()
        if rule is None:
            raise NotFound(f"no active rule '{cmd.rule_id}'")
        rule.active, rule.retired_at, rule.retired_by = False, now, uow.subject.user_id
        catalog = bump(s, "rules", now)
        uow.record(RuleRetired(rule_id=rule.id, version=rule.version, reason=cmd.reason, agency=uow.subject.agency))
        uow.audit("risk:rule:retired", f"risk-rule/{rule.id}", detail={"version": rule.version, "reason": cmd.reason})
        uow.commit()
        risk.invalidate()
        return {"id": rule.id, "version": rule.version, "retired_at": now.isoformat(), "rules_version": catalog}


def add_watchlist_entry(cmd: AddWatchlistEntry, uow, *, risk) -> dict:
    """An agency shares an entry; declarations are matched against it from the next assessment on."""
    require_agency_officer(uow.subject)
    body: WatchlistEntryIn = parse(WatchlistEntryIn, cmd.entry)
    value = canonical_value(body.kind, body.value)
    with uow:
        s, now = uow.session, uow.clock.now()
        if body.expires_at <= now:
            raise InvalidDocument("the watchlist entry has faults; nothing was stored",
                                  [Problem("/expires_at", "the expiry is in the past; give a future date")])
        entry = WatchlistEntry(id=new_id("WLE"), version=1, agency=uow.subject.agency, kind=body.kind, value=value,
                               reason=body.reason, severity=body.severity, expires_at=body.expires_at,
                               created_by=uow.subject.user_id, created_at=now, removed_at=None, removed_by=None)
        s.add(entry)
        catalog = bump(s, "watchlists", now)
        uow.record(WatchlistEntryAdded(entry_id=entry.id, kind=entry.kind, agency=entry.agency))
        uow.audit("risk:watchlist:entry:added", f"watchlist-entry/{entry.id}", owner=entry.agency,
                  detail={"kind": entry.kind, "severity": entry.severity})
        uow.commit()
        risk.invalidate()
        return {"id": entry.id, "version": entry.version, "watchlists_version": catalog}


def remove_watchlist_entry(cmd: RemoveWatchlistEntry, uow, *, risk) -> dict:
    """The contributing agency withdraws its entry."""
    require_agency_officer(uow.subject)
    with uow:
        s, now = uow.session, uow.clock.now()
        entry = s.get(WatchlistEntry, cmd.entry_id, with_for_update=True)
        if entry is None or entry.agency != uow.subject.agency or entry.removed_at is not None:
            raise NotFound(f"no watchlist entry '{cmd.entry_id}' of your agency")  # others' entries stay unconfirmed
        entry.removed_at, entry.removed_by = now, uow.subject.user_id
        catalog = bump(s, "watchlists", now)
        uow.record(WatchlistEntryRemoved(entry_id=entry.id, kind=entry.kind, agency=entry.agency))
        uow.audit("risk:watchlist:entry:removed", f"watchlist-entry/{entry.id}", owner=entry.agency,
                  detail={"reason": cmd.reason})
        uow.commit()
        risk.invalidate()
        return {"id": entry.id, "removed_at": now.isoformat(), "watchlists_version": catalog}


def record_outcome(cmd: RecordOutcome, uow, *, access) -> dict:
    """An agency records what its inspection found; the same outcome again is a replay, a different one a conflict."""
    from concord.access.policy import authorize

    require_agency_officer(uow.subject)
    body: OutcomeIn = parse(OutcomeIn, cmd.outcome)
    with uow:
        s, agency = uow.session, uow.subject.agency
        d = s.get(Declaration, body.declaration_id)
        if d is None or not authorize(uow.subject, "read", d, session=s, access=access).allowed:
            raise NotFound(f"declaration {body.declaration_id} not found")
        version = body.version or d.version
        if version > d.version:
            raise InvalidDocument("no such version", [
                Problem("/version", f"declaration {d.id} has {d.version} version(s)")])
        found = s.scalars(select(InspectionOutcome).where(
            InspectionOutcome.declaration_id == d.id, InspectionOutcome.version == version,
            InspectionOutcome.agency == agency)).first()
        if found is not None:
            if found.result != body.result:
                raise Conflict(f"{agency} already recorded '{found.result}' for {d.id} version {version}")
            return {"id": found.id, "declaration_id": d.id, "version": version, "result": found.result,
                    "replayed": True}
        money = body.revenue_recovered
        row = InspectionOutcome(id=new_id("OUT"), declaration_id=d.id, version=version, agency=agency,
                                result=body.result, revenue_recovered=money.amount if money else None,
                                currency=money.currency if money else None, notes=body.notes,
                                recorded_by=uow.subject.user_id, recorded_at=uow.clock.now())
        s.add(row)
        uow.record(OutcomeRecorded(declaration_id=d.id, agency=agency, version=version, result=body.result))
        uow.audit("risk:outcome:recorded", f"declaration/{d.id}", detail={"version": version, "result": body.result})
        uow.commit()
        return {"id": row.id, "declaration_id": d.id, "version": version, "result": row.result, "replayed": False}


def outcome_from_inspection(event, uow) -> None:
    """An agency's decision after inspecting the goods is an outcome too: it becomes a label like any other."""
    from concord.clearance.models import AgencyTask

    if event.result not in ("compliant", "irregular"):
        return
    with uow:
        task = next(iter(uow.fetch(AgencyTask, ("declaration_id", "declaration_version", "agency"),
                                   id=event.task_id)), None)
        if task is None or uow.fetch(InspectionOutcome, (), declaration_id=task.declaration_id,
                                     version=task.declaration_version, agency=task.agency):
            return  # already recorded through the outcomes API: that one stands
        uow.stage(InspectionOutcome, {  # batched at commit: nothing reads it back here
            "id": new_id("OUT"), "declaration_id": task.declaration_id, "version": task.declaration_version,
            "agency": task.agency, "result": event.result, "revenue_recovered": None, "currency": None,
            "notes": "from the inspection decision on task " + task.id, "recorded_by": "system",
            "recorded_at": uow.clock.now()})
        uow.record(OutcomeRecorded(declaration_id=task.declaration_id, agency=task.agency,
                                   version=task.declaration_version, result=event.result))
        uow.audit("risk:outcome:recorded", f"declaration/{task.declaration_id}", actor="system", agency=task.agency,
                  detail={"version": task.declaration_version, "result": event.result, "task": task.id})
        uow.commit()


def feed_model(event: OutcomeRecorded, uow, *, risk) -> None:
    """A recorded outcome becomes history for the active model at once on this worker (the others read it on
    their next recheck, within the model source's ttl) and a label at its next training."""
    from concord.risk.learning.hub import follow_outcomes

    with uow.read() as s:
        model = risk.models.current(s)  # a model loaded just now has caught up with this outcome already
        if model is not None:
            follow_outcomes(model, s)


def declaration_feed_job(sessions, models, clock, exact_days: float):
    """The server's periodic job on every worker: the declarations lodged since its last run, by any worker, join
    the active model's price and party statistics (hub.DeclarationFeed); nothing while no model is loaded."""
    def job() -> None:
        from concord.risk.learning.hub import follow_declarations

        model = models.model  # the one the lodging path loaded (ModelSource); this thread never loads one itself
        if model is not None:
            with sessions() as s:
                follow_declarations(model, s, clock.now(), exact_days)
    return job


def check_model_drift(cmd: CheckModelDrift, uow, *, risk) -> dict:
    """The active model's score and features on the latest declarations against its training period; past the
    alert threshold, a log line and a `ModelDrifted` event for the risk unit (the lead agency)."""
    from concord.risk.learning.drift import ALERT, MIN_ROWS
    from concord.risk.learning.hub import hub_declarations

    with uow:
        s = uow.session
        model = risk.models.current(s)
        if model is None:
            return {"model": None}
        records = hub_declarations(s, limit=cmd.declarations)
        if not records:
            return {"model": model.version, "rows": 0}
        report = model.drift(records, top=5)
        DRIFT_GAUGE[model.version] = {"score_psi": report["score_psi"], "status": report["status"],
                                      "rows": report["rows"], "at": uow.clock.now().isoformat()}
        alert_at = ALERT if cmd.alert_at is None else cmd.alert_at
        alerted = report["score_psi"] >= alert_at and report["rows"] >= MIN_ROWS
        if alerted:
            worst = [f["feature"] for f in report["features"]]
            log.warning("risk model %s drifted: score PSI %.3f over %d declarations (alert at %.2f); worst "
                        "features %s", model.version, report["score_psi"], report["rows"], alert_at, ", ".join(worst))
            uow.record(ModelDrifted(model_version=model.version, score_psi=report["score_psi"],
                                    status=report["status"], features=worst))
            uow.audit("risk:model:drifted", f"risk-model/{model.version}", actor="system",
                      detail={"score_psi": report["score_psi"], "rows": report["rows"]})
            uow.commit()
        return {"model": model.version, "alerted": alerted, **DRIFT_GAUGE[model.version]}
