"""Screening commands (screen a name, decide on a match, load a list) and what they record."""

from dataclasses import dataclass, field

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class ScreenName(Command):
    query: dict  # name, and optionally kind, country, date_of_birth, identifiers {scheme: value}, limit
    purpose: str | None = None  # stated for other agencies' lists, whose agreements name purposes


@dataclass(kw_only=True)
class RecordMatchDecision(Command):
    fingerprint: str
    entry_id: str
    decision: str  # true_match | false_positive
    reason: str
    entry_version: str | None = None  # the version the officer saw; a changed entry is screened again first
    purpose: str | None = None


@dataclass(kw_only=True)
class LoadScreeningList(Command):
    name: str
    owner_agency: str
    records: list[dict] = field(default_factory=list)  # rows: id, full_name or name parts, aliases, date_of_birth...
    sharing: str | None = None  # full | hit_no_hit; a new list hit_no_hit, a reload keeps the list's
    source: str = "<api>"


@dataclass(kw_only=True)
class ScreeningListLoaded(Event):
    name = "screening.list_loaded"
    list_id: str
    list_name: str
    version: int
    added: int
    changed: int
    removed: int


@dataclass(kw_only=True)
class MatchDecided(Event):
    name = "screening.match_decided"
    fingerprint: str
    entry_id: str
    decision: str
