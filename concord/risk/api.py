"""Risk routes: analysts' rules, agencies' watchlist entries, inspection outcomes."""

from fastapi import APIRouter, Depends, Query, Response

from concord.access.deps import concord_app, current_subject
from pydantic import BaseModel, ConfigDict, Field

from concord.bounds import NO_NUL, BoundedRoute
from concord.errors import InvalidDocument, Problem
from concord.risk import queries
from concord.risk.messages import (AddWatchlistEntry, CreateRule, RecordOutcome, RemoveWatchlistEntry, RetireRule,
                                   TryRule)
from concord.risk.schemas import OutcomeIn, RuleIn, RuleOut, TryIn, WatchlistEntryIn, WatchlistEntryOut

router = APIRouter(prefix="/api/v1/risk", tags=["risk"], route_class=BoundedRoute)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(max_length=2000, pattern=NO_NUL, description="why; it is kept in the audit log")


def _reason(body: ReasonIn | None) -> str:
    if body is None or not body.reason:
        raise InvalidDocument("say why", [Problem("/reason", "give a reason; it is kept in the audit log")])
    return body.reason


@router.post("/rules", status_code=201)
def create_rule(body: RuleIn, response: Response, subject=Depends(current_subject), app=Depends(concord_app)):
    """A new rule, or a new version of the rule with the same id; the expression is checked before it is stored."""
    result = app.bus.handle(CreateRule(rule=body.model_dump(mode="json")), subject=subject)
    response.headers["Location"] = f"/api/v1/risk/rules/{result['id']}"
    return result


@router.get("/rules", response_model=list[RuleOut])
def list_rules(all_versions: bool = Query(False, alias="all"), subject=Depends(current_subject),
               app=Depends(concord_app)):
    """The rules in force; ?all=true adds retired and superseded versions."""
    with app.sessions() as s:
        return queries.list_rules(s, subject, include_inactive=all_versions)


@router.get("/rules/stats")
def rule_stats(subject=Depends(current_subject), app=Depends(concord_app)):
    """Per rule version: hits, inspected, found irregular; rules that never hit are candidates for retirement."""
    with app.sessions() as s:
        return queries.rule_statistics(s, subject)


@router.get("/lanes")
def lanes(weeks: int = Query(8, ge=1, le=53, description="how many ISO weeks, the current one last"),
          subject=Depends(current_subject), app=Depends(concord_app)):
    """Declarations lodged per lane and the hit rate of the agency's own inspections, per ISO week (customs)."""
    with app.sessions() as s:
        return queries.lanes_by_week(s, subject, app.clock.now(), weeks)


@router.post("/rules/try")
def try_rule(body: TryIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """How many past declarations an expression would have hit, and how many of those were found irregular."""
    return app.bus.handle(TryRule(expression=body.expression, since=body.since), subject=subject)


@router.post("/rules/{rule_id}/retire")
def retire_rule(rule_id: str, body: ReasonIn | None = None, subject=Depends(current_subject), app=Depends(concord_app)):
    return app.bus.handle(RetireRule(rule_id=rule_id, reason=_reason(body)), subject=subject)


@router.post("/watchlist", status_code=201)
def add_entry(body: WatchlistEntryIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """Share a watchlist entry on behalf of your agency."""
    return app.bus.handle(AddWatchlistEntry(entry=body.model_dump(mode="json")), subject=subject)


@router.get("/watchlist", response_model=list[WatchlistEntryOut])
def list_entries(lapsed: bool = False, subject=Depends(current_subject), app=Depends(concord_app)):
    """Your agency's entries; other agencies' entries show only as hits on declarations."""
    with app.sessions() as s:
        return queries.list_entries(s, subject, app.clock.now(), include_lapsed=lapsed)


@router.delete("/watchlist/{entry_id}")
def remove_entry(entry_id: str, reason: str = Query(..., min_length=3, max_length=2000), subject=Depends(current_subject),
                 app=Depends(concord_app)):
    return app.bus.handle(RemoveWatchlistEntry(entry_id=entry_id, reason=reason), subject=subject)


@router.post("/outcomes", status_code=201)
def record_outcome(body: OutcomeIn, response: Response, subject=Depends(current_subject), app=Depends(concord_app)):
    """What an inspection found; the same outcome again answers 200 with the first record."""
    result = app.bus.handle(RecordOutcome(outcome=body.model_dump(mode="json")), subject=subject)
    if result["replayed"]:
        response.status_code = 200
    return result
