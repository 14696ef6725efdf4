"""Same as `concord bench pause --json`: group commits after the thread has slept, beside the same back to back."""

import subprocess
import sys
from pathlib import Path

if __name__ == "__main__":
    concord = Path(sys.executable).parent / "concord"
    sys.exit(subprocess.call([str(concord), "bench", "pause", "--json", *sys.argv[1:]]))
