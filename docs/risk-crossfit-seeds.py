# Run: .venv/bin/python docs/risk-crossfit-seeds.py  (after the one test look: a robustness check, not a selection)
"""The cross-fitted booster as `concord risk evaluate` runs it (concord/risk/learning/crossfit.py), with LightGBM
seeds 1-5 (bagging and feature sampling move with the seed): never-seen AUC and lead over plain LightGBM on the
two tuning folds and on test. Seed 1 is the figure reported; the others say whether it was a lucky draw."""
import json
import sys
from datetime import datetime, timezone

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, ".")
from concord.risk.learning.crossfit import crossfit_scores  # noqa: E402
from concord.risk.learning.datasets import load_kcs  # noqa: E402
from concord.risk.learning.evaluation import novelty, plain_lightgbm, seen_lines  # noqa: E402
from dataclasses import replace  # noqa: E402

K = "/work/shared/data/kcs/"
train, valid, test = (load_kcs(K + f) for f in ("train.csv", "valid.csv", "test.csv"))
t = lambda m: datetime(2020, m, 1, tzinfo=timezone.utc)  # noqa: E731
folds = {"A": ([r for r in train if r.when < t(11)], [r for r in train if r.when >= t(11)], valid),
         "B": ([r for r in train if r.when < t(9)], [r for r in train if t(9) <= r.when < t(11)],
               [r for r in train if r.when >= t(11)]),
         "test": (train, valid, test)}
for name, (tr, st, ev) in folds.items():
    y = np.array([r.fraud for r in ev])
    evu = [replace(r, fraud=None, critical=None, revenue=None) for r in ev]
    fresh = novelty(evu, seen_lines(tr + st))
    base = roc_auc_score(y[fresh], plain_lightgbm(tr, st, evu)[fresh])
    aucs = [roc_auc_score(y[fresh], crossfit_scores(tr, st, evu, {"seed": s})[fresh]) for s in range(1, 6)]
    print(json.dumps({"fold": name, "plain": round(base, 4), "crossfit_by_seed": [round(a, 4) for a in aucs],
                      "leads": [round(a - base, 4) for a in aucs], "mean_lead": round(float(np.mean(aucs)) - base, 4)}),
          flush=True)
