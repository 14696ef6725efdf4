"""What the demo shows at the end: declarations per status and lane, the agencies engaged, the lodgement-to-release
times, and the audit log verified against a checkpoint signed over it."""

from __future__ import annotations

import statistics
from collections import Counter

from sqlalchemy import select

from concord.clearance.models import AgencyTask
from concord.declarations.models import Declaration


def summarize(app) -> dict:
    """Declarations per status and lane, tasks per agency, and the lodgement-to-release times."""
    with app.sessions() as s:
        decls = s.scalars(select(Declaration)).all()
        tasks = s.scalars(select(AgencyTask)).all()
        names = {code: a.name for code, a in app.directory.current(s).agencies.items()}
    hours = [(d.released_at - d.lodged_at).total_seconds() / 3600 for d in decls if d.released_at]
    per_agency: dict = {}
    for t in tasks:
        # Each task is counted once: still open, closed unanswered (superseded by an amendment or withdrawn with
        # a cancellation), or decided with its final outcome; the three add up to the tasks.
        row = per_agency.setdefault(t.agency, {"agency": names.get(t.agency, t.agency), "tasks": 0, "open": 0,
                                               "closed": 0, "decided": Counter(), "decision_hours": []})
        row["tasks"] += 1
        if t.open:
            row["open"] += 1
        elif t.status in ("superseded", "withdrawn"):
            row["closed"] += 1
        else:
            row["decided"][t.status] += 1
            if t.decided_at:
                row["decision_hours"].append((t.decided_at - t.created_at).total_seconds() / 3600)
    return {
        "declarations": len(decls),
        "by_status": dict(Counter(d.status for d in decls).most_common()),
        "by_lane": dict(Counter(d.lane for d in decls).most_common()),
        "by_agency": {code: {"agency": r["agency"], "tasks": r["tasks"], "open": r["open"],
                             "superseded_or_withdrawn": r["closed"], "outcomes": dict(r["decided"].most_common()),
                             "median_hours_to_decision": _median(r["decision_hours"])}
                      for code, r in sorted(per_agency.items())},
        "released": len(hours),
        "median_hours_lodgement_to_release": _median(hours),
        "p90_hours_lodgement_to_release": round(statistics.quantiles(hours, n=10)[-1], 1) if len(hours) > 9 else None,
    }


def _median(values) -> float | None:
    return round(statistics.median(values), 1) if values else None


def audit_summary(app) -> dict:
    """Sign a checkpoint over the demo's log and verify the whole log against it, as an auditor would."""
    from concord.audit.checkpoints import Checkpointer, signer_from_settings
    from concord.audit.verify import verify_log

    signer = signer_from_settings(app.settings)
    checkpoint = Checkpointer(app.sessions, signer, app.clock, write_lock=app.write_lock).issue()
    with app.engine.connect() as conn:
        report = verify_log(conn, signer.vkey, workers=1)
    return {"entries": report.entries, "checkpoint_size": checkpoint.size if checkpoint else None,
            "verified": report.ok, "first_bad_seq": report.first_bad_seq}


def print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from concord.demo.stories import print_enforcement, print_trs

    console = Console(width=max(Console().width, 130))  # agency names and outcomes need the room
    for title, column, counts in ((f"{summary['declarations']} declarations", "status", summary["by_status"]),
                                  ("risk lanes", "lane", summary["by_lane"])):
        t = Table(title=title)
        t.add_column(column)
        t.add_column("count", justify="right")
        for key, n in counts.items():
            t.add_row(key, str(n))
        console.print(t)
    t = Table(title="agencies engaged (tasks = open + superseded or withdrawn + decided)")
    for col in ("agency", "tasks", "open", "superseded or withdrawn", "decided: final outcome", "median h to decision"):
        t.add_column(col, overflow="fold")
    for row in summary["by_agency"].values():
        t.add_row(row["agency"], str(row["tasks"]), str(row["open"]), str(row["superseded_or_withdrawn"]),
                  ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in row["outcomes"].items()), str(row["median_hours_to_decision"]))
    console.print(t)
    console.print(f"released: {summary['released']}; median lodgement to release "
                  f"{summary['median_hours_lodgement_to_release']} h (p90 {summary['p90_hours_lodgement_to_release']} h)")
    print_trs(console, summary["trs"])
    print_enforcement(summary["enforcement"])
    log = summary["audit_log"]
    console.print(f"audit log: {log['entries']} entries, checkpoint signed at size {log['checkpoint_size']}, "
                  f"verified: {'yes' if log['verified'] else 'NO, first bad seq ' + str(log['first_bad_seq'])}")
