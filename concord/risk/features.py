"""The one feature function, used alike for training, evaluation and live scoring (no skew)."""

from collections import Counter
from itertools import repeat
from dataclasses import asdict, dataclass, field

import numpy as np

from concord.risk.history import OUTCOME_KEYS, VALUE_KEYS, Columns, HistoryProfiles, log_mass_value

__all__ = ["FeatureSpec", "HistoryProfiles", "featurize", "fit_spec"]

CATEGORICAL_FIELDS = ("office", "mode", "process_type", "import_type", "import_use", "payment_type",
                      "tax_type", "origin_indicator", "origin", "departure", "hs2")
# critical-fraud and revenue rates only where there are enough events to say something
CRITICAL_PROFILES = ("hs6", "importer", "declarant", "hs6_departure", "goods_line")
REVENUE_PROFILES = ("importer", "hs6")


@dataclass
class FeatureSpec:
    """What the feature function computes: profile keys, smoothing, categorical vocabularies."""

    outcome_profiles: list[str] = field(default_factory=lambda: list(OUTCOME_KEYS))
    value_profiles: list[str] = field(default_factory=lambda: list(VALUE_KEYS))
    smoothing: float = 5.0  # pseudo-count of the prior fraud rate in every profile rate
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
        return names + [f"cat.{c}" for c in CATEGORICAL_FIELDS]

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
    """Build the categorical vocabularies from training records; rare values share 'other'."""
    cols = Columns(list(records), {})
    vocab = {}
    for c in CATEGORICAL_FIELDS:
        counts = Counter(cols.values(c))
        vocab[c] = sorted(str(v) for v, n in counts.items() if v is not None and n >= min_count)
    return FeatureSpec(vocab=vocab, **options)


def _rate(hits: np.ndarray, n: np.ndarray, prior: np.ndarray, m: float) -> np.ndarray:
    return (hits + m * prior) / (n + m)


def _z(x: np.ndarray, moments: np.ndarray, n: np.ndarray, k: int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = moments[:, k] / n
        var = np.maximum(moments[:, k + 1] / n - mean * mean, 0.0)
        z = (x - mean) / np.sqrt(var + 0.01)  # floor: identical past values must not explode
    return np.where(n >= 2, z, np.nan)


def _codes(spec: FeatureSpec) -> list[tuple[str, dict, float]]:
    if getattr(spec, "_codes", None) is None:  # built once per spec; not a dataclass field, so not saved
        spec._codes = [(c, {None: float("nan"), **{v: float(i) for i, v in enumerate(spec.vocab.get(c, []))}},
                        float(len(spec.vocab.get(c, [])))) for c in CATEGORICAL_FIELDS]
    return spec._codes


def featurize(records, profiles: HistoryProfiles, spec: FeatureSpec, as_of: float | None = None) -> np.ndarray:
    """Feature matrix for records; history is read strictly before each record's own time.

    `as_of`, if given, caps the history at that time too (e.g. the moment of a live assessment).
    """
    records = list(records)
    if not records:
        return np.zeros((0, len(spec.names())))
    cols = Columns(records, profiles.vocab)
    at = cols.ts if as_of is None else np.minimum(cols.ts, int(as_of))
    (n0, s0), (on, osums), (vn, vsums) = profiles.query(cols, at, spec.outcome_profiles, spec.value_profiles)
    m = spec.smoothing
    prior = (s0[:, 0] + 1.0) / (n0 + 5.0)  # a weak prior, before any outcome is known
    lm, lv = log_mass_value(records)
    nan = float("nan")
    out = [lm, lv, lv - lm,
           np.fromiter((nan if r.tax_rate is None else r.tax_rate for r in records), np.float64, len(records)),
           np.fromiter((float(r.origin == r.departure) if r.origin and r.departure else nan for r in records),
                       np.float64, len(records)),
           np.fromiter((r.courier is not None for r in records), np.float64, len(records)),
           np.fromiter((r.seller is not None for r in records), np.float64, len(records)), prior, np.log1p(n0)]
    for i, p in enumerate(spec.outcome_profiles):
        n, sums = on[i], osums[i]
        out += [n, _rate(sums[:, 0], n, prior, m)]
        if p in CRITICAL_PROFILES:
            out.append(_rate(sums[:, 1], n, prior * 0.05, m))  # critical cases are ~5% of frauds
        if p in REVENUE_PROFILES:
            with np.errstate(invalid="ignore", divide="ignore"):
                out.append(np.where(sums[:, 3] > 0, sums[:, 2] / sums[:, 3], nan))
    for i, p in enumerate(spec.value_profiles):
        n, moments = vn[i], vsums[i]
        out += [n, _z(lv - lm, moments, n, 0), _z(lm, moments, n, 2), _z(lv, moments, n, 4)]
    for c, code, other in _codes(spec):
        out.append(np.fromiter(map(code.get, cols.values(c), repeat(other)), np.float64, len(records)))
    return np.column_stack(out)
