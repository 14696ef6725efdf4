"""The outbox relay in a process of its own (PostgreSQL, unless CONCORD_RELAY_PROCESS=false): `concord serve`
starts it, starts it again when it dies (even by kill -9: the events committed meanwhile are published by the next
one), and it ends with its server (even one killed by kill -9). On SQLite the worker publishes, and `concord relay`
is refused. (Streams across servers with it: test_notifications_workers.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from crashing import CONCORD, Hub, free_port
from support import declaration


def _relays(parent: int) -> list[int]:
    """`concord relay` processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent \
                    and (entry / "cmdline").read_bytes().endswith(b"\0relay\0"):
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


@pytest.mark.postgres
def test_the_relay_process_publishes_is_started_again_after_kill_9_and_ends_with_its_server(tmp_path, pg_url):
    hub = Hub(tmp_path, pg_url)  # the default
    port = free_port()
    log = open(tmp_path / "serve.log", "ab")
    server = subprocess.Popen([CONCORD, "serve", "--port", str(port)], env=hub.env, stdout=log,
                              stderr=subprocess.STDOUT)
    engine = create_engine(pg_url)

    def published(did: str) -> bool:
        with engine.connect() as conn:
            states = conn.execute(text("SELECT published_at IS NOT NULL FROM events WHERE declaration_id = :d"),
                                  {"d": did}).scalars().all()
            stored = conn.scalar(text("SELECT count(*) FROM notification_events WHERE event_id IN "
                                      "(SELECT id FROM events WHERE declaration_id = :d)"), {"d": did})
        return bool(states) and all(states) and stored > 0

    def lodge(lrn: str) -> str:
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/declarations", json=declaration(lrn=lrn), timeout=30,
                       headers={"Authorization": f"Bearer {hub.tokens['hollandfoods']}"})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    try:
        relay = _until(lambda: _relays(server.pid), 60, "no relay process started")[0]
        _until(lambda: server.poll() is None and _ok(port), 90, (tmp_path / "serve.log").read_text())
        first = lodge("RP-1")
        _until(lambda: published(first), 30, "the relay process did not publish and store the first lodging")
        os.kill(relay, signal.SIGKILL)
        second = lodge("RP-2")  # committed while no relay runs: the worker only commits
        again = _until(lambda: [p for p in _relays(server.pid) if p != relay], 30, "the relay was not started again")
        _until(lambda: published(second), 30, "the restarted relay did not publish what was committed meanwhile")
    finally:
        server.kill()  # kill -9: nothing of the server runs to stop it
        server.wait(timeout=60)
        log.close()
        engine.dispose()
    # the kernel sends the relay SIGTERM when its server dies (PR_SET_PDEATHSIG): no orphan holds the relay's lock
    _until(lambda: not any(_alive_relay(p) for p in (relay, *again)), 30, "a relay process outlived its server")
    assert "starting it again" in (tmp_path / "serve.log").read_text()


def _alive_relay(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().endswith(b"\0relay\0")
    except OSError:
        return False


def _ok(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_concord_relay_is_refused_on_sqlite_where_the_worker_publishes(tmp_path):
    env = {**os.environ, "CONCORD_VAR_DIR": str(tmp_path), "CONCORD_DATABASE_URL": ""}
    relayed = subprocess.run([CONCORD, "relay"], env=env, capture_output=True, text=True, timeout=60)
    assert relayed.returncode == 2 and "needs PostgreSQL" in relayed.stderr, relayed.stderr
