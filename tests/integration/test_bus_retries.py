"""An event handler that meets a concurrent write (another request took the same joint-inspection bay at the same
moment, so nothing of it was stored) runs again instead of dropping the event's work: a 10-minute soak on
PostgreSQL lost 29 joint-inspection proposals that way before."""

import logging
from dataclasses import dataclass

from concord.errors import Conflict, ConcurrentWrite
from concord.messaging.bus import HANDLER_ATTEMPTS
from concord.messaging.messages import Event


@dataclass(kw_only=True)
class SlotWanted(Event):
    name = "test.slot_wanted"


@dataclass(kw_only=True)
class SlotTaken(Event):
    name = "test.slot_taken"


def test_a_handler_that_met_a_concurrent_write_runs_again_and_its_events_follow(concord):
    calls, followed = [], []

    def book(event, uow):
        calls.append(event.id)
        if len(calls) < HANDLER_ATTEMPTS:
            raise ConcurrentWrite("the slot was taken by another request at the same moment")
        uow.committed_events.append(SlotTaken(agency="CUS"))  # what a commit hands the bus (no outbox row here)

    concord.bus.subscribe(SlotWanted, book)
    concord.bus.subscribe(SlotTaken, lambda event, uow: followed.append(event.name))
    concord.bus.dispatch([SlotWanted(agency="CUS", id="ev_slot")])
    assert calls == ["ev_slot"] * HANDLER_ATTEMPTS
    assert followed == ["test.slot_taken"]


def test_retries_end_and_other_errors_are_not_retried(concord, caplog):
    calls = {"busy": 0, "refused": 0, "after": 0}

    def always_busy(event, uow):
        calls["busy"] += 1
        raise ConcurrentWrite("the slot was taken by another request at the same moment")

    def refused(event, uow):
        calls["refused"] += 1
        raise Conflict("the declaration is released")  # a business refusal: running again changes nothing

    def after(event, uow):
        calls["after"] += 1

    for handler in (always_busy, refused, after):
        concord.bus.subscribe(SlotWanted, handler)
    with caplog.at_level(logging.ERROR, logger="concord.messaging.bus"):
        concord.bus.dispatch([SlotWanted(agency="CUS", id="ev_busy")])
    assert calls == {"busy": HANDLER_ATTEMPTS, "refused": 1, "after": 1}
    assert f"always_busy failed {HANDLER_ATTEMPTS} times for ev_busy" in caplog.text
