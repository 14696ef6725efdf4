"""Request and response bodies of hunting."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from concord.bodies import StrictBody
from concord.bounds import AGENCY_CODE, Timestamp
from concord.hunting.indicators import Indicators


class HuntAction(StrictBody):
    """What happens to a pending declaration that matches: its lane is raised, the agency is engaged with a task in
    the given state, and release waits for that task. New declarations that match get the lane."""

    lane: Literal["yellow", "red"] = "red"
    agency: str | None = Field(None, pattern=AGENCY_CODE, description="the agency to engage; default: the issuer")
    task: Literal["hold", "inspection", "document_check"] = "hold"


class HuntIn(StrictBody):
    source: str = Field(min_length=3, max_length=80, pattern=r"^[A-Za-z0-9._:/-]+$",
                        description="what the indicators come from: incident/ID, notice/ID or your own reference")
    indicators: Indicators
    lookback_days: int = Field(30, ge=0, le=3650, description="report matches lodged in the last N days")
    valid_until: Timestamp = Field(description="new declarations meet the hunt until then; it lapses by itself")
    action: HuntAction = HuntAction()
    purpose: str | None = Field(None, max_length=60, pattern=r"^[a-z_]+$",
                                description="the purpose your agency reads the report for, as agreements name it")
