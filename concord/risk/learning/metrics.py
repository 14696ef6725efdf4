"""Selection metrics as ../shared/data/README.md defines them: precision, recall and critical recall at top n %."""

import numpy as np
from sklearn.metrics import roc_auc_score

PERCENTS = (1, 2, 5, 10)


def top_n(scores: np.ndarray, percent: float) -> np.ndarray:
    """Indices of the top `percent` % declarations by score (ties broken by input order)."""
    k = int(len(scores) * percent / 100)
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]


def selection_metrics(fraud, critical, scores, percents=PERCENTS) -> dict:
    """AUC and, for each n, precision@n, recall@n and critical_recall@n (critical = Critical Fraud 2)."""
    fraud = np.asarray(fraud, dtype=np.int64)
    critical = np.asarray(critical, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    both = 0 < fraud.sum() < len(fraud)
    out = {"n": int(len(fraud)), "base_rate": float(fraud.mean()) if len(fraud) else 0.0,
           "auc": float(roc_auc_score(fraud, scores)) if both else float("nan")}
    for n in percents:
        chosen = top_n(scores, n)
        hits = int(fraud[chosen].sum())
        out[f"precision@{n}"] = hits / len(chosen) if len(chosen) else float("nan")
        out[f"recall@{n}"] = hits / int(fraud.sum()) if fraud.sum() else float("nan")
        out[f"critical_recall@{n}"] = int(critical[chosen].sum()) / int(critical.sum()) if critical.sum() else float("nan")
    return out
