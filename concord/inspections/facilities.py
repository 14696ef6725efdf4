"""The `inspection_facilities:` section of the coordination config: bays, opening hours, agency staffing.

Opening hours are in UTC, like every time the hub stores. `staffing` says how many officers of each agency can
attend inspections at the same time at the facility; an agency it does not list cannot be invited there."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from concord.bodies import StrictBody
from concord.errors import Problem, pointer, problems_from

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OpeningHours(StrictBody):
    days: list[Literal[DAYS]] = Field(list(DAYS[:5]), min_length=1, max_length=7)  # type: ignore[valid-type]
    open: time = time(7, 0)
    close: time = time(19, 0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.close <= self.open:
            raise ValueError("close must be later than open (hours are UTC, within one day)")
        return self


class FacilityConfig(StrictBody):
    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,15}$", description="e.g. RTM-JIC")
    name: str = Field(min_length=2, max_length=200)
    offices: list[str] = Field(min_length=1, max_length=50, description="offices of entry whose goods it receives")
    bays: int = Field(ge=1, le=200)
    slot_minutes: int = Field(60, ge=15, le=720)
    hours: OpeningHours = OpeningHours()
    staffing: dict[str, int] = Field(min_length=1, description="agency code -> officers who can attend at once")

    @model_validator(mode="after")
    def _fits(self):
        span = (self.hours.close.hour * 60 + self.hours.close.minute) - (self.hours.open.hour * 60 + self.hours.open.minute)
        if self.slot_minutes > span:
            raise ValueError(f"a slot of {self.slot_minutes} min does not fit in the opening hours ({span} min)")
        if any(not 1 <= n <= 1000 for n in self.staffing.values()):
            raise ValueError("staffing counts must be between 1 and 1000")
        return self


def validate_config_section(cfg, rows: list) -> list[Problem]:
    """Each facility checked alone, then its agencies and offices against the rest of the config."""
    agencies = {a.code for a in cfg.agencies} if cfg is not None else None
    offices = {o.code.replace(" ", "") for o in cfg.offices} if cfg is not None else None
    problems, seen = [], set()
    for i, row in enumerate(rows):
        try:
            f = FacilityConfig.model_validate(row)
        except ValidationError as e:
            problems += problems_from(e, ("inspection_facilities", i))
            continue
        if f.code in seen:
            problems.append(Problem(pointer("inspection_facilities", i, "code"), f"facility '{f.code}' is listed twice"))
        seen.add(f.code)
        for agency in f.staffing:
            if agencies is not None and agency not in agencies:
                problems.append(Problem(pointer("inspection_facilities", i, "staffing", agency),
                                        f"'{agency}' is not an agency of this config"))
        for j, office in enumerate(f.offices):
            if offices and office not in offices:
                problems.append(Problem(pointer("inspection_facilities", i, "offices", j),
                                        f"'{office}' is not among the offices: {', '.join(sorted(offices))}"))
    return problems


def store_config_section(uow, cfg, rows: list, version: int) -> None:
    """Nothing to store apart: the facilities are read from the config version in force."""


def facilities(snapshot) -> list[FacilityConfig]:
    """The facilities of the config in force."""
    return [FacilityConfig.model_validate(r) for r in snapshot.document.get("inspection_facilities") or ()]
