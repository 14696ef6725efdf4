"""The demo's stories after the fortnight: the time release headline and the enforcement story (a seizure, its hunt,
a notice, a joint operation), each told through the real handlers and cut by the access rule."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from concord.access.handlers import subject_for
from concord.access.models import User
from concord.clock import FixedClock
from concord.demo.run import START


def enforcement(app, clock: FixedClock) -> dict:
    """Plant health finds cocaine in a banana container; the police see it under their agreement; a notice goes to
    the food authority, which answers; a joint operation of three agencies runs its tasks with one escalation."""
    from concord.hunting.models import Hunt, HuntMatch
    from concord.incidents import queries
    from concord.incidents.messages import (AssignOperationTask, CompleteOperationTask, EscalateOverdueTasks,
                                            GiveNoticeFeedback, IssueNotice, OpenOperation, RecordIncident)
    from concord.messaging.audiences import messages_for
    from concord.messaging.models import EventRecord

    with app.sessions() as s:
        lead = app.lead_agency(s)
        who = {u.id: subject_for(u, lead) for u in s.scalars(select(User))}
    now = clock.now()
    seizure = {"category": "seizure", "severity": "critical", "title": "Cocaine in banana boxes",
               "summary": "found at the phytosanitary check of a reefer container", "occurred_at": now.isoformat(),
               "location": {"office": "NLRTM", "place": "Reefer terminal, quay 7", "country": "NL"},
               "found": [{"goods": "cocaine", "hs_code": "293979", "origin": "EC", "quantity": "120", "unit": "KGM",
                          "concealment": "bricks under the false floor of banana boxes"}],
               "containers": ["MSCU1234566"], "conveyance": "IMO9074729",
               "indicators": {"containers": ["MSCU1234566"], "hs": ["0803"], "origins": ["EC"]}}
    inc = app.bus.handle(RecordIncident(document=seizure), subject=who["nppo-officer"])["id"]
    with app.sessions() as s:
        police = queries.get_incident(s, who["pol-officer"], inc, "criminal_investigation", access=app.access)
        maritime = queries.list_incidents(s, who["mar-officer"], purpose="criminal_investigation", access=app.access)
    notice = app.bus.handle(IssueNotice(document={
        "title": "Banana consignments from Ecuador used for cocaine", "purpose": "public_health",
        "indicators": {"hs": ["0803"], "origins": ["EC"]}, "recommended_action": "inspect",
        "valid_until": (now + timedelta(days=30)).isoformat(),
        "feedback_due_at": (now + timedelta(days=7)).isoformat()}), subject=who["nppo-officer"])
    app.bus.handle(GiveNoticeFeedback(notice_id=notice["id"], action_taken="inspected", result="hit",
                                      note="two pallets of the same exporter held"), subject=who["fda-officer"])
    op = app.bus.handle(OpenOperation(document={
        "name": "Operation Banana Split", "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=14)).isoformat(),
        "template": [{"name": "containers_checked", "type": "number", "required": True}],
        "members": [{"user_id": "pol-officer", "role": "member"},
                    {"user_id": "cus-supervisor", "role": "supervisor"}]}),
        subject=who["nppo-officer"])["id"]
    due = (now + timedelta(hours=4)).isoformat()
    trace = app.bus.handle(AssignOperationTask(operation_id=op, title="Trace the consignee", owner="pol-officer",
                                               due_at=due), subject=who["nppo-officer"])["id"]
    held = app.bus.handle(AssignOperationTask(operation_id=op, title="Hold the sister containers at the quay",
                                              owner="cus-supervisor", due_at=due), subject=who["nppo-officer"])["id"]
    app.bus.handle(CompleteOperationTask(operation_id=op, task_id=held, report={"containers_checked": 3}),
                   subject=who["cus-supervisor"])
    clock.advance(hours=5)
    escalated = app.bus.handle(EscalateOverdueTasks())
    clock.advance(hours=1)  # the supervisor's reminder works: nothing is left for the server's job to escalate
    app.bus.handle(CompleteOperationTask(operation_id=op, task_id=trace, report={"containers_checked": 1}),
                   subject=who["pol-officer"])
    with app.sessions() as s:
        issuer = queries.get_notice(s, who["nppo-officer"], notice["id"], access=app.access)
        team = queries.get_operation(s, who["pol-officer"], op, access=app.access)
        rows = [{"id": e.id, "name": e.name, "declaration_id": None, "agency": e.agency, "occurred_at": e.occurred_at,
                 "payload": e.payload} for e in s.scalars(select(EventRecord).where(
                     EventRecord.declaration_id.is_(None), EventRecord.name.like("incident.%")
                     | EventRecord.name.like("notice.%") | EventRecord.name.like("operation.%")))]
        streams = Counter(m["audience"] for m in messages_for(s, rows, access=app.access))
        hunt = s.scalars(select(Hunt).where(Hunt.source == f"incident/{inc}")).one()
        matches = s.scalars(select(HuntMatch).where(HuntMatch.hunt_id == hunt.id)).all()
    return {"incident": {"category": "seizure", "owner": "NPPO", "police_see": sorted(police["document"]),
                         "maritime_sees": maritime["total"]},
            "hunt": {"held": sum(m.pending for m in matches), "recent": sum(not m.pending for m in matches),
                     "watch_until": hunt.valid_until.date().isoformat()},
            "notice": {"recipients": notice["recipients"], "feedback": issuer["deliveries"][0]["result"],
                       "hit_rate": issuer["stats"]["hit_rate"]},
            "operation": {"agencies": sorted({m["agency"] for m in team["members"]}), "tasks": len(team["tasks"]),
                          "done": sum(t["status"] == "done" for t in team["tasks"]), "escalations": escalated},
            "event_stream": dict(sorted(streams.items()))}


def print_enforcement(e: dict) -> None:
    """What the enforcement story did, in a few lines."""
    from rich.console import Console

    console = Console(width=max(Console().width, 130))
    i, n, o, h = e["incident"], e["notice"], e["operation"], e["hunt"]
    console.print(f"enforcement: {i['owner']} recorded a {i['category']}; the police (under MOU-NPPO-POL-SEIZURES) "
                  f"see {', '.join(i['police_see'])}; maritime security sees {i['maritime_sees']} incidents")
    console.print(f"hunt on the seizure's indicators: {h['held']} pending declarations held for plant health, "
                  f"{h['recent']} of the last 30 days reported to it; new ones meet it until {h['watch_until']}")
    console.print(f"notice to {', '.join(n['recipients'])}: feedback {n['feedback']}, hit rate {n['hit_rate']}; "
                  f"operation of {', '.join(o['agencies'])}: {o['done']}/{o['tasks']} tasks done, "
                  f"{o['escalations']} escalated (then done); event stream messages per agency: "
                  + ", ".join(f"{k} {v}" for k, v in e["event_stream"].items()))


def trs_headline(app) -> dict:
    """The time release study's headline over the demo's fortnight, as the lead agency sees it (docs/trs.md)."""
    from concord.access.identity import Subject
    from concord.trs.queries import trs_report

    with app.sessions() as s:
        lead = Subject("demo", app.lead_agency(s), None, frozenset({"auditor"}), lead=True)
        rep = trs_report(s, lead, START, START + timedelta(days=11), as_of=app.clock.now(), access=app.access)
    a2r, holders = rep["arrival_to_release_hours"], rep["holders"]["arrival_to_release"]
    worst = max(rep["agencies"].items(), key=lambda kv: (kv[1]["sla_breach_share"], kv[0]), default=(None, None))
    return {"released": rep["released"], "median_hours_arrival_to_release": a2r["median"],
            "p90_hours_arrival_to_release": a2r["p90"], "released_on_arrival_share": rep["released_on_arrival"]["share"],
            "longest_holder": holders[0]["holder"] if holders else None,
            "longest_holder_hours": holders[0]["hours"] if holders else None,
            "most_sla_breaches": {"agency": worst[0], "breaches": worst[1]["sla_breaches"],
                                  "tasks": worst[1]["tasks"]} if worst[0] else None}




def print_trs(console, trs: dict) -> None:
    """The time release study's headline line (`concord trs report` gives the whole report)."""
    share = trs["released_on_arrival_share"]
    worst = trs["most_sla_breaches"] or {}
    console.print(f"time release (WCO TRS): arrival to release median {trs['median_hours_arrival_to_release']} h "
                  f"(p90 {trs['p90_hours_arrival_to_release']} h); released on arrival "
                  f"{'-' if share is None else round(share * 100, 1)} %; holds the goods longest from arrival to release: "
                  f"{trs['longest_holder']} ({trs['longest_holder_hours']} h in all); most SLA breaches: "
                  f"{worst.get('agency')} ({worst.get('breaches')} of {worst.get('tasks')} tasks)")
