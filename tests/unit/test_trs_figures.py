"""TRS figures against a small case computed by hand (hours from Monday 5 January 2026, 00:00 UTC)."""

from datetime import datetime, timedelta, timezone

from concord.trs import figures
from concord.trs.milestones import Milestone, intervals, with_decisions

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)


def h(x: float) -> datetime:
    return T0 + timedelta(hours=x)


def m(name, at, agency=None, task=None, detail=None):
    return Milestone(name, h(at), agency, task, detail)


# A: lodged before arrival; NPPO asks for documents (trader holds 2-5 h); cleared at 6 h, 4 h before the goods arrive;
#    released on arrival at 10 h, exit at 14 h. The lead's green-lane task has no decision event (approved at once).
A = [m("lodgement", 0), m("risk_decision", 0), m("task_assigned", 0, "CUS", "A1"), m("task_assigned", 0, "NPPO", "A2"),
     m("task_decided", 2, "NPPO", "A2", "documents_requested"), m("documents_supplied", 5, "NPPO", "A2"),
     m("task_decided", 6, "NPPO", "A2", "approved"), m("cleared", 6), m("arrival", 10), m("release", 10),
     m("exit", 14)]
# B: arrives first, lodged 3 h later; customs (5 h) and VET (9 h) in parallel: VET decides last and holds 3-9 h.
B = [m("arrival", 0), m("lodgement", 3), m("task_assigned", 3, "CUS", "B1"), m("task_assigned", 3, "VET", "B2"),
     m("task_decided", 5, "CUS", "B1", "approved"), m("task_decided", 9, "VET", "B2", "approved"), m("release", 9)]
# C: customs alone, 0-4 h, past its 2 h SLA.
C = [m("arrival", 0), m("lodgement", 0), m("task_assigned", 0, "CUS", "C1"), m("task_decided", 4, "CUS", "C1", "approved"),
     m("release", 4)]


def record(rid, ms, lane, chapters, tasks):
    first = lambda name: next((x.at for x in ms if x.name == name), None)  # noqa: E731
    return figures.Record(rid, lane, "NLRTM", "sea", chapters, first("lodgement"), first("arrival"), first("release"),
                          first("exit"), ms, intervals(ms, "CUS"),
                          [figures.TaskFacts(a, h(c), h(c + due), None if d is None else h(d), "approved")
                           for a, c, due, d in tasks], first("cleared") or first("release"))


def records():
    a = with_decisions(A, [("A1", "CUS", h(0), "approved")])
    return [record("A", a, "green", ["08"], [("CUS", 0, 0, 0), ("NPPO", 0, 24, 6)]),
            record("B", B, "yellow", ["03", "08"], [("CUS", 3, 4, 5), ("VET", 3, 12, 9)]),
            record("C", C, "yellow", ["61"], [("CUS", 0, 2, 4)])]


def test_every_interval_has_exactly_one_holder_and_they_tile_the_stay():
    for rec in records():
        ivs = rec.intervals
        assert ivs[0].start == min(t for t in (rec.lodged_at, rec.arrived_at) if t)
        assert ivs[-1].end == (rec.exited_at or rec.released_at)
        assert all(a.end == b.start for a, b in zip(ivs, ivs[1:]))  # no gap, no overlap
        assert all(isinstance(iv.holder, str) and iv.holder for iv in ivs)
    a, b, c = (r.intervals for r in records())
    assert [(iv.holder, iv.phase, iv.hours) for iv in a] == [
        ("NPPO", "pre_arrival", 2), ("trader", "pre_arrival", 3), ("NPPO", "pre_arrival", 1),
        ("carrier", "pre_arrival", 4), ("terminal", "release_to_exit", 4)]
    assert [(iv.holder, iv.hours) for iv in b] == [("trader", 3), ("VET", 6)]
    assert [(iv.holder, iv.hours) for iv in c] == [("CUS", 4)]


def test_the_report_against_figures_computed_by_hand():
    rep = figures.report(records(), start=T0, end=h(24 * 7), as_of=h(48))
    a2r = rep["arrival_to_release_hours"]
    assert (a2r["n"], a2r["median"], a2r["p90"], a2r["mean"]) == (3, 4, 8.0, round(13 / 3, 2))  # 0, 4, 9 hours
    assert a2r["distribution"]["0-1 h"] == 1 and a2r["distribution"]["4-8 h"] == 1 and a2r["distribution"]["8-12 h"] == 1
    assert rep["released_on_arrival"] == {"count": 1, "share": 0.3333}
    assert rep["lodged_before_arrival"] == {"count": 1, "share": 0.3333}
    assert rep["arrival_to_exit_hours"]["median"] == 4
    after = {r["holder"]: (r["hours"], r["share"]) for r in rep["holders_after_arrival"]}
    assert after == {"VET": (6, round(6 / 17, 4)), "terminal": (4, round(4 / 17, 4)), "CUS": (4, round(4 / 17, 4)),
                     "trader": (3, round(3 / 17, 4))}
    assert rep["longest_holder"] == "VET"
    assert rep["by"]["lane"]["yellow"]["median"] == 6.5 and rep["by"]["lane"]["green"]["median"] == 0
    assert rep["by"]["hs_chapter"]["08"]["n"] == 2 and rep["by"]["week"]["2026-W02"]["n"] == 3
    assert rep["agencies"]["CUS"]["tasks"] == 3 and rep["agencies"]["CUS"]["sla_breaches"] == 1  # C: 4 h > 2 h
    assert rep["agencies"]["VET"]["sla_breaches"] == 0 and rep["agencies"]["NPPO"]["decision_hours"]["median"] == 6


def test_a_partner_agency_sees_the_others_merged():
    rep = figures.report(records(), start=T0, end=h(24 * 7), as_of=h(48),
                         mask=lambda x: x if x in ("VET", "trader", "terminal", "carrier") else "other agencies")
    after = {r["holder"]: r["hours"] for r in rep["holders_after_arrival"]}
    assert after == {"VET": 6, "terminal": 4, "other agencies": 4, "trader": 3}


def test_percentiles_interpolate_between_ranks():
    assert figures.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9.1
    assert figures.percentile([5], 90) == 5 and figures.percentile([], 90) is None
