"""Several workers on one PostgreSQL database: one lane budget, one leader (taken over when it dies), lodgings
idempotent across processes."""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from concord.agencies.messages import LoadConfig
from concord.bootstrap import bootstrap
from concord.clock import FixedClock
from concord.config import Settings
from concord.declarations.schemas import parse_declaration
from concord.leadership import LEADER_LOCK
from concord.risk.scoring.compiled import ModelSource
from concord.risk.scoring.shared import SharedLanes
from concord.risk.scoring.step import RiskStep
from support import declaration, demo_config_text, item

CONCORD = str(Path(sys.executable).parent / "concord")


class ValueModel:
    """A fake learned model: the higher the declared value, the riskier."""

    version = "fake-1"

    def score_records(self, records):
        return [min(1.0, r.value / 100000) for r in records]

    def explain(self, record, top):
        return []


def test_two_workers_keep_one_lane_budget_whatever_trade_each_is_sent(pg_url, tmp_path):
    """Worker 0 is sent only low-value trade, worker 1 the whole range (a keep-alive connection sticks to a worker).
    Together they hold the office's targets (NLRTM in the demo config: red 3, yellow 7, blue 2 %, random 3 %), and
    the red lane goes to the riskiest of the office's trade, so almost none of worker 0's: each worker's own budget
    would have sent 3 % of worker 0's harmless trade to red."""
    hubs = [bootstrap(Settings(database_url=pg_url, var_dir=tmp_path / f"w{n}"), clock=FixedClock()) for n in (0, 1)]
    try:
        hubs[0].bus.handle(LoadConfig(text=demo_config_text(random_rate=0.03), source="demo config"))
        steps = [RiskStep(clock=h.clock, rng=random.Random(n), models=ModelSource(load=lambda _: ValueModel()))
                 for n, h in enumerate(hubs)]
        shared = [SharedLanes(h.engine, s.budget, worker=f"test:{n}") for n, (h, s) in enumerate(zip(hubs, steps))]
        for s in shared:
            s.exchange()
        rng = random.Random(7)
        lanes: list[list] = [[], []]
        sessions = [h.sessions() for h in hubs]
        snapshots = [hub.directory.current(s) for hub, s in zip(hubs, sessions)]
        for n in range(4000):
            w = n % 2
            value = rng.uniform(1000, 40000) if w == 0 else rng.uniform(1000, 100000)
            doc = parse_declaration(declaration(lrn=f"L{n}", items=[item("090111", "Green coffee", "BR",
                                                                         amount=f"{value:.2f}")])).model_dump(mode="json")
            a = steps[w].assess(sessions[w], snapshots[w], doc, declaration_id=f"D{n}/1")
            lanes[w].append((a.lane, a.random))
            if n % 100 == 99:  # the server exchanges every 0.25 s: at 400 lodgings a second, every 100
                for s in shared:
                    s.exchange()
        for s in sessions:
            s.close()
        late = lanes[0][500:] + lanes[1][500:]  # once the windows have history
        share = {lane: sum(x == lane for x, _ in late) / len(late) for lane in ("red", "yellow", "blue")}
        assert abs(share["red"] - 0.03) <= 0.01 and abs(share["yellow"] - 0.07) <= 0.01, share
        assert abs(share["blue"] - 0.02) <= 0.01, share
        assert abs(sum(r for _, r in late) / len(late) - 0.03) <= 0.01
        # Worker 0's trade is all below worker 1's riskiest: its reds are its random draws that landed there alone.
        assert sum(x == "red" for x, _ in lanes[0][500:]) / len(lanes[0][500:]) < 0.005
        with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
            workers = dict(conn.execute("SELECT worker, count(*) FROM lane_decisions GROUP BY worker").fetchall())
        assert workers == {"test:0": 2000, "test:1": 2000}
    finally:
        for s in shared:
            s.close()
        for h in hubs:
            h.close()


def _leader(pg_url: str) -> int | None:
    """The pid of the worker holding the leader lock in this test's database."""
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database()) AND l.classid = %s AND l.objid = %s",
            (LEADER_LOCK >> 32, LEADER_LOCK & 0xFFFFFFFF)).fetchone()
    return int(row[0].rsplit(":", 1)[1]) if row else None


def _until(check, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (found := check()) is not None:
            return found
        time.sleep(0.2)
    return None


def _two_workers(pg_url: str, tmp_path) -> tuple[subprocess.Popen, int]:
    """`concord serve --workers 2` on a free port, and the port."""
    env = {**os.environ, "CONCORD_VAR_DIR": str(tmp_path), "CONCORD_DATABASE_URL": pg_url}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return subprocess.Popen([CONCORD, "serve", "--workers", "2", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port


def test_when_the_leader_worker_is_killed_another_takes_over(pg_url, tmp_path):
    server, port = _two_workers(pg_url, tmp_path)
    try:
        first = _until(lambda: _leader(pg_url), 90)
        assert first is not None and first != server.pid, "no worker became the leader"
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        second = _until(lambda: (p if (p := _leader(pg_url)) not in (None, first) else None), 30)
        assert second is not None, "no worker took over from the killed leader"
        # The lock is freed when PostgreSQL sees the connection close, and the others retry every second.
        print(f"taken over in {time.monotonic() - killed:.1f} s")
    finally:
        server.terminate()
        server.wait(timeout=20)


def _port_sockets(port: int) -> dict[str, str]:
    """inode -> TCP state (0A listening, 01 established) of the sockets on the port, from /proc (Linux)."""
    states = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port:
                states[cols[9]] = cols[3]
    return states


def _inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def _sockets_on(port: int, pids: list[int]) -> dict[int, tuple[int, int]]:
    """pid -> (listening sockets, established connections) it holds on the port."""
    states, held = _port_sockets(port), {}
    for pid in pids:
        mine = [states.get(i) for i in _inodes(pid)]
        held[pid] = (mine.count("0A"), mine.count("01"))
    return held


def _children(pid: int) -> list[int]:
    return [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]


def test_each_worker_listens_on_a_socket_of_its_own_and_connections_spread(pg_url, tmp_path):
    """uvicorn's workers shared one socket, and one of two could take three quarters of a burst of connections;
    each now listens on its own (SO_REUSEPORT) and the kernel spreads them. The supervisor keeps no copy, so a
    worker killed with `kill -9` leaves no socket behind that would hold new connections unanswered."""
    server, port = _two_workers(pg_url, tmp_path)

    def listening():
        held = _sockets_on(port, _children(server.pid))
        workers = [pid for pid, (listens, _) in held.items() if listens]
        return workers if len(workers) == 2 else None

    try:
        workers = _until(listening, 90)
        assert workers is not None, "two workers did not both listen"
        assert _sockets_on(port, [server.pid])[server.pid] == (0, 0)  # the supervisor holds none
        # Another hub on the same port would join the workers' sockets: it is refused in one line instead.
        second = subprocess.run([CONCORD, "serve", "--workers", "2", "--port", str(port)], capture_output=True,
                                text=True, timeout=60, env={**os.environ, "CONCORD_VAR_DIR": str(tmp_path / "second"),
                                                            "CONCORD_DATABASE_URL": pg_url})
        assert second.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in second.stdout + second.stderr
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
        try:
            for c in clients:  # answered: each connection is held by the worker that accepted it
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                assert c.recv(64).startswith(b"HTTP/1.1 200")
            held = _sockets_on(port, workers)
            # 40 connections hashed over two sockets: fewer than 8 on one side has a chance of about 1 in 10,000
            assert sorted(n for _, n in held.values())[0] >= 8 and sum(n for _, n in held.values()) == 40, held
        finally:
            for c in clients:
                c.close()
        dead = {i for i in _inodes(workers[0]) if _port_sockets(port).get(i) == "0A"}
        os.kill(workers[0], signal.SIGKILL)
        # A connection hashed to its socket while it dies is reset (a client retries it); once it is gone:
        assert _until(lambda: True if dead.isdisjoint(_port_sockets(port)) else None, 10)
        for _ in range(30):  # before uvicorn starts a replacement: every one answered by the other worker
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                assert c.recv(64).startswith(b"HTTP/1.1 200")
        assert _until(listening, 60) is not None, "the killed worker was not replaced with a socket of its own"
    finally:
        server.terminate()
        server.wait(timeout=20)


LODGE = """
import json, sys, time
from pathlib import Path
from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.declarations.grouping import lodge_isolated
from concord.access.handlers import subject_for
from concord.access.models import User

url, var, barrier, docs = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), json.load(open(sys.argv[4]))
hub = bootstrap(Settings(database_url=url, var_dir=var), create_schema=False)
with hub.sessions() as s:
    trader = subject_for(s.get(User, "hollandfoods"), hub.lead_agency(s))
var.mkdir(parents=True, exist_ok=True)
(var / "ready").touch()
while not barrier.exists():  # both ready: go together
    time.sleep(0.002)
out = []
for i in range(0, len(docs), 5):  # groups of five, as the API's group commit makes them
    out += lodge_isolated(hub.bus, [(trader, d, "key-" + d["lrn"]) for d in docs[i:i + 5]])
print(json.dumps([[r["id"], r["replayed"]] for r in out]))
"""


def test_a_lodging_sent_to_two_processes_at_once_is_stored_once(concord, tmp_path):
    """Both processes lodge the same declarations under the same keys at the same moment: the database's unique
    (trader, key) and (trader, LRN) constraints make one of them the first and the other a replay of it."""
    if concord.engine.dialect.name != "postgresql":
        pytest.skip("two processes lodging at once: PostgreSQL (SQLite serves one worker)")
    docs = [parse_declaration(declaration(lrn=f"TWICE-{n}")).model_dump(mode="json") for n in range(40)]
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(docs))
    url = concord.engine.url.render_as_string(hide_password=False)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", LODGE, url, str(tmp_path / f"p{n}"), str(go), str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in (0, 1)]
    _until(lambda: True if all((tmp_path / f"p{n}" / "ready").exists() for n in (0, 1)) else None, 60)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    for a, b in zip(*results):
        assert a[0] == b[0] and sorted([a[1], b[1]]) == [False, True]  # one lodged it, the other replayed it
    with concord.sessions() as s:
        from sqlalchemy import func, select

        from concord.declarations.models import Declaration

        assert s.scalar(select(func.count()).select_from(Declaration).where(Declaration.lrn.like("TWICE-%"))) == 40


def test_several_workers_on_sqlite_are_refused_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from concord.cli import app
    from concord.config import get_settings

    monkeypatch.setenv("CONCORD_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CONCORD_DATABASE_URL", "")
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["serve", "--workers", "2"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 2
    assert "--workers 2 needs PostgreSQL" in out.output and "SQLite serves one worker" in out.output


def test_a_cli_upload_sends_its_lane_decisions_to_the_other_workers(pg_url, tmp_path):
    """`concord declarations lodge` is a process that lodges beside the server's workers: its decisions must reach
    their lane windows too, the last ones included (the run ends before a tick of the exchange would send them)."""
    env = {**os.environ, "CONCORD_VAR_DIR": str(tmp_path), "CONCORD_DATABASE_URL": pg_url}
    run = lambda *args: subprocess.run([CONCORD, *args], env=env, capture_output=True, text=True, timeout=120)
    config = tmp_path / "coordination.yaml"
    config.write_text(demo_config_text())
    assert run("config", "load", str(config)).returncode == 0
    shift = tmp_path / "shift.ndjson"
    declarant = declaration()["declarant"] | {"id": "DE345678912"}
    shift.write_text("\n".join(json.dumps(declaration(lrn=f"CLI-{i}", declarant=declarant)) for i in range(25)))
    out = run("declarations", "lodge", str(shift), "--as", "eurotech")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["lodged"] == 25
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        workers = conn.execute("SELECT worker, count(*) FROM lane_decisions GROUP BY worker").fetchall()
    assert len(workers) == 1 and workers[0][1] == 25, workers
    # the CLI's own name (host:pid), not this test process's
    assert workers[0][0].rsplit(":", 1)[1] != str(os.getpid())
