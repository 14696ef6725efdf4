"""Events with running totals per key, queried "totals of this key strictly before t" for a whole batch at once."""

import numpy as np

COMPACT_AT = 2048  # pending events answered by brute force below this; merged into the sorted arrays above


def _clip(ts: np.ndarray) -> np.ndarray:
    """Seconds since the epoch into 32 bits (1970-2106), the low half of the composite order."""
    return np.minimum(np.maximum(ts, 0), 0xFFFFFFFF)  # np.clip costs more on the one-record path


class EventStore:
    """Events (uint64 key, time, value vector). Sorted by (key, time) with running totals, plus a small
    unsorted buffer of recent events, so that one live outcome does not re-sort a million rows.

    Values are kept in fixed point (int64, `scale` units per 1): running totals are then exact, and
    a key's sums do not depend, even in the last bit, on how many other events sit before it.
    """

    def __init__(self, width: int, scale: float = 1.0):
        self.width, self.scale = width, scale
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_n = 0
        self._buffer = None  # the pending events as arrays, built on the first query after an add
        self.load_state({"keys": np.zeros(0, np.uint64), "start": np.zeros(1, np.int64),
                         "times": np.zeros(0, np.int64), "totals": np.zeros((1, width), np.int64)})

    def add(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        """Add events; they are visible to the next query (late and out-of-order events are fine)."""
        fixed = np.rint(np.asarray(values, np.float64).reshape(-1, self.width) * self.scale).astype(np.int64)
        self._pending.append((np.asarray(keys, np.uint64), np.asarray(times, np.int64), fixed))
        self._pending_n += len(keys)
        self._buffer = None

    def state(self) -> dict[str, np.ndarray]:
        """The sorted arrays, every event included, for serialization."""
        if self._pending:
            self._compact()
        return {"keys": self._keys, "start": self._start, "times": self._times, "totals": self._totals}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of state()."""
        self._keys, self._start, self._times = state["keys"], state["start"], state["times"]
        self._totals = state["totals"]
        slots = np.repeat(np.arange(len(self._keys), dtype=np.int64), np.diff(self._start))
        self._order = (slots << 32) | _clip(self._times)  # (key slot, time) ascending

    def _compact(self) -> None:
        keys = np.concatenate([np.repeat(self._keys, np.diff(self._start))] + [p[0] for p in self._pending])
        times = np.concatenate([self._times] + [p[1] for p in self._pending])
        values = np.concatenate([np.diff(self._totals, axis=0)] + [p[2] for p in self._pending])
        self._pending, self._pending_n, self._buffer = [], 0, None
        order = np.lexsort((times, keys))
        keys, times, values = keys[order], times[order], values[order]
        distinct, first = np.unique(keys, return_index=True)
        self.load_state({"keys": distinct, "start": np.append(first, len(keys)).astype(np.int64), "times": times,
                         "totals": np.vstack([np.zeros((1, self.width), np.int64), np.cumsum(values, axis=0)])})

    def before(self, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(event count, value sums) for each (key, time): events of that key strictly before that time."""
        if self._pending and (self._pending_n > COMPACT_AT or self._pending_n * len(keys) > 4_000_000):
            self._compact()
        n = len(keys)
        count, sums = np.zeros(n), np.zeros((n, self.width), np.int64)
        if len(self._keys):
            # queries in key order: each binary search starts near the last one, ~5x faster in a batch
            by_key = np.argsort(keys, kind="stable") if n > 64 else np.arange(n)
            slot = np.minimum(np.searchsorted(self._keys, keys[by_key]), len(self._keys) - 1)
            hit = self._keys[slot] == keys[by_key]
            found, slot = by_key[hit], slot[hit]
            lo = self._start[slot]
            pos = np.searchsorted(self._order, (slot << 32) | _clip(times[found]), "left")
            count[found] = pos - lo
            sums[found] = self._totals[pos] - self._totals[lo]
        if self._pending:
            if self._buffer is None:
                self._buffer = tuple(np.concatenate([p[i] for p in self._pending]) for i in range(3))
            pk, pt, pv = self._buffer
            hit = (keys[:, None] == pk[None, :]) & (pt[None, :] < times[:, None])  # small: bounded above
            count += hit.sum(axis=1)
            sums += hit.astype(np.int64) @ pv
        return count, sums / self.scale
