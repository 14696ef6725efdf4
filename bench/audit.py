"""Audit log figures: durable appends/s with group commit beside raw batched inserts, full verify, proofs/s.

    python bench/audit.py [--entries 1000000] [--appends 50000]
Same as `concord bench audit --json`.
"""

import argparse
import json

from concord.audit.bench import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="log size for the verify and proof figures")
    parser.add_argument("--appends", type=int, default=50_000, help="entries appended through group commit")
    parser.add_argument("--proofs", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps(run(appends=args.appends, entries=args.entries, proofs=args.proofs), indent=2))
