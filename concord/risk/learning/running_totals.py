"""Events with running totals per key, queried "totals of this key strictly before t" for a whole batch at once."""

import numpy as np

COMPACT_AT = 2048  # pending events answered by brute force below this; merged into the recent run above
RECENT_MAX = 65_536  # events the recent run holds before it merges into the base (or a quarter of the base)


def _clip(ts: np.ndarray) -> np.ndarray:
    """Seconds since the epoch into 32 bits (1970-2106), the low half of the composite order."""
    return np.minimum(np.maximum(ts, 0), 0xFFFFFFFF)  # np.clip costs more on the one-record path


class _Run:
    """Events sorted by (key, time) with running totals and running counts: one immutable part of the store.

    An event usually counts once; a folded one (EventStore.fold_before) stands for several older events."""

    __slots__ = ("keys", "start", "times", "totals", "counts", "order")

    def __init__(self, keys, start, times, totals, counts=None):
        self.keys, self.start, self.times, self.totals = keys, start, times, totals
        # files written before folding existed hold no counts: every event there counts once
        self.counts = np.arange(len(times) + 1, dtype=np.int64) if counts is None else counts
        slots = np.repeat(np.arange(len(keys), dtype=np.int64), np.diff(start))
        self.order = (slots << 32) | _clip(times)  # (key slot, time) ascending

    @classmethod
    def build(cls, keys, times, values, counts, fold_before=None) -> "_Run":
        """A run of unsorted events (each with the number of events it stands for); events of a key older than
        `fold_before` become one, at the latest of their times, holding their sums and counts."""
        order = np.lexsort((times, keys))
        keys, times, values, counts = keys[order], times[order], values[order], counts[order]
        if fold_before is not None and len(keys):
            keys, times, values, counts = _fold(keys, times, values, counts, fold_before)
        distinct, first = np.unique(keys, return_index=True)
        width = values.shape[1]
        return cls(distinct, np.append(first, len(keys)).astype(np.int64), times,
                   np.vstack([np.zeros((1, width), np.int64), np.cumsum(values, axis=0)]),
                   np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(keys, times, values, counts) per event: the inverse of build."""
        return (np.repeat(self.keys, np.diff(self.start)), self.times, np.diff(self.totals, axis=0),
                np.diff(self.counts))

    def __len__(self) -> int:
        return len(self.times)

    def add_before(self, keys: np.ndarray, times: np.ndarray, count: np.ndarray, sums: np.ndarray) -> None:
        """Add this run's counts and sums of each key's events strictly before its time into `count`, `sums`."""
        if not len(self.keys):
            return
        n = len(keys)
        # queries in key order: each binary search starts near the last one, ~5x faster in a batch
        by_key = np.argsort(keys, kind="stable") if n > 64 else np.arange(n)
        slot = np.minimum(np.searchsorted(self.keys, keys[by_key]), len(self.keys) - 1)
        hit = self.keys[slot] == keys[by_key]
        found, slot = by_key[hit], slot[hit]
        lo = self.start[slot]
        pos = np.searchsorted(self.order, (slot << 32) | _clip(times[found]), "left")
        count[found] += self.counts[pos] - self.counts[lo]
        sums[found] += self.totals[pos] - self.totals[lo]


def _fold(keys, times, values, counts, before):
    """Sorted events with each key's events older than `before` (a prefix of the key's events) made one."""
    old = times < before
    same_next = np.append(keys[1:] == keys[:-1], False)
    last_old = old & ~(same_next & np.append(old[1:], False))
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    segment = np.repeat(first, np.diff(np.r_[first, len(keys)]))  # index of each event's key's first event
    cum_v = np.vstack([np.zeros((1, values.shape[1]), np.int64), np.cumsum(values, axis=0)])
    cum_c = np.concatenate([[0], np.cumsum(counts)])
    at = np.flatnonzero(last_old)
    values, counts = values.copy(), counts.copy()
    values[at] = cum_v[at + 1] - cum_v[segment[at]]
    counts[at] = cum_c[at + 1] - cum_c[segment[at]]
    keep = ~old | last_old
    return keys[keep], times[keep], values[keep], counts[keep]


class EventStore:
    """Events (uint64 key, time, value vector), queried for a key's count and sums strictly before a time.

    Three parts, so that a steady stream of live events never re-sorts the whole history: a big sorted base,
    a recent sorted run (merged into the base when it passes a quarter of it), and a small unsorted buffer of
    pending events answered by brute force. Late and out-of-order events are fine.

    Values are kept in fixed point (int64, `scale` units per 1): running totals are then exact, and
    a key's sums do not depend, even in the last bit, on how many other events sit before it.

    `fold_before` (a time, or None): when the recent run merges into the base, each key's events older than it
    become one event. Queries at or after that time answer exactly as before; earlier ones do not. The live
    model sets it (it only asks "as of now"), so that its memory grows with the keys seen, not the events.
    """

    def __init__(self, width: int, scale: float = 1.0):
        self.width, self.scale = width, scale
        self.fold_before: int | None = None
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_n = 0
        self._buffer = None  # the pending events as arrays, built on the first query after an add
        self._recent = self._empty()
        self.load_state({"keys": np.zeros(0, np.uint64), "start": np.zeros(1, np.int64),
                         "times": np.zeros(0, np.int64), "totals": np.zeros((1, width), np.int64)})

    def _empty(self) -> _Run:
        return _Run(np.zeros(0, np.uint64), np.zeros(1, np.int64), np.zeros(0, np.int64),
                    np.zeros((1, self.width), np.int64))

    def __len__(self) -> int:
        """Events held (a folded one counts once): what the store's memory grows with."""
        return len(self._base) + len(self._recent) + self._pending_n

    @property
    def nbytes(self) -> int:
        """The memory its arrays take."""
        runs = sum(a.nbytes for r in (self._base, self._recent) for a in (r.keys, r.start, r.times, r.totals,
                                                                          r.counts, r.order))
        return runs + sum(a.nbytes for p in self._pending for a in p)

    def add(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        """Add events; they are visible to the next query."""
        fixed = np.rint(np.asarray(values, np.float64).reshape(-1, self.width) * self.scale).astype(np.int64)
        self._pending.append((np.asarray(keys, np.uint64), np.asarray(times, np.int64), fixed))
        self._pending_n += len(keys)
        self._buffer = None

    def state(self) -> dict[str, np.ndarray]:
        """The sorted arrays, every event included, for serialization."""
        if self._pending or len(self._recent):
            self._compact(into_base=True)
        b = self._base
        return {"keys": b.keys, "start": b.start, "times": b.times, "totals": b.totals, "counts": b.counts}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of state() (a state without counts: every event counts once)."""
        self._base = _Run(state["keys"], state["start"], state["times"], state["totals"], state.get("counts"))

    def settle(self, lock) -> None:
        """Pending events past COMPACT_AT into the sorted runs now rather than in the next query, holding `lock`
        (the owner's, which its queries hold) only to take the parts and to put the merged ones back: a query waits
        for a swap, never for a sort. Fewer stay pending (a query reads them by brute force: cheaper than a merge).
        Events added meanwhile stay pending; a merge another thread made meanwhile wins."""
        with lock:
            if self._pending_n <= COMPACT_AT:
                return
            base, recent, pending, fold = self._base, self._recent, list(self._pending), self.fold_before
        merged = self._merged(base, recent, pending, fold)
        with lock:
            if (self._base is base and self._recent is recent
                    and all(a is b for a, b in zip(self._pending, pending))):
                self._base, self._recent = merged
                self._pending = self._pending[len(pending):]
                self._pending_n, self._buffer = sum(len(p[0]) for p in self._pending), None

    def _compact(self, into_base: bool = False) -> None:
        """Pending events into the recent run; the recent run into the base once it is big (or when asked)."""
        self._base, self._recent = self._merged(self._base, self._recent, self._pending, self.fold_before, into_base)
        self._pending, self._pending_n, self._buffer = [], 0, None

    def _merged(self, base: _Run, recent: _Run, pending: list, fold_before, into_base: bool = False) -> tuple:
        """(base, recent) with the pending events merged in: into the recent run, and it into the base once it
        passes a quarter of the base (folding there)."""
        parts = [recent.events()]
        if pending:
            keys, times, values = (np.concatenate([p[i] for p in pending]) for i in range(3))
            parts.append((keys, times, values, np.ones(len(keys), np.int64)))
        if into_base or sum(len(p[0]) for p in parts) > max(RECENT_MAX, len(base) // 4):
            return self._build(parts + [base.events()], fold_before), self._empty()
        return base, self._build(parts, None)

    @staticmethod
    def _build(parts, fold_before) -> _Run:
        keys, times, values, counts = (np.concatenate([p[i] for p in parts]) for i in range(4))
        return _Run.build(keys, times, values, counts, fold_before)

    def before(self, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(event count, value sums) for each (key, time): events of that key strictly before that time."""
        if self._pending and (self._pending_n > COMPACT_AT or self._pending_n * len(keys) > 4_000_000):
            self._compact()
        n = len(keys)
        count, sums = np.zeros(n, np.int64), np.zeros((n, self.width), np.int64)
        self._base.add_before(keys, times, count, sums)
        self._recent.add_before(keys, times, count, sums)
        if self._pending:
            if self._buffer is None:
                self._buffer = tuple(np.concatenate([p[i] for p in self._pending]) for i in range(3))
            pk, pt, pv = self._buffer
            hit = (keys[:, None] == pk[None, :]) & (pt[None, :] < times[:, None])  # small: bounded above
            count += hit.sum(axis=1)
            sums += hit.astype(np.int64) @ pv
        return count.astype(np.float64), sums / self.scale
