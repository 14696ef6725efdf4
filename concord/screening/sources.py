"""Where the screened entries come from: stored lists and the agencies' party watchlist entries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from concord.screening.lists import ListedParty

WATCHLIST_PREFIX = "watchlist-"  # list id of an agency's party watchlist entries: watchlist-POL


@dataclass(frozen=True)
class ListInfo:
    """What applies to every entry of a list: its name, owner and sharing rule."""

    id: str
    name: str
    owner_agency: str
    sharing: str
    version: int | str = 0


@dataclass(frozen=True)
class Extra:
    """What an agency watchlist entry adds to a screening entry (stored lists have none of it)."""

    severity: str | None = None
    reason: str | None = None
    expires_at: datetime | None = None

    def live_at(self, now: datetime | None) -> bool:
        """An entry lapses at its expiry."""
        return now is None or self.expires_at is None or now < self.expires_at


def entry_id(list_id: str, ref: str) -> str:
    """The stable id of a listed entry: the same source ref in the same list keeps it across reloads."""
    return "SCE" + hashlib.sha256(f"{list_id}\x1f{ref}".encode()).hexdigest()[:24]


def default_ref(entry: ListedParty) -> str:
    """A ref for a row without an id of its own: its name and qualifiers (changing them makes a new entry)."""
    body = "\x1f".join([entry.name.casefold(), ",".join(entry.birth_dates), ",".join(entry.nationalities)])
    return "h:" + hashlib.sha256(body.encode()).hexdigest()[:16]


def record_of(entry: ListedParty) -> dict:
    """The stored form of an entry's content (what `entry_of_record` reads back)."""
    return {"names": list(entry.names), "kind": entry.kind, "birth_dates": list(entry.birth_dates),
            "nationalities": list(entry.nationalities), "identifiers": [list(p) for p in entry.identifiers],
            "gender": entry.gender, "place_of_birth": entry.place_of_birth, "row": entry.row}


def entry_of_record(ident: str, record: dict, info: ListInfo) -> ListedParty:
    """A screening entry from its stored record, under its list's owner and sharing rule."""
    return ListedParty(
        id=ident, list_id=info.id, owner_agency=info.owner_agency, names=tuple(record["names"]),
        kind=record.get("kind") or "unknown", birth_dates=tuple(record.get("birth_dates") or ()),
        nationalities=tuple(record.get("nationalities") or ()),
        identifiers=tuple(tuple(p) for p in record.get("identifiers") or ()), gender=record.get("gender") or "",
        place_of_birth=record.get("place_of_birth") or "", sharing=info.sharing, row=record.get("row"))


def watchlist_info(agency: str, sharing: str) -> ListInfo:
    """The list an agency's party watchlist entries form."""
    return ListInfo(f"{WATCHLIST_PREFIX}{agency}", f"{agency} watchlist", agency, sharing)


def entry_of_watchlist(row, sharing: str) -> tuple[ListedParty, Extra] | None:
    """A party entry of the risk engine's shared watchlist as a screening entry (None without a name)."""
    from concord.risk.catalogue.watchlists import normalize_identifier

    value = row.value or {}
    if not value.get("name"):
        return None  # an identifier-only entry: the risk step's exact identifier index finds it
    info = watchlist_info(row.agency, sharing)
    ids = (("ID", normalize_identifier(value["identifier"])),) if value.get("identifier") else ()
    entry = ListedParty(id=row.id, list_id=info.id, owner_agency=row.agency, names=(value["name"],),
                           nationalities=(value["country"],) if value.get("country") else (), identifiers=ids,
                           sharing=sharing)
    return entry, Extra(row.severity, row.reason, row.expires_at)
