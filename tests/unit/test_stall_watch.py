"""The event-loop stall watch: a blocking call on the loop is logged once, with the stack that blocked it."""

import asyncio
import logging
import time

from concord.observability.stalls import StallWatch


def test_a_blocked_loop_is_logged_once_with_the_blocking_stack(caplog):
    def block_the_loop_for_a_while():
        time.sleep(0.8)

    async def main():
        watch = StallWatch(0.2).start()
        await asyncio.sleep(0.2)  # the heartbeat runs
        block_the_loop_for_a_while()
        await asyncio.sleep(0.3)  # the loop runs again: no second warning for the same stall
        watch.stop()
        return watch

    with caplog.at_level(logging.WARNING, logger="concord.observability.stalls"):
        watch = asyncio.run(main())
    warnings = [r.getMessage() for r in caplog.records if "event loop stalled" in r.getMessage()]
    assert len(warnings) == 1 and watch.stalls == 1
    assert "block_the_loop_for_a_while" in warnings[0] and "--- thread MainThread" in warnings[0]
    import re

    assert int(re.search(r"stalled for (\d+) ms", warnings[0]).group(1)) >= 600  # the whole stall, not its start
    assert watch.longest_s >= 0.6
