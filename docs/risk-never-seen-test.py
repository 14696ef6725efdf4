# Run: .venv/bin/python docs/risk-never-seen-test.py  (the one look at test.csv for this round's candidates)
"""The final candidates of docs/risk-tune-never-seen-3.py, chosen on train/valid folds only, scored once on the
KCS test split: train on train.csv, stop on valid.csv (its rows whose goods line was new), score test.csv with
its labels stripped. Plain LightGBM is the evaluation's own (`plain_lightgbm(train, valid, test)`), so the
figures sit beside `concord risk evaluate`'s. Paired bootstrap of each candidate's lead over plain LightGBM with
2,000 resamples (the evaluation's compare(), only more resamples). Every candidate looked at is printed.
Besides the issue's never-seen goods lines, two other definitions of "never seen" are reported for information:
HS6 x origin never labelled before, and importer never labelled before."""
import importlib.util
import json
import sys

import numpy as np

sys.path.insert(0, ".")
from concord.risk.learning.datasets import load_kcs  # noqa: E402
from concord.risk.learning.evaluation import _weighted_auc, compare, plain_lightgbm  # noqa: E402
from concord.risk.learning.features import featurize, fit_spec  # noqa: E402
from concord.risk.learning.history import HistoryProfiles  # noqa: E402
from concord.risk.learning.model import fit  # noqa: E402
from concord.risk.learning.novel import rank_mean  # noqa: E402

spec_ = importlib.util.spec_from_file_location("tune3", "docs/risk-tune-never-seen-3.py")
T = importlib.util.module_from_spec(spec_)
spec_.loader.exec_module(T)
K = "/work/shared/data/kcs/"
CANDIDATES = sys.argv[1:] or ["novel_bag", "crossfit_mono"]


def main():
    train, valid, test = (load_kcs(K + f) for f in ("train.csv", "valid.csv", "test.csv"))
    f = T.fold("test", train, valid, test)  # f["ev"]: test with labels stripped; f["y"]: labels, for scoring only
    y = f["y"]
    critical = np.array([r.critical or 0 for r in test])
    prof = HistoryProfiles().observe(train + valid); prof.add_declarations(f["ev"])
    spec = fit_spec(train)
    f["spec"] = spec
    f["X"] = [featurize(p, prof, spec) for p in (train, valid, f["ev"])]
    scores = {"plain_lightgbm": plain_lightgbm(train, valid, f["ev"])}
    scores["concord"] = fit(train, valid, prof).score_records(f["ev"])
    names, cats = spec.names(), spec.categorical_names()

    def novel(seed):
        xt, xs, xv = f["X"]
        b = T.lgb_fit(xt[f["nt"]], f["yt"][f["nt"]], xs[f["ns"]], f["ys"][f["ns"]], names, cats, seed=seed)
        return b.predict(xv, num_iteration=b.best_iteration, num_threads=1)

    built = {}
    for c in CANDIDATES:
        if c == "novel":
            built[c] = novel(1)
        elif c == "novel_bag":
            built[c] = np.mean([novel(s) for s in range(1, 6)], axis=0)
        elif c == "crossfit_mono":
            built[c] = T.crossfit_mono(f, categoricals=True)
        elif c == "crossfit_nocat_mono":
            built[c] = T.crossfit_mono(f)
        elif c == "cat_new":
            built[c] = T.cat_fit(f, f["nt"], f["ns"], norms=True)[0]
        elif c.startswith("rank:"):
            built[c] = rank_mean(*(built[p] for p in c[5:].split("+")))
        else:
            raise SystemExit(f"unknown candidate {c}")
    scores.update(built)
    known = [r for r in train + valid if r.fraud is not None]
    subsets = {"never_seen_goods_line": f["fresh"]}
    seen_ho = {(k.hs6, k.origin) for k in known}
    seen_imp = {k.importer for k in known}
    subsets["never_seen_hs6_origin"] = np.array([(r.hs6, r.origin) not in seen_ho for r in test])
    subsets["never_seen_importer"] = np.array([r.importer not in seen_imp for r in test])
    leads = tuple((c, "plain_lightgbm") for c in ["concord"] + list(built))
    out = {}
    for name, mask in subsets.items():
        out[name] = compare(y[mask], critical[mask], {k: v[mask] for k, v in scores.items()}, resamples=2000,
                            seed=13, leads=leads)
        print(json.dumps({name: out[name]}), flush=True)
    # Six candidates have now been looked at on these never-seen rows across three sessions (the novel-line
    # booster, the leave-line-out booster, their ensemble, and this round's three): the 95 % interval of one of
    # them is not a 95 % statement about the best of six. Bonferroni: each lead's (1 - 0.05/6) interval, same
    # resamples as compare() (same seed).
    mask = f["fresh"]
    yy = y[mask].astype(np.int64)
    rng = np.random.default_rng(13)
    w = np.stack([np.bincount(rng.integers(len(yy), size=len(yy)), minlength=len(yy)) for _ in range(2000)]).astype(float)
    auc = {k: _weighted_auc(np.asarray(v[mask], float), yy, w) for k, v in scores.items()}
    lo, hi = 100 * 0.05 / 12, 100 - 100 * 0.05 / 12
    print(json.dumps({"never_seen_goods_line_leads_bonferroni_6_looks": {
        c: [round(float(q), 4) for q in np.percentile(auc[c] - auc["plain_lightgbm"], [lo, hi])] for c in built}}))
    np.savez("/tmp/never_seen_test_scores.npz", y=y, fresh=mask, **{k.replace(":", "_").replace("+", "_"): v
                                                                     for k, v in scores.items()})


if __name__ == "__main__":
    main()
