# Run: KCS=/work/shared/data/kcs/ .venv/bin/python docs/risk-frozen-declarations.py
"""How far the evaluation's figures are from what the app scores (a measurement of the deployment, not a candidate).

`risk evaluate` adds the test declarations' values (not their outcomes) to the history before scoring, so a test
declaration's party counts and unit-value statistics include the test declarations lodged before it. Until the
declaration feed (hub.DeclarationFeed, 2026-12-04) the app did not: a loaded model's declaration counts and price
statistics stayed as of training (outcomes did follow, through OutcomeFeed). Here the same trained model scores test
twice: with the evaluation's history, and with the history frozen at training (train and valid only), as the app
did then."""
import json
import os
from dataclasses import replace

from concord.risk.learning.datasets import load_kcs
from concord.risk.learning.evaluation import _concord_scores, _labels, compare, novelty, seen_lines
from concord.risk.learning.history import HistoryProfiles

K = os.environ.get("KCS", "../shared/data/kcs/")
train, valid, test = (load_kcs(K + f) for f in ("train.csv", "valid.csv", "test.csv"))
y, critical = _labels(test)
unlabelled = [replace(r, fraud=None, critical=None, revenue=None) for r in test]
live, main, model = _concord_scores(train, valid, unlabelled, None, lambda *a, **k: None)
model.profiles = HistoryProfiles().observe(train + valid)  # the app's: as of training
frozen, frozen_main = model.score_records(unlabelled), model.main_scores(unlabelled)
scores = {"concord": live, "concord_frozen": frozen, "concord_main": main, "concord_main_frozen": frozen_main}
leads = (("concord", "concord_frozen"), ("concord_main", "concord_main_frozen"))
fresh = novelty(unlabelled, seen_lines(train + valid))
out = {"all": compare(y, critical, scores, resamples=400, leads=leads),
       "never_seen": compare(y[fresh], critical[fresh], {k: v[fresh] for k, v in scores.items()}, resamples=400,
                             leads=leads)}
print(json.dumps(out, indent=1))
