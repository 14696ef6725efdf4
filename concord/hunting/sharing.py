"""Which agency receives which hunts' indicators (STIX exports, TAXII collections), and under which TLP level.

A hunt's indicators are its issuer's intelligence, of the same kind as its watchlist entries (the hunt installs
them as such), so they are shared as `watchlist_entry` data: an agency receives another's hunts when an agreement
of that provider gives it `watchlist_entry` with the field `/value` (or the whole entry) for the purpose stated,
unconditionally (a condition on HS chapters, origins or offices says nothing about a hunt: deny by default). Its own
agency always receives its own hunts. Everything else receives nothing: not even that the collection exists."""

from __future__ import annotations

from sqlalchemy import select

from concord.access.policy import READERS, Decision
from concord.hunting.stix import ONWARD_TLP, OWN_TLP, strictest

SHARED_AS = "watchlist_entry"


def _handling(session, agreement: str) -> dict:
    from concord.agreements.models import SharingAgreement

    key, _, version = agreement.rpartition("/v")
    row = session.scalars(select(SharingAgreement).where(SharingAgreement.key == key,
                                                         SharingAgreement.version == int(version))).first()
    return (row.handling if row is not None else None) or {}


def receives(session, subject, provider: str, purpose: str | None, access) -> tuple[str, Decision] | None:
    """The TLP level and the decision under which `subject` receives `provider`'s hunts, or None."""
    if subject is None or subject.is_trader or subject.agency is None or not subject.has(*READERS):
        return None
    if subject.agency == provider:
        return OWN_TLP, Decision(True, ("/",), "own-agency", provider=provider)
    scopes = [s for s in access.book.matching(subject.agency, SHARED_AS, purpose, access.now(), provider=provider)
              if not (s.hs_chapters or s.origins or s.offices) and ({"/", "/value"} & set(s.fields))]
    if not scopes:
        return None
    level = strictest([ONWARD_TLP.get(_handling(session, s.agreement).get("onward_sharing", "forbidden"),
                                      "amber+strict") for s in scopes])
    agreements = ",".join(s.agreement for s in scopes)
    return level, Decision(True, ("/value",), f"agreement:{agreements}", agreements, provider)


def providers_for(session, subject, agencies, purpose: str | None, access) -> dict:
    """provider -> (TLP level, decision), for every agency whose hunts the subject receives."""
    out = {}
    for agency in sorted(agencies):
        if (got := receives(session, subject, agency, purpose, access)) is not None:
            out[agency] = got
    return out
