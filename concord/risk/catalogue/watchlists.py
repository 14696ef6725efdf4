"""Matching declarations against the shared watchlists: exact identifiers by index, party names through a hook."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from typing import Protocol

PARTIES = ("declarant", "importer", "exporter")
HS_PREFIX_LENGTHS = (2, 4, 6, 8, 10)


_SEPARATORS = re.compile(r"[\s.\-/]")
_NOT_DIGIT = re.compile(r"\D")


def normalize_number(value: str) -> str:
    """Container numbers compare without case, spaces, dots or dashes. Not cached: nearly every one is new, so a
    cache of them only filled (65,536 entries, about 20 MB, grew through a soak's first minutes)."""
    return _SEPARATORS.sub("", value).upper()


@lru_cache(maxsize=16384)  # every declaration looks up its three parties, and the same traders come back all day
def normalize_identifier(value: str) -> str:
    """Party identifiers compare without case, spaces, dots or dashes."""
    return _SEPARATORS.sub("", value).upper()


def normalize_imo(value: str) -> str:
    return _NOT_DIGIT.sub("", value)


@lru_cache(maxsize=65536)  # the same traders and exporters come back all day
def normalize_name(name: str) -> str:
    """Accents, case, punctuation and spacing do not tell names apart; everything else does."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", letters).split())


@dataclass(frozen=True)
class Listed:
    """A live watchlist entry as the index holds it."""

    id: str
    version: int
    agency: str
    kind: str
    value: dict
    reason: str
    severity: str
    expires_at: datetime | None

    def live_at(self, now: datetime | None) -> bool:
        return now is None or self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class WatchlistHit:
    entry: Listed
    pointer: str  # the declaration field that matched
    matched: str  # which part of the entry matched: identifier, name, number, imo, route, hs_origin
    score: float = 1.0  # 1.0 for exact matches; a name matcher may report less


class NameMatcher(Protocol):
    """Where party screening plugs in: finds the party entries whose names match a declared name."""

    def match(self, name: str, country: str | None) -> list[tuple[Listed, float]]: ...


class ExactNames:
    """Normalized exact name matching: the stand-in until the party-screening capability is plugged in."""

    def __init__(self, entries: list[Listed]):
        self._by_name: dict[str, list[Listed]] = defaultdict(list)
        for e in entries:
            if e.value.get("name"):
                self._by_name[normalize_name(e.value["name"])].append(e)

    def match(self, name: str, country: str | None) -> list[tuple[Listed, float]]:
        return [(e, 1.0) for e in self._by_name.get(normalize_name(name), ())
                if not e.value.get("country") or e.value["country"] == country]


class NoNames:
    """No name matching here: the party-screening capability screens the names."""

    def __init__(self, entries: list[Listed]):
        pass

    def match(self, name: str, country: str | None) -> list[tuple[Listed, float]]:
        return []


class CompiledWatchlists:
    """The live entries of one watchlists version, indexed by exact key."""

    def __init__(self, entries: list[Listed], version: int, names=ExactNames):
        self.version = version
        self.size = len(entries)
        self._exact: dict[tuple, list[Listed]] = defaultdict(list)
        for e in entries:
            for key in _keys(e):
                self._exact[key].append(e)
        self._names: NameMatcher = names([e for e in entries if e.kind == "party"])

    @classmethod
    def from_rows(cls, rows, version: int, names=ExactNames) -> CompiledWatchlists:
        return cls([Listed(r.id, r.version, r.agency, r.kind, r.value, r.reason, r.severity, r.expires_at)
                    for r in rows], version, names)

    def match(self, doc: dict, now: datetime | None = None) -> list[WatchlistHit]:
        """Every live entry the declaration meets, with the field it met it on."""
        hits: list[WatchlistHit] = []
        exact = self._exact

        def look(key: tuple, pointer: str, matched: str) -> None:
            for e in exact[key]:
                if e.live_at(now):
                    hits.append(WatchlistHit(e, pointer, matched))

        # Pointers are formatted only on a hit: nearly every key misses, and most of a lookup was the f-string.
        for role in PARTIES:
            party = doc[role]
            if (key := ("party", normalize_identifier(party["id"]))) in exact:
                look(key, f"/{role}/id", "identifier")
            for e, score in self._names.match(party["name"], party.get("country")):
                if e.live_at(now):
                    hits.append(WatchlistHit(e, f"/{role}/name", "name", score))
        transport = doc["transport"]
        for i, number in enumerate(transport.get("containers") or ()):
            if (key := ("container", normalize_number(number))) in exact:
                look(key, f"/transport/containers/{i}", "number")
        if transport.get("mode") == "sea" and transport.get("conveyance"):
            if (key := ("vessel", normalize_imo(transport["conveyance"]))) in exact:
                look(key, "/transport/conveyance", "imo")
        dispatch, office = doc["exporter"]["country"], doc["office_of_entry"]
        for to in (office, office[:2], "*"):
            if (key := ("route", dispatch, to)) in exact:
                look(key, "/office_of_entry", "route")
        for i, item in enumerate(doc["items"]):
            hs, origin = item["hs_code"], item["origin"]
            for n in HS_PREFIX_LENGTHS:
                if n <= len(hs) and (key := ("hs_origin", hs[:n], origin)) in exact:
                    look(key, f"/items/{i}/hs_code", "hs_origin")
        return _unique(hits)


def _keys(e: Listed) -> list[tuple]:
    v = e.value
    if e.kind == "party":
        return [("party", normalize_identifier(v["identifier"]))] if v.get("identifier") else []
    if e.kind == "container":
        return [("container", normalize_number(v["number"]))]
    if e.kind == "vessel":
        return [("vessel", normalize_imo(v["imo"]))]
    if e.kind == "route":
        return [("route", v["from"], v.get("to") or "*")]
    if e.kind == "hs_origin":
        return [("hs_origin", v["hs_prefix"], v["origin"])]
    return []


def _unique(hits: list[WatchlistHit]) -> list[WatchlistHit]:
    seen, out = set(), []
    for h in hits:
        if (h.entry.id, h.pointer) not in seen:
            seen.add((h.entry.id, h.pointer))
            out.append(h)
    return out


class ScreeningNames:
    """Party names matched by the screening capability (fuzzy, with qualifiers) instead of exact names."""

    def __init__(self, entries: list[Listed]):
        from concord.screening.lists import ListedParty
        from concord.screening.matching import WatchlistIndex as Screener

        self._entries = {e.id: e for e in entries if e.value.get("name")}
        self._screener = Screener(ListedParty(
            id=e.id, list_id="risk-watchlist", owner_agency=e.agency, names=(e.value["name"],),
            nationalities=(e.value["country"],) if e.value.get("country") else ()) for e in self._entries.values())

    def match(self, name: str, country: str | None) -> list[tuple[Listed, float]]:
        from concord.screening.results import ScreeningQuery

        query = ScreeningQuery(name, countries=(country,) if country else ())
        return [(self._entries[m.entry.id], m.score) for m in self._screener.screen(query)]
