"""History profiles: outcome and value statistics per key, updated incrementally, queried as of a time.

The same code serves a batch of 50,000 training rows and one live assessment. Field values map
to integer ids through vocabularies that grow as events arrive (plain dict lookups: cheaper
than hashing strings, in a batch and for one record alike); a profile key is a 64-bit mix of
its fields' ids salted with the profile, and all profiles share one event store, so a query
for every profile of a batch is one vectorised search.
"""

import io
import json
from itertools import repeat
from operator import attrgetter

import numpy as np

from concord.risk.learning.datasets import RiskRecord
from concord.risk.learning.running_totals import EventStore

# Outcome profiles: who and what was found irregular before. Parties and goods as the issue
# asks, their combinations, and the "goods line" (same HS code with the same declared value
# or mass): repeat consignments of identical goods are the strongest signal in the KCS data.
OUTCOME_KEYS: dict[str, tuple[str, ...]] = {
    "importer": ("importer",), "declarant": ("declarant",), "seller": ("seller",),
    "hs6": ("hs6",), "hs4": ("hs4",), "origin": ("origin",), "departure": ("departure",),
    "office": ("office",),
    "importer_hs6": ("importer", "hs6"), "declarant_hs6": ("declarant", "hs6"),
    "seller_importer": ("seller", "importer"), "declarant_importer": ("declarant", "importer"),
    "hs6_origin": ("hs6", "origin"), "hs6_departure": ("hs6", "departure"),
    "hs4_departure": ("hs4", "departure"), "hs6_tax": ("hs6", "tax_type", "tax_rate"),
    "hs6_origin_departure": ("hs6", "origin", "departure"),
    "hs6_departure_tax": ("hs6", "departure", "tax_type"),
    "value": ("value",), "mass": ("net_mass",),
    "hs6_value": ("hs6", "value"), "hs6_mass": ("hs6", "net_mass"),
    "goods_line": ("hs6", "origin", "net_mass", "value"),
}
# Value profiles: distribution of log value per kg, log mass and log value of all declarations
# seen (with or without an outcome), for "value per unit relative to the same HS code and origin".
VALUE_KEYS: dict[str, tuple[str, ...]] = {
    "hs6_origin": ("hs6", "origin"), "hs6": ("hs6",),
    # siblings: the heading's price and mass norm, for goods declared under a subheading they do not fit
    "hs4": ("hs4",),
    # how often each party, combination and route was declared before (counts only, see COUNT_KEYS)
    "importer": ("importer",), "declarant": ("declarant",), "seller": ("seller",),
    "importer_declarant": ("importer", "declarant"), "importer_seller": ("importer", "seller"),
    "importer_declarant_seller": ("importer", "declarant", "seller"), "importer_hs6": ("importer", "hs6"),
    "importer_hs4": ("importer", "hs4"), "seller_hs6": ("seller", "hs6"),
    "hs6_origin_departure": ("hs6", "origin", "departure"), "origin_departure": ("origin", "departure"),
}
# Value profiles whose price and mass norms are features (the others give their declaration counts only:
# first-time importer, new importer-broker-seller combination, an unusual route for the goods).
NORM_KEYS = ("hs6_origin", "hs6", "hs4")
COUNT_KEYS = tuple(k for k in VALUE_KEYS if k not in NORM_KEYS)

MISSING, UNKNOWN = -2, -1  # ids of an absent value and of a value no event ever had


NUMERIC = frozenset({"net_mass", "value", "tax_rate"})


def field_values(records, field: str) -> list:
    """One field of every record (None when absent; hs4 and hs2 are cut from hs6)."""
    if field in ("hs4", "hs2"):
        n = int(field[2])
        return [r.hs6[:n] for r in records]
    values = list(map(attrgetter(field), records))
    if field in NUMERIC:
        return [None if v is None or v != v else v for v in values]  # NaN is absent too
    return values


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads ids over 64 bits so that combined keys do not collide."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


class Columns:
    """A batch of records with each field's ids looked up once and shared by all profiles."""

    def __init__(self, records, vocab: dict[str, dict], grow: bool = False):
        self.records, self.vocab, self.grow = records, vocab, grow
        self.ts = np.fromiter((r.ts for r in records), np.int64, len(records))
        self._ids: dict[str, np.ndarray] = {}
        self._values: dict[str, list] = {}

    def values(self, field: str) -> list:
        """The field's values (None when absent)."""
        if field not in self._values:
            self._values[field] = field_values(self.records, field)
        return self._values[field]

    def ids(self, field: str) -> np.ndarray:
        """Vocabulary ids of the field (MISSING, or UNKNOWN unless the vocabulary may grow)."""
        if field not in self._ids:
            table = self.vocab.setdefault(field, {None: MISSING})
            values = self.values(field)
            if self.grow:
                for v in dict.fromkeys(values):  # first-seen order: the same ids on every run
                    if v not in table:
                        table[v] = len(table) - 1  # ids count from 0; the None entry is not one
            self._ids[field] = np.fromiter(map(table.get, values, repeat(UNKNOWN)), np.int64, len(values))
        return self._ids[field]

    def keys(self, plan: tuple) -> tuple[np.ndarray, np.ndarray]:
        """64-bit keys of the planned profiles, profile-major, and a mask of absent keys (first field absent)."""
        fields, index, salts = plan
        n = len(self.records)
        ids = np.vstack([self.ids(f) for f in fields] + [np.full(n, _PAD, np.int64)])[index]  # (P, width, n)
        h = np.repeat(salts[:, None], n, axis=1)
        for j in range(index.shape[1]):  # all profiles at once: a few numpy calls, whatever their number
            h = _mix(h ^ (ids[:, j, :] + 3).astype(np.uint64))
        return h.ravel(), (ids[:, 0, :] == MISSING).ravel()


_PAD = -3  # pads shorter keys in the plan; +3 makes it 0


def key_plan(profiles: dict[str, tuple], names) -> tuple:
    """The fields, a (profiles x longest key) index into them (padded), and one salt per profile."""
    order = list(profiles)
    fields = sorted({f for n in names for f in profiles[n]})
    # the width of the whole set, not of `names`: padding is part of the key, so a query for some profiles
    # must pad as the events (stored for all of them) were padded
    width = max((len(v) for v in profiles.values()), default=1)
    index = np.array([[fields.index(f) for f in profiles[n]] + [len(fields)] * (width - len(profiles[n]))
                      for n in names], dtype=np.int64).reshape(len(names), width)
    salts = np.array([((order.index(n) + 1) * 0x9E3779B97F4A7C15) % 2**64 for n in names], dtype=np.uint64)
    return fields, index, salts


class HistoryProfiles:
    """Outcome and value statistics per profile key, updatable with outcomes, queried as of a time."""

    def __init__(self, outcome_keys: dict | None = None, value_keys: dict | None = None):
        self.outcome_keys = {k: tuple(v) for k, v in (outcome_keys or OUTCOME_KEYS).items()}
        self.value_keys = {k: tuple(v) for k, v in (value_keys or VALUE_KEYS).items()}
        self.vocab: dict[str, dict] = {}
        self._plans: dict = {}
        # outcome events carry (fraud, critical, revenue, has revenue); value events the moments
        # fixed point: cents for revenue (and counts), about a millionth for the log moments
        self.outcomes, self.overall = EventStore(4, scale=100.0), EventStore(4, scale=100.0)
        self.values = EventStore(6, scale=2.0 ** 20)

    def _keys(self, cols: Columns, profiles: dict, names) -> tuple[np.ndarray, np.ndarray]:
        """Keys of the named profiles, profile-major (all records of the first, then the next...)."""
        plan_key = (id(profiles), tuple(names))
        if plan_key not in self._plans:
            self._plans[plan_key] = key_plan(profiles, names)
        return cols.keys(self._plans[plan_key])

    def add_outcomes(self, records, known_at=None) -> None:
        """Record inspection outcomes, each known from `known_at` (default: its declaration time)."""
        records = list(records)
        if not records:
            return
        if any(r.fraud is None for r in records):
            raise ValueError("every record given to add_outcomes needs its outcome (fraud 0 or 1)")
        cols = Columns(records, self.vocab, grow=True)
        at = cols.ts if known_at is None else np.broadcast_to(np.asarray(known_at, np.int64), len(records))
        rev = np.array([np.nan if r.revenue is None else r.revenue for r in records], dtype=np.float64)
        event = np.column_stack([[r.fraud for r in records], [r.critical or 0 for r in records],
                                 np.nan_to_num(rev), ~np.isnan(rev)]).astype(np.float64)
        self.overall.add(np.zeros(len(records), np.uint64), at, event)
        keys, absent = self._keys(cols, self.outcome_keys, self.outcome_keys)
        p = len(self.outcome_keys)
        self.outcomes.add(keys[~absent], np.tile(at, p)[~absent], np.tile(event, (p, 1))[~absent])

    def add_declarations(self, records) -> None:
        """Record declarations' values (no outcome needed) for the unit-value statistics."""
        records = list(records)
        if not records:
            return
        cols = Columns(records, self.vocab, grow=True)
        lm, lv = log_mass_value(records)
        u = lv - lm
        event = np.column_stack([u, u * u, lm, lm * lm, lv, lv * lv])
        keys, absent = self._keys(cols, self.value_keys, self.value_keys)
        p = len(self.value_keys)
        self.values.add(keys[~absent], np.tile(cols.ts, p)[~absent], np.tile(event, (p, 1))[~absent])

    def observe(self, records) -> "HistoryProfiles":
        """Add declarations and, where known, their outcomes (known from the declaration time)."""
        records = list(records)
        self.add_declarations(records)
        self.add_outcomes([r for r in records if r.fraud is not None])
        return self

    def add_outcome(self, record: RiskRecord, known_at: float | None = None) -> None:
        """Record one inspection outcome as it arrives (live use)."""
        self.add_outcomes([record], None if known_at is None else int(known_at))

    @property
    def _stores(self) -> tuple:
        return self.outcomes, self.overall, self.values

    def fold_before(self, at: int | None) -> None:
        """Each key's events older than `at` may become one (EventStore.fold_before): for a live model, which only
        asks as of now, so that its memory grows with the parties and goods seen, not with every declaration."""
        for store in self._stores:
            store.fold_before = at

    @property
    def nbytes(self) -> int:
        """The memory the events take (the vocabularies aside)."""
        return sum(s.nbytes for s in self._stores)

    def settle(self, lock) -> None:
        """Merge the events added since the last query now, holding `lock` only to swap (EventStore.settle)."""
        for store in self._stores:
            store.settle(lock)

    def query(self, cols: Columns, at: np.ndarray, outcome_names, value_names) -> tuple:
        """Per record, strictly before `at`: overall (n, sums); per outcome profile and per value profile
        (n, sums), as arrays shaped (profiles, records) and (profiles, records, width)."""
        n = len(at)
        overall = self.overall.before(np.zeros(n, np.uint64), at)
        out = []
        for store, profiles, names in ((self.outcomes, self.outcome_keys, outcome_names),
                                       (self.values, self.value_keys, value_names)):
            keys, _ = self._keys(cols, profiles, names)
            count, sums = store.before(keys, np.tile(at, len(names)))
            out.append((count.reshape(len(names), n), sums.reshape(len(names), n, store.width)))
        return overall, out[0], out[1]

    def declared_before(self, cols: Columns, at: np.ndarray, names) -> tuple[np.ndarray, np.ndarray]:
        """Declarations (any outcome) per named value profile strictly before `at`: (count, sums) shaped
        (profiles, records) and (profiles, records, width)."""
        keys, _ = self._keys(cols, self.value_keys, names)
        count, sums = self.values.before(keys, np.tile(at, len(names)))
        return count.reshape(len(names), len(at)), sums.reshape(len(names), len(at), self.values.width)

    def to_bytes(self) -> bytes:
        """The profiles as one .npz archive (no pickle: a model file must be safe to load)."""
        meta = {"outcome": self.outcome_keys, "value": self.value_keys,
                "vocab": {f: [v for v in t if v is not None] for f, t in self.vocab.items()}}  # in id order
        arrays = {"meta": np.array(json.dumps(meta))}
        for name, store in (("outcomes", self.outcomes), ("values", self.values), ("overall", self.overall)):
            arrays.update({f"{name}/{k}": v for k, v in store.state().items()})
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "HistoryProfiles":
        """Inverse of to_bytes."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            profiles = cls(meta["outcome"], meta["value"])
            profiles.vocab = {f: {None: MISSING, **{v: i for i, v in enumerate(values)}}
                              for f, values in meta["vocab"].items()}
            for name in ("outcomes", "values", "overall"):  # the stores' scales are fixed by the constructor
                getattr(profiles, name).load_state({k: z[f"{name}/{k}"] for k in ("keys", "start", "times", "totals",
                                                                                   "counts") if f"{name}/{k}" in z})
        return profiles


def log_mass_value(records) -> tuple[np.ndarray, np.ndarray]:
    """log(1 + net mass) and log(1 + value), negative inputs taken as zero."""
    mass = np.fromiter((r.net_mass for r in records), np.float64, len(records))
    value = np.fromiter((r.value for r in records), np.float64, len(records))
    return np.log1p(np.maximum(mass, 0)), np.log1p(np.maximum(value, 0))
