"""The watchlist index: blocking keys find candidates, the scorer ranks them, qualifiers adjust.

Blocking keeps the cost per query near constant as lists grow: a query only meets the
entries that share a token, a phonetic key, a pair of phonetic keys, the whole name
written without spaces, or an identifier; and the most specific keys are read first.
"""

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations

from concord.screening.lists import Watchlist, ListedParty
from concord.config import SCREENING_LANE_THRESHOLD, SCREENING_THRESHOLD
from concord.screening.normalize import PARTICLES, NameForm, normalize_name, phonetic
from concord.screening.qualifiers import MAX_RAISE, QualifierResult, compare_birth_dates, compare_countries
from concord.screening.results import Match, ScreeningQuery, fingerprint
from concord.screening.scoring import compare_names

DEFAULT_THRESHOLD, STRONG_THRESHOLD = SCREENING_THRESHOLD, SCREENING_LANE_THRESHOLD  # the settings' defaults
IDENTIFIER_AGREE, IDENTIFIER_CONFLICT = 1.0, -0.10

# Key kinds and how much sharing one says about a candidate.
_WEIGHTS = {"t": 1.0, "p": 0.8, "q": 1.6, "j": 2.0, "a": 1.0, "i": 10.0}
_MAX_PAIR_TOKENS = 6  # longer names index only their adjacent pairs: pairs grow quadratically


def name_keys(form: NameForm) -> set[str]:
    """Blocking keys of a normalized name."""
    content = [t for t in form.tokens if t not in PARTICLES and len(t) > 1]
    keys = {f"t:{t}" for t in content}
    codes = [phonetic(t) for t in content if len(t) > 2]
    keys.update(f"p:{c}" for c in codes)
    pairs = combinations(codes, 2) if len(codes) <= _MAX_PAIR_TOKENS else zip(codes, codes[1:])
    keys.update(f"q:{min(a, b)}|{max(a, b)}" for a, b in pairs if a != b)
    if form.tokens:
        joined = "".join(form.tokens)
        # The whole name without spaces (as written and with its words sorted) finds merged and split
        # words; its sorted letters find transposed ones.
        keys.update((f"j:{joined}", "j:" + "".join(sorted(form.tokens)), "a:" + "".join(sorted(joined))))
    return keys


class WatchlistIndex:
    """Screens queries against the entries of one or more watchlists."""

    def __init__(self, entries: Iterable[ListedParty] = (), *, threshold: float = DEFAULT_THRESHOLD,
                 max_candidates: int = 20, read_budget: int = 2000):
        self.threshold = threshold
        self.max_candidates = max_candidates  # scored per query, the best blocking votes first
        self.read_budget = read_budget  # posting entries read per query before the common keys are skipped
        self.entries: list[ListedParty] = []  # every version ever added; _live says which count
        self._live: dict[str, int] = {}  # entry id -> position of its current version
        self._names: list[tuple[int, NameForm]] = []  # (entry position, one of its names)
        self._postings: dict[str, list[int]] = defaultdict(list)
        self.add(entries)

    @classmethod
    def from_lists(cls, lists: Iterable[Watchlist], **kwargs) -> "WatchlistIndex":
        """An index over every entry of the given lists."""
        return cls((e for wl in lists for e in wl.entries), **kwargs)

    def __len__(self) -> int:
        return len(self._live)

    def add(self, entries: Iterable[ListedParty]) -> None:
        """Index entries; an entry whose id is already indexed replaces the older version."""
        for entry in entries:
            position = len(self.entries)
            self.entries.append(entry)
            self._live[entry.id] = position
            for scheme, value in entry.identifiers:
                self._postings[f"i:{scheme}:{value}"].append(len(self._names))
            for name in entry.names:
                form = normalize_name(name, entry.kind)
                for key in name_keys(form):
                    self._postings[key].append(len(self._names))
                self._names.append((position, form))

    def get(self, entry_id: str) -> ListedParty | None:
        """The current version of an indexed entry, or None when it is not (or no longer) indexed."""
        position = self._live.get(entry_id)
        return None if position is None else self.entries[position]

    def live(self) -> list[ListedParty]:
        """The current version of every indexed entry."""
        return [self.entries[p] for p in self._live.values()]

    def remove(self, entry_id: str) -> None:
        """Stop matching an entry (delisted); its postings stay until the index is rebuilt."""
        self._live.pop(entry_id, None)

    def _candidates(self, query: ScreeningQuery) -> list[int]:
        keys = name_keys(query.form) | {f"i:{s}:{v}" for s, v in query.identifiers}
        postings = sorted(((p, k[0]) for k in keys if (p := self._postings.get(k))), key=lambda pk: len(pk[0]))
        votes: dict[int, float] = defaultdict(float)
        budget = self.read_budget
        for plist, kind in postings:
            # Common keys (a frequent first name) are read last, and not at all once the rarer
            # ones have used the budget: they would make every query meet a large share of the list.
            if len(plist) > budget and votes and kind != "i":
                break
            weight = _WEIGHTS[kind] / math.log2(2 + len(plist))
            for i in plist:
                votes[i] += weight
            budget -= len(plist)
        return heapq.nlargest(self.max_candidates, votes, key=votes.__getitem__)

    def _qualify(self, query: ScreeningQuery, entry: ListedParty) -> list[QualifierResult]:
        results = [compare_birth_dates(query.birth_dates, entry.birth_dates),
                   compare_countries(query.countries, entry.nationalities)]
        shared = {s for s, _ in query.identifiers} & {s for s, _ in entry.identifiers}
        for scheme in sorted(shared):
            ours = {v for s, v in query.identifiers if s == scheme}
            theirs = {v for s, v in entry.identifiers if s == scheme}
            outcome, adjustment = ("agreed", IDENTIFIER_AGREE) if ours & theirs else ("conflicted", IDENTIFIER_CONFLICT)
            results.append(QualifierResult("identifier", outcome, ",".join(sorted(ours)), ",".join(sorted(theirs)),
                                           adjustment))
        return [r for r in results if r is not None]

    def screen(self, query: ScreeningQuery | str, threshold: float | None = None, limit: int = 10) -> list[Match]:
        """Matches of one query at or above the threshold, best first, one per entry."""
        if isinstance(query, str):
            query = ScreeningQuery(query)
        threshold = self.threshold if threshold is None else threshold
        best: dict[int, tuple] = {}
        for name_idx in self._candidates(query):
            position, form = self._names[name_idx]
            if self._live.get(self.entries[position].id) != position:
                continue  # an older version of an updated entry, or a removed one
            scored = compare_names(query.form, form)
            if position not in best or scored.score > best[position][0].score:
                best[position] = (scored, form)
        matches = []
        for position, (scored, form) in best.items():
            entry = self.entries[position]
            if scored.score + MAX_RAISE < threshold and not (query.identifiers and entry.identifiers):
                continue  # no qualifier could lift it to the threshold
            qualifiers = self._qualify(query, entry)
            score = max(0.0, min(1.0, scored.score + sum(q.adjustment for q in qualifiers)))
            if score >= threshold:
                matches.append(Match(entry, form.original, score, scored, tuple(qualifiers), query.form, form,
                                     fingerprint(query, entry)))
        matches.sort(key=lambda m: (-m.score, m.entry.row if m.entry.row is not None else 0, m.entry.id))
        return matches[:limit]


def screen_name(index: WatchlistIndex, name: str, kind: str = "unknown", **qualifiers) -> list[Match]:
    """Screen one name with optional date_of_birth, nationality/country and identifiers."""
    return index.screen(ScreeningQuery.from_record({"name": name, "kind": kind, **qualifiers}))


Screener = WatchlistIndex  # the name the risk and API layers use
__all__ = ["DEFAULT_THRESHOLD", "STRONG_THRESHOLD", "Match", "ScreeningQuery", "Screener", "WatchlistIndex",
           "name_keys", "normalize_name", "screen_name"]
