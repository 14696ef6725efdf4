# Run: .venv/bin/python docs/risk-tune-never-seen-3.py  (one JSON line a configuration; needs `pip install catboost`)
"""Third tuning round for never-seen KCS goods lines, on train.csv and valid.csv only (test.csv is not read).

Two time folds, so that a choice has to hold twice (one fold of 1,419 rows cannot tell 0.01-0.03 AUC apart):
  A: train Jan-Oct 2020, stop on Nov-Dec 2020, measure on valid.csv (2021 Q1) rows whose goods line no
     train row holds (the previous rounds' fold);
  B: train Jan-Aug 2020, stop on Sep-Oct 2020, measure on Nov-Dec 2020 rows whose line Jan-Oct never held.
Ideas of this round (the earlier ones are in docs/risk-model.md): CatBoost's ordered target statistics on the
raw columns (has_time: each row's category statistics come only from earlier rows); encodings with one vote
per goods line (a line repeated a hundred times counts once), hierarchical HS2 -> HS4 -> HS6 -> HS6 x origin,
leaving the row's own line out; robust price-per-kg z-scores (median / MAD over distinct lines) against
HS6 x origin, HS6, HS4, HS2; monotone constraints on the rates; seed bagging of the novel-line booster.
"""
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timezone

import lightgbm as lgb
import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, ".")
from concord.risk.learning.datasets import load_kcs  # noqa: E402
from concord.risk.learning.evaluation import novelty, plain_lightgbm, seen_lines  # noqa: E402
from concord.risk.learning.features import featurize, fit_spec  # noqa: E402
from concord.risk.learning.history import HistoryProfiles  # noqa: E402
from concord.risk.learning.model import DEFAULT_PARAMS  # noqa: E402
from concord.risk.learning.novel import rank_mean  # noqa: E402

K = "/work/shared/data/kcs/"
RAW = ("office", "process_type", "import_type", "import_use", "payment_type", "mode", "declarant", "importer",
       "seller", "courier", "hs6", "departure", "origin", "tax_type", "origin_indicator")
TE_KEYS = (("importer",), ("declarant",), ("seller",), ("office",), ("tax_type",), ("departure",),
           ("origin",), ("hs6", "tax_type"), ("origin", "departure"), ("declarant", "hs4"), ("importer", "hs4"))
HIER = (("hs2",), ("hs4",), ("hs6",), ("hs6", "origin"))
PRICE = (("hs2",), ("hs4",), ("hs6",), ("hs6", "origin"))


def line(r):
    return (r.hs6, r.origin, r.net_mass, r.value)


def field(r, k):
    return r.hs6[:4] if k == "hs4" else r.hs6[:2] if k == "hs2" else getattr(r, k)


def key_of(r, key):
    return tuple(field(r, k) for k in key)


def new_at_time(part, before):
    first = {}
    for r in list(before) + list(part):
        first.setdefault(line(r), r.ts // 86400)
    return np.array([first[line(r)] == r.ts // 86400 for r in part])


def strip(rs):
    return [replace(r, fraud=None, critical=None, revenue=None) for r in rs]


class LineVotes:
    """Per key, the sum over distinct labelled lines of each line's fraud rate within the key's group, and their
    number: one vote a goods line (a line repeated a hundred times counts once); a row's own line left out."""

    def __init__(self, labelled):
        self.prior = float(np.mean(list(_means(labelled, lambda r: line(r)).values())))
        self.own, self.sums = {}, {}
        for key in TE_KEYS + HIER:
            own = _means(labelled, lambda r: (key_of(r, key), line(r)))
            s = defaultdict(lambda: [0.0, 0])
            for (k, _), m in own.items():
                s[k][0] += m
                s[k][1] += 1
            self.own[key], self.sums[key] = own, dict(s)

    def features(self, rows, m=5.0):
        cols, names = [], []

        def total(r, key):
            k = key_of(r, key)
            s, n = self.sums[key].get(k, (0.0, 0))
            own = self.own[key].get((k, line(r)))
            return (s - own, n - 1) if own is not None else (s, n)
        rate = np.full(len(rows), self.prior)
        for key in TE_KEYS + HIER:
            v = np.empty(len(rows)); c = np.empty(len(rows))
            toward = rate if key in HIER else np.full(len(rows), self.prior)
            for i, r in enumerate(rows):
                s, n = total(r, key)
                v[i] = (s + m * toward[i]) / (n + m); c[i] = np.log1p(n)
            if key in HIER:
                rate = v
            cols += [v, c]; names += ["te." + "x".join(key), "te." + "x".join(key) + ".n"]
        return np.column_stack(cols), names


def oof_votes(rows, folds=5):
    """Cross-fitted by goods line: each row's encodings from the lines of the other folds (no own label, no
    own line), so the leave-one-out leak (a fraud row lowers its own group's rate) cannot arise."""
    import zlib
    part = np.array([zlib.crc32(repr(line(r)).encode()) % folds for r in rows])
    out = None
    for j in range(folds):
        inside = np.flatnonzero(part == j)
        votes = LineVotes([r for r, p in zip(rows, part) if p != j])
        x, names = votes.features([rows[i] for i in inside])
        out = np.empty((len(rows), x.shape[1])) if out is None else out
        out[inside] = x
    return out, names


def _means(rows, group):
    t = defaultdict(lambda: [0, 0])
    for r in rows:
        g = t[group(r)]
        g[0] += r.fraud
        g[1] += 1
    return {k: a / b for k, (a, b) in t.items()}


class PriceNorms:
    """Median and MAD of log price per kg (and log mass) over distinct lines declared, per level."""

    def __init__(self, declared):
        lines = {line(r): r for r in declared}
        self.stats = {}
        for key in PRICE:
            groups = defaultdict(lambda: ([], []))
            for r in lines.values():
                g = groups[key_of(r, key)]
                g[0].append(np.log1p(r.value) - np.log1p(r.net_mass)); g[1].append(np.log1p(r.net_mass))
            self.stats[key] = {k: (len(p), np.median(p), 1.4826 * np.median(np.abs(np.array(p) - np.median(p))) + 0.05,
                                   np.median(ms), 1.4826 * np.median(np.abs(np.array(ms) - np.median(ms))) + 0.05)
                               for k, (p, ms) in groups.items()}

    def features(self, rows):
        cols, names = [], []
        lp = np.array([np.log1p(r.value) - np.log1p(r.net_mass) for r in rows])
        lm = np.array([np.log1p(r.net_mass) for r in rows])
        for key in PRICE:
            z = np.full(len(rows), np.nan); zm = np.full(len(rows), np.nan); n = np.zeros(len(rows))
            for i, r in enumerate(rows):
                st = self.stats[key].get(key_of(r, key))
                if st and st[0] >= 5:
                    n[i] = st[0]; z[i] = (lp[i] - st[1]) / st[2]; zm[i] = (lm[i] - st[3]) / st[4]
            cols += [z, zm, np.log1p(n)]; names += [f"rz.{'x'.join(key)}.price", f"rz.{'x'.join(key)}.mass",
                                                    f"rz.{'x'.join(key)}.lines"]
        cols += [lp, lm, np.array([r.tax_rate or 0.0 for r in rows])]
        names += ["log_price", "log_mass", "tax_rate"]
        return np.column_stack(cols), names


def fold(name, tr, st, ev):
    y_ev = np.array([r.fraud for r in ev]); evu = strip(ev)
    fresh = novelty(evu, seen_lines(tr + st))
    yt, ys = np.array([r.fraud for r in tr]), np.array([r.fraud for r in st])
    nt, ns = new_at_time(tr, []), new_at_time(st, tr)
    weight = np.array([1.0 / c for c in (lambda cnt: [cnt[line(r)] for r in tr])(Counter(line(r) for r in tr))])
    return dict(name=name, tr=tr, st=st, ev=evu, y=y_ev, fresh=fresh, yt=yt, ys=ys, nt=nt, ns=ns, w=weight)


def report(label, F, scores, base=None, extra=None):
    out = {"config": label}
    for f, s in zip(F, scores):
        a = roc_auc_score(f["y"][f["fresh"]], s[f["fresh"]])
        out[f["name"]] = round(a, 4)
        if base is not None:
            out[f["name"] + "_lead"] = round(a - roc_auc_score(f["y"][f["fresh"]], base[f["name"]][f["fresh"]]), 4)
    out["mean_lead"] = round(np.mean([out[f["name"] + "_lead"] for f in F]), 4) if base is not None else None
    out.update(extra or {})
    print(json.dumps(out), flush=True)


def lgb_fit(x1, y1, x2, y2, names, cats=(), w=None, **params):
    d1 = lgb.Dataset(x1, y1, weight=w, feature_name=names, categorical_feature=list(cats), free_raw_data=False)
    d2 = lgb.Dataset(x2, y2, reference=d1)
    b = lgb.train({**DEFAULT_PARAMS, **params}, d1, 3000, valid_sets=[d2], callbacks=[lgb.early_stopping(100, verbose=False)])
    return b


def raw_frame(rows, norms=None):
    import pandas as pd
    d = {k: [str(getattr(r, k)) for r in rows] for k in RAW}
    d["hs4"] = [r.hs6[:4] for r in rows]; d["hs2"] = [r.hs6[:2] for r in rows]
    d["log_mass"] = [np.log1p(r.net_mass) for r in rows]; d["log_value"] = [np.log1p(r.value) for r in rows]
    d["log_price"] = [np.log1p(r.value) - np.log1p(r.net_mass) for r in rows]
    d["tax_rate"] = [r.tax_rate or 0.0 for r in rows]
    frame = pd.DataFrame(d)
    if norms is not None:
        x, names = norms.features(rows)
        for j, n in enumerate(names):
            if n.startswith("rz."):
                frame[n] = x[:, j]
    return frame


def cat_fit(f, rows_mask=None, stop_mask=None, weighted=False, norms=False, **params):
    from catboost import CatBoostClassifier, Pool
    pn = PriceNorms(f["tr"] + f["st"] + f["ev"]) if norms else None
    a, b, c = (raw_frame(p, pn) for p in (f["tr"], f["st"], f["ev"]))
    cats = list(RAW) + ["hs4", "hs2"]
    m1 = np.ones(len(a), bool) if rows_mask is None else rows_mask
    m2 = np.ones(len(b), bool) if stop_mask is None else stop_mask
    p1 = Pool(a[m1], f["yt"][m1], cat_features=cats, weight=f["w"][m1] if weighted else None)
    p2 = Pool(b[m2], f["ys"][m2], cat_features=cats)
    model = CatBoostClassifier(**{"iterations": 1500, "learning_rate": 0.05, "depth": 6, "eval_metric": "AUC",
                                  "has_time": True, "thread_count": 1, "random_seed": 1, "verbose": False,
                                  "od_type": "Iter", "od_wait": 100, "use_best_model": True, **params})
    model.fit(p1, eval_set=p2)
    return model.predict_proba(Pool(c, cat_features=cats))[:, 1], model.get_best_iteration()


def main():
    train = load_kcs(K + "train.csv"); valid = load_kcs(K + "valid.csv")
    t = lambda m, d=1: datetime(2020, m, d, tzinfo=timezone.utc)
    A = fold("A", [r for r in train if r.when < t(11)], [r for r in train if r.when >= t(11)], valid)
    B = fold("B", [r for r in train if r.when < t(9)], [r for r in train if t(9) <= r.when < t(11)],
             [r for r in train if r.when >= t(11)])
    F = (A, B)
    for f in F:
        print(json.dumps({"fold": f["name"], "train": len(f["tr"]), "stop": len(f["st"]), "eval": len(f["ev"]),
                          "eval_never_seen": int(f["fresh"].sum()), "fraud": round(float(f["y"][f["fresh"]].mean()), 3),
                          "train_new_at_time": int(f["nt"].sum()), "stop_new": int(f["ns"].sum())}), flush=True)
    base = {f["name"]: plain_lightgbm(f["tr"], f["st"], f["ev"]) for f in F}
    report("plain LightGBM (baseline)", F, [base[f["name"]] for f in F], base)
    # Concord's features, per fold
    for f in F:
        prof = HistoryProfiles().observe(f["tr"] + f["st"]); prof.add_declarations(f["ev"])
        spec = fit_spec(f["tr"]); f["spec"] = spec
        f["X"] = [featurize(p, prof, spec) for p in (f["tr"], f["st"], f["ev"])]
    S = {}

    def novel(f, seed=1, **params):
        names, cats = f["spec"].names(), f["spec"].categorical_names()
        xt, xs, xv = f["X"]
        b = lgb_fit(xt[f["nt"]], f["yt"][f["nt"]], xs[f["ns"]], f["ys"][f["ns"]], names, cats, seed=seed, **params)
        return b.predict(xv, num_iteration=b.best_iteration, num_threads=1)
    S["novel"] = [novel(f) for f in F]
    report("novel-line booster (session 1's, reference)", F, S["novel"], base)
    S["novel_bag"] = [np.mean([novel(f, seed=s) for s in range(1, 6)], axis=0) for f in F]
    report("novel-line booster, mean of 5 seeds", F, S["novel_bag"], base)
    if "--part3" in sys.argv:
        return part3(F, base, S)
    # line-vote hierarchical encodings + robust price z-scores
    for f in F:
        lv_tr = LineVotes(f["tr"]); lv_all = LineVotes(f["tr"] + f["st"]); pn = PriceNorms(f["tr"] + f["st"] + f["ev"])
        te_t, te_names = lv_tr.features(f["tr"]); te_s, _ = lv_tr.features(f["st"]); te_v, _ = lv_all.features(f["ev"])
        pz = [pn.features(p) for p in (f["tr"], f["st"], f["ev"])]
        ci = [f["spec"].names().index(c) for c in f["spec"].categorical_names()]
        f["E"] = [np.hstack([te, p[0], x[:, ci]]) for te, p, x in zip((te_t, te_s, te_v), pz, f["X"])]
        f["E_names"] = te_names + pz[0][1] + f["spec"].categorical_names()
        f["E_mono"] = [1 if (n.startswith("te.") and not n.endswith(".n")) else 0 for n in f["E_names"]]
    for label, kw in (("line-vote TE + robust z + cats, weighted 1/line, stop on new rows", {}),
                      ("the same, monotone rates", {"mono": True}),
                      ("the same, monotone, lr 0.02, min 100 a leaf, L2 10", {"mono": True, "learning_rate": 0.02,
                                                                             "min_data_in_leaf": 100, "lambda_l2": 10.0}),
                      ("line-vote TE + robust z + cats, new-at-time rows only", {"rows": "new"}),
                      ("line-vote TE + robust z + cats, all rows unweighted", {"rows": "all"})):
        kw = dict(kw); mono = kw.pop("mono", False); rows = kw.pop("rows", "weighted")
        out, its = [], []
        for f in F:
            et, es, ev = f["E"]
            m1 = f["nt"] if rows == "new" else np.ones(len(et), bool)
            w = f["w"] if rows == "weighted" else None
            params = dict(kw, **({"monotone_constraints": f["E_mono"], "monotone_constraints_method": "advanced"} if mono else {}))
            b = lgb_fit(et[m1], f["yt"][m1], es[f["ns"]], f["ys"][f["ns"]], f["E_names"], f["spec"].categorical_names(),
                        None if w is None else w[m1], **params)
            out.append(b.predict(ev, num_iteration=b.best_iteration, num_threads=1)); its.append(b.best_iteration)
        S[label] = out
        report(label, F, out, base, {"trees": its})
    if "--part2" in sys.argv:
        return part2(F, base, S)
    # CatBoost: ordered target statistics on the raw columns
    for label, kw in (("CatBoost raw columns, all rows, stop on all", {}),
                      ("CatBoost raw columns, all rows, stop on new rows", {"stop": "new"}),
                      ("CatBoost raw + robust z, weighted 1/line, stop on new rows", {"stop": "new", "weighted": True, "norms": True}),
                      ("CatBoost raw + robust z, new-at-time rows, stop on new rows", {"stop": "new", "rows": "new", "norms": True})):
        kw = dict(kw); stop = kw.pop("stop", "all"); rows = kw.pop("rows", "all")
        out, its, t0 = [], [], time.process_time()
        for f in F:
            s, it = cat_fit(f, f["nt"] if rows == "new" else None, f["ns"] if stop == "new" else None, **kw)
            out.append(s); its.append(it)
        S[label] = out
        report(label, F, out, base, {"trees": its, "cpu_s": round(time.process_time() - t0, 1)})
    # ensembles by rank mean
    for names in (("novel", "CatBoost raw columns, all rows, stop on new rows"),
                  ("novel_bag", "CatBoost raw columns, all rows, stop on new rows"),
                  ("novel_bag", "line-vote TE + robust z + cats, weighted 1/line, stop on new rows"),
                  ("novel_bag", "CatBoost raw + robust z, weighted 1/line, stop on new rows",
                   "line-vote TE + robust z + cats, weighted 1/line, stop on new rows")):
        report("rank mean: " + " | ".join(names), F, [rank_mean(*(S[n][i] for n in names)) for i in range(2)], base)


def crossfit_features(f, categoricals=False):
    """Cross-fitted line votes and robust price z-scores for a fold (train, stop, eval), with their names."""
    pn = PriceNorms(f["tr"] + f["st"] + f["ev"])
    te_t, te_names = oof_votes(f["tr"])
    te_s, _ = LineVotes(f["tr"]).features(f["st"])
    te_v, _ = LineVotes(f["tr"] + f["st"]).features(f["ev"])
    pz = [pn.features(p) for p in (f["tr"], f["st"], f["ev"])]
    xs = [np.hstack([te, p[0]]) for te, p in zip((te_t, te_s, te_v), pz)]
    names = te_names + pz[0][1]
    if categoricals:
        ci = [f["spec"].names().index(c) for c in f["spec"].categorical_names()]
        xs = [np.hstack([x, c[:, ci]]) for x, c in zip(xs, f["X"])]
        names = names + f["spec"].categorical_names()
    return xs, names


def crossfit_mono(f, categoricals=False):
    """The cross-fitted booster: every row weighted 1/rows of its line, monotone in the rates, stopped on new rows."""
    (et, es, ev), names = crossfit_features(f, categoricals)
    monos = [1 if (n.startswith("te.") and not n.endswith(".n")) else 0 for n in names]
    cats = f["spec"].categorical_names() if categoricals else ()
    b = lgb_fit(et, f["yt"], es[f["ns"]], f["ys"][f["ns"]], names, cats, f["w"],
                monotone_constraints=monos, monotone_constraints_method="advanced")
    return b.predict(ev, num_iteration=b.best_iteration, num_threads=1)


def part3(F, base, S):
    """Round 3c: the two best single models of rounds 3a/3b together (chosen before test was read)."""
    S["cat_new"] = [cat_fit(f, f["nt"], f["ns"], norms=True)[0] for f in F]
    report("CatBoost raw + robust z, new-at-time rows, stop on new rows (again)", F, S["cat_new"], base)
    S["xf"] = [crossfit_mono(f) for f in F]
    report("cross-fitted, no categoricals, weighted, monotone (again)", F, S["xf"], base)
    for names in (("cat_new", "xf"), ("cat_new", "novel_bag"), ("cat_new", "xf", "novel_bag")):
        report("rank mean: " + " | ".join(names), F, [rank_mean(*(S[n][i] for n in names)) for i in range(2)], base)


def part2(F, base, S):
    """Round 3b: the line-vote encodings cross-fitted by goods line (5 folds) instead of leave-one-out."""
    for f in F:
        pn = PriceNorms(f["tr"] + f["st"] + f["ev"]); lv_tr = LineVotes(f["tr"]); lv_all = LineVotes(f["tr"] + f["st"])
        te_t, te_names = oof_votes(f["tr"]); te_s, _ = lv_tr.features(f["st"]); te_v, _ = lv_all.features(f["ev"])
        pz = [pn.features(p) for p in (f["tr"], f["st"], f["ev"])]
        ci = [f["spec"].names().index(c) for c in f["spec"].categorical_names()]
        f["O"] = [np.hstack([te, p[0], x[:, ci]]) for te, p, x in zip((te_t, te_s, te_v), pz, f["X"])]
        f["O_names"] = te_names + pz[0][1] + f["spec"].categorical_names()
        f["O_mono"] = [1 if (n.startswith("te.") and not n.endswith(".n")) else 0 for n in f["O_names"]]
        nc = len(te_names) + len(pz[0][1])
        f["OC"] = [np.hstack([o, x]) for o, x in zip(f["O"], f["X"])]  # with Concord's own features too
        f["OC_names"] = f["O_names"] + ["c." + n for n in f["spec"].names()]
        f["OC_cats"] = ["c." + n for n in f["spec"].categorical_names()]
        f["OC_mono"] = f["O_mono"] + [0] * len(f["spec"].names())
        f["O_nocat"] = [o[:, :nc] for o in f["O"]]
    configs = (("cross-fitted line votes + robust z + cats, weighted, stop on new", "O", {}),
               ("the same, monotone rates", "O", {"mono": True}),
               ("the same, unweighted, monotone", "O", {"mono": True, "rows": "all"}),
               ("the same, new-at-time rows, monotone", "O", {"mono": True, "rows": "new"}),
               ("cross-fitted, no categoricals, weighted, monotone", "O_nocat", {"mono": True}),
               ("cross-fitted + Concord features, new-at-time rows, monotone rates", "OC", {"mono": True, "rows": "new"}),
               ("cross-fitted + Concord features, weighted, monotone rates", "OC", {"mono": True}))
    for label, which, kw in configs:
        kw = dict(kw); mono = kw.pop("mono", False); rows = kw.pop("rows", "weighted")
        out, its = [], []
        for f in F:
            et, es, ev = f[which]
            names = f["O_names"][:et.shape[1]] if which != "OC" else f["OC_names"]
            cats = f["OC_cats"] if which == "OC" else [c for c in f["spec"].categorical_names() if c in names]
            monos = (f["OC_mono"] if which == "OC" else f["O_mono"][:et.shape[1]])
            m1 = f["nt"] if rows == "new" else np.ones(len(et), bool)
            w = f["w"] if rows == "weighted" else None
            params = dict(kw, **({"monotone_constraints": monos, "monotone_constraints_method": "advanced"} if mono else {}))
            b = lgb_fit(et[m1], f["yt"][m1], es[f["ns"]], f["ys"][f["ns"]], names, cats, None if w is None else w[m1], **params)
            out.append(b.predict(ev, num_iteration=b.best_iteration, num_threads=1)); its.append(b.best_iteration)
        S[label] = out
        report(label, F, out, base, {"trees": its})
    report("rank mean: novel_bag | cross-fitted monotone", F, [rank_mean(S["novel_bag"][i], S["the same, monotone rates"][i])
                                                             for i in range(2)], base)


if __name__ == "__main__":
    main()
