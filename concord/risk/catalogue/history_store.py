"""The history rules read, in the database: every worker's lodgings, kept across restarts, read by hunts too.

The live risk step writes one `risk_history` row per declaration and HS6 (models.HistoryEntry) with the lodging's
other staged rows, so the group commit's batched insert carries them and no round trip is added; an amendment
first deletes its declaration's rows (one statement, amendments only). A rule that reads `history` costs one
query: the importer's rows of the last 30 days, strictly before the declaration's time and never its own
versions, summed per declaration (for `history`) and per HS6 (for `i.history`) by the database.

Times are integer microseconds and values integer cents of the base currency, so windows and sums are exact
and the same on SQLite and PostgreSQL; the in-memory `DeclarationHistory` (history.py) stays for replays over
the past (`rules try`, the scheme benchmark), which compute the same windows.

That query reads every row of the importer's last 30 days: for most importers a handful, for a busy one
thousands (the risk-engine bench lodges all 3,000 of its declarations for one importer). From `HOT` declarations
on, the step keeps that importer's rows in memory (`HotImporters`, at most `MAX_HOT` importers, least recently
used first out) and, per assessment, reads only the rows written since its last look (less `LAG`, for a
transaction that commits after a later one): the cache follows every worker's writes, so its windows are the
query's. An amendment replaces its declaration's rows; one that moves a declaration to another importer leaves
a tombstone row (hs6 "-") in the old importer's range, so a cache of that importer drops it too.

A group commit's lodgings are assessed one after the other (each at its own time) and written together at its
commit: the rows staged by the earlier ones count for the later ones (`pending`), as a committed row would.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, delete, text

from concord.risk.catalogue.history import (WINDOWS, DeclarationHistory, _declaration_key, empty_history,
                                            empty_item_history)
from concord.driver import PLACEHOLDER, bulk_insert
from concord.risk.models import HistoryEntry

MICRO = 1_000_000
DAY_US = 86_400 * MICRO
LONGEST = max(d for _, d in WINDOWS)
TOMBSTONE = "-"
HOT = 64  # declarations of one importer in 30 days from which the step caches its rows
MAX_HOT = 256
LAG = 30 * MICRO
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Per declaration (its HS6 rows summed) for the importer's windows, then per HS6 for the items' windows; one
# statement, one round trip. Both windows come from one range: CASE keeps the shorter one's rows.
_SQL = """
WITH w AS (
  SELECT declaration_id, hs6, at, value FROM risk_history
  WHERE importer = :importer AND at >= :since AND at < :until AND declaration_id <> :own AND hs6 <> '-'
), d AS (SELECT declaration_id, MIN(at) AS at, SUM(value) AS value FROM w GROUP BY declaration_id)
SELECT '' AS hs6, {columns} FROM d
UNION ALL
SELECT hs6, {columns} FROM w WHERE hs6 IN :hs6 GROUP BY hs6
"""
_COLUMNS = ", ".join(
    f"SUM(CASE WHEN at >= :since_{w} THEN 1 ELSE 0 END), SUM(CASE WHEN at >= :since_{w} THEN value ELSE 0 END), "
    f"MAX(CASE WHEN at >= :since_{w} THEN value END)" for w, _ in WINDOWS)
QUERY = text(_SQL.format(columns=_COLUMNS)).bindparams(bindparam("hs6", expanding=True))


def micros(at: datetime) -> int:
    """A time as integer microseconds since the epoch (timezone-aware, or naive UTC as the database returns it)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return (at - EPOCH) // timedelta(microseconds=1)


def cents(value) -> int:
    return round(float(value or 0.0) * 100)


def _hs6(item: dict) -> str:
    return str(item.get("hs_code", ""))[:6]


def entries(doc: dict, values: list, at: datetime, declaration_id: str) -> list[dict]:
    """The rows of one declaration version: one per HS6, its items' values summed (unknown values count 0)."""
    importer = (doc.get("importer") or {}).get("id")
    if not importer:
        return []
    per_goods: dict[str, int] = {}
    for item, value in zip(doc["items"], values):
        per_goods[_hs6(item)] = per_goods.get(_hs6(item), 0) + cents(value)
    when, did = micros(at), _declaration_key(declaration_id)
    return [{"importer": importer, "at": when, "declaration_id": did, "hs6": hs6, "value": v}
            for hs6, v in per_goods.items()]


def _window(count, value, largest) -> dict:
    if not count:
        return {"count": 0, "value": 0.0, "max_value": 0.0}
    return {"count": int(count), "value": int(value) / 100, "max_value": int(largest) / 100}


def aggregates(session, doc: dict, at: datetime, declaration_id: str | None = None) -> tuple[dict, list[dict]]:
    """The declaration's `history` and each item's, over the importer's declarations strictly before `at`."""
    importer = (doc.get("importer") or {}).get("id")
    if not importer:
        return empty_history(), [empty_item_history() for _ in doc["items"]]
    until = micros(at)
    params = {"importer": importer, "until": until, "since": until - LONGEST * DAY_US,
              "own": _declaration_key(declaration_id) or "", "hs6": sorted({_hs6(i) for i in doc["items"]})}
    params.update({f"since_{w}": until - d * DAY_US for w, d in WINDOWS})
    top, goods = empty_history(), {}
    for hs6, *sums in session.connection().execute(QUERY, params):  # Core: no ORM execute, no autoflush
        windows = {w: _window(*sums[3 * n:3 * n + 3]) for n, (w, _) in enumerate(WINDOWS)}
        if hs6 == "":
            top = {f"importer_{w}": v for w, v in windows.items()}
        else:
            goods[hs6] = {f"importer_hs6_{w}": v for w, v in windows.items()}
    empty = empty_item_history()
    return top, [goods.get(_hs6(i), empty) for i in doc["items"]]


class DatabaseHistory:
    """`history` for RuleSet.evaluate, read through one session; with `hot`, the live step's cache of busy
    importers (never for reads as of the past, such as hunts'); with `pending`, the rows this transaction staged
    and has not written yet (the earlier lodgings of the same group commit, which count like any other)."""

    __slots__ = ("session", "hot", "pending")

    def __init__(self, session, hot: HotImporters | None = None, pending: list | None = None):
        self.session, self.hot, self.pending = session, hot, pending

    def aggregates(self, doc: dict, at: datetime, declaration_id: str | None = None) -> tuple[dict, list[dict]]:
        importer = (doc.get("importer") or {}).get("id")
        found = None
        if self.hot is not None and importer:
            found = self.hot.aggregates(self.session, importer, doc, at, declaration_id)
        if found is None:
            found = aggregates(self.session, doc, at, declaration_id)
            if self.hot is not None and importer and found[0]["importer_30d"]["count"] >= HOT:
                self.hot.load(self.session, importer, at)
        if self.pending and importer:
            found = _with_pending(found, self.pending, doc, importer, micros(at), _declaration_key(declaration_id))
        return found


def _with_pending(found: tuple, pending: list, doc: dict, importer: str, until: int, own: str | None) -> tuple:
    """Windows with the staged rows added, in cents as the database adds them (the same figures either way)."""
    # staged before this one in the transaction's order: before it even at the same instant (a fixed clock)
    rows = [r for r in pending if r["importer"] == importer and r["hs6"] != TOMBSTONE and r["declaration_id"] != own
            and until - LONGEST * DAY_US <= r["at"] <= until]
    if not rows:
        return found

    def add(window: dict, picked: list) -> dict:
        if not picked:
            return window
        return {"count": window["count"] + len(picked),
                "value": (round(window["value"] * 100) + sum(picked)) / 100,
                "max_value": max(round(window["max_value"] * 100), max(picked)) / 100}

    top, items = found
    per_declaration: dict[str, list] = {}
    for r in rows:
        per_declaration.setdefault(r["declaration_id"], [r["at"], 0])[1] += r["value"]
    top = {f"importer_{w}": add(top[f"importer_{w}"], [v for at, v in per_declaration.values()
                                                       if at >= until - d * DAY_US]) for w, d in WINDOWS}
    items = [{f"importer_hs6_{w}": add(i[f"importer_hs6_{w}"], [r["value"] for r in rows if r["hs6"] == _hs6(it)
                                                                and r["at"] >= until - d * DAY_US])
              for w, d in WINDOWS} for i, it in zip(items, doc["items"])]
    return top, items


class _Importer:
    """One busy importer's rows as this worker read them, in a DeclarationHistory (values in cents)."""

    __slots__ = ("history", "seen", "latest", "since", "lock")

    def __init__(self, since: int):
        self.history = DeclarationHistory(horizon_days=LONGEST + 1)
        self.seen: dict[tuple, int] = {}  # (declaration, hs6, at) read within LAG of the latest
        self.latest = since
        self.since = since  # it answers for times from `since` + 30 days back: what it loaded
        self.lock = threading.Lock()

    def apply(self, importer: str, rows) -> None:
        groups: dict[tuple, list] = {}
        for did, hs6, at, value in rows:
            if (did, hs6, at) not in self.seen:
                self.seen[(did, hs6, at)] = at
                groups.setdefault((at, did), []).append((hs6, value))
        for (at, did), parts in sorted(groups.items()):
            if any(hs6 == TOMBSTONE for hs6, _ in parts):
                self.history.forget(did)
                continue
            doc = {"importer": {"id": importer}, "items": [{"hs_code": hs6} for hs6, _ in parts]}
            self.history.record(doc, [float(v) for _, v in parts], EPOCH + timedelta(microseconds=at), did)
            self.latest = max(self.latest, at)
        horizon = self.latest - LAG
        if len(self.seen) > 64:
            self.seen = {k: at for k, at in self.seen.items() if at >= horizon}


_ROWS = "SELECT declaration_id, hs6, at, value FROM risk_history WHERE importer = {0} AND at >= {0}"


def _rows(session, importer: str, since: int) -> list:
    """The importer's rows from `since`, through the transaction's own driver connection: this read runs on every
    assessment of a busy importer, and SQLAlchemy's result set-up would cost more than the read."""
    conn = session.connection()
    cur = conn.connection.cursor()
    try:
        cur.execute(_ROWS.format(PLACEHOLDER[conn.dialect.paramstyle]), (importer, since))
        return cur.fetchall()
    finally:
        cur.close()


class HotImporters:
    """The live step's cache of busy importers' rows; each read first takes the rows written since the last."""

    def __init__(self, size: int = MAX_HOT):
        self.size = size
        self._importers: OrderedDict[str, _Importer] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, session, importer: str, at: datetime) -> None:
        since = micros(at) - LONGEST * DAY_US
        cache = _Importer(micros(at))
        cache.apply(importer, _rows(session, importer, since))
        with self._lock:
            self._importers[importer] = cache
            while len(self._importers) > self.size:
                self._importers.popitem(last=False)

    def aggregates(self, session, importer: str, doc: dict, at: datetime, declaration_id: str | None):
        with self._lock:
            cache = self._importers.get(importer)
            if cache is None:
                return None
            self._importers.move_to_end(importer)
        if micros(at) < cache.since:
            return None  # before what it loaded: the query answers
        with cache.lock:
            cache.apply(importer, _rows(session, importer, cache.latest - LAG))
            top, items = cache.history.aggregates(doc, at, declaration_id)
        if top["importer_30d"]["count"] < HOT // 2:  # no longer busy: free it
            with self._lock:
                self._importers.pop(importer, None)
        return _in_units(top), [_in_units(i) for i in items]


def _in_units(windows: dict) -> dict:
    return {k: {"count": w["count"], "value": w["value"] / 100, "max_value": w["max_value"] / 100}
            for k, w in windows.items()}


def record(session, rows: list[dict], declaration_id: str, at: datetime, *, replace: bool, stage=None) -> None:
    """Write a declaration version's rows: staged for the commit's batched insert when `stage` is given (the
    lodging), else inserted now. `replace` (an amendment) first deletes the earlier version's rows, and leaves a
    tombstone for an importer the declaration left (see the module's docstring)."""
    did = _declaration_key(declaration_id)
    if replace:
        left = set(session.connection().execute(delete(HistoryEntry.__table__).where(
            HistoryEntry.declaration_id == did).returning(HistoryEntry.importer)).scalars())
        left -= {r["importer"] for r in rows}
        rows = rows + [{"importer": i, "at": micros(at), "declaration_id": did, "hs6": TOMBSTONE, "value": 0}
                       for i in sorted(left)]
    if not rows:
        return
    if stage is not None:
        for row in rows:
            stage(HistoryEntry, row)
    else:
        bulk_insert(session.connection(), HistoryEntry.__table__, rows)
