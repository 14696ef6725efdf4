"""Every TRS milestone of a declaration, read from its event log, and who holds the goods in each interval.

The events table is the hub's event log (each event written with the state it describes), so the milestones are
its rows, named in the study's terms:

| milestone | event |
|---|---|
| lodgement | declaration.lodged |
| risk decision | declaration.risk_assessed (again after an amendment) |
| task assigned / decided | task.created / task.decided (final when approved, with conditions, or refused) |
| documents requested / supplied | task.documents_requested / task.documents_supplied |
| inspection requested / started / finished | inspection.requested / inspection.started / inspection.finished |
| laboratory result | inspection.lab_result_recorded |
| arrival | declaration.goods_arrived |
| all agencies cleared (pre-arrival processing done) | declaration.cleared |
| release | declaration.released |
| exit | declaration.goods_exited |

Who holds the goods at each moment, from the first of lodgement and arrival to the exit (or the release when no
exit is recorded); exactly one holder per interval:

1. released: **terminal** (the goods wait at the terminal for the trader's haulier until they exit);
2. not lodged yet (the goods arrived first): **trader**;
3. an agency waits for documents it asked for: **trader**;
4. an agency's task is open: **that agency**; with several open at once, the one that decides last (the goods
   leave only when the slowest has decided; ties go to the lead agency, then by code);
5. nothing open and the goods not arrived: **carrier** (cleared before arrival, still on the way);
6. otherwise **customs** (the lead agency: nothing else holds the goods).

Intervals before the arrival are the pre-arrival phase: processing done while the goods are on the way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

FINAL = ("approved", "approved_with_conditions", "refused")
MILESTONES = {
    "declaration.lodged": "lodgement", "declaration.risk_assessed": "risk_decision",
    "declaration.amended": "amendment", "task.created": "task_assigned", "task.decided": "task_decided",
    "task.documents_requested": "documents_requested", "task.documents_supplied": "documents_supplied",
    "inspection.requested": "inspection_requested", "inspection.started": "inspection_started",
    "inspection.finished": "inspection_finished", "inspection.lab_result_recorded": "laboratory_result",
    "declaration.goods_arrived": "arrival", "declaration.cleared": "cleared", "declaration.released": "release",
    "declaration.refused": "refusal", "declaration.cancelled": "cancellation", "declaration.goods_exited": "exit",
}
TERMINAL_HOLDERS = ("trader", "terminal", "carrier")  # holders that are not agencies
PRE_ARRIVAL, TO_RELEASE, TO_EXIT = "pre_arrival", "arrival_to_release", "release_to_exit"


@dataclass(frozen=True)
class Milestone:
    name: str
    at: datetime
    agency: str | None = None
    task_id: str | None = None
    detail: str | None = None  # the task's status after a decision, the inspection outcome, ...


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    holder: str
    phase: str

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def milestones(events) -> list[Milestone]:
    """The declaration's milestones in order, from its events (name, occurred_at, agency, payload), in seq order."""
    out = []
    for name, at, agency, payload in events:
        if name in MILESTONES:
            out.append(Milestone(MILESTONES[name], at, agency, payload.get("task_id"),
                                 payload.get("status") or payload.get("outcome") or payload.get("result")))
    return out


def with_decisions(ms: list[Milestone], decided) -> list[Milestone]:
    """Add the decisions no event records: the lead's task in the green and blue lanes is approved as it is created.
    `decided`: (task id, agency, decided_at, status) of the declaration's decided tasks."""
    known = {m.task_id for m in ms if m.name == "task_decided" and m.detail in FINAL}
    extra = [Milestone("task_decided", at, agency, tid, status) for tid, agency, at, status in decided
             if at is not None and status in FINAL and tid not in known]
    return sorted(ms + extra, key=lambda m: m.at) if extra else ms  # stable: an added decision follows its instant


def with_declared_arrival(ms: list[Milestone], declared: datetime | None) -> list[Milestone]:
    """Goods that arrived before their declaration was lodged: the arrival is recorded on a declaration, so it
    can only follow the lodgement; the time the declaration states is the arrival then (the trader held the goods
    from it until it lodged)."""
    lodged = first(ms, "lodgement")
    if declared is None or lodged is None or declared >= lodged:
        return ms
    return [Milestone("arrival", declared, detail="declared")] + ms


def first(ms: list[Milestone], name: str) -> datetime | None:
    return next((m.at for m in ms if m.name == name), None)


def intervals(ms: list[Milestone], lead: str) -> list[Interval]:
    """The holders from the first of lodgement and arrival to the exit (else the release, refusal or
    cancellation); empty while the declaration has none of those ends."""
    lodged, arrived = first(ms, "lodgement"), first(ms, "arrival")
    end = first(ms, "exit") or first(ms, "release") or first(ms, "refusal") or first(ms, "cancellation")
    starts = [t for t in (lodged, arrived) if t is not None]
    if not starts or end is None:
        return []
    released = first(ms, "release")
    closes = _closing_times(ms)
    tasks: dict = {}  # task id -> [agency, open, awaiting the trader]
    out: list[Interval] = []
    cursor = min(starts)
    for i, m in enumerate(ms):
        if m.at > cursor:
            _add(out, cursor, min(m.at, end), _holder(tasks, closes, lodged, arrived, released, cursor, lead),
                 _phase(cursor, arrived, released))
            cursor = min(m.at, end)
        _apply(tasks, m)
        if cursor >= end:
            break
    if cursor < end:
        _add(out, cursor, end, _holder(tasks, closes, lodged, arrived, released, cursor, lead),
             _phase(cursor, arrived, released))
    return out


def _closing_times(ms) -> dict:
    """When each task closes for good (its final decision, or the amendment or end that supersedes it)."""
    closes: dict = {}
    opened: list = []
    for m in ms:
        if m.name == "task_assigned":
            opened.append(m.task_id)
        elif m.name == "task_decided" and m.detail in FINAL:
            closes.setdefault(m.task_id, m.at)
        elif m.name in ("amendment", "refusal", "cancellation"):
            for t in opened:
                closes.setdefault(t, m.at)
    return closes


def _apply(tasks: dict, m: Milestone) -> None:
    if m.name == "task_assigned":
        tasks[m.task_id] = [m.agency, True, False]
    elif m.task_id in tasks and m.name == "task_decided":
        tasks[m.task_id][1] = m.detail not in FINAL
        tasks[m.task_id][2] = m.detail == "documents_requested"
    elif m.task_id in tasks and m.name == "documents_supplied":
        tasks[m.task_id][2] = False
    elif m.name in ("amendment", "refusal", "cancellation"):
        for t in tasks.values():
            t[1] = False  # superseded or withdrawn: the new version's tasks follow


def _holder(tasks, closes, lodged, arrived, released, at, lead: str) -> str:
    if released is not None and at >= released:
        return "terminal"
    if lodged is None or at < lodged:
        return "trader"
    live = [(tid, t) for tid, t in tasks.items() if t[1]]
    if any(t[2] for _, t in live):
        return "trader"
    if live:
        never = datetime.max.replace(tzinfo=at.tzinfo)
        _, t = max(live, key=lambda x: (closes.get(x[0], never), x[1][0] == lead, _rev(x[1][0])))
        return t[0]
    if arrived is None or at < arrived:
        return "carrier"
    return lead


def _rev(code: str) -> tuple:
    return tuple(-ord(c) for c in code)  # max() picks the alphabetically first code on a tie


def _phase(at, arrived, released) -> str:
    if released is not None and at >= released:
        return TO_EXIT
    return PRE_ARRIVAL if arrived is None or at < arrived else TO_RELEASE


def _add(out: list, start, end, holder: str, phase: str) -> None:
    if end <= start:
        return
    if out and out[-1].holder == holder and out[-1].phase == phase and out[-1].end == start:
        out[-1] = Interval(out[-1].start, end, holder, phase)
    else:
        out.append(Interval(start, end, holder, phase))
