"""Scheduling rules of joint inspections: opening hours, bays, agency staffing, no double booking."""

from datetime import datetime, timedelta, timezone

from concord.inspections.facilities import FacilityConfig
from concord.inspections.scheduling import Booking, first_slot, fits, unstaffed

MONDAY = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday


def facility(**changes) -> FacilityConfig:
    base = {"code": "RTM-JIC", "name": "Joint inspection centre", "offices": ["NLRTM"], "bays": 2, "slot_minutes": 120,
            "hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:00", "close": "16:00"},
            "staffing": {"CUS": 2, "NPPO": 1, "VET": 1}}
    return FacilityConfig.model_validate(base | changes)


def test_a_slot_lies_inside_opening_hours_on_the_grid():
    f = facility()
    slot = first_slot(f, ["CUS"], MONDAY.replace(hour=5), [])
    assert (slot.start, slot.end, slot.bay) == (MONDAY.replace(hour=8), MONDAY.replace(hour=10), 1)
    slot = first_slot(f, ["CUS"], MONDAY.replace(hour=8, minute=1), [])
    assert slot.start == MONDAY.replace(hour=10)  # the next slot of the grid, not 08:01
    slot = first_slot(f, ["CUS"], MONDAY.replace(hour=14, minute=30), [])
    assert slot.start == MONDAY.replace(day=6, hour=8)  # 14:00-16:00 has begun; the next day opens at 08:00


def test_closed_days_are_skipped():
    friday_late = MONDAY.replace(day=9, hour=15)
    slot = first_slot(facility(), ["CUS"], friday_late, [])
    assert slot.start == MONDAY.replace(day=12, hour=8)  # Saturday and Sunday are closed
    assert fits(facility(), ["CUS"], MONDAY.replace(day=10, hour=8), []) is None


def test_bays_are_not_double_booked():
    f = facility()
    start = MONDAY.replace(hour=8)
    end = start + timedelta(hours=2)
    booked = [Booking(start, end, 1, frozenset({"CUS"}))]
    assert fits(f, ["NPPO"], start, booked) == 2
    booked.append(Booking(start, end, 2, frozenset({"VET"})))
    assert fits(f, ["NPPO"], start, booked) is None  # both bays are taken
    assert first_slot(f, ["NPPO"], start, booked).start == end


def test_an_agency_attends_no_more_inspections_at_once_than_it_has_officers():
    f = facility(bays=5)
    start = MONDAY.replace(hour=8)
    booked = [Booking(start, start + timedelta(hours=2), 1, frozenset({"NPPO", "CUS"}))]
    assert fits(f, ["NPPO", "VET"], start, booked) is None  # NPPO's one officer is at bay 1
    assert fits(f, ["CUS", "VET"], start, booked) == 2  # customs has a second officer
    booked.append(Booking(start, start + timedelta(hours=2), 2, frozenset({"CUS"})))
    assert fits(f, ["CUS"], start, booked) is None


def test_an_agency_without_officers_at_the_facility_is_named():
    assert unstaffed(facility(), ["CUS", "POL", "VET", "ENV"]) == ["ENV", "POL"]
    assert first_slot(facility(), ["POL"], MONDAY, []) is None


def test_the_config_section_is_checked_with_pointers():
    import pytest

    from concord.agencies.handlers import parse_config
    from concord.bootstrap import CONFIG_SECTIONS
    from concord.errors import InvalidDocument
    from support import demo_config_text

    text = demo_config_text().replace("staffing: {CUS: 2, NPPO: 1, VET: 1, FDA: 1, STD: 1}",
                                      "staffing: {CUS: 2, XYZ: 1}").replace(
        'open: "07:00", close: "19:00"', 'open: "19:00", close: "07:00"')
    with pytest.raises(InvalidDocument) as e:
        parse_config(text, sections=CONFIG_SECTIONS)
    pointers = {p.pointer for p in e.value.problems}
    assert "/inspection_facilities/2/hours" in pointers
    cfg = parse_config(demo_config_text(), sections=CONFIG_SECTIONS)
    assert [f["code"] for f in cfg.inspection_facilities] == ["RTM-JIC", "AMS-CARGO", "VEN-BIP"]
    text = demo_config_text().replace("staffing: {CUS: 2, NPPO: 1, VET: 1, FDA: 1, STD: 1}", "staffing: {CUS: 2, XYZ: 1}")
    with pytest.raises(InvalidDocument) as e:
        parse_config(text, sections=CONFIG_SECTIONS)
    assert [p.pointer for p in e.value.problems] == ["/inspection_facilities/2/staffing/XYZ"]


def test_the_calendar_finds_the_same_overlaps_as_comparing_every_booking():
    """The bisection (a full calendar made each slot compare itself with every booking) misses none and adds none,
    with bookings of different lengths, some of them long."""
    import random
    from datetime import timedelta

    from concord.inspections.scheduling import Booking, Calendar

    rng = random.Random(3)
    booked = [Booking(MONDAY + timedelta(minutes=15 * rng.randrange(2000)), None, rng.randrange(1, 5),
                      frozenset({"CUS"})) for _ in range(400)]
    booked = [Booking(b.start, b.start + timedelta(minutes=rng.choice((30, 60, 120, 600))), b.bay, b.agencies)
              for b in booked]
    calendar = Calendar(booked)
    for _ in range(300):
        start = MONDAY + timedelta(minutes=5 * rng.randrange(6500))
        end = start + timedelta(minutes=rng.choice((60, 120)))
        expected = sorted((b.start, b.bay) for b in booked if b.start < end and start < b.end)
        assert sorted((b.start, b.bay) for b in calendar.overlapping(start, end)) == expected
