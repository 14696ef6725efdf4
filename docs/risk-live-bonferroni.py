# Run: .venv/bin/python docs/risk-live-bonferroni.py  (the live model vs plain LightGBM and vs its main model alone on
# never-seen KCS test lines: paired bootstrap, 2,000 resamples, 95 % and Bonferroni intervals over 6, 7 and 8 looks;
# the 8th: the party-novelty session of 2026-12-04, docs/risk-model.md)
import json, numpy as np
from dataclasses import replace
from concord.risk.learning.datasets import load_kcs
from concord.risk.learning.evaluation import _concord_scores, plain_lightgbm, novelty, seen_lines, _headline, _labels
import os
K = os.environ.get("KCS", "../shared/data/kcs/")
tr, va, te = load_kcs(K+"train.csv"), load_kcs(K+"valid.csv"), load_kcs(K+"test.csv")
y, c = _labels(te)
un = [replace(r, fraud=None, critical=None, revenue=None) for r in te]
live, main, model = _concord_scores(tr, va, un, None, lambda *a, **k: None)
plain = plain_lightgbm(tr, va, un)
f = novelty(un, seen_lines(tr + va))
yy = y[f]; n = len(yy)
rng = np.random.default_rng(13)
w = np.stack([np.bincount(rng.integers(n, size=n), minlength=n) for _ in range(2000)]).astype(float)
A = _headline(live[f], yy, w); B = _headline(plain[f], yy, w); M = _headline(main[f], yy, w)
out = {}
for name, (a, b) in {"live_minus_plain": (A, B), "live_minus_main": (A, M)}.items():
    d = a["auc"] - b["auc"]
    out[name] = {"95": np.percentile(d, [2.5, 97.5]).round(4).tolist(),
                 "bonferroni7": np.percentile(d, [100 * 0.05 / 14, 100 - 100 * 0.05 / 14]).round(4).tolist(),
                 "bonferroni6": np.percentile(d, [100 * 0.05 / 12, 100 - 100 * 0.05 / 12]).round(4).tolist(),
                 "bonferroni8": np.percentile(d, [100 * 0.05 / 16, 100 - 100 * 0.05 / 16]).round(4).tolist()}
out["party"] = (model.new_lines.info.get("party_check") if model.new_lines else None)
print(json.dumps(out))
