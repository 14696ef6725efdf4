# Run: .venv/bin/python docs/risk-tune-never-seen-2.py  (prints one JSON line a configuration)
"""Second tuning round for never-seen goods lines, KCS train/valid only: train Jan-Oct 2020, stop on Nov-Dec 2020
(on its rows whose line was new, where said), measure on valid.csv (2021 Q1) rows whose goods line no train row
holds. test.csv is not read. Leave-line-out features: concord/risk/learning/novel.py."""
import json
from dataclasses import replace
from datetime import datetime, timezone
import numpy as np, lightgbm as lgb
from sklearn.metrics import roc_auc_score
from concord.risk.learning.datasets import load_kcs
from concord.risk.learning.features import featurize, fit_spec
from concord.risk.learning.history import HistoryProfiles
from concord.risk.learning.model import DEFAULT_PARAMS
from concord.risk.learning.evaluation import novelty, plain_lightgbm, seen_lines
from concord.risk.learning.novel import novel_features
from collections import Counter
K = "/work/shared/data/kcs/"
train = load_kcs(K + "train.csv"); valid = load_kcs(K + "valid.csv")
cut = datetime(2020, 11, 1, tzinfo=timezone.utc)
tr = [r for r in train if r.when < cut]; st = [r for r in train if r.when >= cut]
y = np.array([r.fraud for r in valid])
vu = [replace(r, fraud=None, critical=None, revenue=None) for r in valid]
fresh = novelty(vu, seen_lines(tr + st))
yt, ys = np.array([r.fraud for r in tr]), np.array([r.fraud for r in st])
def line(r): return (r.hs6, r.origin, r.net_mass, r.value)
def new_at_time(part, before):  # rows whose goods line had no labelled row earlier (strictly before its day)
    first = {}
    for r in before + part:
        first.setdefault(line(r), r.ts // 86400)
    return np.array([first[line(r)] == r.ts // 86400 for r in part])
nt, ns = new_at_time(tr, []), new_at_time(st, tr)
print("valid never-seen", int(fresh.sum()), "train new-at-time", int(nt.sum()), "stop new", int(ns.sum()), flush=True)
ps = plain_lightgbm(tr, st, vu)
print(json.dumps({"config": "plain LightGBM", "valid_never_seen": round(roc_auc_score(y[fresh], ps[fresh]), 4)}), flush=True)
lx, lnames = novel_features(tr + st + vu)
a, b = len(tr), len(tr) + len(st)
lt, ls, lv = lx[:a], lx[a:b], lx[b:]
profiles = HistoryProfiles().observe(tr + st); profiles.add_declarations(vu)
spec = fit_spec(tr)
xt, xs, xv = (featurize(p, profiles, spec) for p in (tr, st, vu))
names, cats = spec.names(), spec.categorical_names()
ci = [names.index(c) for c in cats]
def run(label, x1, x2, x3, fn, cat, rows1=None, rows2=None, weight=None, **params):
    rows1 = np.ones(len(x1), bool) if rows1 is None else rows1
    rows2 = np.ones(len(x2), bool) if rows2 is None else rows2
    d1 = lgb.Dataset(x1[rows1], yt[rows1], weight=None if weight is None else weight[rows1], feature_name=fn,
                     categorical_feature=cat, free_raw_data=False)
    d2 = lgb.Dataset(x2[rows2], ys[rows2], reference=d1)
    b_ = lgb.train({**DEFAULT_PARAMS, **params}, d1, 3000, valid_sets=[d2], callbacks=[lgb.early_stopping(100, verbose=False)])
    s = b_.predict(x3, num_iteration=b_.best_iteration, num_threads=1)
    print(json.dumps({"config": label, "best": b_.best_iteration,
                      "valid_never_seen": round(roc_auc_score(y[fresh], s[fresh]), 4)}), flush=True)
    return s
catx = lambda x: x[:, ci]
full = lambda l, x: np.hstack([l, x])
fn_llo_cat = lnames + cats
count = Counter(line(r) for r in tr)
w = np.array([1.0 / count[line(r)] for r in tr])
from concord.risk.learning.model import fit
from concord.risk.learning.novel import rank_mean
L = lambda x1, x2: np.hstack([x1, x2])
X = (L(lt, catx(xt)), L(ls, catx(xs)), L(lv, catx(xv)))
XC = (L(lt, xt), L(ls, xs), L(lv, xv))
raw = [i for i, n_ in enumerate(fn_llo_cat) if n_ in ("llo.log_price", "llo.log_mass", "llo.log_value")]
keep = [i for i in range(len(fn_llo_cat)) if i not in raw]
Xk, fk = tuple(x[:, keep] for x in X), [fn_llo_cat[i] for i in keep]
slow = dict(learning_rate=0.02, feature_fraction=0.5)
def auc(label, s):
    print(json.dumps({"config": label, "valid_never_seen": round(roc_auc_score(y[fresh], s[fresh]), 4)}), flush=True)
auc("Concord as shipped", fit(tr, st, profiles, spec=spec).score_records(vu))
nb = run("novel booster (Concord features, new-at-time rows): the previous session's experiment", xt, xs, xv, names, cats, nt, ns)
run("llo only, all rows", lt, ls, lv, lnames, [])
run("llo + categoricals, all rows", *X, fn_llo_cat, cats)
run("llo + categoricals, all rows, stop on new rows", *X, fn_llo_cat, cats, None, ns)
run("llo + categoricals, new-at-time rows", *X, fn_llo_cat, cats, nt, ns)
run("llo + Concord features, new-at-time rows", *XC, lnames + names, cats, nt, ns)
chosen = run("CHOSEN: llo + categoricals, all rows weighted 1/rows of their line, stop on new rows", *X, fn_llo_cat, cats, None, ns, w)
run("llo + Concord features, weighted, stop on new", *XC, lnames + names, cats, None, ns, w)
run("llo + categoricals, new-at-time rows, lr 0.02 ff 0.5", *X, fn_llo_cat, cats, nt, ns, None, **slow)
run("weighted, stop on new, lr 0.02 ff 0.5", *X, fn_llo_cat, cats, None, ns, w, **slow)
run("weighted, stop on new, lr 0.02 ff 0.5 min_leaf 100 l2 10", *X, fn_llo_cat, cats, None, ns, w, **slow, min_data_in_leaf=100, lambda_l2=10.0)
run("weighted, stop on new, lr 0.02 ff 0.5, no raw price/mass/value", *Xk, fk, cats, None, ns, w, **slow)
run("weighted, no categoricals, lr 0.02 ff 0.5", lt, ls, lv, lnames, [], None, ns, w, **slow)
auc("CHOSEN ENSEMBLE: rank mean of the novel booster and the chosen llo booster", rank_mean(nb, chosen))
