"""Starting a hunt: pending matches held and engaged, recent ones recorded for the issuer's report, new ones met
by watchlist entries and a rule until the hunt lapses. One transaction: all of it, or nothing."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from concord.clearance.handlers import CUSTOMS_LANE_TASKS, settle
from concord.clearance.messages import TaskCreated, TaskDecided
from concord.clearance.models import AgencyTask
from concord.declarations.models import TERMINAL
from concord.errors import Forbidden, InvalidDocument, Problem
from concord.hunting import future
from concord.hunting.indicators import Indicators
from concord.hunting.matching import Matcher, check, find, rule_matches
from concord.hunting.messages import HuntStarted, LaneRaised, StartHunt
from concord.hunting.models import Hunt, HuntMatch
from concord.hunting.schemas import HuntIn
from concord.ids import new_id
from concord.risk.scoring.assessment import LANE_RANK

MAX_MATCHES = 5000  # a hunt that matches more is too broad to act on: its issuer narrows the indicators
HOLD_SLA_HOURS = 24
# Addressed to the trader with the task's status: it says that the goods wait, never why (no tipping-off).
HOLD_REASON = "held for a control before release"
TASK_STATUS = {"hold": "held", "inspection": "inspection_required", "document_check": "open"}
# What an agency engaged by a hunt sees of the declaration, besides the fields its indicators matched on:
# enough to find the goods and act on them.
HOLD_FIELDS = ("/lrn", "/office_of_entry", "/arrival", "/transport")


def start_hunt(cmd: StartHunt, uow, *, access, risk, directory) -> dict:
    """Hold and engage on pending matches, record recent ones for the report, install the watch on new ones."""
    subject = uow.subject
    # No subject: an event handler started it from a committed incident or notice, which names its agency.
    if subject is not None and (subject.is_trader or subject.agency != cmd.agency
                                or not subject.has("officer", "supervisor")):
        raise Forbidden("a hunt is started by an officer of the issuing agency, for that agency")
    body = _parse(cmd)
    ind: Indicators = body.indicators
    check(ind)
    with uow:
        s, now = uow.session, uow.clock.now()
        if body.valid_until <= now:
            raise InvalidDocument("the hunt has faults; nothing was stored",
                                  [Problem("/valid_until", "the hunt would have lapsed already; give a future date")])
        snapshot = directory.current(s)
        lead = snapshot.lead
        engage = body.action.agency or cmd.agency
        if cmd.agency not in snapshot.agencies or engage not in snapshot.agencies:
            bad = "/agency" if cmd.agency not in snapshot.agencies else "/action/agency"
            raise InvalidDocument("the hunt has faults; nothing was stored",
                                  [Problem(bad, f"no agency of that code; use one of {', '.join(sorted(snapshot.agencies))}")])
        matcher = Matcher(ind)
        since = now - timedelta(days=body.lookback_days)
        found = find(s, matcher, since, MAX_MATCHES)
        rules = future.rule_set(ind, body.action.lane) if ind.rule else None
        if rules is not None:  # pending ones are held, recent ones reported, as the lists' matches are
            found += rule_matches(s, rules, matcher, now, since, {f.id for f in found}, MAX_MATCHES, snapshot.rates)
        if len(found) > MAX_MATCHES:
            raise InvalidDocument("the hunt is too broad; nothing was stored", [Problem(
                "/indicators", f"the indicators match more than {MAX_MATCHES:,} declarations; narrow them")])
        hunt = Hunt(id=new_id("HNT"), agency=cmd.agency, source=body.source, indicators=ind.model_dump(mode="json"),
                    action=body.action.model_dump(mode="json") | {"agency": engage},
                    lookback_days=body.lookback_days, valid_until=body.valid_until,
                    started_by=subject.user_id if subject else "system", started_at=now, watchlist_entries=[],
                    rule_id=None, note=body.purpose)
        s.add(hunt)
        s.flush()  # the hunt first: then nothing else needs the ORM's flush before the batched inserts
        who = {} if subject else {"actor": "system", "agency": cmd.agency}
        pending = _pending(s, [f.id for f in found if f.status not in TERMINAL])
        for f in found:
            task_id = None
            if f.id in pending:
                d, tasks = pending[f.id]
                task_id = _hold(uow, d, tasks, hunt, body.action, engage, lead, f.hits)
                uow.audit("hunt:hold:placed", f"declaration/{d.id}", owner=lead, **who,
                          detail={"hunt": hunt.id, "task": task_id, "engaged": engage})
            else:
                uow.audit("hunt:match:found", f"declaration/{f.id}", owner=lead, **who,
                          detail={"hunt": hunt.id, "pointers": [h["pointer"] for h in f.hits]})
            uow.stage(HuntMatch, {"hunt_id": hunt.id, "declaration_id": f.id, "pending": task_id is not None,
                                  "task_id": task_id, "hits": f.hits, "matched_at": now})
        hunt.watchlist_entries, hunt.rule_id = future.install(uow, hunt, ind, body.action.lane)
        uow.record(HuntStarted(hunt_id=hunt.id, source=hunt.source, agency=cmd.agency))
        uow.audit("hunt:started", f"hunt/{hunt.id}", owner=cmd.agency, **who, detail={
            "source": hunt.source, "valid_until": hunt.valid_until.isoformat(), "engaged": engage,
            "watchlist_entries": len(hunt.watchlist_entries), "rule": hunt.rule_id})
        uow.commit()
    risk.invalidate()  # new declarations meet the hunt from the next assessment on
    return {"id": hunt.id, "source": hunt.source, "valid_until": hunt.valid_until.isoformat(),
            "watchlist_entries": hunt.watchlist_entries, "rule_id": hunt.rule_id}


def _parse(cmd: StartHunt) -> HuntIn:
    from concord.risk.schemas import parse

    return parse(HuntIn, {"source": cmd.source, "indicators": cmd.indicators, "lookback_days": cmd.lookback_days,
                          "valid_until": cmd.valid_until if isinstance(cmd.valid_until, str)
                          else cmd.valid_until.isoformat(), "action": cmd.action, "purpose": cmd.purpose})


def _pending(s, ids: list[str]) -> dict:
    """Pending declarations, locked for update, each with its tasks: two queries for all of them."""
    from sqlalchemy import select

    from concord.declarations.models import Declaration

    out = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        rows = s.scalars(select(Declaration).where(Declaration.id.in_(chunk), Declaration.status.not_in(TERMINAL))
                         .with_for_update()).all()
        tasks: dict = {}
        for t in s.scalars(select(AgencyTask).where(AgencyTask.declaration_id.in_(chunk))):
            tasks.setdefault(t.declaration_id, []).append(t)
        out |= {d.id: (d, tasks.get(d.id, [])) for d in rows}
    return out


def _hold(uow, d, tasks: list, hunt, action, engage: str, lead: str, hits: list[dict]) -> str:
    """Raise the lane, engage the agency with a task in the action's state, and let release wait for it."""
    now = uow.clock.now()
    current = [t for t in tasks if t.declaration_version == d.version]
    basis = f"hunt {hunt.id} of {hunt.agency} ({hunt.source})"
    reason = {"rule": f"HUNT-{hunt.id}", "description": f"matched {hunt.source} on "
              + ", ".join(sorted({h['pointer'] for h in hits})), "legal_basis": basis, "items": []}
    if LANE_RANK[action.lane] > LANE_RANK.get(d.lane or "green", 0):
        d.lane = action.lane
        uow.record(LaneRaised(declaration_id=d.id, version=d.version, lane=d.lane, hunt_id=hunt.id))
    wanted = [(engage, action.task, TASK_STATUS[action.task])]
    if engage != lead and not any(t.agency == lead and t.open for t in current):
        wanted.append((lead, CUSTOMS_LANE_TASKS[d.lane][0] if d.lane in CUSTOMS_LANE_TASKS else "document_check",
                       "open"))
    fields = sorted(set(HOLD_FIELDS) | {h["pointer"] for h in hits if h["pointer"] != "/"})
    held_task, new = None, []
    for agency, kind, status in wanted:
        # Staged as lodging stages its tasks (one batched insert at commit); settle reads the same object.
        t = SimpleNamespace(id=new_id("TSK"), declaration_id=d.id, declaration_version=d.version, agency=agency,
                            task_type=kind, status=status, created_at=now,
                            due_at=now + timedelta(hours=HOLD_SLA_HOURS), decided_at=None, overdue_raised=False,
                            reasons=[reason], fields=["/"] if agency == lead else fields, last_decision=None)
        uow.stage(AgencyTask, t.__dict__)
        new.append(t)
        held_task = held_task or t
        uow.record(TaskCreated(declaration_id=d.id, agency=agency, task_id=t.id, task_type=kind,
                               due_at=t.due_at.isoformat(), rules=[reason["rule"]]))
        if status == "held":
            t.last_decision = {"decision": "hold", "reason": HOLD_REASON, "officer": "system", "at": now.isoformat()}
            uow.record(TaskDecided(declaration_id=d.id, agency=agency, task_id=t.id, decision="hold", status=status,
                                   reason=HOLD_REASON))
        if agency != lead:  # its view of the declaration, kept on the row as routing's engagements are
            seen = d.engaged.get(agency, {"fields": [], "rules": []})
            d.engaged = {**d.engaged, agency: {"fields": sorted(set(seen["fields"]) | set(fields)),
                                               "rules": sorted(set(seen["rules"]) | {reason["rule"]})}}
    settle(uow, d, tasks + new)
    return held_task.id


def hunt_on(make_command):
    """An event handler that starts the hunt `make_command(event)` describes: the one line that subscribes an
    incident's or a notice's event to hunting (None from `make_command`: no hunt for that event)."""
    def handler(event, uow, *, access, risk, directory):
        cmd = make_command(event)
        if cmd is not None and not Indicators.model_validate(cmd.indicators).empty():
            return start_hunt(cmd, uow, access=access, risk=risk, directory=directory)

    handler.__name__ = f"hunt_on_{getattr(make_command, '__name__', 'event')}"
    return handler
