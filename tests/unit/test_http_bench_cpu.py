"""The HTTP bench's server-CPU figures: read from /proc, per declaration and as the event loop's busy share."""

import os
import sys
import time

import pytest

from concord.bench.http import _ServerCpu

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")


def test_a_spinning_main_thread_is_busy_and_its_cpu_is_shared_out_per_declaration():
    result = {"requests": 100}
    with _ServerCpu(os.getpid()).measure(result):
        end = time.perf_counter() + 0.4
        while time.perf_counter() < end:
            pass
    assert result["event_loop_busy"] >= 0.6
    # about 400 ms of CPU over 100 declarations; the whole process's, so other threads may add up to a second core
    assert 2.0 <= result["server_cpu_ms_per_declaration"] <= 8.5


def test_a_sleeping_main_thread_is_idle():
    result = {"requests": 100}
    with _ServerCpu(os.getpid()).measure(result):
        time.sleep(0.4)
    assert result["event_loop_busy"] <= 0.2


def test_nothing_is_reported_for_a_process_that_is_gone_or_a_run_without_requests():
    gone, empty = {"requests": 10}, {"requests": 0}
    with _ServerCpu(2**22 + 12345).measure(gone):
        pass
    with _ServerCpu(os.getpid()).measure(empty):
        pass
    assert "event_loop_busy" not in gone and "event_loop_busy" not in empty
