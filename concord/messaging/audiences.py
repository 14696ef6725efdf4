"""The event stream is an exit: each event leaves once per audience entitled to it, cut by the timeline's rule.

An event about a declaration goes to the lead agency, to each agency engaged on it (or named by the event) whose
read the policy decision point allows, and to the declaring trader, each as that audience's timeline would show it
(`views.event_model` cut by `exits.cut` through the audience's lens), and never to anyone who could not read the
declaration: not even its id. Streams state no purpose, so agreements (which are read per stated purpose, and audited
per read) add no audience; a granted access request does. An event that concerns no declaration is addressed to the
agency it names (an access request to its provider, a decision to its requester, a list load to its owner), else to
the lead. Events of incidents, notices and operations go to the agencies entitled to the record
(concord.incidents.audiences). There is no subject for everyone."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import select

from concord.access.exits import Lens, cut
from concord.access.identity import Subject
from concord.access.policy import DeclarationAt, authorize
from concord.clearance.models import AgencyTask
from concord.clock import as_utc
from concord.declarations import views
from concord.declarations.models import Declaration
from concord.driver import one_of

_CHUNK = 500  # declaration ids per query
_UNSAFE = re.compile(r"[\s.*>~]")  # not allowed in a NATS subject token ('~' escapes the rest)


def audience_token(name: str) -> str:
    """An audience as one NATS subject token, so a subscriber's allow list can name it exactly."""
    return _UNSAFE.sub(lambda m: f"~{ord(m.group()):02x}", name)


def trader_audience(trader_id: str) -> str:
    """The trader's own audience: `trader-<its id>`."""
    return audience_token(f"trader-{trader_id}")


@lru_cache(maxsize=4096)
def stream_subject(audience: str, trader_id: str | None, agency: str | None, lead: bool) -> Subject:
    """Who a stream reads as: an officer of the agency (or the trader itself), with no purpose stated."""
    if trader_id is not None:
        return Subject(f"stream:{audience}", None, trader_id, frozenset({"trader"}))
    return Subject(f"stream:{audience}", agency, None, frozenset({"officer"}), lead=lead)


class _Event(NamedTuple):  # tuples, not dataclasses: built once per row on the hot path
    """An outbox row as `views.event_model` reads it."""

    name: str
    agency: str | None
    payload: dict
    occurred_at: datetime


def messages_for(session, rows: list[dict], *, access) -> list[dict]:
    """The messages to publish for these outbox rows: one per event and entitled audience, in the rows' order.

    Each row: id, name, declaration_id, agency, occurred_at (datetime), payload. Each message: id (the event's,
    for consumers' deduplication), name, declaration_id, agency, occurred_at, audience, payload (what the
    audience may see, with `withheld` naming the agency to ask). `access`: what the policy decision point reads
    besides the record (concord.access.context.AccessContext)."""
    lead = access.lead_of(session)
    found = _declarations(session, {r["declaration_id"] for r in rows if r["declaration_id"]})
    named: dict = {}  # the agencies each declaration's events name: candidates, though no longer engaged
    for r in rows:
        named.setdefault(r["declaration_id"], set()).add(r["agency"])
    lenses: dict = {}
    times: dict = {}  # a group commit's events share one instant: convert each once
    out = []
    for r in rows:
        at = times.get(r["occurred_at"]) or times.setdefault(r["occurred_at"], as_utc(r["occurred_at"]))
        e = _Event(r["name"], r["agency"], r["payload"], at)
        if r["declaration_id"] is None and r["name"].split(".", 1)[0] in RECORD_EVENTS:
            out += [_message(r, audience, agency, e.occurred_at.isoformat(), seen)
                    for audience, agency, seen in _record_audiences(session, r, access)]
            continue
        d, tasks = found.get(r["declaration_id"], (None, ()))
        if d is None:  # not about a declaration: to the agency it is addressed to (else the lead), whole
            to = lead if r["declaration_id"] else r["agency"] or lead  # a declaration not found: the lead's alone
            out.append(_message(r, audience_token(to), r["agency"], e.occurred_at.isoformat(), r["payload"]))
            continue
        if d.id not in lenses:
            lenses[d.id] = _audiences(session, d, tasks, lead, named[d.id], access)
        model = views.event_model(e, d, tasks, lead)
        for audience, lens in lenses[d.id]:
            for seen in cut([model], lens):  # none where the event is withheld from it (another agency's step)
                del seen["event"]  # a fresh dict: the cut copies what it shows; its head becomes the envelope
                out.append(_message(r, audience, seen.pop("agency"), seen.pop("at"), seen))
    return out


RECORD_EVENTS = ("incident", "notice", "operation")  # event name prefixes with audiences of their own


def _record_audiences(session, row: dict, access) -> list:
    """Incidents, notices and operations: each entitled agency, cut by the exit rule (concord.incidents.audiences)."""
    from concord.incidents.audiences import audiences

    return audiences(session, row, access)


def _message(r: dict, audience: str, agency, at: str, payload: dict) -> dict:
    return {"id": r["id"], "name": r["name"], "declaration_id": r["declaration_id"], "agency": agency,
            "occurred_at": at, "audience": audience, "payload": payload}


class _Task(NamedTuple):
    """What the timeline's event model reads of a task."""

    id: str
    agency: str
    status: str


def _declarations(session, ids: set) -> dict:
    """Each declaration as it stands (the policy's `DeclarationAt`) with all its tasks (every version's, as the
    timeline reads them), in two queries per chunk: core rows, not ORM objects, on the relay's hot path."""
    ids, found = sorted(ids), {}
    D, T = Declaration.__table__.c, AgencyTask.__table__.c
    dialect = session.get_bind().dialect
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        tasks: dict = {}
        for t in session.execute(select(T.declaration_id, T.id, T.agency, T.status)
                                 .where(one_of(T.declaration_id, chunk, dialect))):
            tasks.setdefault(t[0], []).append(_Task(t[1], t[2], t[3]))
        for d in session.execute(select(D.id, D.trader_id, D.hs_chapters, D.origins, D.office_of_entry, D.engaged)
                                 .where(one_of(D.id, chunk, dialect))):
            found[d[0]] = (DeclarationAt(d[0], d[1], d[2], d[3], d[4], d[5] or {}), tasks.get(d[0], []))
    return found


def _audiences(session, d, tasks, lead: str, named: set, access) -> list[tuple[str, Lens]]:
    """The lead, the engaged or named agencies and the trader, each with the lens of its allowed read; an audience
    the policy decision point refuses is not one."""
    agencies = sorted(({lead} | set(d.engaged or {}) | {t.agency for t in tasks} | named) - {None},
                      key=lambda a: (a != lead, a))
    candidates = [(audience_token(a), stream_subject(a, None, a, a == lead)) for a in agencies]
    candidates.append((trader_audience(d.trader_id), stream_subject(trader_audience(d.trader_id), d.trader_id,
                                                                     None, False)))
    out = []
    for audience, subject in candidates:
        decision = authorize(subject, "read", d, None, session=session, access=access)
        if decision.allowed:
            out.append((audience, Lens(subject, decision, lead, session, access=access)))
    return out
