"""Screening a name, deciding on a match, loading a list: each audited, each under the access rule."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound, Problem
from concord.screening.lists import birth_date_warning, watchlist_from_records
from concord.screening.messages import (LoadScreeningList, MatchDecided, RecordMatchDecision, ScreeningListLoaded,
                                        ScreenName)
from concord.screening.models import MatchDecision, ScreeningEntry, ScreeningList
from concord.screening.results import ScreeningQuery
from concord.screening.schemas import ListIn, MatchDecisionIn, NameQuery, parse
from concord.screening.store import refs_of, store_list
from concord.screening.views import access_to, entry_ref, match_view


def require_officer(subject) -> None:
    """Names are screened and matches decided by agency officers."""
    if subject is None or subject.is_trader or subject.agency is None or not subject.has("officer", "supervisor"):
        raise Forbidden("only agency officers screen names and decide on matches")


def screen_name(cmd: ScreenName, uow, *, screening, access) -> dict:
    """Screen one name against every list; each match shown as far as the screener's access allows."""
    require_officer(uow.subject)
    body: NameQuery = parse(NameQuery, cmd.query, "screening query")
    query = ScreeningQuery.from_record({"name": body.name, "kind": body.kind, "country": body.country,
                                        "date_of_birth": body.date_of_birth, "identifiers": body.identifiers})
    subject = uow.subject
    with uow:
        s = uow.session
        matches = screening.screen(s, query, now=uow.clock.now(), limit=body.limit)
        shown = []
        for m in matches:
            view, decision = match_view(subject, m, screening, cmd.purpose, s, access)
            shown.append(view)
            if m.entry.owner_agency != subject.agency and m.entry.sharing != "full":
                action = "watchlist_entry:read" if decision.allowed else "watchlist_entry:hit"
                uow.audit(action, entry_ref(m.entry_id), purpose=cmd.purpose, agreement=decision.agreement,
                          owner=m.entry.owner_agency, outcome="ok" if decision.allowed else "hit",
                          detail={"basis": decision.basis, "fingerprint": m.fingerprint})
        uow.audit("screening:name:screened", "screening/name", purpose=cmd.purpose,
                  # The log keeps a digest, not the name: an auditor holding the name can still match it.
                  detail={"query_sha256": hashlib.sha256(str(query.key).encode()).hexdigest(), "matches": len(shown),
                          "entries": [v["entry_ref"] for v in shown]})
        uow.commit()
    return {"query": body.model_dump(exclude={"limit"}), "threshold": screening.threshold, "matches": shown}


def record_match_decision(cmd: RecordMatchDecision, uow, *, screening, access) -> dict:
    """A true match or a false positive on one (party, entry version); a cleared pair is not raised again."""
    require_officer(uow.subject)
    body: MatchDecisionIn = parse(MatchDecisionIn, {"fingerprint": cmd.fingerprint, "entry_id": cmd.entry_id,
                                               "decision": cmd.decision, "reason": cmd.reason,
                                               "entry_version": cmd.entry_version}, "decision")
    subject = uow.subject
    with uow:
        s = uow.session
        screening.refresh(s)
        entry = screening.entry(body.entry_id)
        # an entry the subject may not see answers like a missing one; the hit already named the agency to ask
        decision = access_to(subject, entry, cmd.purpose, s, access) if entry is not None else None
        if decision is None or not decision.allowed:
            raise NotFound(f"watchlist entry {body.entry_id} not found (removed, never listed, or not yours to see: "
                           "decide only on entries you may see, or ask the agency a hit names)")
        if body.entry_version and body.entry_version != entry.version:
            raise Conflict(f"entry {entry.id} changed since it was screened; screen the name again and decide on "
                           "the new match")
        row = s.get(MatchDecision, body.fingerprint, with_for_update=True)
        previous = row.decision if row else None
        if row is None:
            row = MatchDecision(fingerprint=body.fingerprint)
            s.add(row)
        row.entry_id, row.entry_version, row.decision, row.reason = entry.id, entry.version, body.decision, body.reason
        row.agency, row.officer, row.decided_at = subject.agency, subject.user_id, uow.clock.now()
        uow.record(MatchDecided(agency=entry.owner_agency, fingerprint=row.fingerprint, entry_id=entry.id,
                                decision=row.decision))
        uow.audit("screening:decision:recorded", entry_ref(entry.id), purpose=cmd.purpose,
                  agreement=decision.agreement, owner=entry.owner_agency,
                  detail={"fingerprint": row.fingerprint, "decision": row.decision, "previous": previous,
                          "entry_version": entry.version, "reason": row.reason})
        uow.commit()
    return decision_view(row)


def load_screening_list(cmd: LoadScreeningList, uow, *, directory, screening) -> dict:
    """An administrator loads a list (or its next version); entries are matched from the next screening on."""
    subject = uow.subject
    if subject is not None and not subject.has("administrator"):
        raise Forbidden("only administrators load screening lists")
    doc: ListIn = parse(ListIn, {"name": cmd.name, "owner_agency": cmd.owner_agency, "sharing": cmd.sharing,
                                 "source": cmd.source, "records": cmd.records}, "screening list")
    if not doc.records:  # an empty file (a download cut short) would become a version that removes every entry
        source = "the request" if doc.source == "<api>" else doc.source
        raise InvalidDocument(f"{source} has no entries; nothing was loaded",
                              [Problem("/records", "give the list's entries, at least one (a CSV needs its header "
                                                   "row and a row per listed party)")])
    try:
        watchlist = watchlist_from_records(doc.records, list_id=doc.name, owner_agency=doc.owner_agency)
        refs = refs_of(doc.records, watchlist)
    except InvalidDocument as e:  # the rows are the body's records
        raise InvalidDocument(e.message, [Problem("/records" + p.pointer, p.message) for p in e.problems]) from None
    with uow:
        s = uow.session
        if doc.owner_agency not in directory.current(s).agencies:
            raise InvalidDocument("unknown agency", [Problem("/owner_agency", f"no agency '{doc.owner_agency}' in "
                                                                              "the coordination config")])
        lst, n = store_list(uow, name=doc.name, owner=doc.owner_agency, sharing=doc.sharing, source=doc.source,
                            watchlist=watchlist, refs=refs)
        uow.record(ScreeningListLoaded(agency=lst.owner_agency, list_id=lst.id, list_name=lst.name,
                                       version=lst.version, added=n.added, changed=n.changed, removed=n.removed))
        uow.audit("screening:list:loaded", f"screening_list/{lst.id}", owner=lst.owner_agency,
                  detail={"name": lst.name, "version": lst.version, "source": lst.source, "sharing": lst.sharing,
                          "added": n.added, "changed": n.changed, "removed": n.removed, "unchanged": n.unchanged})
        uow.commit()
    screening.invalidate()
    warning = birth_date_warning(watchlist)  # loaded all the same; the administrator learns what it costs
    return list_view(lst) | {"added": n.added, "changed": n.changed, "removed": n.removed, "unchanged": n.unchanged,
                             "warnings": [warning] if warning else []}


def list_view(lst: ScreeningList) -> dict:
    """A list as the API shows it."""
    return {"id": lst.id, "name": lst.name, "owner_agency": lst.owner_agency, "sharing": lst.sharing,
            "source": lst.source, "version": lst.version, "entries": lst.entry_count,
            "loaded_by": lst.loaded_by, "loaded_at": lst.loaded_at.isoformat()}


def decision_view(row: MatchDecision) -> dict:
    """A decision as the API shows it."""
    return {"fingerprint": row.fingerprint, "entry_id": row.entry_id, "entry_version": row.entry_version,
            "decision": row.decision, "agency": row.agency, "officer": row.officer, "reason": row.reason,
            "decided_at": row.decided_at.isoformat()}


def owner_of(session, ident: str) -> str | None:
    """The agency owning watchlist entry `ident` (a stored list's entry or an agency watchlist entry), or None."""
    owner = session.scalar(select(ScreeningList.owner_agency).join(ScreeningEntry, ScreeningEntry.list_id ==
                                                                   ScreeningList.id)
                           .where(ScreeningEntry.id == ident, ScreeningEntry.removed_in.is_(None)))
    if owner is not None:
        return owner
    from concord.risk.models import WatchlistEntry

    row = session.get(WatchlistEntry, ident)
    return row.agency if row is not None and row.removed_at is None else None


def refresh_job(sessions, screening):
    """The server's periodic job that keeps the screening index warm (bootstrap schedules it every half ttl).

    It refreshes at half the ttl, so the lodging path on the event loop finds the index fresh and never does the
    version checks itself while the job runs."""
    def refresh():
        with sessions() as s:
            screening.refresh(s, max_age=screening.ttl / 2)

    return refresh
