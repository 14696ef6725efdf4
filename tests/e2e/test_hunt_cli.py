"""`concord hunt` and `concord stix` on a hub: a hunt started and reported, its bundle exported and imported, and
bad input refused in one line (exit 2)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import demo_config_text

CONCORD = str(Path(sys.executable).parent / "concord")


def concord(*args, var: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")} | {"CONCORD_VAR_DIR": str(var)}
    return subprocess.run([CONCORD, *map(str, args)], cwd=var.parent, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow  # eight processes, each importing the hub
def test_a_hunt_from_the_console_and_its_stix_round_trip(tmp_path):
    var = tmp_path / "var"
    (tmp_path / "config.yaml").write_text(demo_config_text())
    assert concord("config", "load", tmp_path / "config.yaml", var=var).returncode == 0
    started = concord("hunt", "run", "--as", "pol-officer", "--source", "incident/INC-1", "--container",
                      "MSCU1234566", "--hs", "0803", "--origin", "EC,CO", "--valid-until", "2099-01-01T00:00:00+00:00",
                      "--purpose", "criminal_investigation", var=var)
    assert started.returncode == 0, started.stderr
    hunt = json.loads(started.stdout)
    assert hunt["report"]["total"] == 0 and len(hunt["watchlist_entries"]) == 3  # a container, two HS/origin pairs
    assert json.loads(concord("hunt", "report", hunt["id"], "--as", "pol-officer", var=var).stdout)["hunt"]["id"] == hunt["id"]
    denied = concord("hunt", "report", hunt["id"], "--as", "vet-officer", var=var)
    assert denied.returncode == 2 and "not found" in denied.stderr and "Traceback" not in denied.stderr
    exported = concord("stix", "export", "--as", "pol-officer", "--out", tmp_path / "bundle.json", var=var)
    assert exported.returncode == 0, exported.stderr
    imported = concord("stix", "import", tmp_path / "bundle.json", "--as", "cus-officer", "--hunt", var=var)
    assert imported.returncode == 0, imported.stderr
    [entry] = json.loads(imported.stdout)
    assert entry["tlp"] == "amber" and entry["indicators"]["origins"] == ["EC", "CO"] and entry["hunt_id"]
    bad = concord("hunt", "run", "--as", "pol-officer", "--source", "incident/INC-2", "--hs", "8",
                  "--valid-until", "2099-01-01T00:00:00+00:00", var=var)
    assert bad.returncode == 2 and "/indicators/hs/0" in bad.stderr and "Traceback" not in bad.stderr
