"""The history's event store: a stream of live events in small batches answers as one sorted batch would, and
folding old events keeps every answer as of the fold's time or later."""

import numpy as np
import pytest

from concord.risk.learning import running_totals
from concord.risk.learning.running_totals import EventStore


def brute(keys, times, values, qk, qt):
    """Count and sums of each query's key strictly before its time, by looking at every event."""
    hit = (qk[:, None] == keys[None, :]) & (times[None, :] < qt[:, None])
    return hit.sum(axis=1), hit.astype(np.float64) @ values


def events(rng, n, keys=40, days=50):
    return (rng.integers(1, keys, n).astype(np.uint64), rng.integers(0, days * 86400, n),
            rng.integers(-500, 500, (n, 3)) / 4.0)


@pytest.fixture
def small_runs(monkeypatch):
    """Merges every few dozen events, so that a short stream passes through every part of the store."""
    monkeypatch.setattr(running_totals, "COMPACT_AT", 16)
    monkeypatch.setattr(running_totals, "RECENT_MAX", 64)


@pytest.mark.parametrize("seed", range(4))
def test_a_stream_of_small_batches_answers_as_the_brute_force_does(small_runs, seed):
    rng = np.random.default_rng(seed)
    store, seen = EventStore(3, scale=4.0), [np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros((0, 3))]
    for _ in range(60):
        k, t, v = events(rng, int(rng.integers(1, 40)))
        store.add(k, t, v)
        seen = [np.concatenate([seen[0], k]), np.concatenate([seen[1], t]), np.vstack([seen[2], v])]
        qk, qt, _ = events(rng, int(rng.integers(1, 100)), keys=45)  # some keys never seen
        count, sums = store.before(qk, qt)
        want_count, want_sums = brute(*seen, qk, qt)
        assert count.tolist() == want_count.tolist()
        assert np.array_equal(sums, want_sums)
    assert len(store) == len(seen[0])  # nothing folded: every event kept


@pytest.mark.parametrize("seed", range(4))
def test_folded_events_answer_exactly_from_the_fold_on_and_memory_stays_with_the_keys(small_runs, seed):
    rng = np.random.default_rng(seed)
    store, seen = EventStore(3, scale=4.0), [np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros((0, 3))]
    for day in range(1, 41):  # 40 days of events arriving in time order, folded a day behind
        k, t, v = events(rng, 30, keys=20, days=1)
        t = t + day * 86400
        store.fold_before = day * 86400
        store.add(k, t, v)
        seen = [np.concatenate([seen[0], k]), np.concatenate([seen[1], t]), np.vstack([seen[2], v])]
        qk = rng.integers(1, 22, 50).astype(np.uint64)
        qt = rng.integers(day * 86400, (day + 2) * 86400, 50)  # as of now, or later: what the live model asks
        count, sums = store.before(qk, qt)
        want_count, want_sums = brute(*seen, qk, qt)
        assert count.tolist() == want_count.tolist()
        assert np.array_equal(sums, want_sums)
    assert len(store) < len(seen[0]) / 4  # 1,200 events; about one per key per day-behind window kept
    restored = EventStore(3, scale=4.0)
    restored.load_state(store.state())  # a folded store survives serialization with its counts
    assert restored.before(qk, qt)[0].tolist() == want_count.tolist()


def test_a_state_saved_before_counts_existed_counts_each_event_once():
    store = EventStore(1)
    store.add(np.array([7, 7, 8], np.uint64), np.array([1, 2, 3]), np.array([[1.0], [2.0], [5.0]]))
    old = {k: v for k, v in store.state().items() if k != "counts"}
    restored = EventStore(1)
    restored.load_state(old)
    count, sums = restored.before(np.array([7, 8], np.uint64), np.array([10, 10]))
    assert count.tolist() == [2, 1] and sums[:, 0].tolist() == [3.0, 5.0]


class _Interleaving:
    """The owner's lock, with events another thread adds while settle merges (between its two holds of the lock)."""

    def __init__(self, store, events):
        self.store, self.events, self.taken = store, events, 0

    def __enter__(self):
        self.taken += 1
        if self.taken == 2:
            self.store.add(*self.events)

    def __exit__(self, *exc):
        return False


def test_settling_merges_outside_the_lock_and_keeps_what_arrived_meanwhile(small_runs):
    rng = np.random.default_rng(7)
    store = EventStore(3, scale=4.0)
    first, later = events(rng, 500), events(rng, 5)
    store.add(*first)
    store.settle(_Interleaving(store, later))
    assert store._pending_n == 5  # the events added during the merge wait for the next one
    qk, qt, _ = events(rng, 200, keys=45)
    every = [np.concatenate([first[0], later[0]]), np.concatenate([first[1], later[1]]),
             np.vstack([first[2], later[2]])]
    count, sums = store.before(qk, qt)
    want_count, want_sums = brute(*every, qk, qt)
    assert count.tolist() == want_count.tolist() and np.array_equal(sums, want_sums)
