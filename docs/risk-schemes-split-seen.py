"""Diagnostic: the same benchmark with split consignments planted from day 0 (so seen in training), to check
that the new feature carries the signal when labels exist. Not the benchmark's figure."""
import json, dataclasses
import concord.risk.learning.schemes as S
S.SCHEMES = tuple(dataclasses.replace(s, starts=0) if s.name == "split_consignments" else s for s in S.SCHEMES)
from concord.bench.schemes import run
r = run()
print(json.dumps({m: {"auc": v["auc"], "p10": v["precision@10"], "split": v["per_scheme"]["split_consignments"]}
                  for m, v in r["models"].items()}))
