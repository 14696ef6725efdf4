"""What an officer's rule may read of the past: the importer's declarations lodged strictly before this one.

A split consignment shows only across declarations: one importer lodging the same goods several times in
a few days, each under the simplified procedure's threshold. Rules see, per item (`i.history`), the
importer's earlier declarations of the same HS6 and, per declaration (`history`), all of the importer's
earlier declarations, each over the last 7 and 30 days: how many (`count`), their summed value in the
base currency (`value`) and the largest (`max_value`, so "each under the threshold" is `max_value < T`).
Only declarations lodged strictly before the one assessed count, never itself or its own earlier versions
(an amendment is not a second consignment).

This store is in memory: replays over the past (`rules try`, the scheme benchmark) fill one in lodging order,
and the live step keeps one per busy importer as a cache of the database (history_store.py), which is where
the live history lives, shared by every worker.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from datetime import datetime

WINDOWS = (("7d", 7), ("30d", 30))
DAY = 86400.0
BLOCK = 64


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


class _Series:
    """One key's declarations in time order, with running sums: a window's count and sum are two bisections."""

    __slots__ = ("ts", "values", "keys", "cum", "blocks")

    def __init__(self):
        self.ts: list[float] = []
        self.values: list[float] = []
        self.keys: list[str] = []
        self.cum: list[float] = [0.0]
        self.blocks: list[float] = []  # the largest value of each BLOCK rows: a window's largest in O(sqrt n)

    def add(self, ts: float, value: float, key: str) -> None:
        at = bisect_right(self.ts, ts)
        self.ts.insert(at, ts)
        self.values.insert(at, value)
        self.keys.insert(at, key)
        if at == len(self.ts) - 1:  # the usual case, in time order
            self.cum.append(self.cum[-1] + value)
            if at % BLOCK:
                self.blocks[-1] = max(self.blocks[-1], value)
            else:
                self.blocks.append(value)
        else:
            self._sum_from(at)

    def remove(self, ts: float, key: str) -> None:
        at = bisect_left(self.ts, ts)
        while at < len(self.ts) and self.ts[at] == ts and self.keys[at] != key:
            at += 1
        if at < len(self.ts) and self.keys[at] == key:
            del self.ts[at], self.values[at], self.keys[at]
            del self.cum[-1]
            self._sum_from(at)

    def drop_before(self, ts: float) -> list[str]:
        cut = bisect_left(self.ts, ts)
        gone = self.keys[:cut]
        del self.ts[:cut], self.values[:cut], self.keys[:cut]
        self.cum = [0.0]
        self._sum_from(0)
        return gone

    def _sum_from(self, at: int) -> None:
        del self.cum[at + 1:]
        for v in self.values[at:]:
            self.cum.append(self.cum[-1] + v)
        first = at // BLOCK
        del self.blocks[first:]
        self.blocks += [max(self.values[b:b + BLOCK]) for b in range(first * BLOCK, len(self.values), BLOCK)]

    def _largest(self, lo: int, hi: int) -> float:
        """max(values[lo:hi]) from whole blocks and the two partial ends."""
        first, last = -(-lo // BLOCK), hi // BLOCK
        if first >= last:
            return max(self.values[lo:hi])
        parts = [max(self.blocks[first:last])]
        if lo < first * BLOCK:
            parts.append(max(self.values[lo:first * BLOCK]))
        if last * BLOCK < hi:
            parts.append(max(self.values[last * BLOCK:hi]))
        return max(parts)

    def window(self, since: float, until: float, own: str | None, own_ts: float | None) -> dict:
        lo, hi = bisect_left(self.ts, since), bisect_left(self.ts, until)  # [since, until): strictly before
        if hi <= lo:
            return empty_window()
        if own_ts is not None and since <= own_ts < until:  # an earlier version of this declaration: not its past
            picked = [v for v, k in zip(self.values[lo:hi], self.keys[lo:hi]) if k != own]
            if not picked:
                return empty_window()
            return {"count": len(picked), "value": float(sum(picked)), "max_value": float(max(picked))}
        return {"count": hi - lo, "value": self.cum[hi] - self.cum[lo], "max_value": self._largest(lo, hi)}


class DeclarationHistory:
    """Per importer and per importer x HS6, the (time, value, declaration) of earlier declarations."""

    def __init__(self, horizon_days: int = 30):
        self.horizon = horizon_days * DAY
        self._series: dict[tuple, _Series] = {}
        self._of: dict[str, list[tuple[tuple, float]]] = {}  # declaration -> (series, time), to replace on amendment
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
            for series, when in self._of.pop(key, ()):
                if (rows := self._series.get(series)) is not None:
                    rows.remove(when, key)
            entries = []
            for series, value in self._entries(doc, values):
                rows = self._series.get(series)
                if rows is None:
                    rows = self._series[series] = _Series()
                rows.add(ts, value, key)
                entries.append((series, ts))
            self._of[key] = entries
            self._recorded += 1
            if self._recorded % 4096 == 0:
                self._prune(ts - self.horizon)

    def forget(self, declaration_id: str) -> None:
        """A declaration no longer in this store's past (amended to another importer)."""
        key = _declaration_key(declaration_id)
        with self._lock:
            for series, when in self._of.pop(key, ()):
                if (rows := self._series.get(series)) is not None:
                    rows.remove(when, key)

    def _prune(self, before: float) -> None:
        for series, rows in list(self._series.items()):
            for key in rows.drop_before(before):
                self._of.pop(key, None)
            if not rows.ts:
                del self._series[series]

    def _window(self, series: tuple, ts: float, days: int, own: str | None) -> dict:
        rows = self._series.get(series)
        if rows is None:
            return empty_window()
        own_ts = next((t for s, t in self._of.get(own, ()) if s == series), None) if own is not None else None
        return rows.window(ts - days * DAY, ts, own, own_ts)

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
