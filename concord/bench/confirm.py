"""The KCS headline checked again on data no choice of method has seen.

The live model's lead on never-seen goods lines was measured on `test.csv` after seven candidate methods had been
looked at there, so its interval, corrected for those looks, no longer excluded zero (docs/risk-model.md). This
reruns the same evaluation (`risk evaluate`: the live model, its main model alone, plain LightGBM, the lookup
table; all / repeated / never-seen rows; paired bootstrap intervals), method and parameters unchanged, on time
splits carved out of the earlier files only:

- `2020-nov-dec` (fresh): train on `train.csv` before September 2020, stop early and route on September–October,
  test on November–December 2020. Every row is from `train.csv`, which only ever trained models.
- `2021-q1` (second look): train before November 2020, validate on November–December, test on `valid.csv`; that
  file was the validation split of the earlier evaluations (early stopping and the booster's routing were decided
  on it, no method was chosen by its test score), so this fold is less clean than the first.

`test.csv` is never read."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from concord.errors import ConcordError

FOLDS = {  # name: (valid from, test from); test to the end of its file
    "2020-nov-dec": ("2020-09-01", "2020-11-01"),
    "2021-q1": ("2020-11-01", None),
}


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def split(records, valid_from: str, test_from: str | None):
    """(train, valid, test) by declaration date: before `valid_from`, up to `test_from`, from it (no test: empty)."""
    v, t = _day(valid_from), _day(test_from) if test_from else None
    train = [r for r in records if r.when < v]
    valid = [r for r in records if r.when >= v and (t is None or r.when < t)]
    test = [r for r in records if t is not None and r.when >= t]
    return train, valid, test


def _headline(subset: dict) -> dict:
    keep = ("auc", "precision@5", "precision@10")
    out = {"rows": subset["rows"], "base_rate": subset["base_rate"]}
    if not subset["rows"]:  # a fold may have no row of a kind
        return out
    for model in ("concord", "concord_main", "plain_lightgbm", "lookup"):
        out[model] = {k: subset[model][k] for k in keep} | {"auc_interval": subset[model]["interval"]["auc"]}
    for lead in ("concord_minus_plain_lightgbm", "concord_minus_concord_main"):
        out[lead] = {k: subset[lead][k] for k in keep}
    return out


def run(data: Path, resamples: int = 400) -> dict:
    """Each fold's never-seen / repeated / all headline and the live model's leads, with intervals."""
    from concord.risk.learning.datasets import load_kcs
    from concord.risk.learning.evaluation import honest_evaluate

    early = load_kcs(data / "train.csv")
    out: dict = {"method": "concord risk evaluate, unchanged, on time splits of train.csv and valid.csv; "
                           "test.csv is not read", "resamples": resamples, "folds": {}}
    for name, (valid_from, test_from) in FOLDS.items():
        train, valid, test = split(early, valid_from, test_from)
        if test_from is None:
            test = load_kcs(data / "valid.csv")
        if not (train and valid and test):
            raise ConcordError(f"fold {name} has {len(train)} train, {len(valid)} valid and {len(test)} test rows: "
                               f"{data / 'train.csv'} must cover 2020 (KCS's train.csv) and valid.csv 2021's "
                               "first quarter")
        started = time.perf_counter()
        result = honest_evaluate(train, valid, test, resamples=resamples)
        out["folds"][name] = {
            "rows": {"train": len(train), "valid": len(valid), "test": len(test)},
            "new_lines_routed": result["routing"]["routes"],
            "never_seen": _headline(result["subsets"]["never_seen"]),
            "repeated": _headline(result["subsets"]["repeated"]),
            "all": _headline(result["subsets"]["all"]),
            "seconds": round(time.perf_counter() - started, 1)}
    return out
