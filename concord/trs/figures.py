"""The TRS figures from the declarations' milestones: medians, 90th percentiles and distributions per agency,
lane, office, mode, HS chapter and week; who holds the goods longest; the share cleared before arrival; SLA breaches.

Percentiles interpolate linearly between the two nearest values (numpy's default, `statistics.quantiles(...,
method="inclusive")`); a group of one value has that value as median and 90th percentile."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime

from concord.trs.milestones import PRE_ARRIVAL, TO_EXIT, TO_RELEASE, Interval, Milestone

BINS = (0, 1, 2, 4, 8, 12, 24, 48, 72)  # hours; the last bin is open ("72+ h")
DIMENSIONS = ("lane", "office", "mode", "hs_chapter", "week")
OTHER_AGENCIES = "other agencies"  # what a partner agency sees of the others' holding time


@dataclass
class TaskFacts:
    agency: str
    created_at: datetime
    due_at: datetime
    decided_at: datetime | None
    status: str


@dataclass
class Record:
    """One declaration as the figures read it."""

    id: str
    lane: str | None
    office: str
    mode: str | None
    chapters: list[str]
    lodged_at: datetime
    arrived_at: datetime | None
    released_at: datetime | None
    exited_at: datetime | None
    milestones: list[Milestone] = field(default_factory=list)
    intervals: list[Interval] = field(default_factory=list)
    tasks: list[TaskFacts] = field(default_factory=list)
    cleared_at: datetime | None = None  # every agency had cleared the goods (before or at arrival)

    @property
    def week(self) -> str:
        y, w, _ = (self.arrived_at or self.lodged_at).isocalendar()
        return f"{y}-W{w:02d}"

    def groups(self, dimension: str) -> list[str]:
        if dimension == "hs_chapter":
            return self.chapters
        return [str(getattr(self, {"office": "office", "mode": "mode", "lane": "lane", "week": "week"}[dimension]))]


def hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0 < q < 100), linear between the nearest ranks."""
    if not values:
        return None
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def bin_label(i: int) -> str:
    return f"{BINS[i]}+ h" if i == len(BINS) - 1 else f"{BINS[i]}-{BINS[i + 1]} h"


def stats(values: list[float]) -> dict:
    """Count, median, 90th percentile, mean, maximum and the distribution over BINS, in hours (2 decimals)."""
    dist = {bin_label(i): 0 for i in range(len(BINS))}
    for v in values:
        i = max(j for j, lo in enumerate(BINS) if v >= lo) if v >= 0 else 0
        dist[bin_label(i)] += 1
    r = lambda x: None if x is None else round(x, 2)  # noqa: E731
    return {"n": len(values), "median": r(statistics.median(values) if values else None),
            "p90": r(percentile(values, 90)), "mean": r(statistics.fmean(values) if values else None),
            "max": r(max(values) if values else None), "distribution": dist}


def holder_figures(records: list[Record], phases: tuple, mask) -> list[dict]:
    """Per holder: total hours, share of all the time in those phases, and per-declaration median and p90."""
    per: dict = {}
    for rec in records:
        mine: dict = {}
        for iv in rec.intervals:
            if iv.phase in phases:
                h = mask(iv.holder)
                mine[h] = mine.get(h, 0.0) + iv.hours
        for h, v in mine.items():
            per.setdefault(h, []).append(v)
    total = sum(sum(v) for v in per.values()) or 1.0
    rows = [{"holder": h, "hours": round(sum(v), 2), "share": round(sum(v) / total, 4), "declarations": len(v),
             "median": stats(v)["median"], "p90": stats(v)["p90"]} for h, v in per.items()]
    return sorted(rows, key=lambda r: (-r["hours"], r["holder"]))


def agency_figures(records: list[Record], as_of: datetime) -> dict:
    """Per agency: tasks, hours from assignment to decision, SLA breaches (decided late, or open past the due time
    at `as_of`); tasks closed unanswered (superseded, withdrawn) are not counted."""
    per: dict = {}
    for rec in records:
        for t in rec.tasks:
            if t.status in ("superseded", "withdrawn"):
                continue
            row = per.setdefault(t.agency, {"tasks": 0, "decided": [], "breaches": 0, "open": 0})
            row["tasks"] += 1
            end = t.decided_at or as_of
            if t.decided_at is not None:
                row["decided"].append(hours(t.created_at, t.decided_at))
            else:
                row["open"] += 1
            if end > t.due_at:
                row["breaches"] += 1
    return {a: {"tasks": r["tasks"], "open": r["open"], "decision_hours": stats(r["decided"]),
                "sla_breaches": r["breaches"], "sla_breach_share": round(r["breaches"] / r["tasks"], 4)}
            for a, r in sorted(per.items())}


def report(records: list[Record], *, start: datetime, end: datetime, as_of: datetime, mask=lambda h: h) -> dict:
    """Every figure of the report over `records` (the declarations the reader may see), holders through `mask`."""
    released = [r for r in records if r.released_at is not None and r.arrived_at is not None]
    a2r = [hours(r.arrived_at, r.released_at) for r in released]
    by = {dim: {} for dim in DIMENSIONS}
    for r in released:
        for dim in DIMENSIONS:
            for g in r.groups(dim):
                by[dim].setdefault(g, []).append(hours(r.arrived_at, r.released_at))
    before = [r for r in released if r.cleared_at is not None and r.cleared_at <= r.arrived_at]
    lodged_before = [r for r in records if r.arrived_at is None or r.lodged_at < r.arrived_at]
    holders = {phase: holder_figures(released, (phase,), mask) for phase in (PRE_ARRIVAL, TO_RELEASE, TO_EXIT)}
    physical = holder_figures(released, (TO_RELEASE, TO_EXIT), mask)
    return {
        "from": start.isoformat(), "to": end.isoformat(), "as_of": as_of.isoformat(),
        "declarations": len(records), "released": len(released),
        "arrival_to_release_hours": stats(a2r),
        "lodgement_to_release_hours": stats([hours(r.lodged_at, r.released_at) for r in released]),
        "arrival_to_exit_hours": stats([hours(r.arrived_at, r.exited_at) for r in released if r.exited_at]),
        "released_on_arrival": {"count": len(before), "share": round(len(before) / len(released), 4) if released else None},
        "lodged_before_arrival": {"count": len(lodged_before),
                                  "share": round(len(lodged_before) / len(records), 4) if records else None},
        "holders": holders,
        "holders_after_arrival": physical,
        # from arrival to release: after it, the terminal holds released goods until the trader's haulier comes
        "longest_holder": holders[TO_RELEASE][0]["holder"] if holders[TO_RELEASE] else None,
        "by": {dim: {g: stats(v) for g, v in sorted(groups.items())} for dim, groups in by.items()},
        "agencies": agency_figures(records, as_of),
    }
