"""Where the CPU of an HTTP bench run goes, per process group: the server's worker(s), PostgreSQL, and the load
generator. The sum per lodging, against the cores the machine has, says what rate the machine can reach at all
when everything shares it (a bound from CPU alone: it ignores waits, so the real maximum is below it). Beside it,
the server's own figures (ServerCpu): its CPU per lodging and each worker's event-loop share."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from contextlib import contextmanager
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _postgres_pids(database_url: str, clients: list[int] = ()) -> tuple[set[int], set[int], set[int]]:
    """(the backends serving the bench's database, every process of the PostgreSQL server, the backends serving
    the processes `clients`), from pg_stat_activity: the second also holds the WAL writer, checkpointer and
    background writer the bench's commits keep busy, and anything else the server does meanwhile (on a shared
    machine, others' work too). A backend is a client's when its client port is one of that process's sockets."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT pid, datname = current_database(), client_port "
                                     "FROM pg_stat_activity")).all()
    finally:
        engine.dispose()
    ports = _local_ports(clients)
    return ({pid for pid, ours, _ in rows if ours}, _postmaster({pid for pid, _, _ in rows}),
            {pid for pid, ours, port in rows if ours and port in ports})


def _local_ports(pids: list[int]) -> set[int]:
    """The local TCP ports of these processes' sockets, from /proc (the socket inodes of their open files, looked up
    in the kernel's TCP tables)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):  # closed meanwhile
                    if (target := os.readlink(fd)).startswith("socket:["):
                        inodes.add(target[8:-1])
        except OSError:  # gone
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()  # sl, local address:port (hex), remote, state, ..., inode (the tenth)
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _postmaster(known: set[int]) -> set[int]:
    """Every process of the server: the postmaster (the parent of its backends) and all its children."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    roots = {parents[pid] for pid in known if pid in parents}
    return roots | {pid for pid, parent in parents.items() if parent in roots}


def _machine() -> tuple[int, int] | None:
    """(ticks the machine's cores were busy, ticks the hypervisor gave to other guests: steal), from /proc/stat."""
    try:
        user, nice, system, _, _, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    except (OSError, ValueError):
        return None
    return user + nice + system + irq + softirq, steal


class CpuGroups:
    """CPU seconds per lodging of each process group over a stretch of a run, read from /proc and getrusage."""

    def __init__(self, server_pids: list[int], database_url: str | None, relay_pids: list[int] = ()):
        self.server_pids, self.relay_pids = server_pids, list(relay_pids)
        self.database_url = database_url if database_url and database_url.startswith("postgresql") else None

    def _snapshot(self) -> dict:
        me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        snap = {"server": {pid: _ticks(pid) for pid in self.server_pids}, "machine": _machine(),
                "load_generator": me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime}
        if self.relay_pids:
            snap["relay_process"] = {pid: _ticks(pid) for pid in self.relay_pids}
        if self.database_url:
            ours, every, relays = _postgres_pids(self.database_url, self.relay_pids)
            snap["postgres_backends"] = {pid: _ticks(pid) for pid in ours}
            snap["postgres_all"] = {pid: _ticks(pid) for pid in every}
            if self.relay_pids:
                snap["postgres_backends_of_relay"] = {pid: _ticks(pid) for pid in relays}
        return snap

    @staticmethod
    def _seconds(before: dict, after: dict) -> float:
        # a process that started during the stretch counts from its start; one that ended is lost (pools keep
        # their connections, so the backends of a run stay)
        return sum((t - (before.get(pid) or 0)) for pid, t in after.items() if t is not None) / TICK

    @contextmanager
    def measure(self, result: dict, lodgings=None):
        """Adds `cpu_ms_per_declaration` (per group, and their sum) and `cores_busy` to `result`; `lodgings` is
        a number, or None to take result["requests"] after the stretch. With relay processes, two figures more say
        what the relay costs of the server's and of the backends' CPU (counted there too, not again in the sum):
        `relay_process` and `postgres_backends_of_relay`."""
        before, start = self._snapshot(), time.perf_counter()
        yield
        after, wall = self._snapshot(), time.perf_counter() - start
        n = lodgings if lodgings is not None else result.get("requests")
        if not n:
            return
        seconds = {"server": self._seconds(before["server"], after["server"]),
                   "load_generator": after["load_generator"] - before["load_generator"]}
        if self.database_url:
            seconds["postgres_backends"] = self._seconds(before["postgres_backends"], after["postgres_backends"])
            seconds["postgres_all"] = self._seconds(before["postgres_all"], after["postgres_all"])
        total = seconds["server"] + seconds["load_generator"] + seconds.get("postgres_all", 0.0)
        for part in ("relay_process", "postgres_backends_of_relay"):  # of the server's, of the backends'
            if part in before:
                seconds[part] = self._seconds(before[part], after[part])
        per = {k: round(v * 1e3 / n, 3) for k, v in seconds.items()} | {"total": round(total * 1e3 / n, 3)}
        cores = os.cpu_count() or 1
        result["cpu_ms_per_declaration"] = per
        result["cores_busy"] = round(total / wall, 2)
        # the rate at which the sum would fill every core: no more can be lodged here, whatever the waits
        result["cpu_bound_declarations_per_s"] = round(cores * 1e3 / per["total"]) if per["total"] else None
        if before["machine"] and after["machine"]:  # what else took the cores: a figure is the run's only where both
            # stay near 0 (this machine is a VM: its host lends the cores, and takes some back as steal)
            busy, steal = (round((a - b) / TICK / wall, 2) for a, b in zip(after["machine"], before["machine"]))
            result["cores_busy_outside"] = max(0.0, round(busy - total / wall, 2))
            result["cores_stolen"] = steal


def server_children(pid: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of the processes whose parent is `pid` (the workers of `concord serve --workers N`, its
    relay process), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
                # multiprocessing's resource tracker is a child too, but serves nothing
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid \
                        and b"resource_tracker" not in command:
                    found.append((int(entry.name), command))
            except (OSError, IndexError, ValueError):  # gone meanwhile
                continue
    return found


class ServerCpu:
    """CPU the server spent during a run, read from /proc (Linux; elsewhere nothing is reported): per declaration,
    and the share of the run's wall time its event-loop thread was busy. Wall-clock rates swing by about 15 %
    between identical runs on this machine; CPU per declaration by about 5 %, so it is the figure to compare
    changes by. The loop's busy share explains the tail: queueing delay grows steeply as it nears 100 %.

    With several workers, the CPU is the sum over the supervisor and its workers, and the loop's busy share is
    each worker's."""

    def __init__(self, pid: int):
        self.pid = pid
        children = server_children(pid) if Path("/proc").is_dir() else []
        # `concord relay` (CONCORD_RELAY_PROCESS): its CPU is the server's, but it serves no requests
        self.relay = [p for p, command in children if command.endswith(b"\0relay\0")]
        self.workers = [p for p, _ in children if p not in self.relay]

    def _ticks(self) -> tuple[int, list[int]] | None:
        total, loops = 0, []
        try:
            for pid in [self.pid, *self.workers, *self.relay]:
                process = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(process[11]) + int(process[12])  # utime + stime
                if pid in self.workers or (pid == self.pid and not self.workers):  # the supervisor runs no event
                    # loop of requests when it has workers
                    loop = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    loops.append(int(loop[11]) + int(loop[12]))
        except OSError:
            return None
        return total, loops

    @contextmanager
    def measure(self, result: dict):
        """Adds the figures to `result` (an open-loop run's: its requests and elapsed time)."""
        before, start = self._ticks(), time.perf_counter()
        yield
        after, wall = self._ticks(), time.perf_counter() - start
        if before is None or after is None or not result.get("requests"):
            return
        process = (after[0] - before[0]) / TICK
        loops = [round((a - b) / TICK / wall, 2) for a, b in zip(after[1], before[1])]
        result["server_cpu_ms_per_declaration"] = round(process * 1e3 / result["requests"], 3)
        result["event_loop_busy"] = loops[0] if len(loops) == 1 else loops
