"""Reads of the risk catalogues: rules, watchlist entries, per-rule hit statistics, rules tried on history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, case, func, select

from concord.declarations.models import Declaration, DeclarationVersion
from concord.risk.handlers import require_agency_officer, require_analyst
from concord.risk.messages import TryRule
from concord.risk.models import InspectionOutcome, RiskRule, RuleHit, WatchlistEntry
from concord.risk.catalogue.history import DeclarationHistory
from concord.risk.catalogue.rules import CompiledRule, RuleSet, base_values, compile_rule
from concord.risk.scoring.assessment import LANES

SAMPLE_HITS = 20
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def list_rules(session, subject, *, include_inactive: bool = False) -> list[RiskRule]:
    """The rules in force (or every version), newest first; no subject is the console."""
    if subject is not None:
        require_analyst(subject)
    q = select(RiskRule).order_by(RiskRule.id, RiskRule.version.desc())
    return list(session.scalars(q if include_inactive else q.where(RiskRule.active)))


def list_entries(session, subject, now: datetime, *, include_lapsed: bool = False) -> list[WatchlistEntry]:
    """The subject's agency's own entries: other agencies' entries are only ever seen as hits."""
    require_agency_officer(subject)
    q = select(WatchlistEntry).where(WatchlistEntry.agency == subject.agency).order_by(WatchlistEntry.created_at)
    if not include_lapsed:
        q = q.where(WatchlistEntry.removed_at.is_(None),
                    (WatchlistEntry.expires_at.is_(None)) | (WatchlistEntry.expires_at > now))
    return list(session.scalars(q))


def rule_statistics(session, subject) -> list[dict]:
    """Per rule version: hits, how many of those were inspected, how many found irregular, the last hit."""
    if subject is not None:  # the console, which has the database anyway
        require_analyst(subject)
    o = InspectionOutcome
    labels = (select(o.declaration_id, o.version,
                     func.max(case((o.result == "irregular", 1), else_=0)).label("irregular"))
              .group_by(o.declaration_id, o.version).subquery())
    hits = (select(RuleHit.rule_id, RuleHit.rule_version, func.count().label("hits"),
                   func.max(RuleHit.hit_at).label("last_hit_at"),
                   func.count(labels.c.declaration_id).label("inspected"),
                   func.coalesce(func.sum(labels.c.irregular), 0).label("irregular"))
            .outerjoin(labels, and_(labels.c.declaration_id == RuleHit.declaration_id,
                                    labels.c.version == RuleHit.declaration_version))
            .group_by(RuleHit.rule_id, RuleHit.rule_version))
    counted = {(r.rule_id, r.rule_version): r for r in session.execute(hits)}
    out = []
    for rule in session.scalars(select(RiskRule).order_by(RiskRule.id, RiskRule.version)):
        c = counted.get((rule.id, rule.version))
        inspected, irregular = (c.inspected, int(c.irregular)) if c else (0, 0)
        out.append({"id": rule.id, "version": rule.version, "name": rule.name, "active": rule.active,
                    "hits": c.hits if c else 0, "inspected": inspected, "irregular": irregular,
                    "hit_rate": round(irregular / inspected, 4) if inspected else None,
                    "last_hit_at": c.last_hit_at.isoformat() if c and c.last_hit_at else None})
    return out


def try_rule(cmd: TryRule, uow, *, directory) -> dict:
    """How many past declarations the expression would have hit, and how many of those were found irregular."""
    if uow.subject is not None:  # the console (no subject) has the database anyway
        require_analyst(uow.subject)
    program = compile_rule(cmd.expression)
    rules = RuleSet([CompiledRule("TRY", 0, "tried", "", "low", "green", EPOCH, None, program,
                                  cmd.expression)], 0, live=False)
    with uow:
        s = uow.session
        rates = directory.current(s).rates
        labels = {}
        for row in s.execute(select(InspectionOutcome.declaration_id, InspectionOutcome.result)):
            if labels.get(row.declaration_id) != "irregular":  # one irregular finding by any agency labels it
                labels[row.declaration_id] = row.result
        q = (select(DeclarationVersion.declaration_id, DeclarationVersion.document, DeclarationVersion.submitted_at,
                    Declaration.lodged_at)
             .join(Declaration, and_(Declaration.id == DeclarationVersion.declaration_id,
                                     Declaration.version == DeclarationVersion.version)))
        # a rule reading history sees the declarations in lodging order, each after those lodged before it,
        # and from a horizon before `since`, as the live step would have
        history = DeclarationHistory() if rules.reads_history else None
        q = q.order_by(Declaration.lodged_at, Declaration.id) if history else q.order_by(DeclarationVersion.declaration_id)
        if cmd.since is not None:
            lead = timedelta(seconds=history.horizon) if history else timedelta(0)
            q = q.where(DeclarationVersion.submitted_at >= cmd.since - lead)
        scanned = hits = inspected = irregular = base_inspected = base_irregular = 0
        sample = []
        for row in s.execute(q.execution_options(yield_per=1000)):
            lodged = _aware(row.lodged_at)
            if history is not None:
                counted = cmd.since is None or _aware(row.submitted_at) >= cmd.since
                hit = counted and bool(rules.evaluate(row.document, rates, lodged, history, f"{row.declaration_id}/0"))
                history.record(row.document, base_values(row.document, rates), lodged, f"{row.declaration_id}/0")
                if not counted:
                    continue
            else:
                hit = bool(rules.evaluate(row.document, rates, declaration_id=row.declaration_id))
            scanned += 1
            label = labels.get(row.declaration_id)
            base_inspected += label is not None
            base_irregular += label == "irregular"
            if hit:
                hits += 1
                inspected += label is not None
                irregular += label == "irregular"
                if len(sample) < SAMPLE_HITS:
                    sample.append(row.declaration_id)
        result = {"scanned": scanned, "hits": hits, "inspected": inspected, "irregular": irregular,
                  "hit_rate": round(irregular / inspected, 4) if inspected else None,
                  "base_rate": round(base_irregular / base_inspected, 4) if base_inspected else None,
                  "errors": sum(rules.errors.values()), "sample": sample,
                  "first_error": next(({"declaration_id": d.split("/")[0] if d else None, "error": e}
                                       for d, e in rules.first_error.values()), None),
                  "since": cmd.since.isoformat() if cmd.since else None}
        uow.audit("risk:rule:tried", "declarations", detail={k: result[k] for k in ("scanned", "hits", "since")})
        uow.commit()
        return result


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def lanes_by_week(session, subject, now: datetime, weeks: int = 8) -> list[dict]:
    """A supervisor's weekly picture of selection (customs' risk results: lead officers and supervisors only): the
    declarations lodged per lane, and the hit rate of the agency's own inspections (irregular / inspected), by ISO
    week, oldest first. Counted per day in SQL (the lodging-time index), summed per week here."""
    from datetime import date

    require_analyst(subject)
    if not 1 <= weeks <= 53:
        from concord.errors import InvalidDocument, Problem

        raise InvalidDocument("bad number of weeks", [Problem("/weeks", "give 1 to 53 weeks")])
    today = now.date()
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))  # the Monday that starts the first week
    since = datetime(first.year, first.month, first.day, tzinfo=now.tzinfo)
    out = {}
    for n in range(weeks):
        year, week, _ = (first + timedelta(days=7 * n)).isocalendar()
        out[f"{year}-W{week:02d}"] = {"lanes": dict.fromkeys(LANES, 0), "inspected": 0, "irregular": 0}

    def week_of(day) -> dict | None:
        year, week, _ = date.fromisoformat(str(day)[:10]).isocalendar()
        return out.get(f"{year}-W{week:02d}")

    day = func.date(Declaration.lodged_at)
    for d, lane, n in session.execute(select(day, Declaration.lane, func.count())
                                      .where(Declaration.lodged_at >= since).group_by(day, Declaration.lane)):
        if (w := week_of(d)) is not None and lane:
            w["lanes"][lane] = w["lanes"].get(lane, 0) + n
    o = InspectionOutcome
    day = func.date(o.recorded_at)
    for d, result, n in session.execute(select(day, o.result, func.count()).where(
            o.agency == subject.agency, o.recorded_at >= since).group_by(day, o.result)):
        if (w := week_of(d)) is not None:
            w["inspected"] += n
            w["irregular"] += n if result == "irregular" else 0
    return [{"week": k, "declarations": sum(v["lanes"].values()), **v,
             "hit_rate": round(v["irregular"] / v["inspected"], 4) if v["inspected"] else None}
            for k, v in out.items()]
