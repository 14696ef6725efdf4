"""The history rules read, in the database: every worker's lodgings, kept across restarts, read by hunts too.

The live risk step writes one `risk_history` row per declaration and HS6 (models.HistoryEntry) with the lodging's
other staged rows, so the group commit's batched insert carries them and no round trip is added; an amendment
first deletes its declaration's rows (one statement, amendments only). A rule that reads `history` costs one
query: the importer's rows of the last 30 days, strictly before the declaration's time and never its own
versions, summed per declaration (for `history`) and per HS6 (for `i.history`) by the database.

Times are integer microseconds and values integer cents of the base currency, so windows and sums are exact
and the same on SQLite and PostgreSQL; the in-memory `DeclarationHistory` (history.py) stays for replays over
the past (`rules try`, the scheme benchmark), which compute the same windows.

No cache: a cached window would miss another worker's lodging. The declarations lodged in one group commit share
one instant, so none of them is "strictly before" another, in memory or here: nothing staged needs reading back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, insert, text

from concord.risk.catalogue.history import WINDOWS, _declaration_key, empty_history, empty_item_history
from concord.risk.models import HistoryEntry

MICRO = 1_000_000
DAY_US = 86_400 * MICRO
LONGEST = max(d for _, d in WINDOWS)

# Per declaration (its HS6 rows summed) for the importer's windows, then per HS6 for the items' windows; one
# statement, one round trip. Both windows come from one range: CASE keeps the shorter one's rows.
_SQL = """
WITH w AS (
  SELECT declaration_id, hs6, at, value FROM risk_history
  WHERE importer = :importer AND at >= :since AND at < :until AND declaration_id <> :own
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
        from datetime import timezone

        at = at.replace(tzinfo=timezone.utc)
    return round(at.timestamp() * MICRO)


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
    for hs6, *sums in session.execute(QUERY, params):
        windows = {w: _window(*sums[3 * n:3 * n + 3]) for n, (w, _) in enumerate(WINDOWS)}
        if hs6 == "":
            top = {f"importer_{w}": v for w, v in windows.items()}
        else:
            goods[hs6] = {f"importer_hs6_{w}": v for w, v in windows.items()}
    empty = empty_item_history()
    return top, [goods.get(_hs6(i), empty) for i in doc["items"]]


class DatabaseHistory:
    """`history` for RuleSet.evaluate, read through one session (a transaction's, so it sees what it wrote)."""

    __slots__ = ("session",)

    def __init__(self, session):
        self.session = session

    def aggregates(self, doc: dict, at: datetime, declaration_id: str | None = None) -> tuple[dict, list[dict]]:
        return aggregates(self.session, doc, at, declaration_id)


def record(session, rows: list[dict], declaration_id: str, *, replace: bool, stage=None) -> None:
    """Write a declaration version's rows: staged for the commit's batched insert when `stage` is given (the
    lodging), else inserted now. `replace` (an amendment) first deletes the earlier version's rows."""
    did = _declaration_key(declaration_id)
    if replace:
        session.execute(delete(HistoryEntry).where(HistoryEntry.declaration_id == did))
    if not rows:
        return
    if stage is not None:
        for row in rows:
            stage(HistoryEntry, row)
    else:
        session.execute(insert(HistoryEntry), rows)
