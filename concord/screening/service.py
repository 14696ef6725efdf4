"""Party screening as the hub runs it: one index over every list, kept current, and the parties of a declaration."""

from __future__ import annotations

from functools import lru_cache

import threading
import time
from collections import OrderedDict
from datetime import datetime

from sqlalchemy import inspect, select

from concord.screening.lists import ListedParty
from concord.screening.matching import DEFAULT_THRESHOLD, STRONG_THRESHOLD, WatchlistIndex
from concord.screening.models import MatchDecision, ScreeningEntry, ScreeningList
from concord.screening.results import Match, ScreeningQuery
from concord.screening.sources import Extra, ListInfo, entry_of_record, entry_of_watchlist, watchlist_info

PARTIES = ("importer", "exporter", "declarant")
SEVERITY_LANES = {"critical": "red", "high": "red", "medium": "yellow", "low": "yellow"}
CACHE_SIZE = 4096  # screened queries remembered until an index change: the same traders come back all day


class PartyScreening:
    """Holds the index of stored lists and agency party watchlists; rechecks their versions at most once per `ttl`."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, lane_threshold: float = STRONG_THRESHOLD, *,
                 ttl: float = 1.0, watchlist_sharing: str = "hit_no_hit", clock=None, lead_of=None):
        self.threshold, self.lane_threshold, self.ttl = threshold, lane_threshold, ttl
        self.clock, self.lead_of = clock, lead_of  # the hub's clock; session -> lead agency (bootstrap passes both)
        self.watchlist_sharing = watchlist_sharing  # what other agencies see of an agency's watchlist entries
        self.index = WatchlistIndex(threshold=threshold)
        self.lists: dict[str, ListInfo] = {}  # list id -> info, with the version indexed
        self.members: dict[str, set[str]] = {}  # list id -> ids of its indexed entries
        self.extras: dict[str, Extra] = {}  # agency watchlist entry id -> severity, reason, expiry
        self.watchlists_version: int | None = None
        self.generation = 0  # moves whenever the index changes
        self._cache: OrderedDict = OrderedDict()
        self._checked = -float("inf")
        self._tables: bool | None = None
        self._risk_tables: bool | None = None
        self._lock = threading.RLock()  # the index and the cache: held to change them and to screen
        self._checking = threading.Lock()  # one thread at a time reads the versions (refresh)

    @classmethod
    def from_settings(cls, settings, **deps) -> PartyScreening:
        """Thresholds from Settings (screening_threshold, screening_lane_threshold)."""
        return cls(getattr(settings, "screening_threshold", DEFAULT_THRESHOLD),
                   getattr(settings, "screening_lane_threshold", STRONG_THRESHOLD), **deps)

    def invalidate(self) -> None:
        """Recheck the lists on the next screening (a list or entry changed in this process)."""
        self._checked = -float("inf")

    # --- keeping the index current -------------------------------------------------------------------------

    def refresh(self, session, max_age: float | None = None) -> None:
        """Bring the index up to the stored lists and watchlists, if their versions moved since the last check.

        Checked at most every `max_age` seconds (the ttl unless given). The versions are read without the index's
        lock, which screening takes too: it is held only to apply a change. While another thread checks an index
        that was built, a caller screens with the index as it is (at most a ttl old) instead of waiting. The
        server's periodic job and the lodging path on the event loop used to meet here every second, and the loop
        waited for the job's queries. After `invalidate` (a list changed in this process) every caller waits."""
        max_age = self.ttl if max_age is None else max_age
        if time.monotonic() - self._checked < max_age:
            return
        if not self._checking.acquire(blocking=self._checked == -float("inf")):
            return
        try:
            if time.monotonic() - self._checked < max_age:
                return
            if self._tables is None:
                # A database not yet upgraded to the screening tables screens the agencies' watchlists only.
                self._tables = inspect(session.connection()).has_table(ScreeningList.__tablename__)
            if self._moved(session):
                with self._lock:
                    changed = self._refresh_lists(session) if self._tables else False
                    changed = self._refresh_watchlists(session) or changed
                    if changed:
                        if len(self.index.entries) > 2 * len(self.index) + 1000:  # drop replaced entries' postings
                            self.index = WatchlistIndex(self.index.live(), threshold=self.threshold)
                        self.generation += 1
                        self._cache.clear()
            self._checked = time.monotonic()
        finally:
            self._checking.release()

    def _moved(self, session) -> bool:
        """Whether a stored list or the agencies' watchlists changed since the index was built (versions only)."""
        from concord.risk.models import RiskCatalog

        if self._tables:
            rows = session.execute(select(ScreeningList.id, ScreeningList.name, ScreeningList.owner_agency,
                                          ScreeningList.sharing, ScreeningList.version)).all()
            if any(ListInfo(r.id, r.name, r.owner_agency, r.sharing, r.version) != self.lists.get(r.id) for r in rows):
                return True
        if self._risk_tables is None:
            self._risk_tables = inspect(session.connection()).has_table(RiskCatalog.__tablename__)
        if not self._risk_tables:
            return False
        version = session.scalar(select(RiskCatalog.version).where(RiskCatalog.name == "watchlists")) or 0
        return version != self.watchlists_version

    def _refresh_lists(self, session) -> bool:
        changed = False
        rows = session.execute(select(ScreeningList.id, ScreeningList.name, ScreeningList.owner_agency,
                                      ScreeningList.sharing, ScreeningList.version)).all()
        for r in rows:
            info, known = ListInfo(r.id, r.name, r.owner_agency, r.sharing, r.version), self.lists.get(r.id)
            if known == info:
                continue
            whole = known is None or (known.owner_agency, known.sharing) != (info.owner_agency, info.sharing)
            q = select(ScreeningEntry.id, ScreeningEntry.record, ScreeningEntry.removed_in).where(
                ScreeningEntry.list_id == r.id)
            q = q.where(ScreeningEntry.removed_in.is_(None)) if whole else q.where(
                ScreeningEntry.changed_in > known.version)
            found = session.execute(q).all()
            if whole:
                self._drop(r.id, self.members.get(r.id, set()) - {e.id for e in found})
            self._put(info, [entry_of_record(e.id, e.record, info) for e in found if e.removed_in is None])
            self._drop(r.id, {e.id for e in found if e.removed_in is not None})
            self.lists[r.id] = info
            changed = True
        return changed

    def _refresh_watchlists(self, session) -> bool:
        from concord.risk.models import RiskCatalog, WatchlistEntry as Listed

        if self._risk_tables is None:
            self._risk_tables = inspect(session.connection()).has_table(RiskCatalog.__tablename__)
        if not self._risk_tables:
            return False
        version = session.scalar(select(RiskCatalog.version).where(RiskCatalog.name == "watchlists")) or 0
        if version == self.watchlists_version:
            return False
        rows = session.scalars(select(Listed).where(Listed.kind == "party", Listed.removed_at.is_(None))).all()
        fresh: dict[str, list] = {}
        for row in rows:
            if (got := entry_of_watchlist(row, self.watchlist_sharing)) is not None:
                fresh.setdefault(row.agency, []).append(got)
                self.extras[row.id] = got[1]
        for list_id in [k for k in self.lists if k.startswith("watchlist-")]:
            agency = self.lists[list_id].owner_agency
            self._drop(list_id, self.members.get(list_id, set()) - {e.id for e, _ in fresh.get(agency, ())})
        for agency, pairs in fresh.items():
            info = watchlist_info(agency, self.watchlist_sharing)
            self.lists[info.id] = info
            self._put(info, [e for e, _ in pairs if not self._indexed(e)])
        self.watchlists_version = version
        return True

    def _indexed(self, entry: ListedParty) -> bool:
        current = self.index.get(entry.id)
        return current is not None and current.version == entry.version

    def _put(self, info: ListInfo, entries: list[ListedParty]) -> None:
        self.index.add(entries)
        self.members.setdefault(info.id, set()).update(e.id for e in entries)

    def _drop(self, list_id: str, ids: set[str]) -> None:
        for ident in ids:
            self.index.remove(ident)
            self.extras.pop(ident, None)
        self.members.get(list_id, set()).difference_update(ids)

    # --- screening -----------------------------------------------------------------------------------------

    def versions(self) -> dict:
        """The version of every list screened against, for the assessment's record."""
        out = {i.name: i.version for i in self.lists.values() if not i.id.startswith("watchlist-")}
        return out | {"watchlists": self.watchlists_version or 0}

    def entry(self, entry_id: str) -> ListedParty | None:
        """The indexed (current) version of an entry, or None when it is not listed."""
        return self.index.get(entry_id)

    def list_info(self, list_id: str) -> ListInfo | None:
        """Name, owner and sharing rule of a list."""
        return self.lists.get(list_id)

    def extra(self, entry_id: str) -> Extra | None:
        """Severity, reason and expiry of an agency watchlist entry (None for stored lists)."""
        return self.extras.get(entry_id)

    def screen(self, session, query: ScreeningQuery, *, now: datetime | None = None, limit: int = 10) -> list[Match]:
        """Matches of one query at or above the threshold against every live entry, best first."""
        self.refresh(session)
        key = (query.kind, query.key, limit)
        with self._lock:
            matches = self._cache.get(key)
            if matches is None:
                matches = self.index.screen(query, threshold=self.threshold, limit=limit)
                self._cache[key] = matches
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        return [m for m in matches if (x := self.extras.get(m.entry_id)) is None or x.live_at(now)]

    def screen_parties(self, session, document: dict) -> list[dict]:
        """Risk reasons for the declaration's parties: matches not cleared as false positives, cut for the lead."""
        now = self.clock.now() if self.clock else None
        found: list[tuple[str, Match]] = []
        for role in PARTIES:
            party = document.get(role) or {}
            if party.get("name"):
                found += [(role, m) for m in self.screen(session, party_query(party), now=now)]
        if not found:
            return []
        decided = decisions(session, [m.fingerprint for _, m in found])
        lead = self.lead_of(session) if self.lead_of else None
        reasons = []
        for role, m in found:
            if decided.get(m.fingerprint) == "false_positive":
                continue
            if self.extras.get(m.entry_id) and any(q.qualifier == "identifier" and q.outcome == "agreed"
                                                   for q in m.qualifiers):
                continue  # the risk step's identifier index reports this entry already
            # Agency watchlist entries are shared with the lead's risk assessment (the risk step shows their
            # identifier hits in full); stored lists follow their sharing rule.
            full = m.view_for(lead) == "full" or m.entry_id in self.extras
            reasons.append(self.reason(role, m, full=full, decision=decided.get(m.fingerprint)))
        return reasons

    def reason(self, role: str, m: Match, *, full: bool, decision: str | None = None) -> dict:
        """One match as a risk reason; `full=False` keeps only hit / no-hit and how to ask the owner."""
        info, extra = self.lists.get(m.entry.list_id), self.extras.get(m.entry_id)
        lane = SEVERITY_LANES.get(extra.severity, "red") if extra and extra.severity else "red"
        strong = m.score >= self.lane_threshold
        out = {"kind": "screening", "party": f"/{role}", "entry_id": m.entry_id,
               "entry_ref": f"watchlist_entry/{m.entry_id}", "list": info.name if info else m.entry.list_id,
               "owner_agency": m.entry.owner_agency, "fingerprint": m.fingerprint,
               "lane": lane if strong else "yellow", "force_lane": lane if strong else None,
               "sharing": m.entry.sharing}  # the read side shows a hit_no_hit list's details to its owner only
        if decision:
            out["decision"] = decision
        if not full:
            return out | {"hit": True, "ask_agency": m.entry.owner_agency}
        out |= {"score": round(m.score, 4), "entry_version": m.entry.version, "explanation": m.explanation()}
        if extra:
            out |= {"severity": extra.severity, "reason": extra.reason}
        return out


def party_query(party: dict) -> ScreeningQuery:
    """The query for a declaration party: its name, country and identifier (normalized like the watchlists)."""
    return _party_query(party["name"], party.get("country"), party.get("id"))


@lru_cache(maxsize=50_000)
def _party_query(name: str, country: str | None, ident: str | None) -> ScreeningQuery:
    # The same traders declare again and again: normalize each party once, not on every declaration.
    from concord.risk.catalogue.watchlists import normalize_identifier

    ids = {"ID": normalize_identifier(ident)} if ident else {}
    return ScreeningQuery.from_record({"name": name, "country": country, "identifiers": ids})


def decisions(session, fingerprints: list[str]) -> dict[str, str]:
    """Decisions recorded on these fingerprints (fingerprint -> decision)."""
    if not fingerprints:
        return {}
    rows = session.execute(select(MatchDecision.fingerprint, MatchDecision.decision).where(
        MatchDecision.fingerprint.in_(sorted(set(fingerprints)))))
    return dict(rows.all())


class NamesScreenedElsewhere:
    """For RiskStep(names=...): party names are screened once, by PartyScreening, not again by the risk step."""

    def __init__(self, entries=()):
        pass

    def match(self, name: str, country: str | None) -> list:
        """No name matches here; identifiers stay with the risk step's exact index."""
        return []
