"""Same as `concord bench ingest --json`: prints one JSON object of figures beside their baseline."""

import subprocess
import sys
from pathlib import Path

if __name__ == "__main__":
    concord = Path(sys.executable).parent / "concord"
    sys.exit(subprocess.call([str(concord), "bench", "ingest", "--json", *sys.argv[1:]]))
