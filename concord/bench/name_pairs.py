"""Pair figures (precision, recall, F1 on name_pairs.csv) and the brute-force rapidfuzz baseline."""

import csv
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from concord.screening.normalize import fold, normalize_name
from concord.screening.scoring import compare_names

SCHEMA_KIND = {"Person": "person", "Company": "company", "Organization": "company", "LegalEntity": "company"}
GRID = [t / 100 for t in range(50, 100)]
BASELINE_CUTOFF = 90  # WRatio, a common default for fuzzy name screening


def metrics(scored: list[tuple[float, bool]], threshold: float) -> dict:
    """Precision, recall and F1 of 'score >= threshold' against the labels."""
    tp = sum(1 for s, y in scored if s >= threshold and y)
    fp = sum(1 for s, y in scored if s >= threshold and not y)
    fn = sum(1 for s, y in scored if s < threshold and y)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"pairs": len(scored), "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
            "tp": tp, "fp": fp, "fn": fn}


def best_threshold(scored: list[tuple[float, bool]], grid=GRID) -> float:
    """The grid threshold with the best F1 (the higher one on a tie)."""
    return max(grid, key=lambda t: (metrics(scored, t)["f1"], t))


def cross_validated(scored: list[tuple[float, bool]], folds: int = 5, seed: int = 1, grid=GRID) -> dict:
    """F1 when each fold is judged at the threshold chosen on the other folds."""
    order = list(range(len(scored)))
    random.Random(seed).shuffle(order)
    held_out, chosen = [], []
    for k in range(folds):
        test = set(order[k::folds])
        t = best_threshold([s for i, s in enumerate(scored) if i not in test], grid)
        chosen.append(t)
        held_out += [(scored[i][0] >= t, scored[i][1]) for i in test]
    return metrics([(float(hit), y) for hit, y in held_out], 0.5) | {"thresholds": chosen}


def name_pairs(path: Path, threshold: float) -> dict:
    """Our scorer on every labelled pair, overall, by group and by schema, with a WRatio baseline."""
    rows = list(csv.DictReader(Path(path).open(encoding="utf-8")))
    ours, base = [], []
    started = time.perf_counter()
    for r in rows:
        kind = SCHEMA_KIND.get(r["schema"], "unknown")
        score = compare_names(normalize_name(r["name1"], kind), normalize_name(r["name2"], kind)).score
        ours.append((score, r["is_match"].strip().lower() == "true"))
    seconds = time.perf_counter() - started
    for r, (_, y) in zip(rows, ours):
        base.append((fuzz.WRatio(fold(r["name1"]), fold(r["name2"])) / 100, y))
    groups, schemas = defaultdict(list), defaultdict(list)
    for r, s in zip(rows, ours):
        groups[r["case_group"]].append(s)
        schemas[r["schema"]].append(s)
    best = best_threshold(ours)
    base_best = best_threshold(base)
    return {
        "at_threshold": metrics(ours, threshold),
        "cross_validated": cross_validated(ours),
        "best_in_sample": {"threshold": best, **metrics(ours, best)},
        "by_group": {g: metrics(s, threshold) for g, s in sorted(groups.items())},
        "by_schema": {g: metrics(s, threshold) for g, s in sorted(schemas.items())},
        "ms_per_pair": round(1000 * seconds / len(rows), 3),
        "baseline_wratio_best_in_sample": {"threshold": base_best, **metrics(base, base_best)},
        "baseline_wratio_cross_validated": cross_validated(base),
    }


def brute_force(treated: list[str] | None, queries: list[str], listed: list[str],
                extrapolate_to: int | None = None, chunk: int = 2000) -> dict:
    """Every query against every listed name with rapidfuzz WRatio on one core: cost grows with both."""
    listed_f = [fold(n) for n in listed]
    out: dict = {"scorer": "rapidfuzz.fuzz.WRatio on transliterated lowercase names", "cutoff": BASELINE_CUTOFF}
    if treated is not None:
        own = [fuzz.WRatio(fold(q), listed_f[i]) for i, q in enumerate(treated)]
        out["recall"] = round(sum(s >= BASELINE_CUTOFF for s in own) / len(own), 4)
    flagged = 0
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(queries), chunk):
        block = process.cdist([fold(q) for q in queries[i:i + chunk]], listed_f, scorer=fuzz.WRatio,
                              score_cutoff=BASELINE_CUTOFF, dtype=np.uint8, workers=1)
        flagged += int((block.max(axis=1) >= BASELINE_CUTOFF).sum())
    wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    out |= {"queries": len(queries), "flagged": flagged, "rate": round(flagged / len(queries), 6),
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
    if extrapolate_to:
        scale = extrapolate_to / len(queries)
        out["extrapolated_cpu_s_for"] = {"queries": extrapolate_to, "cpu_s": round(cpu * scale, 1)}
    return out
