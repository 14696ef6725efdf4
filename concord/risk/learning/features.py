"""The one feature function, used alike for training, evaluation and live scoring (no skew)."""

from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import repeat

import numpy as np

from concord.risk.learning.history import (COUNT_KEYS, NORM_KEYS, OUTCOME_KEYS, Columns, HistoryProfiles,
                                           log_mass_value)

__all__ = ["FeatureSpec", "HistoryProfiles", "featurize", "fit_spec"]

CATEGORICAL_FIELDS = ("office", "mode", "process_type", "import_type", "import_use", "payment_type",
                      "tax_type", "origin_indicator", "origin", "departure", "hs2")
# critical-fraud and revenue rates only where there are enough events to say something
CRITICAL_PROFILES = ("hs6", "importer", "declarant", "hs6_departure", "goods_line")
REVENUE_PROFILES = ("importer", "hs6")
# Profiles that remember one goods line exactly (its value, its mass, or all of it). On repeats they are
# nearly the answer; on goods never seen they are empty. Training hides them on a share of rows
# (`memory_dropout`), so that the model also learns what to do without them: price and mass against the
# norm, new parties, unusual routes, which carry to goods and traders it has not seen.
MEMORY_PROFILES = ("value", "mass", "hs6_value", "hs6_mass", "goods_line")
# shares of declarations: a rare origin for the goods, a rare route for that origin, goods off the importer's usual
SHARES = (("origin_share", "hs6_origin", "hs6"), ("route_share", "hs6_origin_departure", "hs6_origin"),
          ("importer_goods_share", "importer_hs6", "importer"), ("importer_heading_share", "importer_hs4", "importer"),
          ("seller_goods_share", "seller_hs6", "seller"))
RECENT = ("recent.importer_hs6_n", "recent.importer_hs6_log_value", "value_vs_threshold")
RECENT_KEY = "importer_hs6"  # a value profile: every declaration counts, with or without an outcome


@dataclass
class FeatureSpec:
    """What the feature function computes: profile keys, smoothing, categorical vocabularies."""

    outcome_profiles: list[str] = field(default_factory=lambda: list(OUTCOME_KEYS))
    value_profiles: list[str] = field(default_factory=lambda: list(NORM_KEYS))
    # declaration counts only (saved models from before these existed have none, and keep their layout)
    count_profiles: list[str] = field(default_factory=list)
    smoothing: float = 5.0  # pseudo-count of the prior fraud rate in every profile rate
    memory_dropout: float = 0.0  # share of training rows whose goods-line memory is hidden (training only)
    # split consignments: the importer's declarations of the same HS6 in the last `recent_days` days (0: none,
    # the layout of models saved before), their mean log value, and the declared value against the threshold
    # of the simplified procedure (`value_threshold`, the administration's own; None: that column stays NaN)
    recent_days: float = 0.0
    value_threshold: float | None = None
    vocab: dict[str, list[str]] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Feature names in column order."""
        names = ["log_mass", "log_value", "log_value_per_kg", "tax_rate", "origin_is_departure",
                 "has_courier", "has_seller", "prior_rate", "log_known_outcomes"]
        for p in self.outcome_profiles:
            names += [f"{p}.n", f"{p}.rate"] + ([f"{p}.critical"] if p in CRITICAL_PROFILES else []) \
                + ([f"{p}.revenue"] if p in REVENUE_PROFILES else [])
        for p in self.value_profiles:
            names += [f"{p}.n_declared", f"{p}.value_per_kg_z", f"{p}.mass_z", f"{p}.value_z"]
        names += [f"{p}.n_declared" for p in self.count_profiles]
        names += [name for name, *_ in self.shares()]
        if self.recent_days:
            names += list(RECENT)
        return names + [f"cat.{c}" for c in CATEGORICAL_FIELDS]

    def shares(self) -> list[tuple]:
        """The share features this spec can compute (both of their counts present)."""
        have = set(self.value_profiles) | set(self.count_profiles)
        return [s for s in SHARES if s[1] in have and s[2] in have] if self.count_profiles else []

    def categorical_names(self) -> list[str]:
        """Columns LightGBM should treat as categories (integer codes)."""
        return [f"cat.{c}" for c in CATEGORICAL_FIELDS]

    def to_dict(self) -> dict:
        """JSON-ready form, saved with every model version."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        """Inverse of to_dict."""
        return cls(**d)


def fit_spec(records, min_count: int = 20, **options) -> FeatureSpec:
    """Build the categorical vocabularies from training records; rare values share 'other'.

    New specs count parties, combinations and routes and hide goods-line memory on half the training rows."""
    options = {"count_profiles": list(COUNT_KEYS), "memory_dropout": 0.5, "recent_days": 7.0, **options}
    cols = Columns(list(records), {})
    vocab = {}
    for c in CATEGORICAL_FIELDS:
        counts = Counter(cols.values(c))
        vocab[c] = sorted(str(v) for v, n in counts.items() if v is not None and n >= min_count)
    return FeatureSpec(vocab=vocab, **options)


def _layout(spec: FeatureSpec) -> dict:
    """Column positions of each feature group, derived from spec.names() so that order has one source."""
    if getattr(spec, "_layout", None) is None:  # built once per spec; not a dataclass field, so not saved
        col = {name: i for i, name in enumerate(spec.names())}
        ops, vps = spec.outcome_profiles, spec.value_profiles
        crit = [i for i, p in enumerate(ops) if p in CRITICAL_PROFILES]
        rev = [i for i, p in enumerate(ops) if p in REVENUE_PROFILES]
        ix = lambda names: np.array([col[name] for name in names], dtype=np.intp)  # noqa: E731
        spec._layout = {
            "width": len(col), "n": ix(f"{p}.n" for p in ops), "rate": ix(f"{p}.rate" for p in ops),
            "crit_rows": np.array(crit, dtype=np.intp), "crit": ix(f"{ops[i]}.critical" for i in crit),
            "rev_rows": np.array(rev, dtype=np.intp), "rev": ix(f"{ops[i]}.revenue" for i in rev),
            "declared": ix(f"{p}.n_declared" for p in vps),
            "counted": ix(f"{p}.n_declared" for p in spec.count_profiles),
            "shares": [(col[name], (vps + spec.count_profiles).index(a), (vps + spec.count_profiles).index(b))
                       for name, a, b in spec.shares()],
            "memory_n": ix(f"{p}.n" for p in ops if p in MEMORY_PROFILES),
            "memory_rate": ix(f"{p}.rate" for p in ops if p in MEMORY_PROFILES),
            "memory_crit": ix(f"{p}.critical" for p in ops if p in MEMORY_PROFILES and p in CRITICAL_PROFILES),
            "z": [ix(f"{p}.{z}" for p in vps) for z in ("value_per_kg_z", "mass_z", "value_z")],
            "recent": [col[name] for name in RECENT] if spec.recent_days else [],
            "cats": [(col[f"cat.{c}"], c, {None: np.nan, **{v: float(i) for i, v in enumerate(spec.vocab.get(c, []))}},
                      float(len(spec.vocab.get(c, [])))) for c in CATEGORICAL_FIELDS],
        }
    return spec._layout


def featurize(records, profiles: HistoryProfiles, spec: FeatureSpec, as_of: float | None = None) -> np.ndarray:
    """Feature matrix for records; history is read strictly before each record's own time.

    `as_of`, if given, caps the history at that time too (e.g. the moment of a live assessment).
    """
    records = list(records)
    n, lay = len(records), _layout(spec)
    x = np.empty((n, lay["width"]))
    if not n:
        return x
    cols = Columns(records, profiles.vocab)
    at = cols.ts if as_of is None else np.minimum(cols.ts, int(as_of))
    (n0, s0), (on, osums), (vn, vsums) = profiles.query(cols, at, spec.outcome_profiles,
                                                        spec.value_profiles + spec.count_profiles)
    counts, nv = vn, len(spec.value_profiles)
    vn, vsums = vn[:nv], vsums[:nv]
    m = spec.smoothing
    prior = (s0[:, 0] + 1.0) / (n0 + 5.0)  # a weak prior, before any outcome is known
    lm, lv = log_mass_value(records)
    nan = np.nan
    x[:, 0], x[:, 1], x[:, 2] = lm, lv, lv - lm
    x[:, 3] = np.fromiter((nan if r.tax_rate is None else r.tax_rate for r in records), np.float64, n)
    x[:, 4] = np.fromiter((float(r.origin == r.departure) if r.origin and r.departure else nan for r in records),
                          np.float64, n)
    x[:, 5] = np.fromiter((r.courier is not None for r in records), np.float64, n)
    x[:, 6] = np.fromiter((r.seller is not None for r in records), np.float64, n)
    x[:, 7], x[:, 8] = prior, np.log1p(n0)
    # all profiles at once, (profiles, records) arrays: smoothed rates shrink to the prior when n is small
    x[:, lay["n"]] = on.T
    x[:, lay["rate"]] = ((osums[:, :, 0] + m * prior) / (on + m)).T
    # critical cases are ~5% of frauds, hence the smaller prior
    x[:, lay["crit"]] = ((osums[lay["crit_rows"], :, 1] + m * prior * 0.05) / (on[lay["crit_rows"]] + m)).T
    with np.errstate(invalid="ignore", divide="ignore"):
        rev = osums[lay["rev_rows"]]
        x[:, lay["rev"]] = np.where(rev[:, :, 3] > 0, rev[:, :, 2] / rev[:, :, 3], nan).T
        x[:, lay["declared"]] = vn.T
        for k, values in enumerate((lv - lm, lm, lv)):
            mean = vsums[:, :, 2 * k] / vn
            var = np.maximum(vsums[:, :, 2 * k + 1] / vn - mean * mean, 0.0)
            z = (values - mean) / np.sqrt(var + 0.01)  # floor: identical past values must not explode
            x[:, lay["z"][k]] = np.where(vn >= 2, z, nan).T
    if spec.count_profiles:
        x[:, lay["counted"]] = counts[nv:].T
        for column, a, b in lay["shares"]:  # of the declarations so far of b, the share that were also a
            x[:, column] = (counts[a] + 0.5) / (counts[b] + 1.0)
    if lay["recent"]:
        _recent(x, lay["recent"], cols, at, profiles, spec, lv)
    for column, name, code, other in lay["cats"]:
        x[:, column] = np.fromiter(map(code.get, cols.values(name), repeat(other)), np.float64, n)
    return x


def _recent(x, columns, cols, at, profiles: HistoryProfiles, spec: FeatureSpec, lv: np.ndarray) -> None:
    """A burst of the same importer and goods within days, read strictly before each declaration: the
    declarations between (t - window) and t, as the difference of two as-of totals."""
    window = int(spec.recent_days * 86400)
    (now_n, now_s), (then_n, then_s) = (profiles.declared_before(cols, t, [RECENT_KEY]) for t in (at, at - window))
    n, sums = now_n[0] - then_n[0], now_s[0, :, 4] - then_s[0, :, 4]  # moment 4: log value
    x[:, columns[0]] = n
    with np.errstate(invalid="ignore", divide="ignore"):
        x[:, columns[1]] = np.where(n > 0, sums / n, np.nan)
    x[:, columns[2]] = np.nan if spec.value_threshold is None else lv - np.log1p(spec.value_threshold)


def forget_lines(x: np.ndarray, spec: FeatureSpec, rows: np.ndarray) -> np.ndarray:
    """The rows' features as if their goods line had never been seen: memory counts 0, rates at the prior."""
    lay = _layout(spec)
    x = x.copy()
    prior = x[rows, 7][:, None]
    x[np.ix_(rows, lay["memory_n"])] = 0.0
    x[np.ix_(rows, lay["memory_rate"])] = prior
    x[np.ix_(rows, lay["memory_crit"])] = prior * 0.05
    return x
