"""Matching indicators: candidates from the key index (keys.py) in one query, then each candidate's document
checked precisely, which also says on which field it matched."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import NamedTuple

from sqlalchemy import and_, or_, select

from concord.declarations.models import TERMINAL, Declaration, DeclarationVersion
from concord.errors import InvalidDocument, Problem
from concord.hunting.indicators import Indicators
from concord.hunting.keys import conveyance_key, upper_bound
from concord.hunting.models import DeclarationKey
from concord.risk.catalogue.history_store import DatabaseHistory
from concord.risk.catalogue.watchlists import PARTIES, normalize_identifier, normalize_name, normalize_number

MAX_PAIRS = 2000  # HS prefixes x origins: each pair is one range of the index
_HS = re.compile(r"^\d{2,10}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CHUNK = 500


def check(ind: Indicators, at: str = "/indicators") -> None:
    """What the shared shape leaves open: HS prefixes are digits, origins ISO codes, and something is given."""
    problems = [Problem(f"{at}/hs/{i}", "an HS prefix is 2 to 10 digits, e.g. 0803") for i, h in enumerate(ind.hs)
                if not _HS.match(h)]
    problems += [Problem(f"{at}/origins/{i}", "an origin is an ISO 3166-1 alpha-2 code, e.g. EC")
                 for i, o in enumerate(ind.origins) if not _COUNTRY.match(o)]
    if ind.empty():
        problems.append(Problem(at, "give at least one party, container, conveyance, HS prefix, origin or rule"))
    if len(ind.hs) * max(len(ind.origins), 1) > MAX_PAIRS:
        problems.append(Problem(f"{at}/hs", f"at most {MAX_PAIRS} HS prefix and origin pairs; narrow them"))
    if problems:
        raise InvalidDocument("the indicators have faults; nothing was stored", problems)


class Found(NamedTuple):
    """A declaration that meets the indicators: plain values (the pending ones are loaded for update later)."""

    id: str
    status: str
    document: dict
    hits: list


class Matcher:
    """One set of indicators, normalized once: index conditions for the query, a precise check per document."""

    def __init__(self, ind: Indicators):
        self.ind = ind
        self.ids = {normalize_identifier(p) for p in ind.parties}
        self.names = {normalize_name(p) for p in ind.parties} - {""}
        self.containers = {normalize_number(c) for c in ind.containers}
        self.conveyances = {conveyance_key(c) for c in ind.conveyances}
        self.hs, self.origins = tuple(ind.hs), set(ind.origins)

    def index_condition(self):
        """The WHERE clause over declaration_keys: exact keys, and ranges for HS prefixes and origins."""
        exact = ({"p:" + i for i in self.ids} | {"n:" + n for n in self.names}
                 | {"c:" + c for c in self.containers} | {"v:" + v for v in self.conveyances})
        if self.hs and self.origins:
            prefixes = [f"o:{o}:{h}" for o in sorted(self.origins) for h in self.hs]
        elif self.hs:
            prefixes = ["h:" + h for h in self.hs]
        else:
            prefixes = [f"o:{o}:" for o in sorted(self.origins)]
        key = DeclarationKey.key
        clauses = [key.in_(sorted(exact))] if exact else []
        clauses += [and_(key >= p, key < upper_bound(p)) for p in prefixes]
        return or_(*clauses) if clauses else None

    def hits(self, doc: dict) -> list[dict]:
        """Where the declaration meets the indicators: [{"indicator", "pointer"}]; empty when it does not."""
        out = []
        for role in PARTIES:
            party = doc[role]
            if normalize_identifier(party["id"]) in self.ids:
                out.append({"indicator": "parties", "pointer": f"/{role}/id"})
            elif self.names and normalize_name(party["name"]) in self.names:
                out.append({"indicator": "parties", "pointer": f"/{role}/name"})
        transport = doc["transport"]
        for i, number in enumerate(transport.get("containers") or ()):
            if normalize_number(number) in self.containers:
                out.append({"indicator": "containers", "pointer": f"/transport/containers/{i}"})
        if transport.get("conveyance") and conveyance_key(transport["conveyance"]) in self.conveyances:
            out.append({"indicator": "conveyances", "pointer": "/transport/conveyance"})
        if self.hs or self.origins:
            for i, item in enumerate(doc["items"]):
                if self.origins and item["origin"] not in self.origins:
                    continue
                if self.hs and not item["hs_code"].startswith(self.hs):
                    continue
                out.append({"indicator": "hs" if self.hs else "origins",
                            "pointer": f"/items/{i}/hs_code" if self.hs else f"/items/{i}/origin"})
        return out


def find(session, matcher: Matcher, since: datetime, limit: int) -> list[Found]:
    """Declarations pending (whenever lodged) or lodged since `since` that meet the indicators' lists, with their
    current document and hits; at most `limit` + 1, so the caller can tell that there are more."""
    condition = matcher.index_condition()
    if condition is None:
        return []
    K = DeclarationKey
    ids = [r for (r,) in session.execute(
        select(Declaration.id).where(
            Declaration.id.in_(select(K.declaration_id).where(condition)),
            or_(Declaration.lodged_at >= since, Declaration.status.not_in(TERMINAL)))
        .order_by(Declaration.id).limit(limit + 1))]
    return _checked(session, matcher, ids)


def rule_matches(session, rules, matcher: Matcher, now: datetime, since: datetime, known: set, limit: int,
                 rates=None) -> list:
    """Declarations that the hunt's CEL rule holds for, among those the lists did not find (`known`): the pending
    ones (whenever lodged: they are held) and those lodged since `since` (the look-back: reported to the issuer).
    A rule can read any field, so no index narrows it: a scan of those rows, in id order, `_CHUNK` at a time.
    Values in the base currency convert with `rates`, as the live step does; a rule that reads `history` reads
    the importer's declarations before each one was lodged (one query per declaration scanned)."""
    out, last = [], ""
    history = DatabaseHistory(session) if rules.reads_history else None
    window = or_(Declaration.status.not_in(TERMINAL), Declaration.lodged_at >= since)
    while len(out) <= limit:
        rows = session.execute(_current(Declaration.lodged_at).where(window, Declaration.id > last)
                               .order_by(Declaration.id).limit(_CHUNK)).all()
        if not rows:
            break
        for did, status, doc, lodged_at in rows:
            # a rule reading history sees the importer's declarations before this one was lodged, as live
            if did not in known and (rules.evaluate(doc, rates, _utc(lodged_at), history, f"{did}/0") if history
                                     else rules.evaluate(doc, rates, now)):
                out.append(Found(did, status, doc, matcher.hits(doc) + [{"indicator": "rule", "pointer": "/"}]))
        last = rows[-1][0]
    return out


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _current(*more):
    """Plain rows (id, status, current document): a hunt reads hundreds, and ORM objects cost ten times more."""
    return (select(Declaration.id, Declaration.status, DeclarationVersion.document, *more)
            .join(DeclarationVersion, and_(DeclarationVersion.declaration_id == Declaration.id,
                                           DeclarationVersion.version == Declaration.version)))


def _checked(session, matcher: Matcher, ids: list[str]) -> list:
    found = []
    for i in range(0, len(ids), _CHUNK):
        rows = session.execute(_current().where(Declaration.id.in_(ids[i:i + _CHUNK])).order_by(Declaration.id))
        for did, status, doc in rows:
            if hits := matcher.hits(doc):
                found.append(Found(did, status, doc, hits))
    return found
