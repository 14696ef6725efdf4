"""Drift: recent score and feature distributions against the training period (population stability index)."""

import numpy as np

BINS = 10
# customary PSI reading: below 0.1 stable, 0.1-0.25 a shift worth watching, above 0.25 retrain
WATCH, ALERT = 0.1, 0.25
MIN_ROWS = 30  # below this a score histogram of ten bins is noise: PSI reported, no status, never an alert


def _snap(values) -> np.ndarray:
    # differences below 0.01 are not drift: without this, a profile rate that equals the prior
    # (no history) "moves" whenever the overall fraud rate moves by a tenth of a point
    return np.round(np.asarray(values, dtype=np.float64), 2)


def _histogram(values: np.ndarray, edges: list[float]) -> list[float]:
    """Shares per bin (edges are inner cut points), with missing values as a last bin."""
    values = _snap(values)
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1)
    shares = np.append(counts, missing.sum()) / max(len(values), 1)
    return [float(s) for s in shares]


def _describe(values: np.ndarray) -> dict:
    values = _snap(values)
    present = values[~np.isnan(values)]
    # quantile cut points of the training period; duplicates collapse for discrete features
    edges = sorted(set(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]).tolist())) if len(present) else []
    return {"edges": edges, "shares": _histogram(values, edges)}


def reference_profile(x: np.ndarray, scores: np.ndarray, names: list[str]) -> dict:
    """Binned distributions of every feature and of the score over the reference rows."""
    return {"score": _describe(np.asarray(scores, dtype=np.float64)),
            "features": {n: _describe(x[:, i]) for i, n in enumerate(names)}}


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index between two binned distributions."""
    e = np.maximum(np.asarray(expected), 1e-4)  # empty bins would make the log infinite
    a = np.maximum(np.asarray(actual), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def _status(value: float) -> str:
    return "alert" if value >= ALERT else "watch" if value >= WATCH else "stable"


def _grows_with_history(name: str) -> bool:
    # counts of past events rise as history accumulates: a shift by design, not drift
    return name.endswith((".n", ".n_declared")) or name == "log_known_outcomes"


def drift_report(reference: dict, x: np.ndarray, scores: np.ndarray, names: list[str], top: int | None = 20) -> dict:
    """PSI of the score and of each feature, recent rows against the training reference, worst first."""
    ref_score = reference["score"]
    score_psi = psi(ref_score["shares"], _histogram(scores, ref_score["edges"]))
    features = []
    for i, name in enumerate(names):
        ref = reference["features"].get(name)
        if ref is not None and not _grows_with_history(name):
            value = psi(ref["shares"], _histogram(x[:, i], ref["edges"]))
            features.append({"feature": name, "psi": round(value, 4), "status": _status(value)})
    features.sort(key=lambda f: -f["psi"])
    few = len(scores) < MIN_ROWS
    return {"rows": int(len(scores)), "score_psi": round(score_psi, 4),
            "status": f"too few rows to judge (fewer than {MIN_ROWS})" if few else _status(score_psi),
            "mean_score": float(np.mean(scores)) if len(scores) else None,
            "features_watch": sum(f["status"] != "stable" for f in features), "features": features[:top]}  # worst first
