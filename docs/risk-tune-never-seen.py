# Run: .venv/bin/python docs/risk-tune-never-seen.py  (about a CPU-minute; prints one JSON line a configuration)
"""Tuning for never-seen goods lines on KCS train/valid only: train Jan-Oct 2020, stop on Nov-Dec 2020,
measure on valid.csv (2021 Q1) rows whose goods line no train row holds. test.csv is not read."""
import json
from dataclasses import replace
from datetime import datetime, timezone
import numpy as np, lightgbm as lgb
from sklearn.metrics import roc_auc_score
from concord.risk.learning.datasets import load_kcs
from concord.risk.learning.features import featurize, fit_spec, forget_lines
from concord.risk.learning.history import HistoryProfiles
from concord.risk.learning.model import DEFAULT_PARAMS
from concord.risk.learning.evaluation import novelty, plain_lightgbm, seen_lines
K = "/work/shared/data/kcs/"
train = load_kcs(K + "train.csv"); valid = load_kcs(K + "valid.csv")
cut = datetime(2020, 11, 1, tzinfo=timezone.utc)
tr = [r for r in train if r.when < cut]; st = [r for r in train if r.when >= cut]
y = np.array([r.fraud for r in valid])
vu = [replace(r, fraud=None, critical=None, revenue=None) for r in valid]
fresh = novelty(vu, seen_lines(tr + st))
print("valid never-seen rows", fresh.sum(), "fraud", y[fresh].mean(), flush=True)
profiles = HistoryProfiles().observe(tr + st); profiles.add_declarations(vu)
spec = fit_spec(tr)
xt, xs, xv = (featurize(p, profiles, spec) for p in (tr, st, vu))
yt, ys = np.array([r.fraud for r in tr]), np.array([r.fraud for r in st])
names = spec.names(); cats = spec.categorical_names()
def run(label, dropout=0.5, drop_cols=(), **params):
    x1 = xt.copy()
    if dropout:
        hidden = np.flatnonzero(np.random.default_rng(1).random(len(tr)) < dropout)
        x1 = forget_lines(x1, spec, hidden)
    keep = [i for i, n in enumerate(names) if not any(n.startswith(d) for d in drop_cols)]
    kn = [names[i] for i in keep]
    d1 = lgb.Dataset(x1[:, keep], yt, feature_name=kn, categorical_feature=[c for c in cats if c in kn], free_raw_data=False)
    d2 = lgb.Dataset(xs[:, keep], ys, reference=d1)
    p = {**DEFAULT_PARAMS, **params}
    b = lgb.train(p, d1, 3000, valid_sets=[d2], callbacks=[lgb.early_stopping(100, verbose=False)])
    s = b.predict(xv[:, keep], num_iteration=b.best_iteration, num_threads=1)
    print(json.dumps({"config": label, "best": b.best_iteration, "valid_all": round(roc_auc_score(y, s), 4),
                      "valid_never_seen": round(roc_auc_score(y[fresh], s[fresh]), 4)}), flush=True)

gl = names.index("goods_line.n")
def specialist(label, **params):
    m1, m2 = xt[:, gl] == 0, xs[:, gl] == 0
    print("specialist rows", m1.sum(), m2.sum(), flush=True)
    d1 = lgb.Dataset(xt[m1], yt[m1], feature_name=names, categorical_feature=cats, free_raw_data=False)
    d2 = lgb.Dataset(xs[m2], ys[m2], reference=d1)
    b = lgb.train({**DEFAULT_PARAMS, **params}, d1, 3000, valid_sets=[d2], callbacks=[lgb.early_stopping(100, verbose=False)])
    s = b.predict(xv, num_iteration=b.best_iteration, num_threads=1)
    print(json.dumps({"config": label, "best": b.best_iteration, "valid_never_seen": round(roc_auc_score(y[fresh], s[fresh]), 4)}), flush=True)
specialist("specialist: trained on rows whose goods line was new at their time")
specialist("specialist, min_data_in_leaf 100, l2 10", min_data_in_leaf=100, lambda_l2=10.0)
