"""The HTTP bench's server-CPU figures: read from /proc, per declaration and as the event loop's busy share."""

import os
import sys
import time

import pytest

from concord.bench.cpu import ServerCpu

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")


def test_the_figures_are_the_cpu_the_process_and_its_main_thread_really_used():
    """What holds on a busy machine too: the figures agree with the CPU clocks Python reads itself (a spinning
    thread may get only part of a core there, so no absolute share is asserted). /proc counts in clock ticks."""
    result = {"requests": 100}
    with ServerCpu(os.getpid()).measure(result):
        wall, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
        end = wall + 0.4
        while time.perf_counter() < end:
            pass
        thread, process = time.thread_time() - thread, time.process_time() - process
        wall = time.perf_counter() - wall
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert abs(result["server_cpu_ms_per_declaration"] * 100 / 1e3 - process) <= 3 * tick
    assert abs(result["event_loop_busy"] - thread / wall) <= 3 * tick / wall + 0.01  # rounded to 2 places
    assert result["event_loop_busy"] > 0  # the loop thread spun for 0.4 s: some of it was on a core


def test_a_sleeping_main_thread_is_idle():
    result = {"requests": 100}
    with ServerCpu(os.getpid()).measure(result):
        time.sleep(0.4)
    assert result["event_loop_busy"] <= 0.2  # sleeping uses no CPU, however busy the machine


def test_nothing_is_reported_for_a_process_that_is_gone_or_a_run_without_requests():
    gone, empty = {"requests": 10}, {"requests": 0}
    with ServerCpu(2**22 + 12345).measure(gone):
        pass
    with ServerCpu(os.getpid()).measure(empty):
        pass
    assert "event_loop_busy" not in gone and "event_loop_busy" not in empty


@pytest.mark.postgres
def test_cpu_per_group_counts_the_postgres_backend_that_did_the_work(pg_url):
    """A query that burns CPU in the bench database's backend shows under postgres_backends (and postgres_all),
    not under the server; the load generator (this process) is counted from getrusage."""
    from sqlalchemy import create_engine, text

    from concord.bench.cpu import CpuGroups

    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # the backend exists before the stretch
            result: dict = {}
            with CpuGroups([], pg_url).measure(result, lodgings=1000):
                conn.execute(text("SELECT count(*) FROM generate_series(1, 3000000) AS g(n) WHERE n % 7 = 3"))
    finally:
        engine.dispose()
    per = result["cpu_ms_per_declaration"]
    assert per["server"] == 0
    assert per["postgres_backends"] > 0.1  # at least 0.1 s over the 1,000
    assert per["postgres_all"] >= per["postgres_backends"]
    assert per["total"] == pytest.approx(per["server"] + per["load_generator"] + per["postgres_all"], abs=0.01)
    assert result["cpu_bound_declarations_per_s"] == round((os.cpu_count() or 1) * 1e3 / per["total"])


@pytest.mark.postgres
def test_the_relay_processs_share_counts_its_own_backends_and_no_others(pg_url):
    """The backend of a connection the relay process holds (here this process stands for it) is counted under
    postgres_backends_of_relay; the backend of another process's connection, burning as much, is not."""
    import subprocess

    from sqlalchemy import create_engine, text

    from concord.bench.cpu import CpuGroups

    burn = "SELECT count(*) FROM generate_series(1, 3000000) AS g(n) WHERE n % 7 = 3"
    other = ("import psycopg, sys\nwith psycopg.connect(sys.argv[1]) as c:\n"
             "    c.execute('SELECT 1'); print(flush=True); sys.stdin.readline(); c.execute(sys.argv[2])\n"
             "    print(flush=True); sys.stdin.readline()")  # its backend stays until the stretch is measured
    engine = create_engine(pg_url)
    neighbour = subprocess.Popen([sys.executable, "-c", other, pg_url.replace("+psycopg", ""), burn],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        neighbour.stdout.readline()  # connected: its backend exists before the stretch
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            result: dict = {}
            with CpuGroups([os.getpid()], pg_url, [os.getpid()]).measure(result, lodgings=1000):
                neighbour.stdin.write("\n")
                neighbour.stdin.flush()
                conn.execute(text(burn))
                neighbour.stdout.readline()  # its query is done
            neighbour.communicate("\n", timeout=60)
    finally:
        engine.dispose()
        neighbour.kill()
    per = result["cpu_ms_per_declaration"]
    assert per["postgres_backends_of_relay"] > 0.1  # this process's query
    assert per["postgres_backends"] >= per["postgres_backends_of_relay"] + 0.1  # and the neighbour's, outside it
    assert per["relay_process"] == per["server"]  # the same process here
    assert per["total"] == pytest.approx(per["server"] + per["load_generator"] + per["postgres_all"], abs=0.01)


def test_what_else_takes_the_cores_is_reported_beside_the_run():
    """Another process burning CPU during the stretch (here one this process has not yet reaped, so that
    getrusage does not count it in the load generator) shows as cores busy outside the measured groups."""
    import subprocess

    from concord.bench.cpu import CpuGroups

    spin = "import time\nwhile time.process_time() < 0.3: pass"
    result: dict = {}
    wall = time.perf_counter()
    with CpuGroups([], None).measure(result, lodgings=1000):
        other = subprocess.Popen([sys.executable, "-c", spin])
        os.waitid(os.P_PID, other.pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped
    wall = time.perf_counter() - wall
    other.wait()
    assert result["cores_busy_outside"] * wall >= 0.25, result  # its 0.3 CPU-s, less the rounding
    assert result["cores_stolen"] >= 0
