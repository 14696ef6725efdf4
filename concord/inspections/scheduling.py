"""Finding a slot: inside opening hours, on a free bay, with an officer free in every agency invited.

Pure functions over the facility and what is already booked there, so the rules are tested without a database."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from concord.inspections.facilities import DAYS, FacilityConfig

HORIZON_DAYS = 21  # how far ahead a slot is looked for before the request is refused


@dataclass(frozen=True)
class Booking:
    """An inspection that holds a bay and officers: proposed ones hold them too, so two proposals never collide."""

    start: datetime
    end: datetime
    bay: int
    agencies: frozenset


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    bay: int


def unstaffed(facility: FacilityConfig, agencies) -> list[str]:
    """The agencies the facility has no officers for."""
    return sorted(a for a in agencies if facility.staffing.get(a, 0) < 1)


class Calendar:
    """A facility's bookings sorted by start, so a slot finds the ones it overlaps by bisection.

    A facility's calendar fills up under a steady flow: a search that compared each slot with every booking cost
    slots x bookings, and on the event loop that grew into second-long stalls after minutes of lodging."""

    def __init__(self, booked):
        self.bookings = sorted(booked, key=lambda b: b.start)
        self.starts = [b.start for b in self.bookings]
        self.longest = max((b.end - b.start for b in self.bookings), default=timedelta(0))

    def overlapping(self, start: datetime, end: datetime) -> list[Booking]:
        lo = bisect_left(self.starts, start - self.longest)  # a booking that starts before this cannot reach `start`
        hi = bisect_left(self.starts, end)
        return [b for b in self.bookings[lo:hi] if start < b.end]


def fits(facility: FacilityConfig, agencies, start: datetime, booked) -> int | None:
    """The lowest free bay for a slot starting at `start`, or None: closed, every bay taken or an agency fully booked.

    `booked`: the bookings held at the facility, a list or a Calendar of them."""
    end = start + timedelta(minutes=facility.slot_minutes)
    h = facility.hours
    if DAYS[start.weekday()] not in h.days or start.timetz().replace(tzinfo=None) < h.open:
        return None
    if end.date() != start.date() or end.time() > h.close:
        return None
    calendar = booked if isinstance(booked, Calendar) else Calendar(booked)
    overlapping = calendar.overlapping(start, end)
    for agency in agencies:
        if sum(agency in b.agencies for b in overlapping) >= facility.staffing.get(agency, 0):
            return None
    taken = {b.bay for b in overlapping}
    return next((bay for bay in range(1, facility.bays + 1) if bay not in taken), None)


def first_slot(facility: FacilityConfig, agencies, not_before: datetime, booked) -> Slot | None:
    """The earliest slot on the facility's grid (opening time + k slots) at or after not_before."""
    step = timedelta(minutes=facility.slot_minutes)
    not_before = not_before.astimezone(timezone.utc)
    booked = booked if isinstance(booked, Calendar) else Calendar(booked)
    day = not_before.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(HORIZON_DAYS + 1):
        start = day.replace(hour=facility.hours.open.hour, minute=facility.hours.open.minute)
        while start.date() == day.date():
            if start >= not_before:
                bay = fits(facility, agencies, start, booked)
                if bay is not None:
                    return Slot(start, start + step, bay)
                if start + step > start.replace(hour=facility.hours.close.hour, minute=facility.hours.close.minute):
                    break
            start += step
        day += timedelta(days=1)
    return None
