"""What an officer's rule may read of the past: the importer's declarations lodged strictly before this one.

A split consignment shows only across declarations: one importer lodging the same goods several times in
a few days, each under the simplified procedure's threshold. Rules see, per item (`i.history`), the
importer's earlier declarations of the same HS6 and, per declaration (`history`), all of the importer's
earlier declarations, each over the last 7 and 30 days: how many (`count`), their summed value in the
base currency (`value`) and the largest (`max_value`, so "each under the threshold" is `max_value < T`).
Only declarations lodged strictly before the one assessed count, never itself or its own earlier versions
(an amendment is not a second consignment).

The store is in memory, one per risk step: it holds what the step assessed in the last `horizon_days`
and, at start, what the database holds of them (`seed`). With several workers, each sees its own
assessments after start plus the seed; a burst spread over workers is counted from the seed on the next
start (documented in docs/risk-model.md).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from datetime import datetime

WINDOWS = (("7d", 7), ("30d", 30))
DAY = 86400.0


def empty_window() -> dict:
    """A window with nothing in it."""
    return {"count": 0, "value": 0.0, "max_value": 0.0}


def empty_history() -> dict:
    """What a rule reads when there is no earlier declaration (and where no store is wired, e.g. a what-if)."""
    return {f"importer_{w}": empty_window() for w, _ in WINDOWS}


def empty_item_history() -> dict:
    """An item's view when nothing came before."""
    return {f"importer_hs6_{w}": empty_window() for w, _ in WINDOWS}


def _declaration_key(declaration_id: str | None) -> str | None:
    """`DCL123/2` and `DCL123/1` are one declaration: versions never count as each other's past."""
    return None if declaration_id is None else declaration_id.rpartition("/")[0] or declaration_id


class DeclarationHistory:
    """Per importer and per importer x HS6, the (time, value, declaration) of earlier declarations."""

    def __init__(self, horizon_days: int = 30):
        self.horizon = horizon_days * DAY
        self._series: dict[tuple, list[tuple[float, float, str]]] = {}
        self._of: dict[str, list[tuple[tuple, tuple]]] = {}  # declaration -> its entries, to replace on amendment
        self._lock = threading.Lock()
        self._recorded = 0

    def __len__(self) -> int:
        return len(self._of)

    @staticmethod
    def _entries(doc: dict, values: list) -> list[tuple[tuple, float]]:
        importer = (doc.get("importer") or {}).get("id")
        if not importer:
            return []
        out = [(("importer", importer), float(sum(v or 0.0 for v in values)))]
        per_goods: dict[str, float] = {}
        for item, value in zip(doc["items"], values):
            hs6 = str(item.get("hs_code", ""))[:6]
            per_goods[hs6] = per_goods.get(hs6, 0.0) + float(value or 0.0)
        return out + [(("importer_hs6", importer, hs6), v) for hs6, v in per_goods.items()]

    def record(self, doc: dict, values: list, at: datetime, declaration_id: str | None = None) -> None:
        """A declaration lodged at `at`; `values` are its items' values in the base currency (None: unknown)."""
        key, ts = _declaration_key(declaration_id) or f"@{id(doc)}-{self._recorded}", at.timestamp()
        with self._lock:
            self._forget(key)
            entries = []
            for series, value in self._entries(doc, values):
                entry = (ts, value, key)
                insort(self._series.setdefault(series, []), entry)
                entries.append((series, entry))
            self._of[key] = entries
            self._recorded += 1
            if self._recorded % 4096 == 0:
                self._prune(ts - self.horizon)

    def _forget(self, key: str) -> None:
        for series, entry in self._of.pop(key, ()):
            rows = self._series.get(series, [])
            i = bisect_left(rows, entry)
            if i < len(rows) and rows[i] == entry:
                del rows[i]

    def _prune(self, before: float) -> None:
        for series, rows in list(self._series.items()):
            cut = bisect_left(rows, (before,))
            for _, _, key in rows[:cut]:
                self._of.pop(key, None)
            del rows[:cut]
            if not rows:
                del self._series[series]

    def _window(self, series: tuple, ts: float, days: int, own: str | None) -> dict:
        rows = self._series.get(series)
        if not rows:
            return empty_window()
        lo, hi = bisect_left(rows, (ts - days * DAY,)), bisect_left(rows, (ts,))  # strictly before ts
        picked = [v for _, v, k in rows[lo:hi] if k != own]
        if not picked:
            return empty_window()
        return {"count": len(picked), "value": float(sum(picked)), "max_value": float(max(picked))}

    def aggregates(self, doc: dict, at: datetime, declaration_id: str | None = None) -> tuple[dict, list[dict]]:
        """The declaration's `history` and each item's, over declarations strictly before `at`."""
        importer = (doc.get("importer") or {}).get("id")
        if not importer or not self._series:
            return empty_history(), [empty_item_history() for _ in doc["items"]]
        ts, own = at.timestamp(), _declaration_key(declaration_id)
        with self._lock:
            top = {f"importer_{w}": self._window(("importer", importer), ts, d, own) for w, d in WINDOWS}
            per_goods: dict[str, dict] = {}
            items = []
            for item in doc["items"]:
                hs6 = str(item.get("hs_code", ""))[:6]
                if hs6 not in per_goods:
                    per_goods[hs6] = {f"importer_hs6_{w}": self._window(("importer_hs6", importer, hs6), ts, d, own)
                                      for w, d in WINDOWS}
                items.append(per_goods[hs6])
        return top, items
