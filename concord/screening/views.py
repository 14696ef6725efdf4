"""What a screener sees of a match: the details, or hit / no-hit with whom to ask, decided by the access rule."""

from __future__ import annotations

from concord.access.policy import Decision, Ref, authorize
from concord.access.redaction import redact
from concord.screening.results import Match


def entry_ref(entry_id: str) -> str:
    """The resource an access request names to see a hidden entry."""
    return f"watchlist_entry/{entry_id}"


def access_to(subject, entry, purpose: str | None, session, access) -> Decision:
    """May the subject see this entry? Fully shared lists: yes; otherwise the owner or an agreement or a grant."""
    if entry.sharing == "full":
        return Decision(True, ("/",), "list:shared", provider=entry.owner_agency)
    return authorize(subject, "read", Ref("watchlist_entry", entry.id, entry.owner_agency), purpose, session=session,
                     access=access)


def details(match: Match, screening) -> dict:
    """Everything about a match that a full view shows; an agreement's fields are pointers into this."""
    e = match.entry
    out = {"entry_id": e.id, "entry_version": e.version, "name": match.matched_name, "names": list(e.names),
           "kind": e.kind, "birth_dates": list(e.birth_dates), "nationalities": list(e.nationalities),
           "score": round(match.score, 4), "explanation": match.explanation()}
    if (extra := screening.extra(e.id)) is not None:
        out |= {"severity": extra.severity, "reason": extra.reason}
    return out


def match_view(subject, match: Match, screening, purpose: str | None, session, access) -> tuple[dict, Decision]:
    """The match cut to what the subject may see, and the access decision that cut it."""
    e = match.entry
    info = screening.list_info(e.list_id)
    head = {"hit": True, "list_id": e.list_id, "list": info.name if info else e.list_id,
            "owner_agency": e.owner_agency, "entry_ref": entry_ref(e.id), "fingerprint": match.fingerprint}
    decision = access_to(subject, e, purpose, session, access)
    if not decision.allowed:
        return head | {"view": "hit", "ask_agency": e.owner_agency}, decision
    shown = redact(details(match, screening), decision.view)
    view = "full" if "/" in decision.view else "partial"
    return head | shown | {"view": view, "access_basis": decision.basis}, decision
