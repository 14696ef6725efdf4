"""Risk model benchmark: `python bench/risk.py [--json]` from the project root (same as `concord bench risk`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from concord.risk.bench import bench_risk  # noqa: E402

if __name__ == "__main__":
    bench_risk(as_json="--json" in sys.argv)
