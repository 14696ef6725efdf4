"""What is screened (a query) and what screening returns (matches with their explanation)."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from concord.screening.lists import KINDS, Kind, ListedParty, parse_identifiers, record_name, split_values
from concord.screening.normalize import NameForm, normalize_name
from concord.screening.qualifiers import QualifierResult, country_code
from concord.screening.scoring import NameScore


@dataclass(frozen=True)
class ScreeningQuery:
    """A party to screen: a name and, where known, birth date, countries and identifiers."""

    name: str
    kind: Kind = "unknown"
    birth_dates: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()  # ISO 3166-1 alpha-2: nationality, residence, registration
    identifiers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_record(cls, rec: Mapping) -> "ScreeningQuery":
        """A query from a CSV row or a declaration party (name, country, date_of_birth...)."""
        raw = [v for k in ("nationality", "country", "countries") for v in split_values(rec.get(k))]
        kind = KINDS.get(str(rec.get("kind") or rec.get("schema") or "").strip().lower(), "unknown")
        return cls(name=record_name(rec), kind=kind, birth_dates=split_values(rec.get("date_of_birth")),
                   countries=tuple(dict.fromkeys(c for c in map(country_code, raw) if c)),
                   identifiers=parse_identifiers(rec.get("identifiers") or ()))

    @cached_property
    def form(self) -> NameForm:
        """The normalized name, computed once."""
        return normalize_name(self.name, self.kind)

    @cached_property
    def key(self) -> str:
        """Normalized query: the same for every spelling that screens alike."""
        return "|".join([self.form.key, ",".join(sorted(self.birth_dates)), ",".join(sorted(self.countries)),
                         ",".join(f"{s}:{v}" for s, v in sorted(self.identifiers))])


def fingerprint(query: ScreeningQuery, entry: ListedParty) -> str:
    """Stable key of (normalized query, entry version): a cleared false positive stays cleared until either changes."""
    return hashlib.sha256(f"{query.key}\x1f{entry.id}\x1f{entry.version}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Match:
    """An entry that a query matched, with its score in [0, 1] and why."""

    entry: ListedParty
    matched_name: str  # the entry name (primary or alias) that matched best
    score: float
    name: NameScore
    qualifiers: tuple[QualifierResult, ...]
    query_form: NameForm
    entry_form: NameForm
    fingerprint: str

    @property
    def entry_id(self) -> str:
        """Id of the matched entry: what a decision on the match refers to."""
        return self.entry.id

    def explanation(self) -> dict:
        """Which name parts matched how, and which qualifiers agreed or conflicted."""
        return {
            "name": self.name.as_dict(),
            "matched_name": self.matched_name,
            "legal_forms": {"query": list(self.query_form.legal_forms), "entry": list(self.entry_form.legal_forms)},
            "dropped": {"query": list(self.query_form.dropped), "entry": list(self.entry_form.dropped)},
            "qualifiers": [q.as_dict() for q in self.qualifiers],
        }

    def view_for(self, agency: str | None) -> str:
        """'full' for the owner or a fully shared list, 'hit' where the list shares only hit / no-hit."""
        return "full" if self.entry.sharing == "full" or agency == self.entry.owner_agency else "hit"

    def as_dict(self, view: str = "full") -> dict:
        """The match for a screener: 'full', or 'hit' when the list shares only hit / no-hit."""
        head = {"list_id": self.entry.list_id, "owner_agency": self.entry.owner_agency,
                "fingerprint": self.fingerprint}
        if view == "hit":
            return head | {"hit": True}
        return head | {"entry_id": self.entry.id, "entry_version": self.entry.version, "row": self.entry.row,
                       "name": self.matched_name, "score": round(self.score, 4), "explanation": self.explanation()}
