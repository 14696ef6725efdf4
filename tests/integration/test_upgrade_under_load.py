"""`concord db upgrade` while the previous release's code lodges: that code, taken from git, keeps lodging before,
during and after the upgrade to this code's head, and nothing it was told was lodged is lost or doubled.

What this proves: the previous release's models and lodging path (the bus, the group commit, the risk step, the
audit log, the outbox) work on the schema this release's migrations produce, and while they run. The previous
release is the newest commit of the first-parent history with one migration fewer than now; its schema is built
by this code's migrations up to head's down revision (migrations are renamed when branches merge, so the old
tree's own revision names may not be in this chain). What it does not prove: the old HTTP server's start-up on the
new schema (a restart runs its own migrations: see `concord.migrations.upgrade`, which from now on serves without
migrating over a newer schema), nor releases further back than one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import concord
from concord.migrations import alembic_config, upgrade
from support import declaration, demo_config_text

ROOT = Path(concord.__file__).resolve().parents[1]
CONCORD = str(Path(sys.executable).parent / "concord")

OLD_CODE = r'''
import json, sys, time
from pathlib import Path

import concord
assert concord.__file__.startswith(sys.argv[1]), concord.__file__  # the previous release's code, not this one's
from concord.access.handlers import subject_for
from concord.access.models import User
from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.declarations.grouping import lodge_batch

url, var, mode = sys.argv[2], Path(sys.argv[3]), sys.argv[4]
app = bootstrap(Settings(database_url=url, var_dir=var), create_schema=False)
if mode == "setup":
    app.bus.handle(LoadConfig(text=(var / "coordination.yaml").read_text(), source="demo config"))
    app.close()
    sys.exit(0)
template = json.loads((var / "declaration.json").read_text())
with app.sessions() as s:
    subject = subject_for(s.get(User, "hollandfoods"), app.lead_agency(s))
acknowledged, failed, batch = [], [], 0
while not (var / "stop").exists():
    lrns = [f"OLD-{batch}-{k}" for k in range(5)]
    body = "\n".join(json.dumps(template | {"lrn": lrn}) for lrn in lrns).encode()
    result = lodge_batch(app.bus, subject, body)
    for lrn, r in zip(lrns, result["results"]):
        (acknowledged if "id" in r else failed).append(lrn if "id" in r else r)
    batch += 1
    (var / "progress").write_text(str(batch))
    time.sleep(0.05)
app.close()
print(json.dumps({"acknowledged": acknowledged, "failed": failed}))
'''


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def _previous_release() -> str | None:
    """The newest first-parent commit whose tree has one migration fewer than this one (None without history)."""
    now = len(list((ROOT / "concord/migrations/versions").glob("0*.py")))
    try:
        commits = _git("rev-list", "--first-parent", "HEAD", "--", "concord/migrations/versions").split()
        for commit in commits:
            for candidate in (commit, f"{commit}^"):
                names = _git("ls-tree", "--name-only", candidate, "concord/migrations/versions/").split()
                if sum(Path(n).name.startswith("0") and n.endswith(".py") for n in names) == now - 1:
                    return _git("rev-parse", candidate).strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    return None


def _head_down_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return script.get_revision(script.get_current_head()).down_revision


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'concord.db'}"
    return request.getfixturevalue("pg_url")


def test_the_previous_release_keeps_lodging_while_the_database_is_upgraded(database, tmp_path):
    release = _previous_release()
    if release is None:
        pytest.skip("no git history here (a source archive or a shallow clone): no previous release to run")
    old = tmp_path / "previous-release"
    old.mkdir()
    with tarfile.open(fileobj=BytesIO(subprocess.run(["git", "-C", str(ROOT), "archive", release, "concord"],
                                                     capture_output=True, check=True).stdout)) as archive:
        archive.extractall(old)
    var = tmp_path / "var"
    var.mkdir()
    (var / "coordination.yaml").write_text(demo_config_text())
    (var / "declaration.json").write_text(json.dumps(declaration()))
    script = tmp_path / "old_code.py"
    script.write_text(OLD_CODE)
    env = {**os.environ, "PYTHONPATH": str(old)}
    run_old = lambda mode, **kw: subprocess.Popen([sys.executable, str(script), str(old), database, str(var), mode],
                                                  env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True, **kw)

    engine = create_engine(database)
    try:
        upgrade(engine, _head_down_revision())  # the previous release's schema
        setup = run_old("setup")
        out, err = setup.communicate(timeout=180)
        assert setup.returncode == 0, err
        lodger = run_old("lodge")
        progress = lambda: int((var / "progress").read_text() or 0) if (var / "progress").exists() else 0
        deadline = time.monotonic() + 180
        while progress() < 3:  # lodging before the upgrade
            assert lodger.poll() is None, lodger.stderr.read()
            assert time.monotonic() < deadline, "the previous release lodged nothing within 180 s"
            time.sleep(0.1)
        upgrade(engine)  # `concord db upgrade` of this release, with the old code lodging meanwhile
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == \
                _head()
        after = progress()
        while progress() < after + 3:  # and lodging after it, on the new schema
            assert lodger.poll() is None, lodger.stderr.read()
            assert time.monotonic() < deadline + 120, "the previous release stopped lodging after the upgrade"
            time.sleep(0.1)
        (var / "stop").touch()
        out, err = lodger.communicate(timeout=120)
        assert lodger.returncode == 0, err
        told = json.loads(out.strip().splitlines()[-1])
        assert told["failed"] == [] and len(told["acknowledged"]) >= 30
        with engine.connect() as conn:
            stored = [r[0] for r in conn.execute(text("SELECT lrn FROM declarations WHERE lrn LIKE 'OLD-%'"))]
        assert sorted(stored) == sorted(told["acknowledged"])  # every acknowledged lodging, exactly once
    finally:
        engine.dispose()
    # This release lodges beside them, and the audit log over both verifies.
    cli_env = {**os.environ, "CONCORD_DATABASE_URL": database, "CONCORD_VAR_DIR": str(var)}
    shift = tmp_path / "new.ndjson"
    shift.write_text(json.dumps(declaration(lrn="NEW-1")) + "\n")
    lodged = subprocess.run([CONCORD, "declarations", "lodge", str(shift), "--as", "hollandfoods"], env=cli_env,
                            capture_output=True, text=True, timeout=120)
    assert lodged.returncode == 0 and json.loads(lodged.stdout)["lodged"] == 1, lodged.stderr
    for command in (["audit", "checkpoint"], ["audit", "verify", "--json"]):
        done = subprocess.run([CONCORD, *command], env=cli_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stdout, done.stderr)


def _head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_code_over_a_newer_schema_serves_without_migrating(tmp_path):
    """A worker of this release restarted after a newer one upgraded the database: start-up does not fail on the
    revision it does not know (the newer schema only expanded what this code uses)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'concord.db'}")
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_a_newer_release'"))
        upgrade(engine)  # no error, nothing done
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999_a_newer_release"
    finally:
        engine.dispose()
