# Run: PYTHONPATH=. .venv/bin/python docs/risk-tune-party-novelty.py [kcs|schemes SEED ...]
# Development of the party-novelty columns of the new-line booster, on train -> valid only (no test row is read):
# the main model once, then the booster with each candidate set of party columns, each ranked on the valid rows the
# router would send it (KCS: 1,302 rows whose goods line has no known outcome; the scheme bench: every valid row).
import json
import sys
import numpy as np
from concord.risk.learning.features import fit_spec
from concord.risk.learning.history import HistoryProfiles
from concord.risk.learning.model import fit
from concord.risk.learning.newlines import PARTY, fit_new_lines, routed

COUNTS = tuple(n for n in PARTY if n.endswith(".n_declared"))
CANDIDATES = {"none (the live booster)": (), "declarations only": COUNTS, "declarations and outcomes (PARTY)": PARTY,
              "PARTY and party rates": PARTY + ("importer.rate", "declarant.rate", "seller.rate",
                                                "seller_importer.rate", "declarant_importer.rate"),
              "PARTY and shares": PARTY + ("importer_goods_share", "importer_heading_share", "seller_goods_share")}


def data(which, seed):
    if which == "kcs":
        from concord.risk.learning.datasets import load_kcs
        k = "/work/shared/data/kcs/"
        tr, va = load_kcs(k + "train.csv"), load_kcs(k + "valid.csv")
        return tr, va, None
    from concord.risk.learning.schemes import THRESHOLD, scheme_records, split
    records, _ = scheme_records(30_000, seed)
    tr, va, _ = split(records)
    return tr, va, fit_spec(tr, value_threshold=THRESHOLD)


def main(which, seed=0):
    tr, va, spec = data(which, seed)
    model = fit(tr, va, HistoryProfiles().observe(tr + va), spec=spec, new_lines="never")
    out = {}
    for name, party in CANDIDATES.items():
        b = fit_new_lines(tr, va, model, tr + va, always=True, party=party, check_party=False)
        out[name] = {**b.info["valid_routed"]["booster"], "trees": b.info["best_iteration"]}
    out["main model"] = b.info["valid_routed"]["main"]
    out["rows"] = b.info["valid_routed_rows"]
    print(json.dumps({"data": which, "seed": seed, "valid": out}))


if __name__ == "__main__":
    args = sys.argv[1:] or ["kcs"]
    if args[0] == "kcs":
        main("kcs")
    else:
        for s in args[1:]:
            main("schemes", int(s))
